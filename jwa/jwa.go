// Package jwa is the one list of JSON Web Signature algorithm names (RFC 7518 §3, RFC 8037)
// this project knows. Every package that accepts, offers or advertises an algorithm draws from
// it, so adding or dropping one is a change in one place. "none" is in no list on purpose.
package jwa

import (
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Asymmetric are the public-key signature algorithms: signing keys, access and ID tokens,
// DPoP proofs, private_key_jwt assertions, software statements. Ordered by family.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// hmac are the shared-secret algorithms; only client_secret_jwt assertions use them.
var hmac = []string{"HS256", "HS384", "HS512"}

// Asymmetric returns the public-key algorithms (a copy: callers may not widen the list).
func Asymmetric() []string { return slices.Clone(asymmetric) }

// HMAC returns the shared-secret algorithms (a copy).
func HMAC() []string { return slices.Clone(hmac) }

// ClientAssertion returns every algorithm a client assertion may use: HMAC for
// client_secret_jwt and the asymmetric ones for private_key_jwt.
func ClientAssertion() []string { return slices.Concat(hmac, asymmetric) }

// IsAsymmetric reports whether alg is a public-key algorithm of the list.
func IsAsymmetric(alg string) bool { return slices.Contains(asymmetric, alg) }

// IsHMAC reports whether alg is a shared-secret algorithm of the list.
func IsHMAC(alg string) bool { return slices.Contains(hmac, alg) }

// Jose converts names to go-jose's type, for its parse-time algorithm filters.
func Jose(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}
