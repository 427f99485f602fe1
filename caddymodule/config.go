package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
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
	Claims                        map[string]json.RawMessage `json:"claims,omitempty"`
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

// Enumerations accepted in configuration. Kept here so the Caddyfile parser and Validate
// (which also guards JSON configs) reject the same values.
var (
	tokenFormats   = []string{"jwt", "opaque"}
	subjectTypes   = []string{"public", "pairwise"}
	seedModes      = []string{"insert_only", "merge", "overwrite"}
	authMethods    = []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
	asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	// Client assertions may also be HMAC-signed (client_secret_jwt); `none` never is accepted.
	assertionAlgs = append(slices.Clone(asymmetricAlgs), "HS256", "HS384", "HS512")
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

// checkIssuer applies authserver's issuer rules, plus one of its own: a Caddyfile issuer
// must not end with a slash, because endpoint URLs are the issuer plus "/token" etc.
func checkIssuer(iss string) error {
	if err := authserver.ValidateIssuer(iss); err != nil {
		return err
	}
	if strings.HasSuffix(iss, "/") {
		return fmt.Errorf("issuer %q: must not end with a slash", iss)
	}
	return nil
}

// checkAbsoluteURI enforces RFC 8707 §2 for resource identifiers (and is good enough for
// redirect URIs, which may not carry a fragment either).
func checkAbsoluteURI(what, v string) error {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%s %q: must be an absolute URI", what, v)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return fmt.Errorf("%s %q: must not contain a fragment", what, v)
	}
	return nil
}

// checkScope enforces the scope-token syntax of RFC 6749 §3.3.
func checkScope(s string) error {
	if s == "" {
		return errors.New("empty scope")
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return fmt.Errorf("scope %q: invalid character %q", s, c)
		}
	}
	return nil
}

