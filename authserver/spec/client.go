package spec

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Client authentication methods at the token endpoint (RFC 7591 §2).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthSecretJWT   = "client_secret_jwt"
	AuthPrivateKey  = "private_key_jwt"
	AuthNone        = "none"
)

// AuthMethods are the token endpoint authentication methods a client may use.
var AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKey, AuthTLS, AuthSelfSignedTLS, AuthNone}

// GrantTypes are the grant type names a client may be given. Registration narrows them to
// what its policy allows.
var GrantTypes = []string{
	"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code", CIBAGrantType,
	"urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer",
}

// SubjectTypes are OIDC Core §8's subject identifier types.
var SubjectTypes = []string{"public", "pairwise"}

// Limits that keep one client's row and its checks small.
const (
	MaxClientIDLength = 512 // client ID metadata documents use their URL as the ID
	maxNameLength     = 200
	maxListLength     = 100 // redirect URIs, scopes, contacts, resources
	maxURILength      = 2048
	maxJWKSBytes      = 64 << 10
	// DefaultIDTokenSigningAlg is OIDC Core §3.1.3.7's default; every OpenID provider has it.
	DefaultIDTokenSigningAlg = "RS256"
)

// Client is a client as every entry point describes it: the Caddyfile, JSON, the admin API,
// dynamic registration and client ID metadata documents all build one and pass it through
// NormalizeClient.
type Client struct {
	ID   string
	Name string
	// Secret is the client secret in clear (hashed before it is stored), or empty.
	Secret string
	// SecretHash is an already-encoded hash (sha256$… or $argon2id$…), as an alternative to
	// Secret so configuration files need not hold the clear secret.
	SecretHash string
	// TokenEndpointAuthMethod defaults to client_secret_basic with a secret, private_key_jwt
	// with keys, none otherwise.
	TokenEndpointAuthMethod     string
	TokenEndpointAuthSigningAlg string
	// GrantTypes default to authorization_code for public clients, client_credentials for
	// confidential ones.
	GrantTypes   []string
	RedirectURIs []string
	// RedirectURIAnyLoopbackPort lets a confidential client's loopback IP redirect URIs match
	// on any port, as public clients' always do (RFC 8252 §7.3).
	RedirectURIAnyLoopbackPort bool
	Scopes                     []string
	// Resources are the identifiers of the resources the client may obtain tokens for.
	Resources []string
	// Introspects are the identifiers of the resources whose server or gateway the client is:
	// it may introspect their tokens, whoever they were issued to (no tokens for them).
	Introspects []string
	// DefaultResource is the resource of requests that name none (RFC 8707 §2).
	DefaultResource       string
	JWKS                  string // raw JSON JWK Set
	JWKSURI               string
	DPoPBoundAccessTokens bool

	PostLogoutRedirectURIs      []string
	SubjectType                 string // "public" (default) or "pairwise"
	SectorIdentifier            string // host for pairwise subjects; default: the redirect URIs' host
	IDTokenSignedResponseAlg    string // default RS256
	SkipConsent                 bool
	PKCEOptional                bool
	RefreshWithoutOfflineAccess bool
	Disabled                    bool

	// Logout notification (OpenID Connect Back-Channel Logout 1.0 §2.2, Front-Channel Logout
	// 1.0 §2): the URIs the server calls (back-channel) or frames (front-channel) when the
	// user's session ends, and whether they need the session ID (sid) with it.
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool

	// Security: secured requests and responses (PAR, JAR, JARM, JWT introspection), mutual TLS
	// and the client's security profile, under their registration metadata names.
	Security store.ClientSecurity

	// Display and provenance metadata (RFC 7591 §2 and §2.3).
	ClientURI       string
	LogoURI         string
	PolicyURI       string
	TosURI          string
	Contacts        []string
	SoftwareID      string
	SoftwareVersion string
}

// IsPublic reports whether the (normalized) client has no credentials.
func (c Client) IsPublic() bool { return c.TokenEndpointAuthMethod == AuthNone }

// HasSecret reports whether the client has a shared secret, in clear or hashed.
func (c Client) HasSecret() bool { return c.Secret != "" || c.SecretHash != "" }

