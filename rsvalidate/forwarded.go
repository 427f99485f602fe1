package rsvalidate

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Forward auth: a reverse proxy (nginx auth_request, Traefik ForwardAuth, HAProxy, Envoy
// ext_authz) asks whether a request it holds may pass, in an "auth request" of its own. The
// request to validate — method, URL, credentials — is the proxy's, described by headers it
// sets. This file is the one place that reads that description.

// Header names of the two families of forward-auth headers.
const (
	// Traefik ForwardAuth (and what HAProxy setups copy): the four together.
	HeaderForwardedMethod = "X-Forwarded-Method"
	HeaderForwardedProto  = "X-Forwarded-Proto"
	HeaderForwardedHost   = "X-Forwarded-Host"
	HeaderForwardedURI    = "X-Forwarded-Uri"
	// nginx (auth_request with proxy_set_header; ingress-nginx sends the first two).
	HeaderOriginalMethod = "X-Original-Method"
	HeaderOriginalURL    = "X-Original-Url"
	HeaderOriginalURI    = "X-Original-Uri"
)

// maxForwardedURI bounds the original request target accepted (nginx's default request line
// limit is 8 KiB).
const maxForwardedURI = 8 << 10

// ErrUntrustedProxy: the auth request does not come from a trusted proxy, so nothing it says
// about another request can be believed.
var ErrUntrustedProxy = errors.New("the request does not come from a trusted proxy (the server's trusted_proxies), " +
	"so it cannot say which request it asks about")

// ForwardedRequest is the original request a forward-auth request asks about.
type ForwardedRequest struct {
	Method string   // as the client sent it (DPoP htm)
	Scheme string   // "http" or "https"
	Host   string   // host[:port] the client addressed
	URL    *url.URL // path and query only (origin-form), escaped as the client sent them
}

// OriginalRequest returns the request r asks about. trusted says whether r's sender is a
// proxy whose word is taken (the caller's rule, e.g. Caddy's trusted_proxies): an untrusted
// sender gets ErrUntrustedProxy whatever its headers say, never its own request validated in
// place of the one it names.
//
// The original request is read from exactly one of:
//   - X-Forwarded-Method, -Proto, -Host and -Uri (Traefik ForwardAuth; HAProxy);
//   - X-Original-Method with X-Original-URL (absolute), or with X-Original-URI (path and
//     query) plus X-Forwarded-Proto and X-Forwarded-Host (nginx auth_request);
//   - r itself when pathPrefix is set (Envoy ext_authz over HTTP, which sends the original
//     method, Host and path, the path behind its path_prefix); the scheme is X-Forwarded-Proto.
//
// Headers of two of these at once are refused rather than ranked: a proxy passes the client's
// own headers along with the ones it sets (nginx and Traefik both do), so a precedence would
// let a client name the request of the family its proxy does not set. Every value must occur
// once.
func OriginalRequest(r *http.Request, trusted bool, pathPrefix string) (*ForwardedRequest, error) {
	if !trusted {
		return nil, ErrUntrustedProxy
	}
	h := r.Header
	traefik := has(h, HeaderForwardedMethod) || has(h, HeaderForwardedURI)
	nginx := has(h, HeaderOriginalMethod) || has(h, HeaderOriginalURL) || has(h, HeaderOriginalURI)
	envoy := pathPrefix != ""
	switch n := count(traefik, nginx, envoy); {
	case n > 1 && envoy:
		return nil, errors.New("this endpoint takes the original request from its own method and path (path_prefix), " +
			"but the request also carries X-Forwarded-Method/-Uri or X-Original-* headers")
	case n > 1:
		return nil, errors.New("both X-Forwarded-Method/-Uri and X-Original-* headers are present; " +
			"the proxy must send one family only")
	case n == 0:
		return nil, errors.New("the original request is not described: send X-Forwarded-Method, -Proto, -Host " +
			"and -Uri (Traefik, HAProxy), or X-Original-Method and X-Original-URL (nginx)")
	}

	var f ForwardedRequest
	var uri, proto string
	var err error
	switch {
	case traefik:
		if f.Method, err = single(h, HeaderForwardedMethod); err == nil {
			if uri, err = single(h, HeaderForwardedURI); err == nil {
				if proto, err = single(h, HeaderForwardedProto); err == nil {
					f.Host, err = single(h, HeaderForwardedHost)
				}
			}
		}
	case nginx:
		f.Method, err = single(h, HeaderOriginalMethod)
		if err == nil && has(h, HeaderOriginalURL) {
			proto, f.Host, uri, err = originalURL(h)
		} else if err == nil {
			if uri, err = single(h, HeaderOriginalURI); err == nil {
				if proto, err = single(h, HeaderForwardedProto); err == nil {
					f.Host, err = single(h, HeaderForwardedHost)
				}
			}
		}
	default:
		f.Method, f.Host = r.Method, r.Host
		if proto, err = single(h, HeaderForwardedProto); err == nil {
			uri, err = stripPathPrefix(r, pathPrefix)
		}
	}
	if err != nil {
		return nil, err
	}
	if !isToken(f.Method) {
		return nil, fmt.Errorf("original method %q is not an HTTP method", f.Method)
	}
	switch strings.ToLower(proto) {
	case "http", "https":
		f.Scheme = strings.ToLower(proto)
	default:
		return nil, fmt.Errorf("original scheme %q: want http or https", proto)
	}
	if !validForwardedHost(f.Host) {
		return nil, fmt.Errorf("original host %q is not a host[:port]", f.Host)
	}
	if f.URL, err = originForm(uri); err != nil {
		return nil, err
	}
	return &f, nil
}

// Request returns a copy of r standing for the original request: its method, URL and Host,
// r's headers (the credentials the proxy passed on) copied, no body and no TLS state (r's TLS
// is the proxy's connection, not the client's). Its protocol is HTTP/1.1: the original's is
// not known, and what answers it answers the proxy, in plain HTTP (a gRPC-style answer, HTTP
// 200 with the status in a trailer, would read as a pass).
func (f *ForwardedRequest) Request(r *http.Request) *http.Request {
	out := r.Clone(r.Context())
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Method = f.Method
	u := *f.URL
	out.URL = &u
	out.RequestURI = f.URL.RequestURI()
	out.Host = f.Host
	out.TLS = nil
	out.Body = http.NoBody
	out.ContentLength = 0
	out.GetBody = nil
	return out
}

// originalURL reads X-Original-URL, which must agree with X-Original-URI when both are sent.
func originalURL(h http.Header) (scheme, host, uri string, err error) {
	raw, err := single(h, HeaderOriginalURL)
	if err != nil {
		return "", "", "", err
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", "", "", fmt.Errorf("X-Original-URL %q: want an absolute http(s) URL", clip(raw))
	}
	uri = u.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		uri += "?" + u.RawQuery
	}
	if has(h, HeaderOriginalURI) {
		other, err := single(h, HeaderOriginalURI)
		if err != nil {
			return "", "", "", err
		}
		if other != uri {
			return "", "", "", fmt.Errorf("X-Original-URI %q and X-Original-URL %q name different requests", clip(other), clip(raw))
		}
	}
	return u.Scheme, u.Host, uri, nil
}

