package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Storage selects the database of one authorization server.
type Storage struct {
	// Driver is "sqlite" or "postgres".
	Driver string `json:"driver"`
	// DSN is the SQLite file path or the PostgreSQL connection string. Placeholders such as
	// {env.DATABASE_URL} are resolved at provision. An empty SQLite DSN means a file in
	// Caddy's data directory named after the issuer.
	DSN string `json:"dsn,omitempty"`
}

// Resource declares a protected resource (RFC 8707) and its token policy. Unset fields
// inherit the server defaults.
type Resource struct {
	// Identifier is the resource indicator: an absolute URI without fragment. It is the
	// `aud` of the tokens issued for the resource.
	Identifier        string          `json:"identifier"`
	Name              string          `json:"name,omitempty"`
	AccessTokenTTL    *caddy.Duration `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL   *caddy.Duration `json:"refresh_token_ttl,omitempty"`
	AccessTokenFormat string          `json:"access_token_format,omitempty"`
	SigningAlg        string          `json:"signing_alg,omitempty"`
	SigningKeyID      string          `json:"signing_key_id,omitempty"`
	Scopes            []string        `json:"scopes,omitempty"`
	// Claims are custom claims added to the resource's access tokens. Values are kept as
	// raw JSON so numbers and objects round-trip through `caddy adapt` unchanged.
	Claims map[string]json.RawMessage `json:"claims,omitempty"`
	// AccountClaims name claims of the signed-in account (roles, groups, tenant …) copied
	// into the resource's access tokens issued for a user.
	AccountClaims                 []string                   `json:"account_claims,omitempty"`
	DPoPBoundAccessTokensRequired *bool                      `json:"dpop_bound_access_tokens_required,omitempty"`
	Disabled                      *bool                      `json:"disabled,omitempty"`
	Metadata                      map[string]json.RawMessage `json:"metadata,omitempty"`
}

// Client declares an OAuth client. Configuration is its source of truth: it is written to
// the store at every start.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"name,omitempty"`
	// Secret is the client secret in clear; placeholders ({env.X}) are resolved at provision.
	// Prefer SecretHash (see `caddy oauth-secret`) so the configuration holds no secret.
	Secret string `json:"secret,omitempty"`
	// SecretHash is an encoded hash: sha256$… or $argon2id$….
	SecretHash     string   `json:"secret_hash,omitempty"`
	AuthMethod     string   `json:"auth_method,omitempty"`
	AuthSigningAlg string   `json:"auth_signing_alg,omitempty"`
	GrantTypes     []string `json:"grant_types,omitempty"`
	RedirectURIs   []string `json:"redirect_uris,omitempty"`
	// RedirectURIAnyLoopbackPort lets a confidential client's loopback IP redirect URIs
	// match on any port (RFC 8252 §7.3), as public clients' always do.
	RedirectURIAnyLoopbackPort bool     `json:"redirect_uri_any_loopback_port,omitempty"`
	Scopes                     []string `json:"scopes,omitempty"`
	// Resources are the identifiers of the resources the client may obtain tokens for.
	Resources []string `json:"resources,omitempty"`
	// Introspects are the identifiers of the resources whose server or gateway this client
	// is: it may introspect their tokens, whoever they were issued to (no tokens for them).
	Introspects []string `json:"introspects,omitempty"`
	// DefaultResource is the resource of requests that name none (RFC 8707 §2); with
	// enforce_per_client_resources on, one of Resources.
	DefaultResource string `json:"default_resource,omitempty"`
	// JWKS is the client's public JWK Set, for private_key_jwt.
	JWKS                  json.RawMessage `json:"jwks,omitempty"`
	JWKSURI               string          `json:"jwks_uri,omitempty"`
	DPoPBoundAccessTokens bool            `json:"dpop_bound_access_tokens,omitempty"`

	// End-user flows (OpenID Connect Registration names).
	PostLogoutRedirectURIs      []string `json:"post_logout_redirect_uris,omitempty"`
	SubjectType                 string   `json:"subject_type,omitempty"`
	SectorIdentifier            string   `json:"sector_identifier,omitempty"`
	IDTokenSignedResponseAlg    string   `json:"id_token_signed_response_alg,omitempty"`
	SkipConsent                 bool     `json:"skip_consent,omitempty"`
	PKCEOptional                bool     `json:"pkce_optional,omitempty"`
	RefreshWithoutOfflineAccess bool     `json:"refresh_without_offline_access,omitempty"`

	// Logout notification (OpenID Connect Back-Channel and Front-Channel Logout 1.0): the URL
	// the server posts a logout token to, and the one its sign-out page loads in an iframe,
	// when a user's session ends; the session_required flags add the session ID (sid).
	BackchannelLogoutURI              string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool   `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI             string `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool   `json:"frontchannel_logout_session_required,omitempty"`
	// The client's home page, logo, privacy policy and terms (RFC 7591 §2): https URLs the
	// consent page shows; the error and signed-out pages lead back to ClientURI.
	ClientURI string `json:"client_uri,omitempty"`
	LogoURI   string `json:"logo_uri,omitempty"`
	PolicyURI string `json:"policy_uri,omitempty"`
	TosURI    string `json:"tos_uri,omitempty"`

	// Secured requests and responses, mutual TLS and the client's security profile, under
	// their registration metadata names (require_pushed_authorization_requests,
	// request_object_signing_alg, tls_client_auth_subject_dn, profile, …).
	store.ClientSecurity
}

