package authserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// tokenURL is the htu of every token-endpoint proof.
const tokenURL = testIssuer + "/token"

// dpopTokenAs sends a token request with a DPoP proof, authenticated with HTTP Basic when
// secret is set, else as a public client (client_id in the form).
func (ts *testServer) dpopTokenAs(client, secret string, form url.Values, proof string) response {
	ts.t.Helper()
	if secret == "" {
		form.Set("client_id", client)
	}
	req := httptest.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	if secret != "" {
		req.SetBasicAuth(client, secret)
	}
	return ts.responseOf(serve(ts, req))
}

func (ts *testServer) responseOf(rec *httptest.ResponseRecorder) response {
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

// spaDPoPCode signs alice in to the public client with its code bound to key (dpop_jkt).
func spaDPoPCode(ts *testServer, key dpopKey) string {
	ts.t.Helper()
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"read offline_access"},
		"resource": nil, "nonce": nil, "dpop_jkt": {key.jkt}}
	return ts.browser().signIn(authURL(q)).Get("code")
}

func spaCodeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// TestDPoPFloodCannotFillTheReplayStore (issue 8 item 7): proofs of token requests that fail
// client authentication or present unknown codes or refresh tokens are not remembered, so a
// flood of them cannot fill the replay store and block a legitimate DPoP client afterwards.
func TestDPoPFloodCannotFillTheReplayStore(t *testing.T) {
	const capacity = 8
	guard := dpop.NewMemoryGuard(capacity, 0)
	t.Cleanup(guard.Close)
	ts := newFlowServerOpts(t, serverOptions{dpopReplay: guard})
	attacker := newDPoPKey(t)
	flood := []struct {
		name, client, secret string
		form                 func() url.Values
		code                 string
	}{
		{"wrong client secret", "svc", "not-the-secret", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "resource": {jwtResource}}
		}, "invalid_client"},
		{"unknown code, public client", "spa", "", func() url.Values { return spaCodeForm(newTokenValue()) }, "invalid_grant"},
		{"unknown refresh token, public client", "spa", "", func() url.Values { return refreshForm(newTokenValue()) }, "invalid_grant"},
		{"unknown refresh token, confidential client", "web", webSecret, func() url.Values { return refreshForm(newTokenValue()) }, "invalid_grant"},
	}
	for _, f := range flood {
		for range 2 * capacity {
			res := ts.dpopTokenAs(f.client, f.secret, f.form(), attacker.proof(t, http.MethodPost, tokenURL, ""))
			if res.body["error"] != f.code {
				t.Fatalf("%s: %d %s, want %s", f.name, res.status, res.raw, f.code)
			}
		}
	}
	if n := guard.Len(); n != 0 {
		t.Fatalf("the flood left %d proofs in the replay store, want 0", n)
	}

	// A legitimate client is served: client_credentials, then a public client's code and refresh.
	key := newDPoPKey(t)
	cc := key.proof(t, http.MethodPost, tokenURL, "")
	if res := ts.dpopToken(jwtResource, cc); res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("client_credentials after the flood: %d %s", res.status, res.raw)
	}
	res := ts.dpopTokenAs("spa", "", spaCodeForm(spaDPoPCode(ts, key)), key.proof(t, http.MethodPost, tokenURL, ""))
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("code after the flood: %d %s", res.status, res.raw)
	}
	rt := res.body["refresh_token"].(string)
	if res := ts.dpopTokenAs("spa", "", refreshForm(rt), key.proof(t, http.MethodPost, tokenURL, "")); res.status != http.StatusOK {
		t.Fatalf("refresh after the flood: %d %s", res.status, res.raw)
	}
	// … and its proofs stay single-use.
	if res := ts.dpopToken(jwtResource, cc); res.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof: %d %s", res.status, res.raw)
	}
	if n := guard.Len(); n != 3 {
		t.Errorf("replay store holds %d proofs, want the 3 legitimate ones", n)
	}
}

