package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestJWKSURIIsNotAnSSRFVector: a private_key_jwt client's jwks_uri is fetched only from
// public addresses unless outbound_allow_private is on. The key server here is loopback, as an
// internal service would be.
func TestJWKSURIIsNotAnSSRFVector(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	var hits atomic.Int32
	keySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(keySrv.Close)

	cases := []struct {
		name         string
		allowPrivate bool
		wantStatus   int
		wantFetches  int32
	}{
		{"refused by default", false, http.StatusUnauthorized, 0},
		{"allowed by outbound_allow_private", true, http.StatusOK, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits.Store(0)
			ts := newTestServerWith(t, func(cfg *Config) {
				cfg.OutboundAllowPrivate = c.allowPrivate
				cfg.Clients = append(cfg.Clients, ClientConfig{ID: "pkjwt", TokenEndpointAuthMethod: "private_key_jwt",
					TokenEndpointAuthSigningAlg: "ES256", JWKSURI: keySrv.URL, Resources: []string{jwtResource}})
			})
			form := url.Values{
				"grant_type":            {"client_credentials"},
				"resource":              {jwtResource},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {signAssertion(t, key, "k1", "pkjwt", time.Unix(ts.now.Load(), 0))},
			}
			res := ts.do(http.MethodPost, "/token", form, [2]string{})
			if res.status != c.wantStatus {
				t.Fatalf("token: %d %s, want %d", res.status, res.raw, c.wantStatus)
			}
			if c.wantStatus == http.StatusUnauthorized && res.body["error"] != "invalid_client" {
				t.Errorf("error = %v, want invalid_client", res.body["error"])
			}
			if got := hits.Load(); got != c.wantFetches {
				t.Errorf("key server fetched %d times, want %d", got, c.wantFetches)
			}
		})
	}
}

// signAssertion makes an RFC 7523 client assertion for the test issuer.
func signAssertion(t *testing.T, key *ecdsa.PrivateKey, kid, clientID string, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{testIssuer},
		ID: rand.Text(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
