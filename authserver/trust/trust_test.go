package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const idp = "https://idp.example.test"

var now = time.Unix(1_900_000_000, 0)

func newKey(t *testing.T, kid string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	return k, string(set)
}

func sign(t *testing.T, k any, alg jose.SignatureAlgorithm, kid string, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func claims(edit func(map[string]any)) map[string]any {
	c := map[string]any{"iss": idp, "sub": "user-1", "aud": "https://as.example.test", "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j1"}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestVerify(t *testing.T) {
	key, jwks := newKey(t, "k1")
	other, _ := newKey(t, "k1")
	set, err := New([]Issuer{{Issuer: idp, JWKS: jwks, Algs: []string{"ES256"}}}, false, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, key, jose.ES256, "k1", claims(nil), nil)
	tok, err := set.Verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Issuer != idp || tok.Subject != "user-1" || !tok.HasAudience("https://as.example.test") || tok.JTI != "j1" ||
		!tok.Expiry.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("token: %+v", tok)
	}
	// Without a kid, every key of the issuer is tried.
	if _, err := set.Verify(context.Background(), sign(t, key, jose.ES256, "", claims(nil), nil)); err != nil {
		t.Fatalf("no kid: %v", err)
	}

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+idp+`","sub":"x","exp":1999999999}`)) + "."
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"unknown issuer", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil), ErrUnknownIssuer},
		{"forged", sign(t, other, jose.ES256, "k1", claims(nil), nil), ErrInvalid},
		{"unknown kid", sign(t, key, jose.ES256, "k2", claims(nil), nil), ErrInvalid},
		{"expired", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), nil), ErrInvalid},
		{"no exp", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { delete(c, "exp") }), nil), ErrInvalid},
		{"string exp", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { c["exp"] = "tomorrow" }), nil), ErrInvalid},
		{"future nbf", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), nil), ErrInvalid},
		{"future iat", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }), nil), ErrInvalid},
		{"no sub", sign(t, key, jose.ES256, "k1", claims(func(c map[string]any) { delete(c, "sub") }), nil), ErrInvalid},
		{"crit", sign(t, key, jose.ES256, "k1", claims(nil), map[jose.HeaderKey]any{"crit": []string{"exp"}}), ErrInvalid},
		{"hmac", sign(t, []byte(strings.Repeat("k", 32)), jose.HS256, "k1", claims(nil), nil), ErrInvalid},
		{"alg none", none, ErrInvalid},
		{"garbage", "a.b.c", ErrInvalid},
		{"too long", strings.Repeat("a", MaxTokenLen+1), ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := set.Verify(context.Background(), tc.token); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	// An algorithm the issuer is not configured for.
	es384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	set384, _ := New([]Issuer{{Issuer: idp, JWKS: jwksOf(t, &es384.PublicKey, "p384"), Algs: []string{"ES256"}}}, false, func() time.Time { return now })
	if _, err := set384.Verify(context.Background(), sign(t, es384, jose.ES384, "p384", claims(nil), nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ES384 from an ES256-only issuer: %v", err)
	}
}

func jwksOf(t *testing.T, pub any, kid string) string {
	t.Helper()
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid}}})
	return string(b)
}

// TestVerifyJWKSURI: keys fetched from the issuer's jwks_uri, refetched once for an unknown
// kid (rotation), and never from a private address unless allowed.
func TestVerifyJWKSURI(t *testing.T) {
	k1, jwks1 := newKey(t, "k1")
	k2, jwks2 := newKey(t, "k2")
	var published atomic.Value
	published.Store(jwks1)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(published.Load().(string)))
	}))
	defer srv.Close()
	clock := now
	set, err := New([]Issuer{{Issuer: idp, JWKSURI: srv.URL}}, true, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Verify(context.Background(), sign(t, k1, jose.ES256, "k1", claims(nil), nil)); err != nil {
		t.Fatalf("k1: %v", err)
	}
	published.Store(jwks2)
	clock = clock.Add(11 * time.Second) // past the refetch spacing
	if _, err := set.Verify(context.Background(), sign(t, k2, jose.ES256, "k2", claims(nil), nil)); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	if hits.Load() != 2 {
		t.Fatalf("%d fetches, want 2", hits.Load())
	}

	strict, _ := New([]Issuer{{Issuer: idp, JWKSURI: srv.URL}}, false, func() time.Time { return now })
	if _, err := strict.Verify(context.Background(), sign(t, k2, jose.ES256, "k2", claims(nil), nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a loopback jwks_uri without allow_private: %v", err)
	}
	if hits.Load() != 2 {
		t.Fatal("the strict set reached the loopback jwks_uri")
	}
}

func TestIssuerValidate(t *testing.T) {
	_, jwks := newKey(t, "k")
	for _, c := range []Issuer{
		{Issuer: "idp", JWKS: jwks},
		{Issuer: idp},
		{Issuer: idp, JWKS: jwks, JWKSURI: "https://idp.example.test/jwks"},
		{Issuer: idp, JWKS: `{"keys":[]}`},
		{Issuer: idp, JWKSURI: "ftp://idp.example.test/jwks"},
		{Issuer: idp, JWKS: jwks, Algs: []string{"HS256"}},
		{Issuer: idp, JWKS: jwks, Algs: []string{"none"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New([]Issuer{{Issuer: idp, JWKS: jwks}, {Issuer: idp, JWKS: jwks}}, false, nil); err == nil {
		t.Error("an issuer declared twice was accepted")
	}
}
