package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// originHost is one host[:port] clients address a resource at: a DNS name (a "*" label
// matches any one label, as in Caddy's host matcher), an IPv4 or an IPv6 address.
type originHost struct {
	host string // lower case, IPv6 without brackets
	port string // "" → the default port of the request's scheme
}

// parseOriginHost parses host, host:port, [ipv6] or [ipv6]:port.
func parseOriginHost(s string) (originHost, error) {
	bad := func(why string) (originHost, error) {
		return originHost{}, fmt.Errorf("hosts: %q %s (want host[:port], *.example.com or [ipv6]:port)", s, why)
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@ ") {
		return bad("is not a host")
	}
	host, port, ok := splitHostPort(strings.ToLower(s))
	if !ok {
		return bad("is not a host")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return bad("has an invalid port")
		}
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return bad("is not an IPv6 address")
		}
		return originHost{host, port}, nil
	}
	for label := range strings.SplitSeq(host, ".") {
		if label != "*" && !validLabel(label) {
			return bad("has an invalid label")
		}
	}
	return originHost{host, port}, nil
}

// matches reports whether this host names the request's host and port.
func (o originHost) matches(host, port, scheme string) bool {
	want := o.port
	if want == "" {
		want = defaultPort(scheme)
	}
	if port != want {
		return false
	}
	if !strings.Contains(o.host, "*") {
		return host == o.host
	}
	pattern, labels := strings.Split(o.host, "."), strings.Split(host, ".")
	if len(pattern) != len(labels) {
		return false
	}
	for i, p := range pattern {
		if p == "*" && !validLabel(labels[i]) || p != "*" && p != labels[i] {
			return false
		}
	}
	return true
}

// validLabel accepts a DNS label as hosts spell them (letters, digits, '-', '_').
func validLabel(label string) bool {
	if label == "" || len(label) > 63 {
		return false
	}
	for _, c := range []byte(label) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// splitHostPort splits host[:port] or [ipv6][:port]; the host comes without brackets.
func splitHostPort(s string) (host, port string, ok bool) {
	if rest, found := strings.CutPrefix(s, "["); found {
		host, rest, found = strings.Cut(rest, "]")
		if !found || host == "" {
			return "", "", false
		}
		if rest == "" {
			return host, "", true
		}
		port, found = strings.CutPrefix(rest, ":")
		return host, port, found && port != ""
	}
	host, port, found := strings.Cut(s, ":")
	if host == "" || found && (port == "" || strings.Contains(port, ":")) {
		return "", "", false
	}
	return host, port, true
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// provisionOrigins parses Hosts. Without them or an external_url the origin a DPoP proof
// must name is unknown: the Host header is the client's word, and trusting it would let a
// proof minted for another gateway of the same resource pass here.
func (h *ResourceHandler) provisionOrigins() error {
	h.hosts = h.hosts[:0]
	for _, s := range h.Hosts {
		o, err := parseOriginHost(s)
		if err != nil {
			return err
		}
		h.hosts = append(h.hosts, o)
	}
	if h.ExternalURL == "" && len(h.hosts) == 0 && h.ForwardAuth {
		return errors.New(errForwardAuthOrigin)
	}
	if h.ExternalURL == "" && len(h.hosts) == 0 {
		return errors.New("the origin DPoP proofs must name is unknown: set external_url <origin>, " +
			"or hosts <host[:port]>... (the Caddyfile takes them from the site's addresses, " +
			"unless the site accepts any host)")
	}
	return nil
}

// requestOrigin is the origin the client addressed, for DPoP htu: external_url when set;
// otherwise the request's scheme and Host, provided that Host is one of Hosts. Any other
// Host gets no origin, so no proof can match.
func (h *ResourceHandler) requestOrigin(r *http.Request) (string, bool) {
	if h.ExternalURL != "" {
		return h.ExternalURL, true
	}
	scheme := requestScheme(r)
	host, port, ok := splitHostPort(strings.ToLower(r.Host))
	if !ok {
		return "", false
	}
	if port == "" {
		port = defaultPort(scheme)
	}
	for _, o := range h.hosts {
		if o.matches(host, port, scheme) {
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			if port != defaultPort(scheme) {
				host += ":" + port
			}
			return scheme + "://" + host, true
		}
	}
	return "", false
}

// requestScheme is the scheme of the connection; X-Forwarded-Proto counts only from a proxy
// Caddy's trusted_proxies trusts.
func requestScheme(r *http.Request) string {
	if f, ok := r.Context().Value(forwardedRequestKey{}).(*rsvalidate.ForwardedRequest); ok {
		return f.Scheme // forward auth: the scheme of the request the proxy asks about
	}
	if r.TLS != nil {
		return "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		if proto = strings.TrimSpace(proto); proto == "https" || proto == "http" {
			return proto
		}
	}
	return "http"
}
