// Package store defines the persisted model of the authorization server and the narrow
// interfaces every storage backend implements. Backends live in sub-packages (sqlstore);
// storetest holds the one contract suite they must all pass.
//
// Conventions shared by every implementation:
//   - Times are stored with at least millisecond precision and returned in UTC.
//   - A lookup that finds nothing returns ErrNotFound (wrapped is fine; callers use errors.Is).
//   - An insert that collides with an existing unique key returns ErrConflict.
//   - Secrets never reach the store in clear: tokens and client secrets arrive hashed,
//     private keys arrive encrypted.
package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// ErrorClassifier is implemented by stores that can tell the database failing (down,
// restarting, full, overloaded) from a bug; the server answers such failures 503
// temporarily_unavailable, which clients retry.
type ErrorClassifier interface {
	Unavailable(err error) bool
}

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when an insert collides with an existing unique key.
	ErrConflict = errors.New("store: conflict")
	// ErrAlreadyUsed is returned when a single-use value (authorization code, refresh
	// token) was used before. The caller treats it as a replay.
	ErrAlreadyUsed = errors.New("store: already used")
	// ErrInvalidCursor is returned by a paged list given an After it cannot have produced.
	ErrInvalidCursor = errors.New("store: invalid paging cursor")
)

// Client sources: who created a client, and so who may change it.
const (
	// SourceConfig: declared in the server's configuration (Caddyfile/JSON), which owns it.
	SourceConfig = "config"
	// SourceAdmin: created through the admin API or CLI.
	SourceAdmin = "admin"
	// SourceRegistration: registered by the client itself (RFC 7591).
	SourceRegistration = "registration"
	// SourceMetadataDocument: resolved from a client ID metadata document.
	SourceMetadataDocument = "metadata_document"
)

