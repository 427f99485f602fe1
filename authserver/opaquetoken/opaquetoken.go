// Package opaquetoken seals what the server knows about an opaque access token into the
// token itself. A sealed token needs no row: issuing one writes nothing, so none can be lost
// once its response is sent, every instance sharing the master key can read it, and it
// survives restarts. Revocation stays server-side (the token's jti, its grant, its client's
// cut-off), checked wherever the token is validated.
//
// The token is opaque to clients and resource servers: its contents are encrypted and
// authenticated with XChaCha20-Poly1305, whose 192-bit random nonces stay safe for any
// number of tokens under one key (AES-GCM's 96-bit random nonces would not, at thousands of
// tokens a second).
//
// Format: Prefix || base64url(version(1) || nonce(24) || ciphertext || tag(16)); the prefix
// and version are authenticated as additional data. The prefix also lets secret scanners
// recognise a leaked token.
package opaquetoken

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Prefix starts every sealed access token ("caddy-oauth access token").
const Prefix = "coat_"

const version1 = 0x01

// MaxLen bounds the tokens Open reads; sealed tokens with large custom claims stay far below.
const MaxLen = 8 << 10

// ErrInvalid is returned for anything that is not a sealed token of this key: another
// format, truncated, tampered or sealed under another master key. Causes are not told apart.
var ErrInvalid = errors.New("opaquetoken: not a valid sealed access token")

// Claims are the facts of one access token. Times are Unix milliseconds: a client's
// cut-off (RevokeClientTokens) must tell apart tokens issued in the same second.
type Claims struct {
	JTI        string         `json:"j"`
	ClientID   string         `json:"c"`
	Subject    string         `json:"s,omitempty"`
	ResourceID string         `json:"r,omitempty"` // "" for a token of the userinfo endpoint only
	Audience   []string       `json:"a"`
	Scope      string         `json:"sc,omitempty"`
	JKT        string         `json:"k,omitempty"` // DPoP key thumbprint (RFC 9449)
	X5TS256    string         `json:"t,omitempty"` // certificate thumbprint (RFC 8705)
	GrantID    string         `json:"g,omitempty"`
	SessionID  string         `json:"sid,omitempty"`
	Extra      map[string]any `json:"e,omitempty"` // custom claims shown by introspection
	IssuedAt   int64          `json:"i"`
	ExpiresAt  int64          `json:"x"`
}

// Codec seals and opens access tokens under one key. It is safe for concurrent use.
type Codec struct {
	aead cipher.AEAD
}

// New returns a Codec for a 32-byte key (derive it from the master key for this purpose alone).
func New(key []byte) (*Codec, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("opaquetoken: %w", err)
	}
	return &Codec{aead: aead}, nil
}

var additionalData = []byte(Prefix + string(rune(version1)))

// Seal returns the token carrying c.
func (k *Codec) Seal(c *Claims) (string, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("opaquetoken: %w", err)
	}
	raw := make([]byte, 1+chacha20poly1305.NonceSizeX, 1+chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	raw[0] = version1
	nonce := raw[1:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go ≥ 1.24)
	raw = k.aead.Seal(raw, nonce, plain, additionalData)
	out := make([]byte, len(Prefix)+base64.RawURLEncoding.EncodedLen(len(raw)))
	copy(out, Prefix)
	base64.RawURLEncoding.Encode(out[len(Prefix):], raw)
	return string(out), nil
}

// IsSealed reports whether token has the sealed format's prefix (it may still not open).
func IsSealed(token string) bool { return strings.HasPrefix(token, Prefix) }

// Open returns the claims of a token Seal made with this key, or ErrInvalid. It does not
// check expiry or revocation: those are the caller's.
func (k *Codec) Open(token string) (*Claims, error) {
	if !IsSealed(token) || len(token) > MaxLen {
		return nil, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[len(Prefix):])
	if err != nil || len(raw) < 1+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || raw[0] != version1 {
		return nil, ErrInvalid
	}
	nonce, sealed := raw[1:1+chacha20poly1305.NonceSizeX], raw[1+chacha20poly1305.NonceSizeX:]
	plain, err := k.aead.Open(sealed[:0], nonce, sealed, additionalData)
	if err != nil {
		return nil, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(plain, &c); err != nil || c.JTI == "" || c.ClientID == "" {
		return nil, ErrInvalid
	}
	return &c, nil
}
