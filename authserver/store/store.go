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
	"errors"
	"time"
)

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when an insert collides with an existing unique key.
	ErrConflict = errors.New("store: conflict")
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
	// Scopes the client may request; nil means no scope restriction from the client side.
	Scopes []string
	// JWKS is the client's public JSON Web Key Set (raw JSON), for private_key_jwt.
	JWKS    string
	JWKSURI string
	// DPoPBoundAccessTokens forces DPoP binding of every access token issued to this client.
	DPoPBoundAccessTokens bool
	Disabled              bool
	Metadata              map[string]any
	CreatedAt             time.Time
	UpdatedAt             time.Time
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
	AllowedScopes                 []string
	CustomClaims                  map[string]any
	DPoPBoundAccessTokensRequired bool
	Disabled                      bool
	PolicyVersion                 int
	Metadata                      map[string]any
	CreatedAt                     time.Time
	UpdatedAt                     time.Time
}

// ClientResource links a client to a resource it may request tokens for (and, for a
// resource-server client, introspect tokens of).
type ClientResource struct {
	ClientID   string
	ResourceID string
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
	X5TS256   string
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
	// (CreatedAt is kept).
	UpsertClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context) ([]*Client, error)
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

	// LinkClientResource is idempotent: linking an existing pair is not an error.
	LinkClientResource(ctx context.Context, link *ClientResource) error
	UnlinkClientResource(ctx context.Context, clientID, resourceID string) error
	IsClientLinked(ctx context.Context, clientID, resourceID string) (bool, error)
	ListClientResources(ctx context.Context, clientID string) ([]*ClientResource, error)
}

// AccessTokenStore persists opaque access tokens by hash.
type AccessTokenStore interface {
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	GetAccessToken(ctx context.Context, hash string) (*AccessToken, error)
	// RevokeAccessToken marks the token revoked; ErrNotFound if there is no such token.
	RevokeAccessToken(ctx context.Context, hash string) error
}

// RevocationStore remembers revoked self-contained (JWT) access tokens by jti until they
// would have expired anyway.
type RevocationStore interface {
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	IsJTIRevoked(ctx context.Context, jti string) (bool, error)
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

// Store is everything the authorization server persists.
type Store interface {
	ClientStore
	ResourceStore
	AccessTokenStore
	RevocationStore
	ReplayStore
	KeyStore
	// DeleteExpired removes expired access tokens, revocation entries, replay keys and keys
	// past PurgeAfter; it returns how many rows it removed.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	Close() error
}
