// Package authserver is the OAuth 2.0 / OpenID Connect authorization server as plain net/http
// handlers. It never imports Caddy: caddymodule builds a Config and Deps and mounts Server.
package authserver

import (
	"context"
	"crypto/cipher"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
	"github.com/caddy-oauth/caddy-oauth/authserver/device"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/opaquetoken"
	"github.com/caddy-oauth/caddy-oauth/authserver/passkey"
	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
	"github.com/caddy-oauth/caddy-oauth/authserver/requestobject"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
	"github.com/caddy-oauth/caddy-oauth/backchannel/logout"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssf"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// Deps are the long-lived parts a Server is built on. The caller owns them: Server.Close
// does not close the store.
type Deps struct {
	Store  store.Store
	Sealer *sealer.Sealer
	Logger *zap.Logger
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
	// Sleep waits (sign-ins slowed down by the login limiter); nil means time.Sleep. Tests
	// move their clock instead.
	Sleep func(time.Duration)
	// DPoPReplay remembers used DPoP proof jtis; nil means a memory guard owned by the Server.
	// Share one across config reloads (and use a cluster-wide one across instances).
	DPoPReplay dpop.ReplayGuard
	// Accounts is where end users sign in; nil means the store's own accounts.
	Accounts account.Source
	// LoginLimiter throttles failed sign-ins; nil means one owned by the Server, made from
	// Config.LoginLimiterConfig (share one across config reloads so a reload does not reset
	// the counters).
	LoginLimiter *account.Limiter
	// Observer hears what metrics count; nil means nothing listens.
	Observer Observer
	// ClientIP returns the end user's address for login throttling (Caddy's trusted-proxy
	// aware client IP); nil means the peer address.
	ClientIP func(*http.Request) string
	// ClientCertificate returns the TLS client certificate the request was made with (RFC
	// 8705): from the connection, or from a header a trusted TLS-terminating proxy set; nil
	// when there is none. nil means the connection's own (r.TLS.PeerCertificates[0]).
	ClientCertificate func(*http.Request) *x509.Certificate
	// DeviceCodeLimiter throttles wrong user codes on the device verification page; nil means
	// one owned by the Server, made like the login limiter (share one across config reloads).
	DeviceCodeLimiter *account.Limiter
}

// Server is one authorization server (one issuer).
type Server struct {
	cfg  Config
	deps Deps
	st   store.Store
	log  *zap.Logger
	// audit writes the security events; observer hears what metrics count (observe.go).
	audit    audit.Log
	observer Observer
	// outageLog spaces the log lines of requests failed by the database.
	outageLog throttledLog
	now       func() time.Time
	keys      *keys.Manager
	auth      *clientauth.Authenticator
	dpop      *dpop.Verifier
	// ownGuard is the replay guard the Server made itself (closed with it), if any.
	ownGuard *dpop.MemoryGuard
	secrets  *clientsecret.Verifier
	lookups  *lookups
	manage   *manage.Service
	// requestObjects verifies request objects (jar_wiring.go).
	requestObjects *requestobject.Verifier
	// registration serves /register (RFC 7591/7592); nil when the policy is off.
	registration *registration.Handler
	// logouts queues and delivers back-channel logout tokens (backchannel_wiring.go).
	logouts *logout.Deliverer
	// signals is the Shared Signals transmitter (/ssf/...); nil when it is off.
	signals *ssf.Server
	// devices serves the device authorization grant (device_wiring.go); nil when it is off.
	// deviceLimiter throttles the user codes typed on its verification page.
	devices       *device.Endpoint
	deviceLimiter *account.Limiter
	// trusted verifies external issuers' JWTs; jwtBearer and exchange serve the grants on
	// tokens from elsewhere (exchange_wiring.go), nil when off.
	trusted   *trust.Set
	jwtBearer *jwtbearer.Grant
	exchange  *exchange.Exchange
	// ciba serves CIBA and cibaDelivery its ping and push notifications (ciba_wiring.go);
	// nil when it is off.
	ciba         *ciba.Endpoint
	cibaDelivery *ciba.Deliverer
	// passkeys runs the WebAuthn ceremonies (passkey_wiring.go); nil when they are off.
	passkeys *passkey.Service
	// delegated hands sign-in and consent to an external app (delegated_wiring.go); nil
	// when it is off.
	delegated *delegated.API

	// verified caches JWT access tokens whose signature and claims were checked (introspection).
	verified *ristretto.Cache[string, verifiedToken]
	// gateway caches in-process validation results for a few seconds (ActiveAccessToken);
	// revokedLocal holds revocations made through this server (key → token exp), checked on
	// every in-process validation so they apply at once.
	gateway      *ristretto.Cache[string, verifiedToken]
	gatewayGuard fillGuard // see clearGateway
	revokedLocal sync.Map
	// claimFragments caches each resource's encoded custom claims (resource ID → claimFragment).
	claimFragments sync.Map

	// End-user flows.
	accounts account.Source
	limiter  *account.Limiter
	ui       *ui.Renderer
	// logo is the branding logo file the server serves, nil without one (pages_wiring.go).
	logo           *logoFile
	csrfKey        []byte
	opaque         *opaquetoken.Codec // seals opaque access tokens (issue.go)
	pairwiseMACKey []byte
	pairwiseBlock  cipher.Block

	grantHandlers map[string]grantHandler
	routes        map[string]http.HandlerFunc
	// mounts are capabilities in their own packages that serve paths of their own below the
	// issuer (e.g. /register/{client_id}); asked after routes.
	mounts       []mount
	metadataJSON []byte

	stop context.CancelFunc
	done chan struct{}
}

// New validates cfg, seeds configured resources and clients, loads or creates signing keys
// and returns a ready Server. Call Close when it is no longer served.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Sealer == nil {
		return nil, fmt.Errorf("authserver: a store and a sealer are required")
	}
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	if deps.Sleep == nil {
		deps.Sleep = time.Sleep
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: deps, st: deps.Store, log: deps.Logger, now: deps.Now,
		audit: audit.New(deps.Logger), observer: deps.Observer}
	if s.observer == nil {
		s.observer = nopObserver{}
	}

	if s.lookups, err = newLookups(s.st); err != nil {
		return nil, err
	}
	if s.verified, err = ristretto.NewCache(&ristretto.Config[string, verifiedToken]{NumCounters: 1e6, MaxCost: 1e5, BufferItems: 64, IgnoreInternalCost: true}); err != nil {
		s.lookups.close()
		return nil, err
	}
	if s.gateway, err = ristretto.NewCache(&ristretto.Config[string, verifiedToken]{NumCounters: 1e6, MaxCost: 1e5, BufferItems: 64, IgnoreInternalCost: true}); err != nil {
		s.lookups.close()
		s.verified.Close()
		return nil, err
	}
	ready := false
	defer func() {
		if !ready {
			s.lookups.close()
			s.verified.Close()
			s.gateway.Close()
			if s.secrets != nil {
				s.secrets.Close()
			}
		}
	}()
	if s.opaque, err = opaquetoken.New(deps.Sealer.DeriveKey("opaque access tokens")); err != nil {
		return nil, err
	}
	s.keys, err = keys.NewManager(s.st, deps.Sealer, keys.Options{
		Algs:           cfg.SigningAlgs,
		EncAlgs:        cfg.encryptionKeyAlgs(),
		RotationPeriod: cfg.KeyRotationPeriod,
		RetainFor:      cfg.longestTokenTTL(),
		OnRotate: func(alg, kid string) {
			s.observer.KeyRotated(alg)
			s.audit.Event(audit.KeyRotated, zap.String("alg", alg), zap.String("kid", kid))
		},
	}, s.log.Named("keys"))
	if err != nil {
		return nil, err
	}
	if err := s.keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	if cfg.ClientIDMetadataDocuments.Enabled {
		documents := cfg.ClientIDMetadataDocuments
		if s.lookups.documents, err = clientidmeta.New(documents, cfg.specEnv(false), s.log.Named("client_id_metadata_documents"), deps.Now); err != nil {
			return nil, err
		}
	}
	if err := s.seedResources(ctx); err != nil {
		return nil, err
	}
	if err := s.seedClients(ctx); err != nil {
		return nil, err
	}
	// The baseline revision: from here on, a moved revision means someone changed something.
	if _, err := s.lookups.sync(ctx); err != nil {
		return nil, fmt.Errorf("reading the store revision: %w", err)
	}

	s.secrets = clientsecret.NewVerifier(5*time.Minute, 10_000)
	s.auth = &clientauth.Authenticator{
		Issuer:          cfg.Issuer,
		Clients:         s.lookups,
		Secrets:         s.secrets,
		Sealed:          deps.Sealer,
		Replay:          s.st,
		Fetcher:         clientauth.NewJWKSFetcher(cfg.OutboundAllowPrivate),
		MaxAssertionAge: cfg.ClientAssertionMaxAge,
		Now:             deps.Now,

		EndpointAudience: cfg.ClientAssertionEndpointAudience,

		ClientCertificate: deps.ClientCertificate,
		TrustedCAs:        cfg.MTLS.trustedCAs,
	}
	s.auth.AssertionAlgAllowed = s.assertionAlgAllowed
	s.requestObjects = s.newRequestObjects()
	if err := s.setupDPoP(); err != nil {
		return nil, err
	}
	// Before the end-user setup: seeding a disabled account ends its sessions (queued here,
	// delivered once the Server runs).
	if s.logouts, err = s.newLogoutDeliverer(); err != nil {
		return nil, err
	}
	if err := s.setupEndUser(ctx); err != nil {
		return nil, err
	}
	s.manage = s.newManage()
	s.devices = s.newDevices()
	if err := s.setupTrust(); err != nil {
		return nil, err
	}
	s.setupCIBA()
	if s.passkeys, err = s.newPasskeys(); err != nil {
		return nil, err
	}
	s.delegated = s.newDelegated()
	if s.deviceLimiter, err = s.newDeviceLimiter(); err != nil {
		return nil, err
	}
	if s.registration, err = s.newRegistration(); err != nil {
		return nil, err
	}
	if s.signals, err = s.newSharedSignals(); err != nil {
		return nil, err
	}
	s.grantHandlers = s.grants()
	if s.metadataJSON, err = s.buildMetadata(); err != nil {
		return nil, err
	}
	s.routes = s.buildRoutes()
	ready = true

	bg, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go s.background(bg)
	s.startLogoutDelivery()
	if s.cibaDelivery != nil {
		s.cibaDelivery.Start(bg)
	}
	if s.signals != nil {
		s.signals.Start()
	}
	return s, nil
}

