package authserver

import (
	"net/http"
	"net/url"
	"path/filepath"
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

// narrowClient is allowed openid and profile, not email: the claims parameter must not get it
// email either (issue 8, item 2).
func narrowClient(scopes ...string) ClientConfig {
	return ClientConfig{ID: "narrow", Secret: webSecret, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{webRedirect}, Scopes: scopes}
}

// narrowAuthURL is an authorization request of the narrow client.
func narrowAuthURL(scope, claims string) string {
	q := url.Values{"client_id": {"narrow"}, "scope": {scope}, "resource": nil}
	if claims != "" {
		q.Set("claims", claims)
	}
	return authURL(q)
}

func (ts *testServer) redeemNarrow(client, code string) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}
	res := ts.do(http.MethodPost, "/token", form, [2]string{client, webSecret})
	if res.status != http.StatusOK {
		ts.t.Fatalf("redeem as %s: %d %s", client, res.status, res.raw)
	}
	return res
}

// The reproduction of the review: a client allowed "openid profile" gets invalid_scope for
// "openid email", and asking for email through the claims parameter instead gets nothing
// either — not on the consent page, not in the ID token, not at userinfo.
func TestClaimsParameterStaysWithinClientScopes(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, narrowClient("openid", "profile", "offline_access")) })
	b := ts.browser()
	if cb := callback(t, b.do(http.MethodGet, narrowAuthURL("openid email", ""), nil), webRedirect); cb.Get("error") != "invalid_scope" {
		t.Fatalf("scope=openid email: %v", cb)
	}

	claims := `{"id_token":{"email":{"essential":true}},"userinfo":{"email":null}}`
	p := b.do(http.MethodGet, narrowAuthURL("openid profile offline_access", claims), nil)
	consent := b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if consent.status != http.StatusOK || !strings.Contains(consent.body, `value="approve">Allow`) {
		t.Fatalf("consent page: %d %s", consent.status, consent.body)
	}
	if strings.Contains(consent.body, "email address") || !strings.Contains(consent.body, "basic profile") {
		t.Errorf("the consent page must ask for profile and never for email:\n%s", consent.body)
	}
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}, "remember": {"1"}}), webRedirect)
	res := ts.redeemNarrow("narrow", cb.Get("code"))

	id := ts.verifyIDToken(res.body["id_token"].(string), "RS256")
	if id["email"] != nil || id["email_verified"] != nil {
		t.Errorf("the ID token releases email to a client not allowed the email scope: %v", id)
	}
	ui := ts.userinfo(res.body["access_token"].(string))
	if ui.status != http.StatusOK || ui.body["email"] != nil || ui.body["email_verified"] != nil || ui.body["name"] != "Alice Liddell" {
		t.Errorf("userinfo releases email to a client not allowed the email scope: %d %s", ui.status, ui.raw)
	}
	r := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {res.body["refresh_token"].(string)}}, [2]string{"narrow", webSecret})
	if c := jwtClaims(t, r.body["id_token"].(string)); r.status != http.StatusOK || c["email"] != nil {
		t.Errorf("refreshed ID token: %d %v", r.status, c)
	}
}

// A client whose allowed scopes were narrowed after the user authorized it stops receiving
// the claims its claims parameter asked for then: the check is repeated at every release.
func TestClaimsParameterFollowsNarrowedClientScopes(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "oauth.db")
	before := newFlowServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn,
		edit: func(c *Config) { c.Clients = append(c.Clients, narrowClient("openid", "email", "offline_access")) }})
	claims := `{"id_token":{"email":null},"userinfo":{"email":null}}`
	cb := before.browser().signIn(narrowAuthURL("openid offline_access", claims))
	res := before.redeemNarrow("narrow", cb.Get("code"))
	if id := jwtClaims(t, res.body["id_token"].(string)); id["email"] != "alice@example.test" {
		t.Fatalf("while allowed, the claims parameter releases email: %v", id)
	}

	// The operator narrows the client; the configuration is written to the shared store.
	after := newFlowServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn,
		edit: func(c *Config) { c.Clients = append(c.Clients, narrowClient("openid", "offline_access")) }})
	r := after.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {res.body["refresh_token"].(string)}}, [2]string{"narrow", webSecret})
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if id := jwtClaims(t, r.body["id_token"].(string)); id["email"] != nil {
		t.Errorf("refreshed ID token after narrowing: %v", id)
	}
	if ui := after.userinfo(r.body["access_token"].(string)); ui.status != http.StatusOK || ui.body["email"] != nil {
		t.Errorf("userinfo after narrowing: %d %s", ui.status, ui.raw)
	}
}
