package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// Forward-auth mode: oauth_resource answers a reverse proxy's auth requests. The proxy holds
// the client's request and asks, in a request of its own carrying the client's credentials
// and headers describing the original method and URL, whether it may pass. The answer is the
// gateway's own decision about that original request — the same validator, DPoP checks
// against the original method and URL, rules matched against it — given as 200 with the
// identity headers, or the gateway's 401/403/503. Reading the description is rsvalidate's
// (OriginalRequest); this file wires it into the handler.

// forwardedRequestKey holds, in the context of the request standing for the original one, its
// *rsvalidate.ForwardedRequest (requestScheme reads the scheme from it).
type forwardedRequestKey struct{}

// isForwardAuth reports whether r is a question about another request. The one request a
// forward-auth endpoint answers for itself is the resource's metadata document, which a proxy
// routes to it directly.
func (h *ResourceHandler) isForwardAuth(r *http.Request) bool {
	return h.ForwardAuth && (r.URL.Path != h.metaPath || r.Method != http.MethodGet && r.Method != http.MethodHead)
}

// forwardAuthRequest returns the request r asks about, prepared like one Caddy received (its
// own replacer and variables, so rules and placeholders see it), the response writer for the
// answer and the handler that answers the proxy once the request is accepted. When r is not a
// question that can be answered (untrusted sender, original request missing or malformed) it
// answers 400 itself and returns false.
func (h *ResourceHandler) forwardAuthRequest(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, caddyhttp.Handler, bool) {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	f, err := rsvalidate.OriginalRequest(r, trusted, h.ForwardAuthPathPrefix)
	if err != nil {
		h.refuseForwardAuth(w, r, err)
		return w, nil, nil, false
	}
	w = &forwardAuthWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	orig := f.Request(r)
	server, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	orig = caddyhttp.PrepareRequest(orig, caddy.NewReplacer(), w, server)
	orig = orig.WithContext(context.WithValue(orig.Context(), forwardedRequestKey{}, f))
	return w, orig, forwardAuthAnswer{h: h, authRequest: r}, true
}

// forwardAuthWriter carries the answer to the proxy. It writes the gateway's challenges
// (Bearer and DPoP) in one WWW-Authenticate field line, comma-separated as RFC 9110 §11.6.1
// allows: nginx before 1.23 hands on only the first line of a repeated response header
// ($upstream_http_www_authenticate), which would drop the DPoP challenge. And it lets no 2xx
// through but forwardAuthAnswer's: to a proxy any 2xx means "let it pass", so a refusal
// written in a form whose status is 200 (a gRPC status, say) must not leave as one.
type forwardAuthWriter struct {
	*caddyhttp.ResponseWriterWrapper
	allowed, wroteHeader bool
}