// longestTokenTTL is how long a retired signing key must stay published: until every token it
// may have signed has expired.
func (c Config) longestTokenTTL() time.Duration {
	longest := max(c.AccessTokenTTL, 24*time.Hour)
	for _, r := range c.Resources {
		if r.AccessTokenTTL != nil {
			longest = max(longest, *r.AccessTokenTTL)
		}
	}
	return longest + time.Hour
}

func (s *Server) buildRoutes() map[string]http.HandlerFunc {
	base := s.basePath()
	routes := map[string]http.HandlerFunc{
		base + pathToken:      cors(s.handleToken),
		base + pathIntrospect: s.handleIntrospect,
		base + pathRevoke:     cors(s.handleRevoke),
		base + pathJWKS:       s.handleJWKS,
		base + pathAuthorize:  s.handleAuthorize,
		base + pathResume:     s.handleResume,
		base + pathLogin:      s.handleLogin,
		base + pathConsent:    s.handleConsent,
		base + pathUserinfo:   cors(s.handleUserinfo),
		base + pathEndSession: s.handleEndSession,
		// OIDC Discovery appends to the issuer; RFC 8414 §3.1 inserts before the issuer's path.
		base + "/.well-known/openid-configuration":       s.handleMetadata,
		base + "/.well-known/oauth-authorization-server": s.handleMetadata,
		"/.well-known/oauth-authorization-server" + base: s.handleMetadata,
		"/.well-known/openid-configuration" + base:       s.handleMetadata,
	}
	s.parRoutes(routes, base)
	s.pagesRoutes(routes, base)
	s.deviceRoutes(routes, base)
	s.cibaRoutes(routes, base)
	s.passkeyRoutes(routes, base)
	s.delegatedRoutes(routes, base)
	s.accountRoutes(routes, base)
	for path, h := range routes {
		routes[path] = s.observed(endpointName(base, path), h)
	}
	s.mounts = nil
	if s.registration != nil {
		// Browser apps (SPAs, MCP clients) register and manage themselves cross-origin.
		s.mounts = append(s.mounts, s.observe("register", withCORS(s.registration, "GET, POST, PUT, DELETE")))
	}
	if s.signals != nil {
		s.mounts = append(s.mounts, s.observe("ssf", s.signals))
	}
	if s.delegated != nil {
		// The login app's API (package delegated).
		s.mounts = append(s.mounts, s.observe("delegated", s.delegated))
	}
	return routes
}

