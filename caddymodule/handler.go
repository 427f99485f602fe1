package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// tokenEndpointReplayCapacity bounds the DPoP proof jtis the token endpoint remembers.
const tokenEndpointReplayCapacity = 1_000_000

// Handler serves an OAuth 2.0 authorization server for one issuer. Requests for the
// server's endpoints (token, introspection, JWKS, /.well-known/…) are answered here;
// everything else goes to the next handler.
type Handler struct {
	// Issuer is the absolute URL identifying the server (https, or http on loopback).
	Issuer string `json:"issuer"`
	// Storage defaults to SQLite in Caddy's data directory.
	Storage *Storage `json:"storage,omitempty"`
	// MasterKey seals private keys at rest; placeholders are resolved at provision. When
	// empty, a random key is kept in {data dir}/oauth/master.key.
	MasterKey string `json:"master_key,omitempty"`

	AccessTokenTTL        caddy.Duration `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL       caddy.Duration `json:"refresh_token_ttl,omitempty"`
	AccessTokenFormat     string         `json:"access_token_format,omitempty"`
	AccessTokenSigningAlg string         `json:"access_token_signing_alg,omitempty"`
	SigningAlgs           []string       `json:"signing_algs,omitempty"`
	KeyRotation           caddy.Duration `json:"key_rotation,omitempty"`
	ClientAssertionMaxAge caddy.Duration `json:"client_assertion_max_age,omitempty"`
	// ClientAssertionEndpointAudience also accepts the receiving endpoint's URL as the aud
	// of client assertions, for legacy clients (default: only the issuer identifier).
	ClientAssertionEndpointAudience bool `json:"client_assertion_endpoint_audience,omitempty"`
	// OutboundAllowPrivate lets the server fetch URLs that clients name (jwks_uri) from
	// private, loopback and link-local addresses and over plain http (default: public https only).
	OutboundAllowPrivate bool `json:"outbound_allow_private,omitempty"`
	// MetricsPerClient fills the client_id label of caddy_oauth_tokens_issued_total: one
	// series per client, so enable it only with a bounded set of clients (no open
	// registration).
	MetricsPerClient bool `json:"metrics_per_client,omitempty"`
	// ClientIDMetadataDocuments, when present, resolves client_ids that are https URLs by
	// fetching the client's metadata document there (draft-ietf-oauth-client-id-metadata-document).
	ClientIDMetadataDocuments *ClientIDMetadataDocuments `json:"client_id_metadata_documents,omitempty"`
	// PushedAuthorizationRequests configures the PAR endpoint (RFC 9126; always on).
	PushedAuthorizationRequests *PushedAuthorizationRequests `json:"pushed_authorization_requests,omitempty"`
	// RequestObjects configures JWT-secured authorization requests (RFC 9101; accepted by default).
	RequestObjects *RequestObjects `json:"request_objects,omitempty"`
	// CIBA turns on client-initiated backchannel authentication (off unless present).
	CIBA *CIBA `json:"ciba,omitempty"`
	// Passkeys turns on WebAuthn sign-in with passkeys (off unless present).
	Passkeys *Passkeys `json:"passkeys,omitempty"`
	// DelegatedLogin hands sign-in and consent to an external login app (off unless present).
	DelegatedLogin *DelegatedLogin `json:"delegated_login,omitempty"`
	// DeviceAuthorization configures the device authorization grant (RFC 8628; on by default).
	DeviceAuthorization *DeviceAuthorization `json:"device_authorization,omitempty"`
	// TrustedIssuers are external issuers whose JWTs token exchange accepts, and the JWT
	// bearer grant when their jwt_bearer policy says so.
	TrustedIssuers []TrustedIssuer `json:"trusted_issuers,omitempty"`
	// TokenExchange is token exchange's policy (RFC 8693); served when it has rules.
	TokenExchange *TokenExchange `json:"token_exchange,omitempty"`
	// GrantsRaw are extension grants (modules in namespace oauth.grants), served at the token
	// endpoint under the grant types they name.
	GrantsRaw []json.RawMessage `json:"grants,omitempty" caddy:"namespace=oauth.grants inline_key=grant"`
	// ClaimsRaw are claim contributors (modules in namespace oauth.claims), asked in order for
	// claims to add to every access token.
	ClaimsRaw []json.RawMessage `json:"claim_contributors,omitempty" caddy:"namespace=oauth.claims inline_key=contributor"`
	// DPoPAlgs restricts the DPoP proof algorithms accepted at the token endpoint.
	DPoPAlgs []string `json:"dpop_algs,omitempty"`
	// DPoPNonce, when set, is the shared secret of stateless DPoP nonces (RFC 9449 §8) that
	// the token endpoint then demands; placeholders are resolved at provision.
	DPoPNonce string `json:"dpop_nonce,omitempty"`
	// DPoPReplayRedis, when set, is a Redis URL where the token endpoint remembers used DPoP
	// proofs, so that instances sharing it reject each other's replays (else: in memory).
	DPoPReplayRedis           string     `json:"dpop_replay_redis,omitempty"`
	EnforcePerClientResources *bool      `json:"enforce_per_client_resources,omitempty"`
	ResourceSeedMode          string     `json:"resource_seed_mode,omitempty"`
	Resources                 []Resource `json:"resources,omitempty"`
	Clients                   []Client   `json:"clients,omitempty"`

	// CacheSyncInterval is how often this server checks the database for client, resource and
	// link changes made by another instance and drops its lookup caches when there are some
	// (default 2s): the longest such a change takes to apply here.
	CacheSyncInterval caddy.Duration `json:"cache_sync_interval,omitempty"`
	// MTLS configures mutual-TLS client authentication and certificate-bound tokens (RFC
	// 8705): endpoint aliases, the trusted proxy's certificate header and trusted CAs.
	MTLS *MTLS `json:"mtls,omitempty"`
	// Registration is the dynamic client registration policy (RFC 7591/7592); off when nil.
	Registration *Registration `json:"registration,omitempty"`
	// BackchannelLogout tunes the delivery of back-channel logout tokens (defaults when nil).
	BackchannelLogout *BackchannelLogout `json:"backchannel_logout,omitempty"`
	// SharedSignals configures the Shared Signals transmitter that streams revocations to
	// gateways; on with defaults when nil.
	SharedSignals *SharedSignals `json:"shared_signals,omitempty"`
	// ClientSecretRotationOverlap is how long a client's previous secret stays valid after a
	// rotation through the admin API that names no overlap (default 24h).
	ClientSecretRotationOverlap caddy.Duration `json:"client_secret_rotation_overlap,omitempty"`

	// End-user flows.
	Accounts []Account `json:"accounts,omitempty"`
	// CodeTTL is the authorization code lifetime (default 60s).
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`
	// InteractionTTL bounds how long a user may take on the login and consent pages (default 30m).
	InteractionTTL caddy.Duration `json:"interaction_ttl,omitempty"`
	// CleanupInterval is how often expired rows are purged from the store (default 10m).
	CleanupInterval caddy.Duration `json:"cleanup_interval,omitempty"`
	// SessionTTL and SessionIdleTTL bound login sessions (defaults 14 days and 24 hours).
	SessionTTL     caddy.Duration `json:"session_ttl,omitempty"`
	SessionIdleTTL caddy.Duration `json:"session_idle_ttl,omitempty"`
	// RefreshGracePeriod answers a rotated refresh token presented again within it with the
	// same response (a client that lost the response is not logged out); default 0: off.
	RefreshGracePeriod caddy.Duration `json:"refresh_grace_period,omitempty"`
	// AllowPlainPKCE accepts code_challenge_method=plain (off: RFC 9700 wants S256).
	AllowPlainPKCE bool `json:"allow_plain_pkce,omitempty"`
	// Profile is the server's security profile: none (default), fapi2 (FAPI 2.0 Security
	// Profile) or fapi2_message_signing (plus FAPI 2.0 Message Signing); clients may override it.
	Profile string `json:"profile,omitempty"`
	// ACRValues are the acr values this server claims to satisfy.
	ACRValues []string `json:"acr_values,omitempty"`
	// TemplateDir holds page templates overriding the embedded ones.
	TemplateDir string `json:"template_dir,omitempty"`
	// Branding is the product's name, logo, accent colour and links on every page.
	Branding *authserver.Branding `json:"branding,omitempty"`
	// ConsentRememberDefault ticks the consent page's "Remember this decision" from the start.
	ConsentRememberDefault bool `json:"consent_remember_default,omitempty"`
	// ScopeDescriptions and ResourceDescriptions are the consent page's texts for a scope or a
	// resource identifier, by language (BCP 47 tag).
	ScopeDescriptions    map[string]map[string]string `json:"scope_descriptions,omitempty"`
	ResourceDescriptions map[string]map[string]string `json:"resource_descriptions,omitempty"`
	// AccountPages configures the signed-in user's self-service pages (on when nil).
	AccountPages *AccountPages `json:"account_pages,omitempty"`
	// Login throttling (authserver.Config): failed sign-ins allowed per account from one client
	// network and per client network within LoginWindow (defaults 5, 20, 15m), and the delay
	// of a guessed account's attempts from anywhere, doubling from LoginDelayBase up to
	// LoginDelayMax (defaults 1s, 8s).
	LoginFailuresPerAccount int            `json:"login_failures_per_account,omitempty"`
	LoginFailuresPerIP      int            `json:"login_failures_per_ip,omitempty"`
	LoginWindow             caddy.Duration `json:"login_window,omitempty"`
	LoginDelayBase          caddy.Duration `json:"login_delay_base,omitempty"`
	LoginDelayMax           caddy.Duration `json:"login_delay_max,omitempty"`

	app *App
	srv *authserver.Server
	// grants and contributors are the provisioned extension modules (extensions.go).
	grants       []extension.Grant
	contributors []extension.ClaimContributor
	releaseStore func()
	releaseGuard func()
	// releaseMetrics stops the metrics gauges reading this generation's server.
	releaseMetrics func()
	logger         *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth_server",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision opens (or reuses) the store and builds the authorization server.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	// Validate before Caddy does: provisioning creates databases and keys, which a
	// broken configuration should not.
	if err := h.Validate(); err != nil {
		return err
	}
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	h.app = app

	repl := caddy.NewReplacer()
	cfg, err := h.authConfig(repl)
	if err != nil {
		return err
	}
	if cfg.ExtensionGrants, err = h.extensionGrants(&ctx); err != nil {
		return err
	}
	if cfg.ClaimContributors, err = h.claimContributors(&ctx); err != nil {
		return err
	}
	seal, err := h.sealer(repl)
	if err != nil {
		return err
	}
	driver, dsn, err := h.storageDSN(repl)
	if err != nil {
		return err
	}
	st, release, err := h.app.openStore(ctx, driver, dsn)
	if err != nil {
		return fmt.Errorf("opening %s store: %v", driver, err)
	}
	h.releaseStore = release

	// The token endpoint's DPoP replay guard outlives config reloads, like the store: a reload
	// must not make a used proof acceptable again.
	guard, releaseGuard, err := h.app.dpopReplayGuard(repl, h.Issuer, h.Issuer+"/token", h.DPoPReplayRedis, tokenEndpointReplayCapacity)
	if err != nil {
		return err
	}
	h.releaseGuard = releaseGuard

	limiter, err := h.app.guessLimiter(limitLogins, h.Issuer, cfg)
	if err != nil {
		return err
	}
	userCodes, err := h.app.guessLimiter(limitUserCodes, h.Issuer, cfg)
	if err != nil {
		return err
	}
	srv, err := authserver.New(ctx, cfg, authserver.Deps{
		Store: st, Sealer: seal, Logger: h.logger, DPoPReplay: guard,
		LoginLimiter:      limiter,
		DeviceCodeLimiter: userCodes,
		ClientIP:          clientIP,

		ClientCertificate: clientCertificateSource(h.MTLS.header()),
		Observer:          bundleMetrics.Issuer(h.Issuer, h.MetricsPerClient),
	})
	if err != nil {
		return err
	}
	if err := bundleMetrics.Register(ctx.GetMetricsRegistry()); err != nil {
		_ = srv.Close()
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.releaseMetrics = bundleMetrics.AddIssuer(h.Issuer, srv)
	if err := h.app.register(h.Issuer, srv); err != nil {
		_ = srv.Close()
		return err
	}
	h.srv = srv
	h.logger.Info("authorization server ready",
		zap.String("issuer", h.Issuer),
		zap.String("storage", driver),
		zap.Int("resources", len(cfg.Resources)),
		zap.Int("clients", len(cfg.Clients)))
	return nil
}

// sealer builds the sealer from master_key, or from the key file in the data directory.
func (h *Handler) sealer(repl *caddy.Replacer) (*sealer.Sealer, error) {
	if h.MasterKey != "" {
		secret, err := repl.ReplaceOrErr(h.MasterKey, true, true)
		if err != nil {
			return nil, fmt.Errorf("master_key: unresolved or empty placeholder")
		}
		return sealer.FromSecret(secret)
	}
	dir, err := dataDir()
	if err != nil {
		return nil, err
	}
	key, err := sealer.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, fmt.Errorf("master key file: %v", err)
	}
	return sealer.New(key)
}