// NormalizeClient fills the defaults of c and applies every rule about a client; the returned
// error is an *Error naming the first refused field. The result is what ClientRecord stores.
func NormalizeClient(c Client, env Env) (Client, error) {
	c = c.withDefaults().profileDefaults(env)
	if err := c.check(env); err != nil {
		return c, about(c.subject(), err)
	}
	if c.SubjectType == "pairwise" && c.SectorIdentifier == "" {
		host, err := sectorFromRedirects(c.RedirectURIs)
		if err != nil {
			return c, about(c.subject(), err)
		}
		c.SectorIdentifier = host
	}
	return c, nil
}

func (c Client) subject() string {
	if c.ID == "" {
		return "client"
	}
	return fmt.Sprintf("client %q", c.ID)
}

// withDefaults fills the authentication method and grant types a client leaves out.
func (c Client) withDefaults() Client {
	c.GrantTypes = slices.Clone(c.GrantTypes)
	if c.TokenEndpointAuthMethod == "" {
		switch {
		case c.HasSecret():
			c.TokenEndpointAuthMethod = AuthSecretBasic
		case c.JWKS != "" || c.JWKSURI != "":
			c.TokenEndpointAuthMethod = AuthPrivateKey
		default:
			c.TokenEndpointAuthMethod = AuthNone
		}
	}
	if len(c.GrantTypes) == 0 {
		if c.IsPublic() {
			c.GrantTypes = []string{"authorization_code"}
		} else {
			c.GrantTypes = []string{"client_credentials"}
		}
	}
	return c
}

// check applies the rules in the order an operator fixes them: identity, credentials, grants,
// redirects, tokens, OpenID Connect, logout, display.
func (c Client) check(env Env) error {
	for _, rule := range []func(Env) error{
		c.checkID, c.checkCredentials, c.checkKeys, c.checkGrants, c.checkRedirects,
		c.checkResources, c.checkOIDC, c.checkLogout, c.checkDisplay, c.checkSecurity, c.checkProfile,
	} {
		if err := rule(env); err != nil {
			return err
		}
	}
	return nil
}

func (c Client) checkID(Env) error {
	switch {
	case c.ID == "":
		return errorf(CodeInvalidClientMetadata, "client_id", "", "is required")
	case len(c.ID) > MaxClientIDLength:
		return errorf(CodeInvalidClientMetadata, "client_id", "", "is longer than %d bytes", MaxClientIDLength)
	}
	// RFC 6749 Appendix A.1: client_id = *VSCHAR.
	for i := 0; i < len(c.ID); i++ {
		if c.ID[i] < 0x20 || c.ID[i] > 0x7e {
			return errorf(CodeInvalidClientMetadata, "client_id", c.ID, "may hold only visible ASCII characters (RFC 6749 Appendix A.1)")
		}
	}
	if len(c.Name) > maxNameLength || strings.ContainsFunc(c.Name, isControl) {
		return errorf(CodeInvalidClientMetadata, "client_name", "", "must be at most %d characters without control characters", maxNameLength)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (c Client) checkCredentials(env Env) error {
	const field = "token_endpoint_auth_method"
	if !slices.Contains(AuthMethods, c.TokenEndpointAuthMethod) {
		return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "is not supported (want one of %s)", strings.Join(AuthMethods, ", "))
	}
	if c.Secret != "" && c.SecretHash != "" {
		return errorf(CodeInvalidClientMetadata, "client_secret", "", "set the secret or its hash, not both")
	}
	switch c.TokenEndpointAuthMethod {
	case AuthSecretBasic, AuthSecretPost:
		if !c.HasSecret() {
			return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "needs a client secret")
		}
	case AuthSecretJWT:
		// HMAC verification needs the secret itself; a hash cannot verify an assertion.
		if c.Secret == "" {
			return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "needs the client secret itself (a hash cannot verify HMAC assertions)")
		}
	case AuthPrivateKey:
		if c.HasSecret() {
			return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "takes no client secret")
		}
		if c.JWKS == "" && c.JWKSURI == "" {
			return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "needs jwks or jwks_uri")
		}
	case AuthNone:
		if c.HasSecret() {
			return errorf(CodeInvalidClientMetadata, field, c.TokenEndpointAuthMethod, "a public client takes no client secret")
		}
	}
	if c.SecretHash != "" && !(env.Placeholders && hasPlaceholder(c.SecretHash)) {
		if err := clientsecret.ValidateEncoded(c.SecretHash); err != nil {
			return errorf(CodeInvalidClientMetadata, "client_secret_hash", "", "is not a sha256$… or $argon2id$… hash (see `caddy oauth-secret`)")
		}
	}
	alg := c.TokenEndpointAuthSigningAlg
	switch {
	case alg == "":
	case c.TokenEndpointAuthMethod == AuthSecretJWT && !jwa.IsHMAC(alg):
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_signing_alg", alg, "client_secret_jwt needs one of %s", strings.Join(jwa.HMAC(), ", "))
	case c.TokenEndpointAuthMethod == AuthPrivateKey && !jwa.IsAsymmetric(alg):
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_signing_alg", alg, "private_key_jwt needs one of %s", strings.Join(jwa.Asymmetric(), ", "))
	case c.TokenEndpointAuthMethod != AuthSecretJWT && c.TokenEndpointAuthMethod != AuthPrivateKey:
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_signing_alg", alg, "applies only to client_secret_jwt and private_key_jwt")
	}
	return nil
}