// mount is a capability that serves the paths it owns.
type mount interface {
	http.Handler
	Owns(path string) bool
}

// corsMount is a mount whose answers carry CORS headers (see cors).
type corsMount struct {
	mount
	serve http.HandlerFunc
}

func withCORS(m mount, methods string) corsMount {
	return corsMount{mount: m, serve: corsMethods(methods, m.ServeHTTP)}
}

func (m corsMount) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.serve(w, r) }

// handlerFor returns the endpoint serving path, or nil.
func (s *Server) handlerFor(path string) http.Handler {
	if h, ok := s.routes[path]; ok {
		return h
	}
	for _, m := range s.mounts {
		if m.Owns(path) {
			return m
		}
	}
	return nil
}

// basePath is the issuer's path without a trailing slash ("" for a host-only issuer).
func (s *Server) basePath() string {
	u, _ := url.Parse(s.cfg.Issuer) // validated in withDefaults
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// endpoint returns the absolute URL of an endpoint path.
func (s *Server) endpoint(path string) string { return s.cfg.Issuer + path }

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// OwnsPath reports whether path is one of this server's endpoints.
func (s *Server) OwnsPath(path string) bool { return s.handlerFor(path) != nil }

// ServeHTTP routes a request to its endpoint; unknown paths get 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.handlerFor(r.URL.Path)
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

// RotateKeys makes a new current signing key for alg; the previous one stays published until
// the tokens it signed have expired.
func (s *Server) RotateKeys(ctx context.Context, alg string) (string, error) {
	return s.keys.Rotate(ctx, alg)
}

// DeleteResource deletes a resource by identifier: its tokens stop introspecting as active.
func (s *Server) DeleteResource(ctx context.Context, identifier string) error {
	r, err := s.st.GetResourceByIdentifier(ctx, identifier)
	if err != nil {
		return err
	}
	defer s.lookups.invalidate()
	defer s.clearGateway() // in-process results may name the resource
	return s.st.DeleteResource(ctx, r.ID)
}

// writeError answers an OAuth error; internal failures are logged and reported as server_error,
// or as 503 temporarily_unavailable (with Retry-After) when the database is failing, which a
// client should retry.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oautherr.Classify(err, s.unavailable)
	if e.Status >= http.StatusInternalServerError {
		s.observer.InternalFailure(endpointName(s.basePath(), r.URL.Path))
		if e.Code != oautherr.TemporarilyUnavailable {
			s.log.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
		} else if ok, quiet := s.outageLog.allow(s.now()); ok {
			// During an outage every request fails alike: one line a second is enough.
			s.log.Error("the database is failing; answering 503", zap.String("path", r.URL.Path),
				zap.Int64("not_logged_since_last", quiet), zap.Error(err))
		}
	} else {
		s.log.Debug("request refused", zap.String("path", r.URL.Path), zap.String("error", e.Code), zap.String("description", e.Description))
	}
	oautherr.Write(w, e)
}

