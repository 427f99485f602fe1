package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
)

var (
	trustedKey   = mustKey()
	untrustedKey = mustKey()
)

func mustKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// trustedJWKS is the JWK Set of trustedKey's public half, kid "publisher".
func trustedJWKS(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: trustedKey.Public(), KeyID: "publisher", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireStatements(t testing.TB) func(*registration.Config) {
	return func(c *registration.Config) {
		c.SoftwareStatementJWKS = trustedJWKS(t)
		c.RequireSoftwareStatement = true
	}
}

// signStatement signs claims as they are (ES256, kid "publisher").
func signStatement(t testing.TB, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	if _, ok := claims["iat"]; !ok && claims["exp"] == nil {
		if _, unbounded := claims["_unbounded"]; !unbounded {
			claims["iat"] = time.Now().Unix()
		}
	}
	delete(claims, "_unbounded")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "publisher").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func untrustedStatement(t testing.TB) string {
	return signStatement(t, untrustedKey, map[string]any{"software_id": "app"})
}

func expiredStatement(t testing.TB) string {
	past := time.Now().Add(-time.Hour)
	return signStatement(t, trustedKey, map[string]any{"software_id": "app", "iat": past.Add(-time.Hour).Unix(), "exp": past.Unix()})
}

func unboundedStatement(t testing.TB) string {
	return signStatement(t, trustedKey, map[string]any{"software_id": "app", "_unbounded": true})
}

// TestSoftwareStatementOverrides: a trusted statement's claims win over the request's, and the
// statement comes back unmodified (RFC 7591 §2.3, §3.2.1), also in later reads.
func TestSoftwareStatementOverrides(t *testing.T) {
	f := newFixture(t, requireStatements(t))
	stmt := signStatement(t, trustedKey, map[string]any{
		"iss": "https://publisher.example.test", "software_id": "4NRB1-0XZABZI9E6-5SM3R", "software_version": "2.1",
		"client_name": "Vetted App", "scope": "openid",
	})
	r := f.mustRegister(with(publicClient(), "client_name", "Self-named", "scope", "openid read", "software_statement", stmt))
	for key, want := range map[string]string{"client_name": "Vetted App", "scope": "openid", "software_id": "4NRB1-0XZABZI9E6-5SM3R", "software_version": "2.1", "software_statement": stmt} {
		if got := r.str(key); got != want {
			t.Errorf("%s %q, want %q", key, got, want)
		}
	}
	read := f.manage(http.MethodGet, r, r.str("registration_access_token"), nil)
	if read.str("software_statement") != stmt {
		t.Errorf("read: software_statement %q, want the registered one", read.str("software_statement"))
	}
	// An update needs no statement again: the client was approved when it registered.
	upd := f.manage(http.MethodPut, r, r.str("registration_access_token"), with(publicClient(), "client_id", r.str("client_id")))
	if upd.status != http.StatusOK || upd.str("software_statement") != stmt {
		t.Errorf("update without the statement: %d %s", upd.status, upd.raw)
	}
}

// TestStatementOptional: without require_software_statement, a registration may bring none;
// one it brings is still verified.
func TestStatementOptional(t *testing.T) {
	f := newFixture(t, func(c *registration.Config) { c.SoftwareStatementJWKS = trustedJWKS(t) })
	f.mustRegister(publicClient())
	if r := f.register(staticToken, with(publicClient(), "software_statement", untrustedStatement(t))); r.str("error") != "unapproved_software_statement" {
		t.Errorf("untrusted optional statement: %d %s", r.status, r.raw)
	}
	g := newFixture(t, nil) // trusts no publisher
	if r := g.register(staticToken, with(publicClient(), "software_statement", signStatement(t, trustedKey, map[string]any{}))); r.str("error") != "unapproved_software_statement" {
		t.Errorf("statement where none is trusted: %d %s", r.status, r.raw)
	}
}
