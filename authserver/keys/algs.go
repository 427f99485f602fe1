package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // link the digests algSpecs name
	_ "crypto/sha512"
	"encoding/base64"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// rsaBits is the modulus size of generated RSA keys (RFC 7518 §3.3 requires ≥ 2048).
const rsaBits = 2048

// algSpec says how to make and recognise the key of one JWS algorithm. Each alg gets its
// own key pair, even where two algs could share one (RS256/PS256), so no key is ever
// usable under two algorithms.
type algSpec struct {
	generate func() (crypto.Signer, error)
	// fits reports whether a stored private key is of the kind this alg needs.
	fits func(crypto.Signer) bool
	hash crypto.Hash // digest signed; 0 for EdDSA, which signs the message itself
	pss  bool        // RSASSA-PSS rather than PKCS #1 v1.5
	// enc marks a JWE key-management alg: the key decrypts what clients encrypt to the
	// server, and never signs.
	enc bool
}

func rsaSpec(h crypto.Hash, pss bool) algSpec {
	return algSpec{
		hash: h, pss: pss,
		generate: func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, rsaBits) },
		fits: func(k crypto.Signer) bool {
			r, ok := k.(*rsa.PrivateKey)
			return ok && r.N.BitLen() >= rsaBits
		},
	}
}

func ecSpec(c elliptic.Curve, h crypto.Hash) algSpec {
	return algSpec{
		hash:     h,
		generate: func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) },
		fits: func(k crypto.Signer) bool {
			e, ok := k.(*ecdsa.PrivateKey)
			return ok && e.Curve == c
		},
	}
}

var algSpecs = map[string]algSpec{
	"RS256": rsaSpec(crypto.SHA256, false), "RS384": rsaSpec(crypto.SHA384, false), "RS512": rsaSpec(crypto.SHA512, false),
	"PS256": rsaSpec(crypto.SHA256, true), "PS384": rsaSpec(crypto.SHA384, true), "PS512": rsaSpec(crypto.SHA512, true),
	"ES256": ecSpec(elliptic.P256(), crypto.SHA256), "ES384": ecSpec(elliptic.P384(), crypto.SHA384),
	"ES512": ecSpec(elliptic.P521(), crypto.SHA512),
	"EdDSA": {
		generate: func() (crypto.Signer, error) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			return k, err
		},
		fits: func(k crypto.Signer) bool { _, ok := k.(ed25519.PrivateKey); return ok },
	},
}

// Encryption keys (RFC 7518 §4.3, §4.6): one key per alg, like signing keys.
func init() {
	rsaEnc := rsaSpec(0, false)
	rsaEnc.enc = true
	ecEnc := ecSpec(elliptic.P256(), 0)
	ecEnc.enc = true
	algSpecs["RSA-OAEP-256"] = rsaEnc
	algSpecs["ECDH-ES"] = ecEnc
}

// EncryptionAlgs are the JWE key-management algs the server can hold keys for.
func EncryptionAlgs() []string { return []string{"RSA-OAEP-256", "ECDH-ES"} }

// SupportedEncryption reports whether alg can be used for encryption keys.
func SupportedEncryption(alg string) bool { return slices.Contains(EncryptionAlgs(), alg) }

// parseAlgs lists every supported signing alg for go-jose's parser; Verify narrows it
// further to the caller's allowlist. Neither "none", any HMAC alg nor an encryption alg is in it.
var parseAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, 0, len(algSpecs))
	for alg := range algSpecs {
		if Supported(alg) {
			out = append(out, jose.SignatureAlgorithm(alg))
		}
	}
	return out
}()

// Supported reports whether alg can be used for signing keys.
func Supported(alg string) bool {
	if !jwa.IsAsymmetric(alg) {
		return false
	}
	_, ok := algSpecs[alg]
	return ok
}

// publicJWK returns the public JWK of priv for alg, with kid the RFC 7638 thumbprint.
func publicJWK(priv crypto.Signer, alg string) (jose.JSONWebKey, error) {
	use := "sig"
	if algSpecs[alg].enc {
		use = "enc"
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: use}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("keys: thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return jwk, nil
}