func (s *Server) background(ctx context.Context) {
	defer close(s.done)
	go s.keys.Run(ctx)
	t := time.NewTicker(s.cfg.CleanupInterval)
	defer t.Stop()
	ended := time.NewTicker(endedSessionsInterval)
	defer ended.Stop()
	var syncTick <-chan time.Time
	if s.cfg.CacheSyncInterval > 0 {
		sync := time.NewTicker(s.cfg.CacheSyncInterval)
		defer sync.Stop()
		syncTick = sync.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-syncTick:
			moved, err := s.lookups.sync(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("checking the store for client and resource changes failed", zap.Error(err))
			}
			if moved {
				// In-process validations may name a client or resource changed elsewhere.
				s.clearGateway()
			}
		case <-ended.C:
			s.endEndedSessions(ctx)
		case <-t.C:
			s.endEndedSessions(ctx) // before DeleteExpired purges sessions its clients must hear of
			s.forgetExpiredRevocations(s.now())
			if s.signals != nil {
				s.signals.DeleteIdleStreams(ctx)
			}
			n, err := s.st.DeleteExpired(ctx, s.now())
			if err != nil && ctx.Err() == nil {
				s.log.Warn("purging expired rows failed", zap.Error(err))
			} else if n > 0 {
				s.log.Debug("purged expired rows", zap.Int64("rows", n))
			}
		}
	}
}

// Close stops background work (key rotation, cleanup). The store stays open: it belongs to
// the caller.
func (s *Server) Close() error {
	if s.signals != nil {
		s.signals.Close() // answers waiting polls at once
	}
	s.stop()
	<-s.done
	if s.cibaDelivery != nil {
		s.cibaDelivery.Wait()
	}
	s.stopLogoutDelivery() // uses the lookups: before they close
	s.lookups.close()
	s.verified.Close()
	s.gateway.Close()
	s.secrets.Close()
	if s.ownGuard != nil {
		s.ownGuard.Close()
	}
	return nil
}