// checkKeys accepts a JWK Set of public keys only: a private or symmetric key published in a
// client's metadata is a leaked credential, never something to verify with.
func (c Client) checkKeys(Env) error {
	if c.JWKS != "" && c.JWKSURI != "" {
		return errorf(CodeInvalidClientMetadata, "jwks", "", "set jwks or jwks_uri, not both")
	}
	if c.JWKS != "" {
		if len(c.JWKS) > maxJWKSBytes {
			return errorf(CodeInvalidClientMetadata, "jwks", "", "is larger than %d bytes", maxJWKSBytes)
		}
		var set jose.JSONWebKeySet
		var shape struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal([]byte(c.JWKS), &shape) != nil || shape.Keys == nil || json.Unmarshal([]byte(c.JWKS), &set) != nil {
			return errorf(CodeInvalidClientMetadata, "jwks", "", `must be a JSON JWK Set ({"keys": [...]}) of valid keys`)
		}
		for _, k := range set.Keys {
			if !k.IsPublic() || !k.Valid() {
				return errorf(CodeInvalidClientMetadata, "jwks", "", "must hold public keys only")
			}
		}
	}
	if c.JWKSURI != "" {
		return validateWebURL("jwks_uri", c.JWKSURI)
	}
	return nil
}

func (c Client) checkGrants(env Env) error {
	for _, g := range c.GrantTypes {
		if !slices.Contains(GrantTypes, g) && !slices.Contains(env.ExtensionGrantTypes, g) {
			return errorf(CodeInvalidClientMetadata, "grant_types", g, "is unknown")
		}
	}
	if c.IsPublic() && slices.Contains(c.GrantTypes, "client_credentials") {
		return errorf(CodeInvalidClientMetadata, "grant_types", "", "a public client (token_endpoint_auth_method none) cannot use client_credentials")
	}
	if len(c.Scopes) > maxListLength {
		return errorf(CodeInvalidClientMetadata, "scope", "", "lists more than %d scopes", maxListLength)
	}
	return validateScopes(CodeInvalidClientMetadata, "scope", c.Scopes)
}

func (c Client) checkRedirects(Env) error {
	for field, uris := range map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs} {
		if len(uris) > maxListLength {
			return errorf(CodeInvalidRedirectURI, field, "", "lists more than %d URIs", maxListLength)
		}
	}
	for _, uri := range c.RedirectURIs {
		if len(uri) > maxURILength {
			return errorf(CodeInvalidRedirectURI, "redirect_uris", "", "a URI is longer than %d bytes", maxURILength)
		}
		if err := ValidateRedirectURI("redirect_uris", uri); err != nil {
			return err
		}
	}
	for _, uri := range c.PostLogoutRedirectURIs {
		if len(uri) > maxURILength {
			return errorf(CodeInvalidRedirectURI, "post_logout_redirect_uris", "", "a URI is longer than %d bytes", maxURILength)
		}
		if err := ValidateRedirectURI("post_logout_redirect_uris", uri); err != nil {
			return err
		}
	}
	return nil
}

