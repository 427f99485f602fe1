package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestClaimsParameter covers the OpenID Connect claims request parameter (Core §5.5).
func TestClaimsParameter(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.ACRValues = []string{"urn:example:pwd"} })
	b := ts.browser()
	claims := `{"id_token":{"email":null,"name":{"essential":true},"acr":{"essential":true,"values":["urn:example:mfa","urn:example:pwd"]}},"userinfo":{"email_verified":null}}`
	q := url.Values{"scope": {"openid offline_access read"}, "claims": {claims}}

	// The consent page names what the requested claims disclose.
	p := b.do(http.MethodGet, authURL(q), nil)
	p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if p.status != http.StatusOK || !strings.Contains(p.body, "email address") || !strings.Contains(p.body, "basic profile") {
		t.Fatalf("consent page for claims: %d %s", p.status, p.body)
	}
	cb := callback(t, b.submit(p, url.Values{"decision": {"approve"}, "remember": {"1"}}), webRedirect)
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	id := ts.verifyIDToken(res.body["id_token"].(string), "RS256")
	if id["email"] != "alice@example.test" || id["name"] != "Alice Liddell" || id["acr"] != "urn:example:pwd" || id["email_verified"] != nil {
		t.Errorf("id_token claims = %v", id)
	}
	ui := ts.userinfo(res.body["access_token"].(string))
	if ui.status != http.StatusOK || ui.body["email_verified"] != true || ui.body["email"] != nil || ui.body["name"] != nil {
		t.Errorf("userinfo = %d %s", ui.status, ui.raw)
	}
	// Refreshed ID tokens keep the requested claims.
	r := ts.refresh(res.body["refresh_token"].(string), nil)
	if c := jwtClaims(t, r.body["id_token"].(string)); c["email"] != "alice@example.test" {
		t.Errorf("refreshed id_token = %v", c)
	}
	// The remembered consent covers the implied scopes.
	if got := callback(t, b.do(http.MethodGet, authURL(url.Values{"scope": {"openid"}, "claims": {claims}, "prompt": {"none"}}), nil), webRedirect); got.Get("code") == "" {
		t.Fatalf("prompt=none after consenting to the claims: %v", got)
	}

	for name, tc := range map[string]struct {
		claims, code string
	}{
		"not JSON":             {`{"id_token":`, "invalid_request"},
		"member not an object": {`{"userinfo":["email"]}`, "invalid_request"},
		"claim not an object":  {`{"userinfo":{"email":true}}`, "invalid_request"},
		"unmet essential acr":  {`{"id_token":{"acr":{"essential":true,"value":"urn:example:mfa"}}}`, "access_denied"},
		"other sub, no prompt": {`{"id_token":{"sub":{"value":"someone-else"}}}`, "login_required"},
	} {
		t.Run(name, func(t *testing.T) {
			extra := url.Values{"claims": {tc.claims}}
			if tc.code == "login_required" {
				extra.Set("prompt", "none")
			}
			got := callback(t, b.do(http.MethodGet, authURL(extra), nil), webRedirect)
			if got.Get("error") != tc.code {
				t.Fatalf("%v, want %s", got, tc.code)
			}
		})
	}
	// A sub value naming the signed-in user is fine.
	got := callback(t, b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}, "claims": {`{"id_token":{"sub":{"value":"alice-sub"}}}`}}), nil), webRedirect)
	if got.Get("code") == "" {
		t.Fatalf("matching sub value: %v", got)
	}
}
