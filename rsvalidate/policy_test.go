package rsvalidate

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestAuthorize(t *testing.T) {
	f := fixtures(t)
	v := mustNew(t, baseConfig(t, f))
	id := &Identity{
		TokenInfo: TokenInfo{Subject: "alice", ClientID: "app", Issuer: testIssuer, Audience: []string{testResource},
			Claims: map[string]any{
				"tenant": "acme", "groups": []any{"dev", "ops"}, "level": json.Number("3"),
				"admin": true, "ratio": 1.5, "empty": "",
			}},
		Scheme: "Bearer",
		Scopes: []string{"read", "write"},
	}
	cases := []struct {
		name   string
		scopes []string
		claims map[string][]string
		code   string
		scope  string
	}{
		{name: "nothing required"},
		{name: "granted scopes", scopes: []string{"read", "write"}},
		{name: "missing scope", scopes: []string{"read", "admin"}, code: "insufficient_scope", scope: "read admin"},
		{name: "claim value", claims: map[string][]string{"tenant": {"other", "acme"}}},
		{name: "claim value mismatch", claims: map[string][]string{"tenant": {"other"}}, code: "insufficient_scope"},
		{name: "array claim", claims: map[string][]string{"groups": {"ops"}}},
		{name: "array claim mismatch", claims: map[string][]string{"groups": {"sales"}}, code: "insufficient_scope"},
		{name: "number claim", claims: map[string][]string{"level": {"3"}}},
		{name: "float claim", claims: map[string][]string{"ratio": {"1.5"}}},
		{name: "bool claim", claims: map[string][]string{"admin": {"true"}}},
		{name: "registered sub", claims: map[string][]string{"sub": {"alice"}}},
		{name: "registered client_id mismatch", claims: map[string][]string{"client_id": {"other"}}, code: "insufficient_scope"},
		{name: "aud", claims: map[string][]string{"aud": {testResource}}},
		{name: "absent claim", claims: map[string][]string{"missing": {""}}, code: "insufficient_scope"},
		{name: "empty string never matches", claims: map[string][]string{"empty": {""}}, code: "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := v.Authorize(id, tc.scopes, tc.claims)
			if tc.code == "" {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			if e == nil || e.Status != http.StatusForbidden || e.Code != tc.code || e.Scope != tc.scope {
				t.Fatalf("got %+v, want 403 %s scope %q", e, tc.code, tc.scope)
			}
		})
	}
}

func TestInsufficientScopeChallenge(t *testing.T) {
	f := fixtures(t)
	v := mustNew(t, baseConfig(t, f))
	for _, tc := range []struct {
		scheme string
		want   []string
	}{
		{"Bearer", []string{`Bearer error="insufficient_scope", error_description="insufficient scope", scope="read admin", ` + rm, bareDPoP}},
		{"DPoP", []string{bareBearer, `DPoP error="insufficient_scope", error_description="insufficient scope", scope="read admin", algs="ES256 EdDSA", ` + rm}},
	} {
		e := v.Authorize(&Identity{Scheme: tc.scheme, Scopes: []string{"read"}}, []string{"read", "admin"}, nil)
		w := written(v, e)
		if w.Code != 403 || joinLines(w.Header().Values("WWW-Authenticate")) != joinLines(tc.want) {
			t.Errorf("%s: %d\n%s", tc.scheme, w.Code, joinLines(w.Header().Values("WWW-Authenticate")))
		}
	}
}

func TestWriteError(t *testing.T) {
	f := fixtures(t)
	cases := []struct {
		name       string
		cfg        func(*Config)
		err        *Error
		body       string
		challenges []string
	}{
		{name: "bare 401", err: &Error{Status: 401, Description: "access token required"},
			body: `{"error_description":"access token required"}`, challenges: bare},
		{name: "503 has no challenge", err: unavailable(errors.New("dial tcp: refused")),
			body: `{"error":"temporarily_unavailable","error_description":"authorization server unavailable"}`},
		{name: "values cannot break out of quotes", err: &Error{Status: 401, Code: "invalid_token", Description: "bad \"x\"\\ \r\nInjected: 1 é", scheme: "Bearer"},
			body:       `{"error":"invalid_token","error_description":"bad \"x\"\\ \r\nInjected: 1 é"}`,
			challenges: []string{`Bearer error="invalid_token", error_description="bad ?x?? ??Injected: 1 ??", ` + rm, bareDPoP}},
		{name: "500 has no challenge", err: &Error{Status: 500, Code: "server_error"}, body: `{"error":"server_error"}`},
		{name: "no metadata URL, no DPoP", cfg: func(c *Config) { c.ResourceMetadataURL, c.DPoP = "", nil },
			err: &Error{Status: 401}, body: `{}`, challenges: []string{"Bearer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, f)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			v := mustNew(t, cfg)
			w := written(v, tc.err)
			if w.Code != tc.err.Status {
				t.Errorf("status %d", w.Code)
			}
			if got := w.Body.String(); got != tc.body {
				t.Errorf("body %s, want %s", got, tc.body)
			}
			if got := w.Header().Values("WWW-Authenticate"); joinLines(got) != joinLines(tc.challenges) {
				t.Errorf("challenges:\n%s\nwant:\n%s", joinLines(got), joinLines(tc.challenges))
			}
			h := w.Header()
			if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	f := fixtures(t)
	cases := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{name: "DPoP configured",
			cfg:  func(c *Config) { c.ScopesSupported = []string{"read", "write"} },
			want: `{"resource":"https://api.example","authorization_servers":["https://as.example"],"scopes_supported":["read","write"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":false}`},
		{name: "DPoP required, every bearer method",
			cfg:  func(c *Config) { c.RequireDPoP, c.AllowBodyToken, c.AllowQueryToken = true, true, true },
			want: `{"resource":"https://api.example","authorization_servers":["https://as.example"],"bearer_methods_supported":["header","body","query"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true}`},
		{name: "no DPoP",
			cfg:  func(c *Config) { c.DPoP = nil },
			want: `{"resource":"https://api.example","authorization_servers":["https://as.example"],"bearer_methods_supported":["header"],"dpop_bound_access_tokens_required":false}`},
		{name: "local issuer policy",
			cfg: func(c *Config) {
				c.Issuer, c.Keys = "", nil
				c.Local = &fakeLocal{issuer: testIssuer, policy: &ResourcePolicy{DPoPBoundAccessTokensRequired: true, ScopesSupported: []string{"a"}}}
			},
			want: `{"resource":"https://api.example","authorization_servers":["https://as.example"],"scopes_supported":["a"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, f)
			tc.cfg(&cfg)
			if got := string(mustNew(t, cfg).Metadata()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseClaimsTimes(t *testing.T) {
	info, err := parseClaims([]byte(`{"exp":1700000000.5,"nbf":1700000000,"iat":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1700000000, 5e8); !info.ExpiresAt.Equal(want) {
		t.Errorf("exp %v, want %v", info.ExpiresAt, want)
	}
	for _, bad := range []string{`{"exp":-1}`, `{"exp":1e300}`, `{"iat":"x"}`, `[]`, `null`, `{"cnf":"x"}`, `{"scp":[1]}`} {
		if _, err := parseClaims([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