// Client is a registered OAuth client.
type Client struct {
	ID   string
	Name string
	// SecretHash is the encoded hash of the client secret (see authserver/clientsecret);
	// empty for clients without a shared secret.
	SecretHash string
	// SecretSealed holds the client secret encrypted with the server's master key. Only
	// clients using client_secret_jwt need it, because HMAC verification needs the secret itself.
	SecretSealed []byte
	// TokenEndpointAuthMethod is one of client_secret_basic, client_secret_post,
	// client_secret_jwt, private_key_jwt or none.
	TokenEndpointAuthMethod string
	// TokenEndpointAuthSigningAlg restricts the alg of client assertions; empty allows any
	// algorithm the method permits.
	TokenEndpointAuthSigningAlg string
	GrantTypes                  []string
	RedirectURIs                []string
	// RedirectURIAnyLoopbackPort lets a confidential client's loopback IP redirect URIs match
	// on any port, as public (native) clients always may (RFC 8252 §7.3); otherwise redirect
	// URIs match exactly (RFC 9700 §4.1.3).
	RedirectURIAnyLoopbackPort bool
	// Scopes the client may request; nil means no scope restriction from the client side.
	Scopes []string
	// JWKS is the client's public JSON Web Key Set (raw JSON), for private_key_jwt.
	JWKS    string
	JWKSURI string
	// DPoPBoundAccessTokens forces DPoP binding of every access token issued to this client.
	DPoPBoundAccessTokens bool
	Disabled              bool
	Metadata              map[string]any

	// End-user flows (OpenID Connect Registration §2 names).
	PostLogoutRedirectURIs []string
	// SubjectType is "public" (or empty) or "pairwise".
	SubjectType string
	// SectorIdentifier is the host pairwise subjects are computed for.
	SectorIdentifier string
	// IDTokenSignedResponseAlg is the JWS alg of this client's ID tokens; empty means RS256.
	IDTokenSignedResponseAlg string
	// SkipConsent marks a first-party client whose users are never asked for consent.
	SkipConsent bool
	// PKCEOptional lets a confidential client omit PKCE; public clients always need it.
	PKCEOptional bool
	// RefreshWithoutOfflineAccess issues refresh tokens even when offline_access was not
	// granted (the client must still be allowed the refresh_token grant).
	RefreshWithoutOfflineAccess bool
	// DefaultResource is the identifier of the resource a request naming none is for (RFC
	// 8707 §2); empty: the one resource the client is linked to, if it has exactly one.
	DefaultResource string

	// Source is one of the Source constants. An empty Source is stored as SourceConfig (what
	// every client was before sources existed) and written back into the struct.
	Source string
	// RegistrationTokenHash is the SHA-256 (base64url, no padding) of the client's RFC 7592
	// registration access token; empty when it has none.
	RegistrationTokenHash string
	// SecretExpiresAt ends the validity of the client secret; nil: it does not expire.
	SecretExpiresAt *time.Time
	// The previous secret during a rotation's overlap: it stays valid until
	// PreviousSecretExpiresAt so deployed clients can switch without downtime. Empty hash and
	// nil sealed value when there is none.
	PreviousSecretHash      string
	PreviousSecretSealed    []byte
	PreviousSecretExpiresAt *time.Time

	// Logout notification (OpenID Connect Back-Channel and Front-Channel Logout 1.0): where
	// the client hears that a user's session at this server ended; empty: it does not. The
	// SessionRequired flags ask for the session ID (sid) with it.
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool

	// Security holds the client's settings for secured requests and responses and mutual TLS.
	Security ClientSecurity

	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClientSecurity is what a client registered about secured authorization requests and
// responses, mutual TLS and its security profile: RFC 9126 (PAR), RFC 9101 (JAR), JARM,
// RFC 8705 (mTLS), RFC 9701 (JWT introspection responses) and FAPI 2.0. The JSON names are the
// registration metadata names; stores keep the struct as one JSON document, since nothing is
// ever looked up by these fields.
type ClientSecurity struct {
	// RequirePushedAuthorizationRequests: authorization requests only through /par (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// RequireSignedRequestObject: authorization requests only as signed request objects
	// (RFC 9101 §10.5).
	RequireSignedRequestObject bool `json:"require_signed_request_object,omitempty"`
	// RequestObjectSigningAlg is the only JWS alg accepted for the client's request objects;
	// empty accepts any asymmetric alg the server supports (RFC 9101 §10.1, OIDC Registration §2).
	RequestObjectSigningAlg string `json:"request_object_signing_alg,omitempty"`
	// RequestObjectEncryptionAlg/Enc are the JWE algs the client encrypts request objects with;
	// empty: any the server supports.
	RequestObjectEncryptionAlg string `json:"request_object_encryption_alg,omitempty"`
	RequestObjectEncryptionEnc string `json:"request_object_encryption_enc,omitempty"`
	// AuthorizationSignedResponseAlg signs JARM responses (default RS256);
	// AuthorizationEncryptedResponseAlg/Enc encrypt them to the client's key (JARM §3).
	AuthorizationSignedResponseAlg    string `json:"authorization_signed_response_alg,omitempty"`
	AuthorizationEncryptedResponseAlg string `json:"authorization_encrypted_response_alg,omitempty"`
	AuthorizationEncryptedResponseEnc string `json:"authorization_encrypted_response_enc,omitempty"`
	// IntrospectionSignedResponseAlg signs JWT introspection responses to this client (RFC
	// 9701 §6, default RS256); the Encrypted pair encrypts them to the client's key.
	IntrospectionSignedResponseAlg    string `json:"introspection_signed_response_alg,omitempty"`
	IntrospectionEncryptedResponseAlg string `json:"introspection_encrypted_response_alg,omitempty"`
	IntrospectionEncryptedResponseEnc string `json:"introspection_encrypted_response_enc,omitempty"`
	// RFC 8705 §2.1.2: the one certificate subject DN or SAN a tls_client_auth client's
	// certificate must carry (exactly one of them is set for that method).
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// TLSClientCertificateBoundAccessTokens binds the client's access tokens (and a public
	// client's refresh tokens) to its TLS client certificate (RFC 8705 §3, cnf.x5t#S256).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// Profile overrides the server's security profile for this client: "" inherits it,
	// otherwise one of the names of package authserver/profile ("none", "fapi2",
	// "fapi2_message_signing").
	Profile string `json:"profile,omitempty"`
	// CIBA (OpenID CIBA Core §4): how the client receives its tokens (poll, ping or push;
	// empty is poll) and, for ping and push, where (backchannel_client_notification_endpoint).
	BackchannelTokenDeliveryMode          string `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint string `json:"backchannel_client_notification_endpoint,omitempty"`
}

// ClientQuery selects a page of clients ordered by ID.
type ClientQuery struct {
	// After lists only clients whose ID sorts after it (keyset paging: the ID of the last
	// client of the previous page); empty starts at the first.
	After string
	// Limit bounds the page; 0 (or less) returns every match.
	Limit int
	// Source keeps only clients of that source; empty keeps all.
	Source string
}

// ResourceQuery selects a page of resources ordered by ID.
type ResourceQuery struct {
	After string // the ID of the last resource of the previous page; empty starts at the first
	Limit int    // 0 (or less): every match
}

// LinkQuery selects client↔resource links; an empty field does not filter.
type LinkQuery struct {
	ClientID   string
	ResourceID string
}

// Access token formats a resource can ask for.
const (
	FormatJWT    = "jwt"
	FormatOpaque = "opaque"
)

// Resource is a protected resource (RFC 8707) with its own token policy. A nil or empty
// policy field means "inherit the server default at issuance time".
type Resource struct {
	ID         string
	Identifier string // absolute URI without fragment; the `aud` of its tokens
	Name       string
	// AccessTokenTTL and RefreshTokenTTL in seconds; nil inherits the server default.
	AccessTokenTTL  *int64
	RefreshTokenTTL *int64
	// AccessTokenFormat is FormatJWT, FormatOpaque or empty (server default).
	AccessTokenFormat string
	SigningAlg        string // empty inherits the server default
	SigningKeyID      string // empty means the current key for SigningAlg
	// AllowedScopes: nil means any scope; non-nil restricts requested scopes to this set.
	AllowedScopes []string
	CustomClaims  map[string]any
	// AccountClaims name claims of the account (roles, groups, tenant …) copied into the
	// resource's access tokens issued for a user.
	AccountClaims                 []string
	DPoPBoundAccessTokensRequired bool
	Disabled                      bool
	PolicyVersion                 int
	Metadata                      map[string]any
	CreatedAt                     time.Time
	UpdatedAt                     time.Time
}

// ClientResource links a client to a resource and says what the link grants. A link that
// grants neither is stored but allows nothing.
type ClientResource struct {
	ClientID   string
	ResourceID string
	// Tokens lets the client obtain access tokens for the resource.
	Tokens bool
	// Introspect marks the client as the resource's server or gateway: it may introspect
	// the access tokens issued for the resource, whichever client they were issued to.
	Introspect bool
	Metadata   map[string]any
	CreatedAt  time.Time
}

// AccessToken is a stored opaque access token. JWT access tokens are not stored; only their
// revocation is (see RevocationStore).
type AccessToken struct {
	// Hash is the SHA-256 of the token value, base64url without padding. Primary key.
	Hash       string
	ClientID   string
	Subject    string
	ResourceID string // the Resource.ID the token was issued for
	Audience   []string
	Scope      string
	// JKT is the RFC 7638 thumbprint of the DPoP key the token is bound to, if any.
	JKT string
	// X5TS256 is the certificate thumbprint the token is bound to (RFC 8705), if any.
	X5TS256 string
	// GrantID names the Grant (token family) the token was issued under, if any: revoking the
	// grant revokes the token.
	GrantID   string
	Extra     map[string]any // custom claims shown by introspection
	IssuedAt  time.Time
	ExpiresAt time.Time
	Revoked   bool
}

// SigningKey is one signing key pair. Private material is sealed by the key manager before
// it reaches the store.
type SigningKey struct {
	ID            string // the JWS kid
	Alg           string // RS256, ES256, ...
	PrivateSealed []byte
	PublicJWK     string // the public JWK as JSON, published in the JWKS
	CreatedAt     time.Time
	// RetiredAt is set when the key stops signing; it stays published until PurgeAfter.
	RetiredAt  *time.Time
	PurgeAfter *time.Time
}

// ClientStore persists clients.
type ClientStore interface {
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpsertClient inserts the client or replaces every field of the existing one
	// (CreatedAt is kept). The configuration seeds its clients with it.
	UpsertClient(ctx context.Context, c *Client) error
	// CreateClient inserts a new client; ErrConflict if the ID exists. Of concurrent
	// creations of one ID exactly one succeeds.
	CreateClient(ctx context.Context, c *Client) error
	// UpdateRegisteredClient replaces every field of the client c.ID (CreatedAt is kept) only
	// while its stored RegistrationTokenHash is tokenHash; ErrNotFound, and nothing written,
	// when the client is gone or holds another hash. RFC 7592 updates write with it, so of
	// concurrent updates with one registration access token exactly one wins, and an update
	// racing a deletion never brings the client back.
	UpdateRegisteredClient(ctx context.Context, c *Client, tokenHash string) error
	// DeleteClient deletes the client with its resource links and consents; ErrNotFound if
	// there is no such client. Its grants and tokens are the caller's to revoke
	// (RevokeClientGrants, RevokeClientAccessTokens).
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context) ([]*Client, error)
	// ListClientsPage returns the clients q selects, ordered by ID.
	ListClientsPage(ctx context.Context, q ClientQuery) ([]*Client, error)
	// UpdateClient replaces every field of the existing client (CreatedAt is kept);
	// ErrNotFound, and nothing written, if there is none. Runtime changes use it, not
	// UpsertClient: a change that read the client before someone deleted it must not bring
	// it back.
	UpdateClient(ctx context.Context, c *Client) error
}

// ResourceStore persists resources and client↔resource links.
type ResourceStore interface {
	GetResource(ctx context.Context, id string) (*Resource, error)
	GetResourceByIdentifier(ctx context.Context, identifier string) (*Resource, error)
	// CreateResource inserts a new resource; ErrConflict if the identifier exists.
	// An empty ID is filled in by the store.
	CreateResource(ctx context.Context, r *Resource) error
	// UpdateResource replaces every field of the resource with r.ID.
	UpdateResource(ctx context.Context, r *Resource) error
	// DeleteResource deletes the resource and its links.
	DeleteResource(ctx context.Context, id string) error
	ListResources(ctx context.Context) ([]*Resource, error)

	// LinkClientResource is idempotent: linking an existing pair is not an error, and
	// replaces its grants (Tokens, Introspect) and metadata.
	LinkClientResource(ctx context.Context, link *ClientResource) error
	UnlinkClientResource(ctx context.Context, clientID, resourceID string) error
	// IsClientLinked reports whether a link lets the client obtain tokens for the resource
	// (ClientResource.Tokens).
	IsClientLinked(ctx context.Context, clientID, resourceID string) (bool, error)
	// IsClientIntrospector reports whether a link lets the client introspect the resource's
	// tokens (ClientResource.Introspect).
	IsClientIntrospector(ctx context.Context, clientID, resourceID string) (bool, error)
	// ListClientResources returns every link of the client, whatever it grants.
	ListClientResources(ctx context.Context, clientID string) ([]*ClientResource, error)

	// ListResourcesPage returns the resources q selects, ordered by ID.
	ListResourcesPage(ctx context.Context, q ResourceQuery) ([]*Resource, error)
	// ListLinks returns the links q selects, whatever they grant, ordered by client ID,
	// then resource ID.
	ListLinks(ctx context.Context, q LinkQuery) ([]*ClientResource, error)
}

// AccessTokenStore persists opaque access tokens by hash.
type AccessTokenStore interface {
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	GetAccessToken(ctx context.Context, hash string) (*AccessToken, error)
	// RevokeAccessToken marks the token revoked; ErrNotFound if there is no such token.
	RevokeAccessToken(ctx context.Context, hash string) error
	// RevokeClientAccessTokens revokes every opaque access token issued to the client,
	// under a grant or not (client_credentials), and returns how many were not revoked
	// before. JWT access tokens not issued under a grant cannot be revoked this way.
	RevokeClientAccessTokens(ctx context.Context, clientID string) (int, error)
}

// RevocationStore remembers revoked self-contained (JWT) access tokens by jti until they
// would have expired anyway.
type RevocationStore interface {
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
	// SetClientTokenCutoff revokes every access token of the client issued at or before
	// cutoff (sealed opaque tokens have no row to mark, JWTs none to look up), keeping the
	// cut-off until expiresAt, the latest expiry of a token it can cover. Of two cut-offs the
	// later one, and the later expiry, are kept. Unless expiresAt has passed, it appends a
	// RevokedClient event (CreatedAt = cutoff) in the same transaction.
	SetClientTokenCutoff(ctx context.Context, clientID string, cutoff, expiresAt time.Time) error
	// ClientTokenCutoff returns the client's cut-off, or the zero time when it has none.
	ClientTokenCutoff(ctx context.Context, clientID string) (time.Time, error)
}

// ReplayStore records single-use identifiers (client assertion jti). It is shared by every
// instance using the same database, so a replay fails across instances too.
type ReplayStore interface {
	// UseOnce records key until expiresAt; ErrConflict if key was already recorded and
	// has not expired.
	UseOnce(ctx context.Context, key string, expiresAt time.Time) error
}

// KeyStore persists signing keys.
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// RetireSigningKey sets RetiredAt and PurgeAfter of the key.
	RetireSigningKey(ctx context.Context, id string, retiredAt, purgeAfter time.Time) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// Account is a local end-user account.
type Account struct {
	// Subject is the stable, never reassigned identifier (the public `sub`).
	Subject string
	// Username is the login name, unique across accounts. Stores compare it exactly; the
	// account layer normalizes it (lower case, trimmed) before it reaches the store.
	Username string
	// PasswordHash is a PHC-encoded password hash ($argon2id$… or $2a$/$2b$ bcrypt).
	PasswordHash string
	// Claims are the account's standard OIDC claims (name, email, email_verified, address …).
	Claims    map[string]any
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AccountStore persists local accounts.
type AccountStore interface {
	GetAccount(ctx context.Context, subject string) (*Account, error)
	GetAccountByUsername(ctx context.Context, username string) (*Account, error)
	// UpsertAccount inserts the account or replaces every field of the one with a.Subject
	// (CreatedAt is kept); ErrConflict if another account has a.Username.
	UpsertAccount(ctx context.Context, a *Account) error
	DeleteAccount(ctx context.Context, subject string) error
	ListAccounts(ctx context.Context) ([]*Account, error)
}

// Session is a login session of one browser at the authorization server.
type Session struct {
	// ID is the public session identifier (the `sid` claim); the cookie carries it together
	// with a secret whose hash is SecretHash.
	ID         string
	SecretHash string
	Subject    string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	CreatedAt  time.Time
	// LastSeenAt moves when the session is used; ExpiresAt is the absolute end.
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// UserAgent (the User-Agent header, at most MaxSessionUserAgent bytes) and RemoteIP (the
	// client's address) describe the browser that signed in, so its user can tell sessions
	// apart on the account pages; "" when unknown (sessions stored before they were recorded).
	UserAgent string
	RemoteIP  string
	// PasskeyID is the passkey the session signed in with ("" for other sign-ins): revoking
	// the passkey ends the session.
	PasskeyID string
}

// MaxSessionUserAgent bounds Session.UserAgent in bytes.
const MaxSessionUserAgent = 512

// SessionStore persists login sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	// TouchSession sets LastSeenAt; ErrNotFound if the session is gone.
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// DeleteSession removes the session; deleting a missing session is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteSubjectSessions removes every session of the account with subject (sign out
	// everywhere) and returns how many it removed.
	DeleteSubjectSessions(ctx context.Context, subject string) (int, error)
	// ListSessions returns the unexpired sessions of the account with subject, oldest first.
	ListSessions(ctx context.Context, subject string) ([]*Session, error)
	// CountActiveSessions counts the sessions that have not expired at now (a metric).
	CountActiveSessions(ctx context.Context, now time.Time) (int, error)
}

// Consent remembers what an account allowed a client: later requests within it skip the
// consent page.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	Resources []string // resource identifiers
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ConsentQuery selects a page of consents ordered by Subject, then ClientID; an empty
// Subject or ClientID does not filter.
type ConsentQuery struct {
	Subject  string
	ClientID string
	// After is ConsentCursor of the last consent of the previous page; empty starts at the
	// first. Any other value gives ErrInvalidCursor.
	After string
	Limit int // 0 (or less): every match
}

// ConsentCursor returns the ConsentQuery.After that continues a listing after c. A consent's
// key is a pair, so the cursor encodes both (unpadded base64url of a JSON array).
func ConsentCursor(c *Consent) string {
	b, _ := json.Marshal([2]string{c.Subject, c.ClientID}) // cannot fail on strings
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseConsentCursor returns the subject and client ID a ConsentCursor encodes;
// ErrInvalidCursor if after is not one.
func ParseConsentCursor(after string) (subject, clientID string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(after)
	var key []string
	if err == nil {
		err = json.Unmarshal(b, &key)
	}
	if err != nil || len(key) != 2 {
		return "", "", ErrInvalidCursor
	}
	return key[0], key[1], nil
}

// ConsentStore persists consents, one per (subject, client).
type ConsentStore interface {
	GetConsent(ctx context.Context, subject, clientID string) (*Consent, error)
	// UpsertConsent replaces the consent of (c.Subject, c.ClientID).
	UpsertConsent(ctx context.Context, c *Consent) error
	DeleteConsent(ctx context.Context, subject, clientID string) error
	// ListConsents returns the consents q selects.
	ListConsents(ctx context.Context, q ConsentQuery) ([]*Consent, error)
}

// AuthorizationCode is an issued, not yet redeemed authorization code (RFC 6749 §4.1).
type AuthorizationCode struct {
	// Hash is the SHA-256 of the code, base64url without padding. Primary key.
	Hash     string
	ClientID string
	// RedirectURI is the redirect_uri parameter of the authorization request ("" if absent).
	RedirectURI         string
	Subject             string
	SessionID           string
	Scopes              []string
	Resources           []string // resource identifiers granted (RFC 8707)
	Nonce               string
	AuthTime            time.Time
	AMR                 []string
	ACR                 string
	CodeChallenge       string
	CodeChallengeMethod string
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10, dpop_jkt).
	DPoPJKT string
	// GrantID is the Grant the redemption creates; a replayed code revokes that grant.
	GrantID string
	// Claims is the OIDC claims request parameter (JSON, §5.5) or "".
	Claims    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Grant is one authorization of a client by an account: the family of every refresh and
// access token issued from one authorization code. Revoking it revokes them all.
type Grant struct {
	ID        string
	ClientID  string
	Subject   string
	SessionID string
	Scopes    []string
	Resources []string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	// JKT binds the grant's refresh tokens to a DPoP key (public clients, RFC 9449 §5).
	JKT string
	// X5TS256 binds the grant's refresh tokens to a TLS client certificate (public clients,
	// RFC 8705 §4): its x5t#S256.
	X5TS256 string
	// Claims is the OIDC claims request parameter of the authorization (JSON) or "".
	Claims    string
	CreatedAt time.Time
	// ExpiresAt ends the family: no refresh token of it outlives this.
	ExpiresAt time.Time
	Revoked   bool
}

// RefreshToken is one refresh token of a grant.
type RefreshToken struct {
	// Hash is the SHA-256 of the token value, base64url without padding. Primary key.
	Hash      string
	GrantID   string
	Scopes    []string // may be narrower than the grant's after down-scoping
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is set when the token was rotated. ResponseSealed then holds the sealed token
	// response the rotation answered, so a lost response can be answered again inside the
	// grace interval.
	UsedAt         *time.Time
	ResponseSealed []byte
}

// GrantQuery selects a page of live grants ordered by ID; an empty Subject or ClientID does
// not filter.
type GrantQuery struct {
	Subject  string
	ClientID string
	After    string // the ID of the last grant of the previous page; empty starts at the first
	Limit    int    // 0 (or less): every match
}

// GrantStore persists authorization codes, grants and refresh tokens.
type GrantStore interface {
	CreateAuthorizationCode(ctx context.Context, c *AuthorizationCode) error
	// GetAuthorizationCode returns the code, used or not, without changing it; ErrNotFound
	// for an unknown code. The token endpoint checks a code before it spends it.
	GetAuthorizationCode(ctx context.Context, hash string) (*AuthorizationCode, error)
	// ConsumeAuthorizationCode atomically marks the code used and returns it. A code used
	// before is returned with ErrAlreadyUsed (so the caller can revoke its grant); an unknown
	// code gives ErrNotFound. Expiry is the caller's to check. Of N concurrent calls for one
	// code exactly one gets a nil error.
	ConsumeAuthorizationCode(ctx context.Context, hash string, usedAt time.Time) (*AuthorizationCode, error)

	CreateGrant(ctx context.Context, g *Grant) error
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant marks the grant revoked, revokes its opaque access tokens (GrantID) and
	// records the jtis of its JWT access tokens (RecordGrantJTI) as revoked. Revoking a
	// revoked or missing grant is not an error.
	RevokeGrant(ctx context.Context, id string) error
	// RevokeSessionGrants revokes (as RevokeGrant) every grant of the session and returns
	// how many it revoked.
	RevokeSessionGrants(ctx context.Context, sessionID string) (int, error)
	// RevokeSubjectGrants revokes (as RevokeGrant) every grant of the account with subject —
	// an account disabled or deleted — and returns how many it revoked.
	RevokeSubjectGrants(ctx context.Context, subject string) (int, error)
	// RevokeClientGrants revokes (as RevokeGrant) every grant of the client — a client
	// deleted or compromised — and returns how many it revoked.
	RevokeClientGrants(ctx context.Context, clientID string) (int, error)
	// ListGrants returns the grants q selects that are neither revoked nor expired (by the
	// store's clock).
	ListGrants(ctx context.Context, q GrantQuery) ([]*Grant, error)
	// RecordGrantJTI remembers a JWT access token issued under the grant until it expires,
	// so that revoking the grant can revoke it too.
	RecordGrantJTI(ctx context.Context, grantID, jti string, expiresAt time.Time) error
	// GrantIDOfJTI returns the grant a JWT access token was recorded under (RecordGrantJTI);
	// ErrNotFound when it was not.
	GrantIDOfJTI(ctx context.Context, jti string) (string, error)

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	// RotateRefreshToken atomically marks the token with oldHash used at usedAt, stores
	// response (sealed) with it and inserts next. If the old token was already used it
	// changes nothing and returns ErrAlreadyUsed; of N concurrent rotations of one token
	// exactly one succeeds.
	RotateRefreshToken(ctx context.Context, oldHash string, usedAt time.Time, response []byte, next *RefreshToken) error
}

// InitialAccessToken authorizes dynamic client registration (RFC 7591 §3) for a limited
// time or number of registrations.
type InitialAccessToken struct {
	// ID names the token in listings and for deletion; it is not the token.
	ID string
	// Hash is the SHA-256 of the token value, base64url without padding; unique.
	Hash        string
	Description string
	// ExpiresAt ends the token; nil: it does not expire.
	ExpiresAt *time.Time
	// UsesLeft is how many registrations the token still allows; nil: any number.
	UsesLeft  *int
	CreatedAt time.Time
}

// InitialAccessTokenStore persists initial access tokens.
type InitialAccessTokenStore interface {
	// CreateInitialAccessToken stores t; ErrConflict if its ID or hash exists. An empty ID
	// is filled in by the store, a zero CreatedAt with now; both are written back.
	CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken) error
	// ListInitialAccessTokens returns every token, used up or expired included, oldest first.
	ListInitialAccessTokens(ctx context.Context) ([]*InitialAccessToken, error)
	// DeleteInitialAccessToken deletes the token with id; ErrNotFound if there is none.
	DeleteInitialAccessToken(ctx context.Context, id string) error
	// UseInitialAccessToken spends one use of the token with hash and returns it as it is
	// after that use. ErrNotFound if the token is unknown, expired at now or used up. It is
	// atomic: of N concurrent uses of a token with k uses left, exactly k succeed.
	UseInitialAccessToken(ctx context.Context, hash string, now time.Time) (*InitialAccessToken, error)
}

// RevisionStore lets instances sharing one database notice each other's changes to clients,
// resources and links, so they can drop what they cached.
type RevisionStore interface {
	// Revision returns a counter that grows with every write of a client, resource or
	// client↔resource link, in the transaction of that write. Reads leave it unchanged.
	Revision(ctx context.Context) (int64, error)
}

// Store is everything the authorization server persists.
type Store interface {
	ClientStore
	ResourceStore
	AccessTokenStore
	RevocationStore
	ReplayStore
	KeyStore
	AccountStore
	SessionStore
	ConsentStore
	GrantStore
	InitialAccessTokenStore
	RevisionStore
	LogoutOutboxStore
	RevocationEventStore
	EventStreamStore
	SessionEndStore
	PushedRequestStore
	DeviceAuthorizationStore
	CIBARequestStore
	PasskeyStore
	// DeleteExpired removes expired access tokens, revocation entries, replay keys, keys past
	// PurgeAfter, codes, grants (and their refresh tokens), grant jtis, initial access
	// tokens, revocation events, pushed requests, device authorizations and CIBA requests; it returns how many rows it removed. Sessions go only an
	// hour after they expired: the backchannel's session-end pass lists ended sessions
	// (ListEndedSessions), queues their logouts and deletes them itself, and the grace keeps
	// DeleteExpired from deleting a session before that pass saw it. The logout outbox is
	// not purged here: its worker drops deliveries past their ExpiresAt and logs them.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	Close() error
}