// storageDSN resolves the configured storage, defaulting to a per-issuer SQLite file.
func (h *Handler) storageDSN(repl *caddy.Replacer) (driver, dsn string, err error) {
	if h.Storage != nil && h.Storage.DSN != "" {
		dsn, err = repl.ReplaceOrErr(h.Storage.DSN, true, true)
		if err != nil {
			// The DSN may embed a password: say which setting, not what it holds.
			return "", "", fmt.Errorf("storage %s: unresolved or empty placeholder in the connection string", h.Storage.Driver)
		}
		return h.Storage.Driver, dsn, nil
	}
	dir, err := dataDir()
	if err != nil {
		return "", "", err
	}
	return "sqlite", filepath.Join(dir, issuerFileName(h.Issuer)+".db"), nil
}

// dataDir is {caddy.AppDataDir()}/oauth, created private to the Caddy user.
func dataDir() (string, error) {
	dir := filepath.Join(caddy.AppDataDir(), "oauth")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %v", err)
	}
	return dir, nil
}

// issuerFileName turns an issuer into a readable, filesystem-safe name. The hash suffix
// keeps issuers apart that differ only in characters the name drops (scheme, punctuation).
func issuerFileName(issuer string) string {
	name := issuer
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		name = u.Host + u.Path
	}
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, strings.Trim(name, "/"))
	if len(safe) > 64 {
		safe = safe[:64]
	}
	sum := sha256.Sum256([]byte(issuer))
	return safe + "-" + hex.EncodeToString(sum[:4])
}

// Cleanup stops the server and releases this generation's hold on the store. Caddy also
// calls it after a failed Provision, so it copes with partial state.
func (h *Handler) Cleanup() error {
	var err error
	if h.srv != nil {
		h.app.unregister(h.Issuer, h.srv)
		err = h.srv.Close()
	}
	if h.releaseStore != nil {
		h.releaseStore()
	}
	if h.releaseGuard != nil {
		h.releaseGuard()
	}
	if h.releaseMetrics != nil {
		h.releaseMetrics()
	}
	return err
}

// ServeHTTP answers the authorization server's own paths and passes the rest on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.srv.OwnsPath(r.URL.Path) {
		h.srv.ServeHTTP(w, r)
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// clientIP is the client address Caddy determined, honouring trusted_proxies.
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}