func checkScopes(scopes []string) error {
	for _, s := range scopes {
		if err := checkScope(s); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the configuration without touching storage; errors name the offending
// setting. Caddyfile parsing runs it too, so `caddy adapt` reports them early.
func (h *Handler) Validate() error {
	if err := checkIssuer(h.Issuer); err != nil {
		return err
	}
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
	for what, d := range map[string]caddy.Duration{
		"access_token_ttl":         h.AccessTokenTTL,
		"refresh_token_ttl":        h.RefreshTokenTTL,
		"key_rotation":             h.KeyRotation,
		"client_assertion_max_age": h.ClientAssertionMaxAge,
	} {
		if err := checkDuration(what, time.Duration(d)); err != nil {
			return err
		}
	}
	if err := checkEnum("access_token_format", h.AccessTokenFormat, tokenFormats); err != nil {
		return err
	}
	if err := checkEnum("access_token_signing_alg", h.AccessTokenSigningAlg, asymmetricAlgs); err != nil {
		return err
	}
	for _, alg := range h.SigningAlgs {
		if err := checkEnum("signing_algs", alg, asymmetricAlgs); err != nil {
			return err
		}
	}
	if err := checkEnum("resource_seed_mode", h.ResourceSeedMode, seedModes); err != nil {
		return err
	}

	seen := make(map[string]bool, len(h.Resources))
	for i := range h.Resources {
		r := &h.Resources[i]
		if err := r.validate(); err != nil {
			return err
		}
		if seen[r.Identifier] {
			return fmt.Errorf("resource %q: declared twice", r.Identifier)
		}
		seen[r.Identifier] = true
	}
	users := make(map[string]bool, len(h.Accounts))
	for i := range h.Accounts {
		a := &h.Accounts[i]
		if err := a.validate(); err != nil {
			return err
		}
		name := account.NormalizeUsername(a.Username)
		if users[name] {
			return fmt.Errorf("account %q: declared twice", name)
		}
		users[name] = true
	}
	for what, d := range map[string]caddy.Duration{
		"code_ttl":             h.CodeTTL,
		"session_ttl":          h.SessionTTL,
		"session_idle_ttl":     h.SessionIdleTTL,
		"refresh_grace_period": h.RefreshGracePeriod,
	} {
		if d < 0 {
			return fmt.Errorf("%s must not be negative", what)
		}
	}
	var limits authserver.Config
	h.applyLoginLimits(&limits)
	if _, err := limits.LoginLimiterConfig(); err != nil {
		return err
	}
	if h.TemplateDir != "" && !strings.Contains(h.TemplateDir, "{") {
		if fi, err := os.Stat(h.TemplateDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("template_dir %q: not a directory", h.TemplateDir)
		}
	}
	enforceLinks := h.EnforcePerClientResources == nil || *h.EnforcePerClientResources
	seen = make(map[string]bool, len(h.Clients))
	for i := range h.Clients {
		c := &h.Clients[i]
		if err := c.validate(); err != nil {
			return err
		}
		if err := authserver.ValidateDefaultResource(c.DefaultResource, c.Resources, enforceLinks); err != nil {
			return fmt.Errorf("client %q: %w", c.ID, err)
		}
		if seen[c.ID] {
			return fmt.Errorf("client %q: declared twice", c.ID)
		}
		seen[c.ID] = true
	}
	return nil
}

func (r *Resource) validate() error {
	if r.Identifier == "" {
		return errors.New("resource: identifier is required")
	}
	if err := checkAbsoluteURI("resource", r.Identifier); err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("resource %q: %w", r.Identifier, err) }
	for what, d := range map[string]*caddy.Duration{"access_token_ttl": r.AccessTokenTTL, "refresh_token_ttl": r.RefreshTokenTTL} {
		if d != nil {
			if err := checkDuration(what, time.Duration(*d)); err != nil {
				return wrap(err)
			}
		}
	}
	if err := checkEnum("access_token_format", r.AccessTokenFormat, tokenFormats); err != nil {
		return wrap(err)
	}
	if err := checkEnum("signing_alg", r.SigningAlg, asymmetricAlgs); err != nil {
		return wrap(err)
	}
	if err := checkScopes(r.Scopes); err != nil {
		return wrap(err)
	}
	for what, m := range map[string]map[string]json.RawMessage{"claim": r.Claims, "metadata": r.Metadata} {
		for k, v := range m {
			if k == "" || !json.Valid(v) {
				return wrap(fmt.Errorf("%s %q: needs a name and a JSON value", what, k))
			}
		}
	}
	return nil
}

func (c *Client) validate() error {
	if c.ID == "" {
		return errors.New("client: client_id is required")
	}
	wrap := func(err error) error { return fmt.Errorf("client %q: %w", c.ID, err) }
	if err := checkEnum("auth_method", c.AuthMethod, authMethods); err != nil {
		return wrap(err)
	}
	if err := checkEnum("auth_signing_alg", c.AuthSigningAlg, assertionAlgs); err != nil {
		return wrap(err)
	}
	if c.Secret != "" && c.SecretHash != "" {
		return wrap(errors.New("set secret or secret_hash, not both"))
	}
	if c.SecretHash != "" {
		if err := clientsecret.ValidateEncoded(c.SecretHash); err != nil {
			return wrap(errors.New("secret_hash: not a sha256$… or $argon2id$… hash (see `caddy oauth-secret`)"))
		}
	}
	hasSecret := c.Secret != "" || c.SecretHash != ""
	switch c.AuthMethod {
	case "none":
		if hasSecret {
			return wrap(errors.New("auth_method none takes no secret"))
		}
	case "client_secret_jwt":
		// HMAC verification needs the secret itself; a hash cannot verify an assertion.
		if c.Secret == "" {
			return wrap(errors.New("auth_method client_secret_jwt needs secret (secret_hash cannot verify HMAC assertions)"))
		}
	case "private_key_jwt":
		if len(c.JWKS) == 0 && c.JWKSURI == "" {
			return wrap(errors.New("auth_method private_key_jwt needs jwks or jwks_uri"))
		}
	}
	if len(c.JWKS) > 0 && c.JWKSURI != "" {
		return wrap(errors.New("set jwks or jwks_uri, not both"))
	}
	if len(c.JWKS) > 0 {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(c.JWKS, &set); err != nil || set.Keys == nil {
			return wrap(errors.New(`jwks: must be a JSON JWK Set ({"keys": [...]})`))
		}
	}
	if c.JWKSURI != "" {
		if u, err := url.Parse(c.JWKSURI); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && authserver.IsLoopbackHost(u.Hostname()))) {
			return wrap(fmt.Errorf("jwks_uri %q: must be an absolute https URL", c.JWKSURI))
		}
	}
	for _, uri := range c.RedirectURIs {
		if err := checkAbsoluteURI("redirect_uri", uri); err != nil {
			return wrap(err)
		}
	}
	for _, res := range slices.Concat(c.Resources, c.Introspects) {
		if err := checkAbsoluteURI("resource", res); err != nil {
			return wrap(err)
		}
	}
	if err := checkScopes(c.Scopes); err != nil {
		return wrap(err)
	}
	for _, uri := range c.PostLogoutRedirectURIs {
		if err := checkAbsoluteURI("post_logout_redirect_uri", uri); err != nil {
			return wrap(err)
		}
	}
	if err := checkEnum("subject_type", c.SubjectType, subjectTypes); err != nil {
		return wrap(err)
	}
	if err := checkEnum("id_token_signed_response_alg", c.IDTokenSignedResponseAlg, asymmetricAlgs); err != nil {
		return wrap(err)
	}
	return nil
}