// Account is a local end-user account declared in the configuration.
type Account struct {
	Username string `json:"username"`
	// Subject is the stable sub; default: generated at first start and kept.
	Subject string `json:"subject,omitempty"`
	// Password in clear (placeholders resolved at provision; hashed before it is stored) or,
	// better, PasswordHash from `caddy oauth-password`.
	Password     string                     `json:"password,omitempty"`
	PasswordHash string                     `json:"password_hash,omitempty"`
	Claims       map[string]json.RawMessage `json:"claims,omitempty"`
	Disabled     bool                       `json:"disabled,omitempty"`
}

// Enumerations the Caddyfile parser checks as it reads, for errors with line numbers. They are
// the authorization server's own lists (package spec, jwa), so the parser and Validate can
// never disagree.
var (
	tokenFormats   = spec.TokenFormats
	subjectTypes   = spec.SubjectTypes
	seedModes      = []string{authserver.SeedInsertOnly, authserver.SeedMerge, authserver.SeedOverwrite}
	authMethods    = spec.AuthMethods
	asymmetricAlgs = jwa.Asymmetric()
	// Client assertions may also be HMAC-signed (client_secret_jwt); `none` never is accepted.
	assertionAlgs = jwa.ClientAssertion()
)

func checkEnum(what, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%s: unsupported value %q (want one of %s)", what, v, strings.Join(allowed, ", "))
}

func checkDuration(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: must not be negative", what)
	}
	return nil
}

// checkIssuer is spec's rule for this server's own issuer, for the parser.
func checkIssuer(iss string) error { return spec.ValidateServerIssuer(iss) }

// checkAbsoluteURI is spec's RFC 8707 identifier rule, for the parser and the gateway.
func checkAbsoluteURI(what, v string) error { return spec.ValidateResourceIdentifier(what, v) }

// checkScopes is spec's scope-token rule (RFC 6749 §3.3), for the parser and the gateway.
func checkScopes(scopes []string) error {
	for _, s := range scopes {
		if !spec.ValidScopeToken(s) {
			return fmt.Errorf("scope %q: not a valid scope token (RFC 6749 §3.3)", s)
		}
	}
	return nil
}

// Validate checks the configuration without touching storage; errors name the offending
// setting. Caddyfile parsing runs it too, so `caddy adapt` reports them early. Every rule about
// the server, its clients, resources and accounts is the authorization server's own
// (authserver.Config.Validate, package spec); only what is Caddy's business is checked here.
func (h *Handler) Validate() error {
	if h.DPoPReplayRedis != "" && !strings.Contains(h.DPoPReplayRedis, "{") {
		if _, err := parseRedisURL(h.DPoPReplayRedis); err != nil {
			return err
		}
	}
	if s := h.Storage; s != nil {
		switch s.Driver {
		case "sqlite":
		case "postgres":
			if s.DSN == "" {
				return errors.New("storage postgres: a connection string is required")
			}
		default:
			return fmt.Errorf("storage: unsupported driver %q (want sqlite or postgres)", s.Driver)
		}
	}
	if h.TemplateDir != "" && !strings.Contains(h.TemplateDir, "{") {
		if fi, err := os.Stat(h.TemplateDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("template_dir %q: not a directory", h.TemplateDir)
		}
	}
	if err := h.MTLS.validate(); err != nil {
		return err
	}
	// Placeholders stay unresolved here: they only have values at run time.
	cfg, err := h.authConfig(nil)
	if err != nil {
		return err
	}
	// Decoded, not provisioned: enough to know the grant types clients may be given.
	if cfg.ExtensionGrants, err = h.extensionGrants(nil); err != nil {
		return err
	}
	if cfg.ClaimContributors, err = h.claimContributors(nil); err != nil {
		return err
	}
	return cfg.Validate(true)
}

