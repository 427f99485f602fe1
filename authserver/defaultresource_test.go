package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Clients of the default-resource tests (issue 8 item 12): both linked to three resources,
// one with default_resource.
const multiSecret = "Mu7Lt1Rs5Qx9Vb3Nk8Jd2Hf6Gc0Ta4Ye7Wp1Zo5Ui3S"

func newDefaultResourceServer(t *testing.T) *testServer {
	t.Helper()
	return newFlowServer(t, func(c *Config) {
		for _, id := range []string{"multi", "nodefault"} {
			cc := ClientConfig{ID: id, Secret: multiSecret,
				GrantTypes:   []string{"client_credentials", "authorization_code", "refresh_token"},
				RedirectURIs: []string{webRedirect},
				Scopes:       []string{"openid", "offline_access", "read"},
				Resources:    []string{jwtResource, opqResource, rsResource}}
			if id == "multi" {
				cc.DefaultResource = rsResource
			}
			c.Clients = append(c.Clients, cc)
		}
	})
}

// clientAuthURL is authURL for client (the web redirect URI), without resource unless extra
// names one.
func clientAuthURL(client string, extra url.Values) string {
	q := url.Values{"client_id": {client}, "scope": {"openid offline_access read"}, "resource": nil}
	for k, v := range extra {
		q[k] = v
	}
	return authURL(q)
}

func (ts *testServer) redeemAs(client, code string, extra url.Values) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{client, multiSecret})
}

func (ts *testServer) refreshAs(client, rt string, extra url.Values) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{client, multiSecret})
}

// audOf returns the resource an access token is for: the first aud of a JWT.
func audOf(t *testing.T, token string) any {
	t.Helper()
	switch aud := jwtClaims(t, token)["aud"].(type) {
	case []any:
		return aud[0]
	default:
		return aud
	}
}

// consentPage signs alice in and returns the consent page of an authorization request.
func consentPage(t *testing.T, b *browser, authorize string) page {
	t.Helper()
	p := b.do(http.MethodGet, authorize, nil)
	p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if p.status != http.StatusOK || !strings.Contains(p.body, `value="approve">Allow`) {
		t.Fatalf("no consent page: %d %q %s", p.status, p.location, p.body)
	}
	return p
}

func TestDefaultResourceClientCredentials(t *testing.T) {
	ts := newDefaultResourceServer(t)
	cases := []struct {
		name, client string
		form         url.Values
		aud          string
	}{
		{"default_resource without resource", "multi", url.Values{}, rsResource},
		{"resource wins over default_resource", "multi", url.Values{"resource": {jwtResource}}, jwtResource},
		{"no default, resource named", "nodefault", url.Values{"resource": {jwtResource}}, jwtResource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.token(tc.client, multiSecret, tc.form)
			if res.status != http.StatusOK {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if got := audOf(t, res.body["access_token"].(string)); got != tc.aud {
				t.Errorf("aud = %v, want %s", got, tc.aud)
			}
		})
	}
	t.Run("no default, no resource", func(t *testing.T) {
		res := ts.token("nodefault", multiSecret, url.Values{})
		desc, _ := res.body["error_description"].(string)
		if res.body["error"] != "invalid_target" || !strings.Contains(desc, "send the resource parameter, or configure default_resource") {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
}

// TestDefaultResourceUserGrant: an authorization request without resource is for the client's
// default resource — recorded on the grant, so the consent page lists it — and so are its
// code and refresh token requests without resource.
func TestDefaultResourceUserGrant(t *testing.T) {
	ts := newDefaultResourceServer(t)
	b := ts.browser()
	consent := consentPage(t, b, clientAuthURL("multi", nil))
	if !strings.Contains(consent.body, "On these services") || !strings.Contains(consent.body, "<code>"+rsResource+"</code>") {
		t.Fatalf("the consent page does not list the default resource: %s", consent.body)
	}
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}, "remember": {"1"}}), webRedirect)
	res := ts.redeemAs("multi", cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("code: %d %s", res.status, res.raw)
	}
	if got := audOf(t, res.body["access_token"].(string)); got != rsResource {
		t.Errorf("code: aud = %v, want the default resource", got)
	}
	r := ts.refreshAs("multi", res.body["refresh_token"].(string), nil)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if got := audOf(t, r.body["access_token"].(string)); got != rsResource {
		t.Errorf("refresh: aud = %v, want the default resource", got)
	}
	// The default resource was granted, not any other linked one.
	if bad := ts.refreshAs("multi", r.body["refresh_token"].(string), url.Values{"resource": {jwtResource}}); bad.body["error"] != "invalid_target" {
		t.Errorf("refresh for an ungranted resource: %s", bad.raw)
	}
}