// TestDPoPProofReplayPerGrant: a proof already used in a successful token request is refused
// in another legitimate request of every grant, and the refusal spends nothing: the code is
// still redeemable and the refresh token still works with a fresh proof.
func TestDPoPProofReplayPerGrant(t *testing.T) {
	ts := newFlowServer(t, nil)
	key := newDPoPKey(t)
	used := key.proof(t, http.MethodPost, tokenURL, "")
	first := ts.dpopTokenAs("spa", "", spaCodeForm(spaDPoPCode(ts, key)), used)
	if first.status != http.StatusOK {
		t.Fatalf("first redemption: %d %s", first.status, first.raw)
	}

	t.Run("authorization_code", func(t *testing.T) {
		code := spaDPoPCode(ts, key)
		if res := ts.dpopTokenAs("spa", "", spaCodeForm(code), used); res.body["error"] != "invalid_dpop_proof" {
			t.Fatalf("replayed proof: %d %s", res.status, res.raw)
		}
		if res := ts.dpopTokenAs("spa", "", spaCodeForm(code), key.proof(t, http.MethodPost, tokenURL, "")); res.status != http.StatusOK {
			t.Fatalf("the code after a refused proof: %d %s", res.status, res.raw)
		}
	})
	t.Run("refresh_token", func(t *testing.T) {
		rt := first.body["refresh_token"].(string)
		if res := ts.dpopTokenAs("spa", "", refreshForm(rt), used); res.body["error"] != "invalid_dpop_proof" {
			t.Fatalf("replayed proof: %d %s", res.status, res.raw)
		}
		if res := ts.dpopTokenAs("spa", "", refreshForm(rt), key.proof(t, http.MethodPost, tokenURL, "")); res.status != http.StatusOK {
			t.Fatalf("the refresh token after a refused proof: %d %s", res.status, res.raw)
		}
	})
	t.Run("client_credentials", func(t *testing.T) {
		proof := key.proof(t, http.MethodPost, tokenURL, "")
		if res := ts.dpopToken(jwtResource, proof); res.status != http.StatusOK {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		if res := ts.dpopToken(jwtResource, proof); res.body["error"] != "invalid_dpop_proof" {
			t.Fatalf("replayed proof: %d %s", res.status, res.raw)
		}
	})
}

// switchableGuard is a memory guard that can be made to answer ErrFull.
type switchableGuard struct {
	dpop.ReplayGuard
	full atomic.Bool
}

func (g *switchableGuard) Use(ctx context.Context, key string, exp time.Time) error {
	if g.full.Load() {
		return dpop.ErrFull
	}
	return g.ReplayGuard.Use(ctx, key, exp)
}

// TestDPoPNonceRetryKeepsTheCode: the use_dpop_nonce answers of RFC 9449 §8 — a missing
// nonce, or a full replay store — come before the code is spent, so the client's retry
// with the same code succeeds.
func TestDPoPNonceRetryKeepsTheCode(t *testing.T) {
	mem := dpop.NewMemoryGuard(100, 0)
	t.Cleanup(mem.Close)
	guard := &switchableGuard{ReplayGuard: mem}
	ts := newFlowServerOpts(t, serverOptions{dpopReplay: guard, edit: func(c *Config) {
		c.DPoPNonceSecret = "a-shared-nonce-secret-of-at-least-32-chars"
	}})
	key := newDPoPKey(t)
	code := spaDPoPCode(ts, key)
	res := ts.dpopTokenAs("spa", "", spaCodeForm(code), key.proof(t, http.MethodPost, tokenURL, ""))
	nonce := res.header.Get("DPoP-Nonce")
	if res.body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %s", res.status, res.raw)
	}
	guard.full.Store(true)
	res = ts.dpopTokenAs("spa", "", spaCodeForm(code), key.proof(t, http.MethodPost, tokenURL, nonce))
	if res.body["error"] != "use_dpop_nonce" || res.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("replay store full: %d %s", res.status, res.raw)
	}
	guard.full.Store(false)
	res = ts.dpopTokenAs("spa", "", spaCodeForm(code), key.proof(t, http.MethodPost, tokenURL, nonce))
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("retry with the nonce: %d %s", res.status, res.raw)
	}
}