func (c Client) checkResources(env Env) error {
	if len(c.Resources) > maxListLength || len(c.Introspects) > maxListLength {
		return errorf(CodeInvalidClientMetadata, "resources", "", "lists more than %d resources", maxListLength)
	}
	for _, res := range c.Resources {
		if err := ValidateResourceIdentifier("resources", res); err != nil {
			return asClientMetadata(err)
		}
	}
	for _, res := range c.Introspects {
		if err := ValidateResourceIdentifier("introspects", res); err != nil {
			return asClientMetadata(err)
		}
	}
	if c.IsPublic() && len(c.Introspects) > 0 {
		return errorf(CodeInvalidClientMetadata, "introspects", "", "a public client (token_endpoint_auth_method none) cannot introspect; it needs credentials")
	}
	if c.DefaultResource != "" {
		if err := ValidateResourceIdentifier("default_resource", c.DefaultResource); err != nil {
			return asClientMetadata(err)
		}
		if env.EnforceLinks && !slices.Contains(c.Resources, c.DefaultResource) {
			return errorf(CodeInvalidClientMetadata, "default_resource", c.DefaultResource, "must be one of the client's resources (enforce_per_client_resources is on)")
		}
	}
	return nil
}

// asClientMetadata gives a shared URI rule's error the client metadata code.
func asClientMetadata(err error) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Code = CodeInvalidClientMetadata
		return &c
	}
	return err
}

func (c Client) checkOIDC(env Env) error {
	idAlg := cmp.Or(c.IDTokenSignedResponseAlg, DefaultIDTokenSigningAlg)
	if !jwa.IsAsymmetric(idAlg) {
		return errorf(CodeInvalidClientMetadata, "id_token_signed_response_alg", idAlg, "is not supported (want one of %s)", strings.Join(jwa.Asymmetric(), ", "))
	}
	if env.SigningAlgs != nil && slices.Contains(c.GrantTypes, "authorization_code") && !slices.Contains(env.SigningAlgs, idAlg) {
		return errorf(CodeInvalidClientMetadata, "id_token_signed_response_alg", idAlg, "the server has no signing key for it (add it to signing_algs)")
	}
	if c.SubjectType != "" && !slices.Contains(SubjectTypes, c.SubjectType) {
		return errorf(CodeInvalidClientMetadata, "subject_type", c.SubjectType, "want public or pairwise")
	}
	if c.SectorIdentifier != "" {
		if u, err := url.Parse("https://" + c.SectorIdentifier); err != nil || u.Host != c.SectorIdentifier {
			return errorf(CodeInvalidClientMetadata, "sector_identifier", c.SectorIdentifier, "must be a host name")
		}
	}
	return nil
}

func (c Client) checkDisplay(Env) error {
	for field, v := range map[string]string{"client_uri": c.ClientURI, "logo_uri": c.LogoURI, "policy_uri": c.PolicyURI, "tos_uri": c.TosURI} {
		if v == "" {
			continue
		}
		if len(v) > maxURILength {
			return errorf(CodeInvalidClientMetadata, field, "", "is longer than %d bytes", maxURILength)
		}
		if err := validateWebURL(field, v); err != nil {
			return err
		}
	}
	if len(c.Contacts) > maxListLength {
		return errorf(CodeInvalidClientMetadata, "contacts", "", "lists more than %d contacts", maxListLength)
	}
	for _, contact := range c.Contacts {
		if contact == "" || len(contact) > maxNameLength || strings.ContainsFunc(contact, isControl) {
			return errorf(CodeInvalidClientMetadata, "contacts", "", "each contact must be 1 to %d characters without control characters", maxNameLength)
		}
	}
	for field, v := range map[string]string{"software_id": c.SoftwareID, "software_version": c.SoftwareVersion} {
		if len(v) > maxNameLength || strings.ContainsFunc(v, isControl) {
			return errorf(CodeInvalidClientMetadata, field, "", "must be at most %d characters without control characters", maxNameLength)
		}
	}
	return nil
}

// sectorFromRedirects is OIDC Core §8.1: without a sector identifier the sector is the host of
// the redirect URIs, which must then all share it.
func sectorFromRedirects(uris []string) (string, error) {
	var host string
	for _, uri := range uris {
		u, _ := url.Parse(uri) // validated before
		if host != "" && u.Host != host {
			return "", errorf(CodeInvalidClientMetadata, "subject_type", "pairwise", "needs one sector: the redirect_uris have several hosts, so set sector_identifier")
		}
		host = u.Host
	}
	if host == "" {
		return "", errorf(CodeInvalidClientMetadata, "subject_type", "pairwise", "needs redirect_uris or a sector_identifier")
	}
	return host, nil
}
