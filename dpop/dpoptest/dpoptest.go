// Package dpoptest makes DPoP proofs (RFC 9449 §4.2) for tests of the server, the gateway and
// the benchmarks' clients: one ES256 client key, a fresh jti and iat for every proof.
package dpoptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// TB is the part of testing.TB the package needs.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Key is a client's DPoP key pair.
type Key struct {
	Private *ecdsa.PrivateKey
	// JKT is the RFC 7638 thumbprint of the public key: what tokens bound to it carry in
	// cnf.jkt and what dpop_jkt names.
	JKT    string
	signer jose.Signer
}

// NewKey makes a fresh P-256 key.
func NewKey(t TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	public := jose.JSONWebKey{Key: &priv.PublicKey}
	jkt, err := dpop.Thumbprint(public)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", public)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Private: priv, JKT: jkt, signer: signer}
}

// Options are the optional claims of a proof.
type Options struct {
	// Nonce is a server-provided nonce (RFC 9449 §8).
	Nonce string
	// AccessToken adds ath, the hash of the token the proof is presented with (§4.2).
	AccessToken string
	// IssuedAt replaces the current time as iat.
	IssuedAt time.Time
	// JTI replaces the random jti (replay tests).
	JTI string
}

// Proof signs a proof for a request with method htm to URL htu.
func (k *Key) Proof(t TB, htm, htu string) string {
	t.Helper()
	return k.ProofWith(t, htm, htu, Options{})
}

// ProofWith signs a proof with the optional claims of o.
func (k *Key) ProofWith(t TB, htm, htu string, o Options) string {
	t.Helper()
	iat, jti := o.IssuedAt, o.JTI
	if iat.IsZero() {
		iat = time.Now()
	}
	if jti == "" {
		jti = rand.Text()
	}
	claims := map[string]any{"jti": jti, "htm": htm, "htu": htu, "iat": iat.Unix()}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	if o.AccessToken != "" {
		claims["ath"] = dpop.AccessTokenHash(o.AccessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
