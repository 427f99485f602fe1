package authserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/dpop/dpoptest"
)

// dpopKey is a client's DPoP key pair for tests (proofs made by package dpoptest).
type dpopKey struct {
	*dpoptest.Key
	jkt string
}

func newDPoPKey(t testing.TB) dpopKey {
	t.Helper()
	k := dpoptest.NewKey(t)
	return dpopKey{Key: k, jkt: k.JKT}
}

// proof builds a DPoP proof JWT for htm/htu (RFC 9449 §4.2), with a server nonce if not "".
func (k dpopKey) proof(t testing.TB, htm, htu, nonce string) string {
	t.Helper()
	return k.ProofWith(t, htm, htu, dpoptest.Options{Nonce: nonce})
}

// proofWithATH builds a proof for a protected-resource request with accessToken (ath).
func (k dpopKey) proofWithATH(t testing.TB, htm, htu, accessToken string) string {
	t.Helper()
	return k.ProofWith(t, htm, htu, dpoptest.Options{AccessToken: accessToken})
}

func (ts *testServer) dpopToken(resource, proof string) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", svcSecret)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

func TestDPoPBoundTokens(t *testing.T) {
	ts := newTestServer(t)
	key := newDPoPKey(t)

	// JWT: cnf.jkt in the token, token_type DPoP, and introspection shows the binding.
	res := ts.dpopToken(jwtResource, key.proof(t, "POST", testIssuer+"/token", ""))
	if res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Errorf("cnf = %v, want jkt %s", claims["cnf"], key.jkt)
	}
	got := ts.introspect("svc", svcSecret, res.body["access_token"].(string))
	if got["token_type"] != "DPoP" || got["cnf"].(map[string]any)["jkt"] != key.jkt {
		t.Errorf("JWT introspection = %v", got)
	}

	// Opaque: the binding is stored and shown by introspection.
	res = ts.dpopToken(opqResource, key.proof(t, "POST", testIssuer+"/token", ""))
	if res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	got = ts.introspect("svc", svcSecret, res.body["access_token"].(string))
	if got["token_type"] != "DPoP" || got["cnf"].(map[string]any)["jkt"] != key.jkt {
		t.Errorf("opaque introspection = %v", got)
	}

	// Bad proofs fail with invalid_dpop_proof; a replayed proof fails too.
	proof := key.proof(t, "POST", testIssuer+"/token", "")
	if res := ts.dpopToken(jwtResource, proof); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	for name, p := range map[string]string{
		"replayed":  proof,
		"wrong htm": key.proof(t, "GET", testIssuer+"/token", ""),
		"wrong htu": key.proof(t, "POST", testIssuer+"/introspect", ""),
		"not a JWT": "garbage",
		"unsigned":  "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.",
	} {
		if res := ts.dpopToken(jwtResource, p); res.status != 400 || res.body["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: %d %s", name, res.status, res.raw)
		}
	}
}

func TestDPoPRequiredByResourceAndNonces(t *testing.T) {
	yes := true
	ts := newTestServerWith(t, func(c *Config) {
		c.Resources[0].DPoPBoundAccessTokensRequired = &yes // jwtResource
		c.DPoPNonceSecret = "a-shared-nonce-secret-of-at-least-32-chars"
	})
	key := newDPoPKey(t)
	if res := ts.dpopToken(jwtResource, ""); res.status != 400 || res.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("no proof for a DPoP-only resource: %d %s", res.status, res.raw)
	}
	// Without a nonce: use_dpop_nonce with a fresh DPoP-Nonce header; with it: success.
	res := ts.dpopToken(jwtResource, key.proof(t, "POST", testIssuer+"/token", ""))
	nonce := res.header.Get("DPoP-Nonce")
	if res.status != 400 || res.body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("missing nonce: %d %s (DPoP-Nonce %q)", res.status, res.raw, nonce)
	}
	if res := ts.dpopToken(jwtResource, key.proof(t, "POST", testIssuer+"/token", nonce)); res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("with nonce: %d %s", res.status, res.raw)
	}
	// A resource that does not require DPoP still issues Bearer tokens without a proof.
	if res := ts.dpopToken(rsResource, ""); res.status != 200 || res.body["token_type"] != "Bearer" {
		t.Fatalf("bearer: %d %s", res.status, res.raw)
	}
}
