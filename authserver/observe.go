package authserver

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Observer hears what an operator counts: tokens issued, refusals, latencies, sign-ins, key
// rotations and failures inside the server. caddymodule feeds it to Prometheus; a library user
// may plug in anything else. Calls happen on request paths: they must be cheap and must not
// block. Label values are bounded (grant types, resource identifiers, OAuth error codes,
// endpoint names); a client_id is passed for observers that opt into it.
type Observer interface {
	TokenIssued(TokenIssued)
	// TokenRefused is a token endpoint refusal: the grant_type asked for ("unsupported" for
	// one this server does not serve) and the OAuth error code answered.
	TokenRefused(grantType, code string)
	// Served is one request to an endpoint ("token", "authorize", "introspect", …) and the
	// HTTP status answered.
	Served(endpoint string, status int, took time.Duration)
	// Introspected is one introspection answer: "active", "inactive" or "refused".
	Introspected(result string)
	// SignIn is one password sign-in: "success", "invalid_credentials", "throttled" or "error".
	SignIn(outcome string)
	// KeyRotated is a new signing or encryption key replacing a current one.
	KeyRotated(alg string)
	// InternalFailure is a request that failed inside the server (the store or a key), answered
	// 5xx, on endpoint.
	InternalFailure(endpoint string)
	// Delivery is one back-channel delivery attempt's outcome: kind "logout" or "ciba";
	// result "delivered", "retry" or "dropped".
	Delivery(kind, result string)
}

// TokenIssued describes one access token issued.
type TokenIssued struct {
	GrantType string // the grant_type URN or name; "authorization_code" also for the hybrid flow
	Resource  string // the resource identifier (the audience)
	Format    string // "jwt" or "opaque"
	Binding   string // "none", "dpop" or "mtls"
	ClientID  string
}

// nopObserver is the Observer of a server configured without one.
type nopObserver struct{}

func (nopObserver) TokenIssued(TokenIssued)           {}
func (nopObserver) TokenRefused(string, string)       {}
func (nopObserver) Served(string, int, time.Duration) {}
func (nopObserver) Introspected(string)               {}
func (nopObserver) SignIn(string)                     {}
func (nopObserver) KeyRotated(string)                 {}
func (nopObserver) InternalFailure(string)            {}
func (nopObserver) Delivery(string, string)           {}

// binding names how a token is sender-constrained, for the tokens-issued count.
func binding(jkt, x5t string) string {
	switch {
	case jkt != "":
		return "dpop"
	case x5t != "":
		return "mtls"
	}
	return "none"
}

// Stats is what the server holds right now, read when metrics are scraped.
type Stats struct {
	// ActiveSessions counts unexpired login sessions (of every instance sharing the store).
	ActiveSessions int
	// KeyCreated is when the current signing key of each alg was made.
	KeyCreated map[string]time.Time
	// PendingLogoutDeliveries is the back-channel logout outbox's depth.
	PendingLogoutDeliveries int
}

// Stats reads the gauges an operator watches; it queries the store, so scrape it, not the
// request path.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	st := Stats{KeyCreated: s.keys.CurrentKeyTimes()}
	var err error
	if st.ActiveSessions, err = s.st.CountActiveSessions(ctx, s.now()); err != nil {
		return st, err
	}
	if st.PendingLogoutDeliveries, err = s.st.CountLogoutDeliveries(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// throttledLog lets one log line through per second and counts the others.
type throttledLog struct {
	last  atomic.Int64 // unix seconds of the last line let through
	quiet atomic.Int64 // lines held back since
}

// allow reports whether a line may be written now, and how many were held back before it.
func (t *throttledLog) allow(now time.Time) (bool, int64) {
	sec := now.Unix()
	if last := t.last.Load(); sec > last && t.last.CompareAndSwap(last, sec) {
		return true, t.quiet.Swap(0)
	}
	t.quiet.Add(1)
	return false, 0
}

// statusRecorder remembers the status an endpoint answered, for Served.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the SSF long poll flushes).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observed wraps an endpoint's handler to report its latency and status under name.
func (s *Server) observed(name string, h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.observer.Served(name, status, time.Since(start))
	}
}

// observedMount reports a mounted capability's requests under one name.
type observedMount struct {
	mount
	serve http.HandlerFunc
}

func (m observedMount) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.serve(w, r) }

func (s *Server) observe(name string, m mount) mount {
	return observedMount{mount: m, serve: s.observed(name, m)}
}

// endpointName is the bounded name an endpoint path is observed under: the first segment
// after the issuer's path ("token", "register" for /register/<id>), or "discovery".
func endpointName(base, path string) string {
	switch path {
	case base + "/.well-known/openid-configuration", base + "/.well-known/oauth-authorization-server",
		"/.well-known/oauth-authorization-server" + base, "/.well-known/openid-configuration" + base:
		return "discovery"
	}
	name, ok := strings.CutPrefix(path, base+"/")
	if !ok {
		return "other"
	}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	if name == ".well-known" || name == "" {
		return "other"
	}
	return name
}