// TestDefaultResourceAmongGranted: with several resources granted, a token request without
// resource gets the default resource when it was granted, else the first granted.
func TestDefaultResourceAmongGranted(t *testing.T) {
	ts := newDefaultResourceServer(t)
	cases := []struct {
		client    string
		resources []string
		aud       string
	}{
		{"multi", []string{jwtResource, rsResource}, rsResource},
		{"multi", []string{jwtResource, opqResource}, jwtResource},
		{"nodefault", []string{rsResource, jwtResource}, rsResource},
	}
	for _, tc := range cases {
		t.Run(tc.client+" "+strings.Join(tc.resources, " "), func(t *testing.T) {
			cb := ts.browser().signIn(clientAuthURL(tc.client, url.Values{"resource": tc.resources}))
			res := ts.redeemAs(tc.client, cb.Get("code"), nil)
			if res.status != http.StatusOK {
				t.Fatalf("code: %d %s", res.status, res.raw)
			}
			if got := audOf(t, res.body["access_token"].(string)); got != tc.aud {
				t.Errorf("code: aud = %v, want %s", got, tc.aud)
			}
			r := ts.refreshAs(tc.client, res.body["refresh_token"].(string), nil)
			if got := audOf(t, r.body["access_token"].(string)); got != tc.aud {
				t.Errorf("refresh: aud = %v, want %s", got, tc.aud)
			}
		})
	}
}

// TestNoDefaultResourceAuthorization: a client with several resources and no default must
// name one when it asks for resource scopes; with only OpenID scopes it needs none (the token
// is then for userinfo only).
func TestNoDefaultResourceAuthorization(t *testing.T) {
	ts := newDefaultResourceServer(t)
	cb := callback(t, ts.browser().do(http.MethodGet, clientAuthURL("nodefault", nil), nil), webRedirect)
	if cb.Get("error") != "invalid_target" || !strings.Contains(cb.Get("error_description"), "configure default_resource") {
		t.Fatalf("resource scope without resource: %v", cb)
	}
	cb = ts.browser().signIn(clientAuthURL("nodefault", url.Values{"scope": {"openid"}}))
	res := ts.redeemAs("nodefault", cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("openid only: %d %s", res.status, res.raw)
	}
	if got := audOf(t, res.body["access_token"].(string)); got != testIssuer+"/userinfo" {
		t.Errorf("aud = %v, want the userinfo endpoint", got)
	}
}

// TestSingleLinkedResourceIsTheDefault: a client linked to exactly one resource is treated
// as if it were its default_resource — the consent page lists it too.
func TestSingleLinkedResourceIsTheDefault(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"read"}, "resource": nil, "nonce": nil}
	consent := consentPage(t, b, authURL(q))
	if !strings.Contains(consent.body, "On these services") || !strings.Contains(consent.body, "<code>"+jwtResource+"</code>") {
		t.Fatalf("the consent page does not list the client's only resource: %s", consent.body)
	}
}

func TestDefaultResourceValidation(t *testing.T) {
	off := false
	cases := []struct {
		name    string
		enforce *bool
		client  ClientConfig
		wantErr string
	}{
		{"not a resource identifier", nil, ClientConfig{ID: "c", Secret: multiSecret, Resources: []string{jwtResource}, DefaultResource: "not-a-uri"}, "absolute URI"},
		{"with a fragment", nil, ClientConfig{ID: "c", Secret: multiSecret, Resources: []string{jwtResource}, DefaultResource: jwtResource + "#x"}, "absolute URI"},
		{"not among the client's resources", nil, ClientConfig{ID: "c", Secret: multiSecret, Resources: []string{jwtResource}, DefaultResource: rsResource}, "one of the client's resources"},
		{"not linked, enforcement off", &off, ClientConfig{ID: "c", Secret: multiSecret, DefaultResource: rsResource}, ""},
		{"among the client's resources", nil, ClientConfig{ID: "c", Secret: multiSecret, Resources: []string{jwtResource, rsResource}, DefaultResource: rsResource}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Issuer: testIssuer, EnforcePerClientResources: tc.enforce,
				Resources: []ResourceConfig{{Identifier: jwtResource}, {Identifier: rsResource}},
				Clients:   []ClientConfig{tc.client}}
			_, err := cfg.withDefaults()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "default_resource")):
				t.Fatalf("err = %v, want one naming default_resource and %q", err, tc.wantErr)
			}
		})
	}
}
