package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/caddy-oauth/caddy-oauth/oauthmetrics"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

func init() {
	caddy.RegisterModule(new(ResourceHandler))
}

const (
	wellKnownResource = "/.well-known/oauth-protected-resource"
	// defaultReplayCapacity bounds the jtis remembered per resource (about 64 bytes each, so
	// about 64 MB at most; see dpop TestMemoryGuardBytesPerEntry).
	defaultReplayCapacity = 1_000_000
	// dpopNonceWindow is how long a server nonce stays current; it is accepted for two.
	dpopNonceWindow = 5 * time.Minute
	minNonceSecret  = 32
)

// ResourceHandler protects the routes behind it as an OAuth 2.0 resource server: each
// request must carry an access token that the issuer vouches for, issued for this resource,
// with the scopes and claims the route requires. Valid requests go on to the next handler
// (typically reverse_proxy) with the credentials removed and the caller's identity in
// placeholders and headers; others get an RFC 6750 / RFC 9449 challenge.
type ResourceHandler struct {
	// Resource is the RFC 8707 resource identifier: the audience tokens must carry.
	Resource string `json:"resource"`
	// Issuer is the authorization server. When this Caddy serves it (oauth_server), tokens
	// are checked in-process; otherwise through discovery, its JWKS and introspection.
	Issuer string `json:"issuer"`
	// IntrospectionClientID and IntrospectionClientSecret authenticate RFC 7662
	// introspection of opaque tokens at a remote issuer; placeholders are resolved at
	// provision.
	IntrospectionClientID     string `json:"introspection_client_id,omitempty"`
	IntrospectionClientSecret string `json:"introspection_client_secret,omitempty"`
	// Algs restricts the access token signature algorithms.
	Algs []string `json:"algs,omitempty"`
	// Audience is what the issuer's tokens carry in aud for this resource, when the issuer
	// knows it by another name; default Resource.
	Audience string `json:"audience,omitempty"`
	// SubjectClaim, ScopeClaim and ClientIDClaim name the claims the identity is read from,
	// for issuers that do not use sub, scope (or scp) and client_id.
	SubjectClaim  string `json:"subject_claim,omitempty"`
	ScopeClaim    string `json:"scope_claim,omitempty"`
	ClientIDClaim string `json:"client_id_claim,omitempty"`
	// Issuers are more authorization servers trusted beside Issuer, each with its own
	// audience, algorithms and claim names; JWTs are routed by their iss (resource_issuers.go).
	Issuers []ResourceIssuer `json:"issuers,omitempty"`
	// AcceptPlainJWT accepts JWTs without typ at+jwt, for issuers that predate RFC 9068.
	AcceptPlainJWT bool           `json:"accept_plain_jwt,omitempty"`
	ClockSkew      caddy.Duration `json:"clock_skew,omitempty"`
	// TokenInQuery and TokenInBody allow the access_token query and form parameters
	// (RFC 6750 §2.2, §2.3); both are off because such tokens leak into logs and caches.
	TokenInQuery bool `json:"token_in_query,omitempty"`
	TokenInBody  bool `json:"token_in_body,omitempty"`
	// TokenInSubprotocol accepts a token in a WebSocket handshake's Sec-WebSocket-Protocol
	// (rsvalidate.SubprotocolTokenPrefix), for browsers, which cannot set Authorization there.
	TokenInSubprotocol bool `json:"token_in_subprotocol,omitempty"`
	// RequireDPoP refuses Bearer tokens: only DPoP-bound tokens with a proof pass.
	RequireDPoP bool     `json:"require_dpop,omitempty"`
	DPoPAlgs    []string `json:"dpop_algs,omitempty"`
	// DPoPNonce, when set, is the shared secret (32 characters or more) of stateless DPoP
	// server nonces; gateways sharing it accept each other's nonces.
	DPoPNonce          string `json:"dpop_nonce,omitempty"`
	DPoPReplayCapacity int    `json:"dpop_replay_capacity,omitempty"`
	// DPoPReplayRedis, when set, is a Redis URL (redis://[:password@]host:port/db, rediss://
	// for TLS; placeholders are resolved at provision) where used proofs are remembered
	// instead of in memory, so that gateways sharing it reject each other's replays.
	DPoPReplayRedis string `json:"dpop_replay_redis,omitempty"`
	// ExternalURL is the origin clients use (https://api.example.com), against which DPoP
	// proofs' htu is checked. Set it or Hosts; set it behind a proxy or port mapping that
	// changes the scheme, host or port clients see.
	ExternalURL string `json:"external_url,omitempty"`
	// Hosts, when ExternalURL is empty, are the host[:port] values clients address this
	// resource at ("api.example.com", "*.example.com" for one label, "127.0.0.1:9080"; no
	// port: the default of the connection's scheme). A DPoP proof must name the request's
	// scheme and Host, and only a Host listed here: a request for any other gets
	// invalid_dpop_proof. The Caddyfile fills it from the site's addresses.
	Hosts []string `json:"hosts,omitempty"`
	// ClientCertificateHeader is the header a trusted proxy (the server's trusted_proxies)
	// forwards the client certificate in, against which certificate-bound tokens are checked
	// (RFC 9440 or nginx's escaped PEM; default Client-Cert). Other peers' headers are ignored.
	ClientCertificateHeader string `json:"client_certificate_header,omitempty"`
	// KeepCredentials forwards Authorization and DPoP upstream; by default they are removed.
	KeepCredentials bool `json:"keep_credentials,omitempty"`
	// Scopes and Claims are required on every request; a claim passes when it has one of
	// the listed values.
	Scopes []string            `json:"scopes,omitempty"`
	Claims map[string][]string `json:"claims,omitempty"`
	// Rules add requirements on the requests their matchers select.
	Rules []ResourceRule `json:"rules,omitempty"`
	// HeaderUp sets request headers for the upstream from placeholder templates such as
	// {oauth.sub}; incoming headers of these names are always removed, so a client cannot
	// forge them.
	HeaderUp map[string]string `json:"header_up,omitempty"`
	// RevocationStream, when set, subscribes to a remote issuer's revocation stream so that
	// revoked tokens are refused within about a second (ignored for an issuer this Caddy
	// serves, which sees revocations at once).
	RevocationStream *RevocationStream `json:"revocation_stream,omitempty"`
	// OutboundAllowPrivate lets the revocation stream and token exchange reach an issuer on a
	// private, loopback or link-local address, and over plain http. Off by default (SSRF guard).
	OutboundAllowPrivate bool `json:"outbound_allow_private,omitempty"`
	// Exchange, when set, trades every accepted token for a down-scoped token of the
	// upstream's own audience (RFC 8693) before the request goes on.
	Exchange *ResourceExchange `json:"exchange,omitempty"`
	// ForwardAuth answers a reverse proxy's auth requests (nginx auth_request, Traefik
	// ForwardAuth, HAProxy, Envoy ext_authz) instead of passing requests on: 200 with the
	// header_up headers as response headers, or the refusal the gateway would answer. The
	// request checked is the one the proxy describes (resource_forwardauth.go).
	ForwardAuth bool `json:"forward_auth,omitempty"`
	// ForwardAuthPathPrefix, with ForwardAuth, reads the original request from the auth request
	// itself, its path behind this prefix: Envoy ext_authz's path_prefix.
	ForwardAuthPathPrefix string `json:"forward_auth_path_prefix,omitempty"`

	app     *App
	logger  *zap.Logger
	metrics *oauthmetrics.Gateway
	// slots are the trusted issuers, the handler's own first; remote is the first's state.
	slots                []*issuerSlot
	byIssuer             map[string]*issuerSlot
	authorizationServers []string
	remote               *remoteIssuer
	base                 rsvalidate.Config // everything but the token source, which is chosen lazily
	metaPath             string
	hosts                []originHost
	headers              []upHeader
	releases             []func()

	// streamOnce subscribes to the revocation stream once; streamView is then what the
	// validator consults (nil: no stream) and streamRelease drops the shared subscription.
	streamOnce    sync.Once
	streamView    rsvalidate.Revocations
	streamRelease func()

	// exchangeOnce builds exchanger (or fails with exchangeErr) on first use.
	exchangeOnce sync.Once
	exchanger    *exchangeCache
	exchangeErr  error

	lastLog    atomic.Int64 // unix seconds of the last "unavailable" log line
	lastFwdLog atomic.Int64 // and of the last refused forward-auth request
}