func (w *forwardAuthWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if status >= 200 && status < 300 && !w.allowed {
		w.Header().Del("WWW-Authenticate")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Del("Content-Length")
		status = http.StatusInternalServerError
	}
	if v := w.Header().Values("WWW-Authenticate"); len(v) > 1 {
		w.Header().Set("WWW-Authenticate", strings.Join(v, ", "))
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *forwardAuthWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

// refuseForwardAuth answers an auth request that names no usable original request. It is a
// 400, not a 401/403: the proxy (or whoever sent it) is at fault, not the client's
// credentials, and a proxy then fails the client's request (nginx answers 500) instead of
// letting it through.
func (h *ResourceHandler) refuseForwardAuth(w http.ResponseWriter, r *http.Request, err error) {
	reason := "bad_forwarded_request"
	if errors.Is(err, rsvalidate.ErrUntrustedProxy) {
		reason = "untrusted_proxy"
	}
	h.metrics.Refused(http.StatusBadRequest, reason, 0)
	now := time.Now().Unix()
	if last := h.lastFwdLog.Load(); now > last && h.lastFwdLog.CompareAndSwap(last, now) {
		h.logger.Warn("forward auth: refused an auth request that names no usable original request",
			zap.String("remote_addr", r.RemoteAddr), zap.Error(err))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, "forward auth: %v\n", err)
}

// forwardAuthAnswer takes the place of the next handler in forward-auth mode: the original
// request was accepted, and the proxy is told so with what the gateway would have set on the
// request it forwards, for the proxy to copy upstream.
type forwardAuthAnswer struct {
	h           *ResourceHandler
	authRequest *http.Request
}

func (a forwardAuthAnswer) ServeHTTP(w http.ResponseWriter, orig *http.Request) error {
	hdr := w.Header()
	// Every header_up header is answered, empty when its template is: a proxy that copies the
	// header only when present would otherwise leave the client's own copy in place.
	for _, hd := range a.h.headers {
		hdr[hd.name] = []string{orig.Header.Get(hd.name)}
	}
	if a.h.Exchange != nil {
		// The upstream's token (RFC 8693), for the proxy to send instead of the client's.
		hdr.Set("Authorization", orig.Header.Get("Authorization"))
	}
	hdr.Set("Cache-Control", "no-store")
	if fw, ok := w.(*forwardAuthWriter); ok {
		fw.allowed = true
	}
	// The auth request's access log names the caller too.
	if outer, ok := a.authRequest.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if repl, ok := orig.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if id, ok := repl.GetString("http.auth.user.id"); ok {
				outer.Set("http.auth.user.id", id)
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// forwardAuthForbiddenHeaders cannot be header_up names in forward-auth mode, where they
// become response headers: they frame or describe the auth response itself.
var forwardAuthForbiddenHeaders = []string{
	"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type", "Date",
	"Dpop-Nonce", "Keep-Alive", "Location", "Proxy-Authenticate", "Server", "Set-Cookie", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade", "Www-Authenticate",
}

// validateForwardAuth checks the options that forward-auth mode changes the meaning of.
func (h *ResourceHandler) validateForwardAuth() error {
	if !h.ForwardAuth {
		if h.ForwardAuthPathPrefix != "" {
			return errors.New("forward_auth_path_prefix: only with forward_auth")
		}
		return nil
	}
	if p := h.ForwardAuthPathPrefix; p != "" {
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#% \t") {
			return fmt.Errorf("forward_auth path_prefix %q: want a path without a trailing slash, as Envoy's path_prefix (/ext_authz)", p)
		}
	}
	// The proxy forwards the client's request itself: nothing here can take the credentials
	// out of it, so options that promise to are refused rather than silently ignored.
	if h.KeepCredentials {
		return errors.New("keep_credentials: has no effect with forward_auth (the proxy forwards the client's request as it is; " +
			"have the proxy drop Authorization and DPoP if the upstream must not see them)")
	}
	if h.TokenInQuery {
		return errors.New("token_in_query: not with forward_auth (the proxy would forward the token in the query to the upstream)")
	}
	if h.TokenInBody {
		return errors.New("token_in_body: not with forward_auth (proxies do not send the request body in the auth request)")
	}
	for name := range h.HeaderUp {
		canon := http.CanonicalHeaderKey(name)
		for _, bad := range forwardAuthForbiddenHeaders {
			if canon == bad {
				return fmt.Errorf("header_up %q: with forward_auth the headers are response headers, and %s describes the response itself", name, bad)
			}
		}
		if canon == "Authorization" && h.Exchange != nil {
			return errors.New("header_up \"Authorization\": with exchange, forward_auth answers the exchanged token in Authorization")
		}
	}
	return nil
}

// errForwardAuthOrigin: a forward-auth site's addresses are where the proxy asks, not where
// clients call, so they cannot stand for the origin DPoP proofs name.
const errForwardAuthOrigin = "forward_auth: set external_url <origin> or hosts <host[:port]>... " +
	"(the origin clients call through the proxy; this site's own addresses are only where the proxy asks)"

// unmarshalForwardAuth reads
//
//	forward_auth [{
//	    path_prefix <prefix>   # Envoy ext_authz: the original path follows this prefix
//	}]
func (h *ResourceHandler) unmarshalForwardAuth(d *caddyfile.Dispenser) error {
	if h.ForwardAuth {
		return d.Err("forward_auth: set twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	h.ForwardAuth = true
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "path_prefix":
			p, err := oneArg(d)
			if err != nil {
				return err
			}
			h.ForwardAuthPathPrefix = p
		default:
			return d.Errf("unknown forward_auth subdirective %q", d.Val())
		}
	}
	return nil
}