func (a *Account) validate() error {
	if account.NormalizeUsername(a.Username) == "" {
		return errors.New("account: a username is required")
	}
	wrap := func(err error) error { return fmt.Errorf("account %q: %w", a.Username, err) }
	switch {
	case a.Password != "" && a.PasswordHash != "":
		return wrap(errors.New("set password or password_hash, not both"))
	case a.Password == "" && a.PasswordHash == "":
		return wrap(errors.New("password or password_hash is required"))
	case a.PasswordHash != "":
		if err := account.ValidateHash(a.PasswordHash); err != nil {
			return wrap(errors.New("password_hash: not an argon2id or bcrypt hash (see `caddy oauth-password`)"))
		}
	}
	claims, err := decodeValues(a.Claims)
	if err != nil {
		return wrap(err)
	}
	if err := account.ValidateClaims(claims); err != nil {
		return wrap(err)
	}
	return nil
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
	cfg := authserver.Config{
		Issuer:                    h.Issuer,
		AccessTokenTTL:            time.Duration(h.AccessTokenTTL),
		RefreshTokenTTL:           time.Duration(h.RefreshTokenTTL),
		AccessTokenFormat:         h.AccessTokenFormat,
		AccessTokenSigningAlg:     h.AccessTokenSigningAlg,
		SigningAlgs:               h.SigningAlgs,
		KeyRotationPeriod:         time.Duration(h.KeyRotation),
		EnforcePerClientResources: h.EnforcePerClientResources,
		ResourceSeedMode:          h.ResourceSeedMode,
		ClientAssertionMaxAge:     time.Duration(h.ClientAssertionMaxAge),
		DPoPAlgs:                  h.DPoPAlgs,
		CodeTTL:                   time.Duration(h.CodeTTL),
		SessionTTL:                time.Duration(h.SessionTTL),
		SessionIdleTTL:            time.Duration(h.SessionIdleTTL),
		RefreshGracePeriod:        time.Duration(h.RefreshGracePeriod),
		AllowPlainPKCE:            h.AllowPlainPKCE,
		ACRValues:                 h.ACRValues,
		TemplateDir:               h.TemplateDir,

		ClientAssertionEndpointAudience: h.ClientAssertionEndpointAudience,
		OutboundAllowPrivate:            h.OutboundAllowPrivate,
	}
	h.applyLoginLimits(&cfg)
	for _, a := range h.Accounts {
		password := a.Password
		if password != "" {
			var err error
			if password, err = repl.ReplaceOrErr(password, true, true); err != nil {
				return cfg, fmt.Errorf("account %q: password: unresolved or empty placeholder", a.Username)
			}
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
		secret, err := repl.ReplaceOrErr(h.DPoPNonce, true, true)
		if err != nil {
			return cfg, fmt.Errorf("dpop_nonce: unresolved or empty placeholder")
		}
		cfg.DPoPNonceSecret = secret
	}
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
		secret := c.Secret
		if secret != "" {
			var err error
			// Errors name the client but never echo the secret or what it resolved to.
			if secret, err = repl.ReplaceOrErr(secret, true, true); err != nil {
				return cfg, fmt.Errorf("client %q: secret: unresolved or empty placeholder", c.ID)
			}
		}
		cfg.Clients = append(cfg.Clients, authserver.ClientConfig{
			ID:                          c.ID,
			Name:                        c.Name,
			Secret:                      secret,
			SecretHash:                  c.SecretHash,
			TokenEndpointAuthMethod:     c.AuthMethod,
			TokenEndpointAuthSigningAlg: c.AuthSigningAlg,
			GrantTypes:                  c.GrantTypes,
			RedirectURIs:                c.RedirectURIs,
			RedirectURIAnyLoopbackPort:  c.RedirectURIAnyLoopbackPort,
			Scopes:                      c.Scopes,
			Resources:                   c.Resources,
			Introspects:                 c.Introspects,
			DefaultResource:             c.DefaultResource,
			JWKS:                        string(c.JWKS),
			JWKSURI:                     c.JWKSURI,
			DPoPBoundAccessTokens:       c.DPoPBoundAccessTokens,
			PostLogoutRedirectURIs:      c.PostLogoutRedirectURIs,
			SubjectType:                 c.SubjectType,
			SectorIdentifier:            c.SectorIdentifier,
			IDTokenSignedResponseAlg:    c.IDTokenSignedResponseAlg,
			SkipConsent:                 c.SkipConsent,
			PKCEOptional:                c.PKCEOptional,
			RefreshWithoutOfflineAccess: c.RefreshWithoutOfflineAccess,
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