// ResourceRule requires scopes and claims where its matchers match.
type ResourceRule struct {
	MatcherSetsRaw caddyhttp.RawMatcherSets `json:"match,omitempty" caddy:"namespace=http.matchers"`
	Scopes         []string                 `json:"scopes,omitempty"`
	Claims         map[string][]string      `json:"claims,omitempty"`

	matchers caddyhttp.MatcherSets
}

type upHeader struct{ name, template string }

// CaddyModule returns the Caddy module information.
func (*ResourceHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth_resource",
		New: func() caddy.Module { return new(ResourceHandler) },
	}
}

// Provision loads the rule matchers and takes this generation's references to the shared
// DPoP replay guard and issuer state. It never contacts the issuer: it may be this same
// Caddy, not serving yet, or down, which must not fail a config load.
func (h *ResourceHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.Validate(); err != nil {
		return err
	}
	if err := h.provisionOrigins(); err != nil {
		return err
	}
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	h.app = app

	for i := range h.Rules {
		r := &h.Rules[i]
		mods, err := ctx.LoadModule(r, "MatcherSetsRaw")
		if err != nil {
			return fmt.Errorf("rule %d: loading matchers: %v", i, err)
		}
		if err := r.matchers.FromInterface(mods); err != nil {
			return fmt.Errorf("rule %d: %v", i, err)
		}
	}
	for name, tmpl := range h.HeaderUp {
		h.headers = append(h.headers, upHeader{textproto.CanonicalMIMEHeaderKey(name), tmpl})
	}

	repl := caddy.NewReplacer()
	verifier := &dpop.Verifier{Algs: h.DPoPAlgs}
	if h.DPoPNonce != "" {
		secret, err := repl.ReplaceOrErr(h.DPoPNonce, true, true)
		if err != nil {
			return errors.New("dpop_nonce: unresolved or empty placeholder")
		}
		if len(secret) < minNonceSecret {
			return fmt.Errorf("dpop_nonce: the secret must be at least %d characters", minNonceSecret)
		}
		if verifier.Nonces, err = dpop.NewNonces([]byte(secret), dpopNonceWindow); err != nil {
			return fmt.Errorf("dpop_nonce: %v", err)
		}
	}
	capacity := h.DPoPReplayCapacity
	if capacity == 0 {
		capacity = defaultReplayCapacity
	}
	guard, release, err := h.app.dpopReplayGuard(repl, h.Issuer, h.Resource, h.DPoPReplayRedis, capacity)
	if err != nil {
		return err
	}
	h.releases = append(h.releases, release)
	verifier.Replay = guard
	if err := bundleMetrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.metrics = bundleMetrics.Gateway(h.Resource)
	if mem, ok := guard.(*dpop.MemoryGuard); ok {
		h.releases = append(h.releases, bundleMetrics.AddReplayGuard(h.Resource, mem.Len))
	}

	if err := h.provisionIssuers(repl); err != nil {
		return err
	}
	if err := h.provisionRevocationStream(repl); err != nil {
		return err
	}
	if err := h.provisionExchange(repl); err != nil {
		return err
	}

	h.ExternalURL = strings.TrimSuffix(h.ExternalURL, "/")
	h.metaPath, h.base.ResourceMetadataURL = resourceMetadataLocation(h.Resource)
	h.base.Resource = h.Resource
	h.base.Skew = time.Duration(h.ClockSkew)
	h.base.AllowQueryToken = h.TokenInQuery
	h.base.AllowBodyToken = h.TokenInBody
	h.base.AllowSubprotocolToken = h.TokenInSubprotocol
	h.base.RequireDPoP = h.RequireDPoP
	h.base.DPoP = verifier
	h.base.Origin = h.requestOrigin
	h.base.ClientCertificate = clientCertificateSource(h.clientCertificateHeader())
	h.base.ScopesSupported = h.scopesSupported()
	return nil
}

