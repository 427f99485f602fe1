// Package logout is OpenID Connect Back-Channel Logout 1.0 for the authorization server: the
// logout token, and its delivery from a durable outbox (store.LogoutOutboxStore) by a pool of
// workers that retry with backoff until a maximum age. It never imports authserver: the
// server hands it a Signer, a client lookup and its pairwise-subject function.
package logout

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Token constants (Back-Channel Logout 1.0 §2.4).
const (
	// Typ is the JWS typ header of a logout token (§2.4, explicit typing).
	Typ = "logout+jwt"
	// Event is the one member of the events claim.
	Event = "http://schemas.openid.net/event/backchannel-logout"
	// TokenTTL is the logout token's lifetime (exp - iat): the spec asks for a short one,
	// and the token is re-signed at every attempt, so retries never send a stale one.
	TokenTTL = 2 * time.Minute
	// DefaultAlg signs the tokens of a client without an id_token_signed_response_alg, as
	// its ID tokens (OIDC Core §3.1.3.7).
	DefaultAlg = "RS256"
)

// Signer signs a JWS payload with the server's key for alg (authserver/keys.Manager): kid
// "" means the current key of that alg.
type Signer interface {
	Sign(alg, kid, typ string, payload []byte) (string, error)
}

// SubjectFunc maps an account's local subject to the subject client c knows (pairwise or
// public), as in the client's ID tokens.
type SubjectFunc func(c *store.Client, localSubject string) string

// Claims are the claims of a logout token. nonce is never present (§2.4 forbids it, so a
// logout token can never pass for an ID token).
type Claims struct {
	Issuer   string              `json:"iss"`
	Subject  string              `json:"sub,omitempty"`
	Audience string              `json:"aud"`
	IssuedAt int64               `json:"iat"`
	Expiry   int64               `json:"exp"`
	JTI      string              `json:"jti"`
	Events   map[string]struct{} `json:"events"`
	SID      string              `json:"sid,omitempty"`
}

// TokenClaims returns the claims of d's logout token for client c at now. sub is always
// present (as oidc-provider does, since some RPs key their sessions by it); sid only when
// the client registered backchannel_logout_session_required.
func TokenClaims(issuer string, c *store.Client, d *store.LogoutDelivery, subject SubjectFunc, now time.Time) Claims {
	claims := Claims{
		Issuer:   issuer,
		Subject:  subject(c, d.Subject),
		Audience: c.ID,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(TokenTTL).Unix(),
		JTI:      d.JTI,
		Events:   map[string]struct{}{Event: {}},
	}
	if c.BackchannelLogoutSessionRequired {
		claims.SID = d.SessionID
	}
	return claims
}

// SignToken signs claims as a logout token with the client's ID token algorithm.
func SignToken(signer Signer, c *store.Client, claims Claims) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return signer.Sign(cmp.Or(c.IDTokenSignedResponseAlg, DefaultAlg), "", Typ, payload)
}

// newJTI returns 128 random bits, base64url: a logout token's jti.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