// applyLoginLimits copies the login throttling options into cfg.
func (h *Handler) applyLoginLimits(cfg *authserver.Config) {
	cfg.LoginFailuresPerAccount = h.LoginFailuresPerAccount
	cfg.LoginFailuresPerIP = h.LoginFailuresPerIP
	cfg.LoginWindow = time.Duration(h.LoginWindow)
	cfg.LoginDelayBase = time.Duration(h.LoginDelayBase)
	cfg.LoginDelayMax = time.Duration(h.LoginDelayMax)
}

// authConfig translates the module configuration into authserver.Config, resolving
// placeholders in client secrets. It assumes Validate passed.
func (h *Handler) authConfig(repl *caddy.Replacer) (authserver.Config, error) {
	resolve := func(v string) (string, error) {
		if repl == nil || v == "" {
			return v, nil
		}
		return repl.ReplaceOrErr(v, true, true)
	}
	cfg := authserver.Config{
		Issuer:                      h.Issuer,
		AccessTokenTTL:              time.Duration(h.AccessTokenTTL),
		RefreshTokenTTL:             time.Duration(h.RefreshTokenTTL),
		AccessTokenFormat:           h.AccessTokenFormat,
		AccessTokenSigningAlg:       h.AccessTokenSigningAlg,
		SigningAlgs:                 h.SigningAlgs,
		KeyRotationPeriod:           time.Duration(h.KeyRotation),
		EnforcePerClientResources:   h.EnforcePerClientResources,
		ResourceSeedMode:            h.ResourceSeedMode,
		ClientAssertionMaxAge:       time.Duration(h.ClientAssertionMaxAge),
		DPoPAlgs:                    h.DPoPAlgs,
		CodeTTL:                     time.Duration(h.CodeTTL),
		SessionTTL:                  time.Duration(h.SessionTTL),
		SessionIdleTTL:              time.Duration(h.SessionIdleTTL),
		RefreshGracePeriod:          time.Duration(h.RefreshGracePeriod),
		CacheSyncInterval:           time.Duration(h.CacheSyncInterval),
		CleanupInterval:             time.Duration(h.CleanupInterval),
		InteractionTTL:              time.Duration(h.InteractionTTL),
		ClientSecretRotationOverlap: time.Duration(h.ClientSecretRotationOverlap),
		AllowPlainPKCE:              h.AllowPlainPKCE,
		Profile:                     h.Profile,
		ACRValues:                   h.ACRValues,
		TemplateDir:                 h.TemplateDir,
		ConsentRememberDefault:      h.ConsentRememberDefault,
		ScopeDescriptions:           h.ScopeDescriptions,
		ResourceDescriptions:        h.ResourceDescriptions,
		AccountPages:                h.AccountPages.config(),

		ClientAssertionEndpointAudience: h.ClientAssertionEndpointAudience,
		OutboundAllowPrivate:            h.OutboundAllowPrivate,
		ClientIDMetadataDocuments:       h.ClientIDMetadataDocuments.config(),
		PAR:                             h.PushedAuthorizationRequests.config(),
		DeviceAuthorization:             h.DeviceAuthorization.config(),
		CIBA:                            h.CIBA.config(),
		Passkeys:                        h.Passkeys.config(),
		RequestObjects:                  h.RequestObjects.config(),
		BackchannelLogout:               h.BackchannelLogout.config(),
		MTLS:                            h.MTLS.config(),
	}
	h.applyLoginLimits(&cfg)
	if h.Branding != nil {
		cfg.Branding = *h.Branding
	}
	h.trustConfig(&cfg)
	for _, a := range h.Accounts {
		password, err := resolve(a.Password)
		if err != nil {
			return cfg, fmt.Errorf("account %q: password: unresolved or empty placeholder", a.Username)
		}
		claims, err := decodeValues(a.Claims)
		if err != nil {
			return cfg, fmt.Errorf("account %q: claims: %v", a.Username, err)
		}
		cfg.Accounts = append(cfg.Accounts, authserver.AccountConfig{
			Username:     a.Username,
			Subject:      a.Subject,
			Password:     password,
			PasswordHash: a.PasswordHash,
			Claims:       claims,
			Disabled:     a.Disabled,
		})
	}
	if h.DPoPNonce != "" {
		secret, err := resolve(h.DPoPNonce)
		if err != nil {
			return cfg, fmt.Errorf("dpop_nonce: unresolved or empty placeholder")
		}
		cfg.DPoPNonceSecret = secret
	}
	var err error
	if cfg.Registration, err = h.Registration.config(resolve); err != nil {
		return cfg, err
	}
	if cfg.Delegated, err = h.DelegatedLogin.config(resolve); err != nil {
		return cfg, err
	}
	cfg.SharedSignals = h.SharedSignals.options()
	for _, r := range h.Resources {
		rc := authserver.ResourceConfig{
			Identifier:                    r.Identifier,
			Name:                          r.Name,
			AccessTokenTTL:                optDuration(r.AccessTokenTTL),
			RefreshTokenTTL:               optDuration(r.RefreshTokenTTL),
			AccessTokenFormat:             r.AccessTokenFormat,
			SigningAlg:                    r.SigningAlg,
			SigningKeyID:                  r.SigningKeyID,
			AllowedScopes:                 r.Scopes,
			AccountClaims:                 r.AccountClaims,
			DPoPBoundAccessTokensRequired: r.DPoPBoundAccessTokensRequired,
			Disabled:                      r.Disabled,
		}
		var err error
		if rc.CustomClaims, err = decodeValues(r.Claims); err != nil {
			return cfg, fmt.Errorf("resource %q: claims: %v", r.Identifier, err)
		}
		if rc.Metadata, err = decodeValues(r.Metadata); err != nil {
			return cfg, fmt.Errorf("resource %q: metadata: %v", r.Identifier, err)
		}
		cfg.Resources = append(cfg.Resources, rc)
	}
	for _, c := range h.Clients {
		// Errors name the client but never echo the secret or what it resolved to.
		secret, err := resolve(c.Secret)
		if err != nil {
			return cfg, fmt.Errorf("client %q: secret: unresolved or empty placeholder", c.ID)
		}
		cfg.Clients = append(cfg.Clients, authserver.ClientConfig{
			ID:                                c.ID,
			Name:                              c.Name,
			Secret:                            secret,
			SecretHash:                        c.SecretHash,
			TokenEndpointAuthMethod:           c.AuthMethod,
			TokenEndpointAuthSigningAlg:       c.AuthSigningAlg,
			GrantTypes:                        c.GrantTypes,
			RedirectURIs:                      c.RedirectURIs,
			RedirectURIAnyLoopbackPort:        c.RedirectURIAnyLoopbackPort,
			Scopes:                            c.Scopes,
			Resources:                         c.Resources,
			Introspects:                       c.Introspects,
			DefaultResource:                   c.DefaultResource,
			JWKS:                              string(c.JWKS),
			JWKSURI:                           c.JWKSURI,
			DPoPBoundAccessTokens:             c.DPoPBoundAccessTokens,
			PostLogoutRedirectURIs:            c.PostLogoutRedirectURIs,
			SubjectType:                       c.SubjectType,
			SectorIdentifier:                  c.SectorIdentifier,
			IDTokenSignedResponseAlg:          c.IDTokenSignedResponseAlg,
			SkipConsent:                       c.SkipConsent,
			PKCEOptional:                      c.PKCEOptional,
			RefreshWithoutOfflineAccess:       c.RefreshWithoutOfflineAccess,
			BackchannelLogoutURI:              c.BackchannelLogoutURI,
			BackchannelLogoutSessionRequired:  c.BackchannelLogoutSessionRequired,
			FrontchannelLogoutURI:             c.FrontchannelLogoutURI,
			ClientURI:                         c.ClientURI,
			LogoURI:                           c.LogoURI,
			PolicyURI:                         c.PolicyURI,
			TosURI:                            c.TosURI,
			FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
			Security:                          c.ClientSecurity,
		})
	}
	return cfg, nil
}

func optDuration(d *caddy.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

func decodeValues(m map[string]json.RawMessage) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, raw := range m {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%q: %v", k, err)
		}
		out[k] = v
	}
	return out, nil
}