// stripPathPrefix returns r's request target without the prefix Envoy put before the
// original path. The raw target is read, not a URL Caddy may have rewritten since.
func stripPathPrefix(r *http.Request, prefix string) (string, error) {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	} else if !strings.HasPrefix(target, "/") {
		// Absolute form (GET http://host/path): the path and query of it.
		if u, err := url.ParseRequestURI(target); err == nil {
			target = u.RequestURI()
		}
	}
	rest, ok := strings.CutPrefix(target, prefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", fmt.Errorf("request target %q does not start with the path prefix %q and a path", clip(target), prefix)
	}
	return rest, nil
}

// originForm parses an origin-form request target (RFC 9112 §3.2.1): an absolute path and
// an optional query.
func originForm(uri string) (*url.URL, error) {
	if len(uri) > maxForwardedURI {
		return nil, fmt.Errorf("original request target longer than %d bytes", maxForwardedURI)
	}
	if !strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, "# \t\r\n") {
		return nil, fmt.Errorf("original request target %q: want a path and query (/path?query)", clip(uri))
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("original request target %q: %v", clip(uri), err)
	}
	return &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, ForceQuery: u.ForceQuery}, nil
}

// single returns the one value of header name; absent, empty or repeated is an error (of
// several, which counts would be a guess, and the client may have sent one). A comma-separated
// list in one line fails the value's own check (a host, a scheme), not here: a path may hold
// commas.
func single(h http.Header, name string) (string, error) {
	vals := h.Values(name)
	switch {
	case len(vals) == 0 || len(vals) == 1 && strings.TrimSpace(vals[0]) == "":
		return "", fmt.Errorf("%s is missing", name)
	case len(vals) > 1:
		return "", fmt.Errorf("%s is sent more than once", name)
	}
	return strings.TrimSpace(vals[0]), nil
}

func has(h http.Header, name string) bool { return len(h.Values(name)) > 0 }

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// isToken reports whether s is an RFC 9110 token (a method).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validForwardedHost accepts the characters of a host[:port] (reg-name, IPv4, [IPv6]); whether
// it is a host this resource is served at is the caller's check.
func validForwardedHost(s string) bool {
	if s == "" || len(s) > 261 || s[0] == ':' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// clip shortens a client-supplied value quoted in an error.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
