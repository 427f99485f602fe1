package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

const target = "http://127.0.0.1:8080/dpop/x"

func newVerifier(t *testing.T) *dpop.Verifier {
	v := &dpop.Verifier{Algs: []string{"ES256"}}
	g := dpop.NewMemoryGuard(1000, v.ReplayTTL())
	t.Cleanup(g.Close)
	v.Replay = g
	return v
}

// The proofs must pass the project's own verifier, bound to the token, each exactly once.
func TestProofsVerify(t *testing.T) {
	p, err := newProver()
	if err != nil {
		t.Fatal(err)
	}
	// The guard first: it refuses proofs issued before it started (iat in whole seconds), so
	// proofs signed just before it, across a second boundary, would fail at random.
	v := newVerifier(t)
	proofs, err := p.proofs(40, 3, http.MethodGet, target, "the-token")
	if err != nil {
		t.Fatal(err)
	}
	req := dpop.Request{Method: http.MethodGet, URL: target, AccessToken: "the-token"}
	for i, proof := range proofs {
		got, err := v.Verify(context.Background(), proof, req)
		if err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		if got.JKT != p.jkt {
			t.Fatalf("proof %d: jkt %s, want %s", i, got.JKT, p.jkt)
		}
	}
	if _, err := v.Verify(context.Background(), proofs[0], req); err == nil {
		t.Error("a replayed proof verified")
	}

	fresh, _, err := p.proof(http.MethodGet, target, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]dpop.Request{
		"other token":  {Method: http.MethodGet, URL: target, AccessToken: "another-token"},
		"other method": {Method: http.MethodPost, URL: target},
		"other path":   {Method: http.MethodGet, URL: "http://127.0.0.1:8080/elsewhere"},
	} {
		proof := proofs[1]
		if req.AccessToken == "" {
			proof = fresh
		}
		if _, err := v.Verify(context.Background(), proof, req); err == nil {
			t.Errorf("%s: proof verified", name)
		}
	}
}

// fakeAS is a token endpoint that verifies the proof and answers with a JWT-shaped token
// whose cnf.jkt and token_type the test chooses.
func fakeAS(t *testing.T, status int, tokenType string, jkt func(proofJKT string) string) *httptest.Server {
	v := newVerifier(t)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "bench%2Bclient" || secret != "s%3Acret" || r.FormValue("resource") != "https://api.test" ||
			r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "read" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		proof, err := v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: http.MethodPost, URL: srv.URL + "/token"})
		if err != nil {
			http.Error(w, `{"error":"invalid_dpop_proof"}`, http.StatusBadRequest)
			return
		}
		claims, _ := json.Marshal(map[string]any{"cnf": map[string]string{"jkt": jkt(proof.JKT)}})
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"access_token": "eyJhbGciOiJFUzI1NiJ9." + b64(claims) + ".c2ln",
			"token_type":   tokenType,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRequestToken(t *testing.T) {
	same := func(jkt string) string { return jkt }
	tests := []struct {
		name      string
		status    int
		tokenType string
		jkt       func(string) string
		wantErr   string
	}{
		{"bound token", http.StatusOK, "DPoP", same, ""},
		{"case-insensitive token type", http.StatusOK, "dpop", same, ""},
		{"bearer token", http.StatusOK, "Bearer", same, "token_type"},
		{"bound to another key", http.StatusOK, "DPoP", func(string) string { return "other" }, "thumbprint"},
		{"error status", http.StatusBadRequest, "DPoP", same, "status 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeAS(t, tt.status, tt.tokenType, tt.jkt)
			p, err := newProver()
			if err != nil {
				t.Fatal(err)
			}
			tokenURL, _ := url.Parse(srv.URL + "/token")
			o := &options{tokenURL: tokenURL, clientID: "bench+client", secret: "s:cret", resource: "https://api.test", scope: "read"}
			token, err := p.requestToken(o)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr == "" && !strings.HasPrefix(token, "eyJ"):
				t.Fatalf("token %q", token)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"http://127.0.0.1:8080/dpop/x?q=1#f", "http://127.0.0.1:8080/dpop/x", true},
		{"https://localhost/token", "https://localhost/token", true},
		{"http://[::1]:9/a", "http://[::1]:9/a", true},
		{"http://example.com/token", "", false},
		{"http://10.0.0.1/token", "", false},
		{"ftp://127.0.0.1/x", "", false},
		{"/token", "", false},
	}
	for _, tt := range tests {
		u, err := loopbackURL("-url", tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok=%v", tt.raw, err, tt.ok)
			continue
		}
		if tt.ok && u.String() != tt.want {
			t.Errorf("%q: got %q, want %q", tt.raw, u, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv(secretEnv, "s")
	base := []string{"-token-url", "http://127.0.0.1:1/token", "-url", target, "-client", "c",
		"-resource", "https://api.test", "-proofs", "p", "-token", "t"}
	if _, err := parseFlags(append(base, "-n", "10")); err != nil {
		t.Fatalf("valid flags: %v", err)
	}
	for _, bad := range [][]string{
		append(base, "-n", "0"),
		append(base, "-n", "10000001"),
		append(base, "-n", "10", "-workers", "0"),
		append(base, "-n", "10", "extra"),
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v: accepted", bad[len(base):])
		}
	}
	t.Setenv(secretEnv, "")
	if _, err := parseFlags(append(base, "-n", "10")); err == nil {
		t.Error("accepted a missing secret")
	}
}

func BenchmarkProof(b *testing.B) {
	p, err := newProver()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.proof(http.MethodGet, target, "ath"); err != nil {
			b.Fatal(err)
		}
	}
}
