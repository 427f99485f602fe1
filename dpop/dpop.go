// Package dpop verifies OAuth 2.0 DPoP proofs (RFC 9449) for the authorization server's token
// endpoint and for the resource-server gateway: proof syntax and signature, request binding
// (htm, htu, ath), freshness (iat window, single-use jti, optional stateless server nonces).
package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Error codes of RFC 9449 §7.1 and §8.
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// Sentinel causes carried by *Error (and returned by ReplayGuard implementations).
var (
	// ErrReplay: the (key, jti) pair was already used.
	ErrReplay = errors.New("dpop: proof replayed")
	// ErrFull: the replay guard is at capacity and refuses new entries.
	ErrFull = errors.New("dpop: replay guard full")
	// ErrForgotten: the proof is older than the replay guard's last loss of memory (a Redis
	// restart, or an in-memory guard newer than the proof), so it may have been used already.
	ErrForgotten = errors.New("dpop: proof predates the replay guard's memory")
	// ErrNonce: the proof lacks a currently valid server nonce.
	ErrNonce = errors.New("dpop: nonce missing or stale")
)

// Error is a proof rejection to be answered with an RFC 9449 challenge. With Code
// CodeUseNonce the caller sends a fresh nonce in the DPoP-Nonce response header.
// Description never contains token or key material.
type Error struct {
	Code        string
	Description string
	Err         error // optional sentinel cause, for errors.Is
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }
func (e *Error) Unwrap() error { return e.Err }

func invalid(desc string) *Error { return &Error{Code: CodeInvalidProof, Description: desc} }

// Proof is a verified DPoP proof.
type Proof struct {
	JKT      string // RFC 7638 SHA-256 thumbprint of the proof's public key, base64url
	JTI      string
	IssuedAt time.Time
	Nonce    string
	Key      jose.JSONWebKey // public key from the header

	// replayUntil is how long Record remembers the jti; set by Check only.
	replayUntil time.Time
}

// Request describes the HTTP request a proof must match.
type Request struct {
	// Method is compared exactly with htm.
	Method string
	// URL is the request's external URL (as the client sees it, behind TLS-terminating proxies).
	// Scheme, host, port and path are compared with htu after RFC 3986 §6.2.2/§6.2.3
	// normalization; query and fragment are ignored (RFC 9449 §4.3).
	URL string
	// AccessToken, when set, requires ath = AccessTokenHash(AccessToken); when empty (token
	// endpoint) the proof must not carry ath.
	AccessToken string
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of k, base64url without padding: the
// value of cnf.jkt and dpop_jkt.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// AccessTokenHash returns the ath value for token: base64url(SHA-256(token)).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