// Cleanup closes the validator and releases the shared state; it copes with a failed
// Provision.
func (h *ResourceHandler) Cleanup() error {
	h.closeValidators()
	// A subscription being set up now finishes first; none starts after this.
	h.streamOnce.Do(func() {})
	h.exchangeOnce.Do(func() {})
	if h.exchanger != nil {
		h.exchanger.close()
	}
	if h.streamRelease != nil {
		h.streamRelease()
		h.streamRelease = nil
	}
	for _, release := range h.releases {
		release()
	}
	h.releases = nil
	return nil
}

// scopesSupported lists, for the metadata document, every scope this configuration asks for.
func (h *ResourceHandler) scopesSupported() []string {
	var out []string
	seen := make(map[string]bool)
	add := func(scopes []string) {
		for _, s := range scopes {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	add(h.Scopes)
	for _, r := range h.Rules {
		add(r.Scopes)
	}
	return out
}

// resourceMetadataLocation returns the path this handler serves the RFC 9728 metadata at
// and its absolute URL: the well-known segment goes between the identifier's host and its
// path (§3.1), a lone terminating slash dropped. Identifiers that are not http(s) URLs
// (URNs) have no derived location; the document is then served at the host-only path.
func resourceMetadataLocation(resource string) (path, absURL string) {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return wellKnownResource, ""
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	path = wellKnownResource + p
	return path, u.Scheme + "://" + u.Host + path
}

// ServeHTTP serves the resource's metadata and lets through only authorized requests.
func (h *ResourceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// In forward-auth mode r is a proxy's question about another request: from here on r is
	// that request, and next answers the proxy (resource_forwardauth.go).
	forwardAuth := h.isForwardAuth(r)
	if forwardAuth {
		var ok bool
		if w, r, next, ok = h.forwardAuthRequest(w, r); !ok {
			return nil
		}
	}
	v, refusal, err := h.validatorFor(r)
	if err != nil {
		// Fail closed; the cause was logged where it happened.
		h.metrics.Refused(http.StatusServiceUnavailable, "unavailable", 0)
		rsvalidate.WriteUnavailable(w, r)
		return nil
	}
	if !forwardAuth && r.URL.Path == h.metaPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(v.Metadata())
		}
		return nil
	}

	start := time.Now()
	var id *rsvalidate.Identity
	verr := refusal
	if verr == nil {
		id, verr = v.Authenticate(originalURL(r))
	}
	if verr == nil {
		verr = h.authorize(v, id, r)
	}
	var upstreamToken string
	if verr == nil && h.Exchange != nil {
		upstreamToken, verr = h.exchangeToken(r, v)
	}
	if verr != nil {
		h.recordRefusal(verr, time.Since(start))
		if verr.Status >= http.StatusInternalServerError {
			h.logUnavailable(verr)
		}
		v.WriteErrorFor(w, r, verr)
		return nil
	}
	h.metrics.Allowed(time.Since(start))

	if !h.KeepCredentials || upstreamToken != "" {
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		if h.TokenInSubprotocol {
			rsvalidate.StripSubprotocolToken(r)
		}
		if h.TokenInQuery && strings.Contains(r.URL.RawQuery, "access_token") {
			// A form-body token (token_in_body) stays: rewriting the body is the upstream's
			// business, and RFC 6750 §2.2 bodies are meant for it anyway.
			q := r.URL.Query()
			q.Del("access_token")
			r.URL.RawQuery = q.Encode()
		}
	}
	if upstreamToken != "" {
		// The upstream sees only its own token, never the edge's (RFC 8693 at the gateway).
		r.Header.Set("Authorization", "Bearer "+upstreamToken)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Map(identityPlaceholders{id}.replace)
	repl.Set("http.auth.user.id", id.Subject)
	for _, hd := range h.headers {
		r.Header.Del(hd.name)
	}
	for _, hd := range h.headers {
		if val := repl.ReplaceAll(hd.template, ""); val != "" {
			r.Header.Set(hd.name, val)
		}
	}
	return next.ServeHTTP(w, r)
}

// recordRefusal counts a refusal by status and reason (the OAuth error code).
func (h *ResourceHandler) recordRefusal(e *rsvalidate.Error, took time.Duration) {
	status, reason := e.Status, e.Code
	if status == 0 {
		status = http.StatusUnauthorized
	}
	switch {
	case status >= http.StatusInternalServerError:
		reason = "unavailable"
	case reason == "":
		reason = "missing_credentials" // RFC 6750 §3.1: no error code without credentials
	case reason == "use_dpop_nonce":
		h.metrics.NonceChallenge()
	}
	switch {
	case errors.Is(e, dpop.ErrReplay):
		h.metrics.Replay("replay")
	case errors.Is(e, dpop.ErrForgotten):
		h.metrics.Replay("forgotten")
	case errors.Is(e, dpop.ErrFull):
		h.metrics.Replay("full")
	}
	h.metrics.Refused(status, reason, took)
}

// logUnavailable logs a failure to validate (the issuer or its store cannot answer) at most
// once a second: during an outage every request fails, and the log must not drown.
func (h *ResourceHandler) logUnavailable(e *rsvalidate.Error) {
	now := time.Now().Unix()
	if last := h.lastLog.Load(); now > last && h.lastLog.CompareAndSwap(last, now) {
		h.logger.Error("cannot validate access tokens; answering 503", zap.String("issuer", h.Issuer), zap.Error(e))
	}
}

// authorize applies the handler-wide requirements, then those of every matching rule.
func (h *ResourceHandler) authorize(v *rsvalidate.Validator, id *rsvalidate.Identity, r *http.Request) *rsvalidate.Error {
	if len(h.Scopes) > 0 || len(h.Claims) > 0 {
		if err := v.Authorize(id, h.Scopes, h.Claims); err != nil {
			return err
		}
	}
	for i := range h.Rules {
		rule := &h.Rules[i]
		match, err := rule.matchers.AnyMatchWithError(r)
		if err != nil {
			return &rsvalidate.Error{Status: http.StatusInternalServerError, Code: "server_error", Cause: err}
		}
		if !match {
			continue
		}
		if err := v.Authorize(id, rule.Scopes, rule.Claims); err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ResourceHandler)(nil)
	_ caddy.Validator             = (*ResourceHandler)(nil)
	_ caddy.CleanerUpper          = (*ResourceHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ResourceHandler)(nil)
)

// Validate checks the configuration; Caddyfile parsing runs it too, so `caddy adapt`
// reports mistakes early.
func (h *ResourceHandler) Validate() error {
	if h.Resource == "" {
		return errors.New("resource is required")
	}
	if err := checkAbsoluteURI("resource", h.Resource); err != nil {
		return err
	}
	if err := h.validateIssuers(); err != nil {
		return err
	}
	if err := h.Exchange.validate(); err != nil {
		return err
	}
	if err := dpop.CheckAlgs(h.DPoPAlgs); err != nil {
		return fmt.Errorf("dpop_algs: %v", err)
	}
	if err := checkDuration("clock_skew", time.Duration(h.ClockSkew)); err != nil {
		return err
	}
	if h.DPoPNonce != "" && !strings.Contains(h.DPoPNonce, "{") && len(h.DPoPNonce) < minNonceSecret {
		return fmt.Errorf("dpop_nonce: the secret must be at least %d characters", minNonceSecret)
	}
	if h.DPoPReplayCapacity < 0 {
		return errors.New("dpop_replay_capacity: must not be negative")
	}
	if h.DPoPReplayRedis != "" {
		if h.DPoPReplayCapacity != 0 {
			return errors.New("dpop_replay_capacity: has no effect with dpop_replay_redis (Redis bounds its own memory)")
		}
		if !strings.Contains(h.DPoPReplayRedis, "{") {
			if _, err := parseRedisURL(h.DPoPReplayRedis); err != nil {
				return err
			}
		}
	}
	if h.ExternalURL != "" {
		if err := checkExternalURL(h.ExternalURL); err != nil {
			return err
		}
		if len(h.Hosts) > 0 {
			return errors.New("external_url and hosts: set one (external_url is the only origin clients use)")
		}
	}
	for _, host := range h.Hosts {
		if _, err := parseOriginHost(host); err != nil {
			return err
		}
	}
	if err := checkScopes(h.Scopes); err != nil {
		return err
	}
	if err := checkClaims(h.Claims); err != nil {
		return err
	}
	for i, r := range h.Rules {
		if len(r.Scopes) == 0 && len(r.Claims) == 0 {
			return fmt.Errorf("rule %d: requires nothing (give it scopes or claim)", i)
		}
		if err := checkScopes(r.Scopes); err != nil {
			return fmt.Errorf("rule %d: %v", i, err)
		}
		if err := checkClaims(r.Claims); err != nil {
			return fmt.Errorf("rule %d: %v", i, err)
		}
	}
	for name := range h.HeaderUp {
		if !validHeaderName(name) {
			return fmt.Errorf("header_up: invalid header name %q", name)
		}
	}
	if h.RevocationStream != nil {
		if err := h.RevocationStream.validate(h); err != nil {
			return err
		}
	}
	return h.validateForwardAuth()
}

// checkExternalURL accepts an http(s) origin: DPoP proofs bind scheme, host and path, and
// the path is always the request's own.
func checkExternalURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("external_url %q: must be an http(s) URL", v)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("external_url %q: must be an origin only (scheme://host[:port])", v)
	}
	return nil
}

func checkClaims(claims map[string][]string) error {
	for name, values := range claims {
		if name == "" {
			return errors.New("claim: empty name")
		}
		if len(values) == 0 {
			return fmt.Errorf("claim %q: at least one value is required", name)
		}
	}
	return nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// originalURL returns r as the client sent it as far as the URL goes: a DPoP proof's htu names
// the URL the client called, which handle_path or a rewrite may have changed by now. Caddy keeps
// a copy of the original request in the context.
func originalURL(r *http.Request) *http.Request {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || orig.URL == nil || orig.URL.EscapedPath() == r.URL.EscapedPath() {
		return r
	}
	cp := *r
	cp.URL = orig.URL
	return &cp
}
