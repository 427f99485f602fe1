package authserver

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// spaTokens signs alice in through the public client "spa" (offline_access, so it also gets
// a refresh token) and returns its token response.
func spaTokens(t *testing.T, ts *testServer) response {
	t.Helper()
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"offline_access"}, "resource": nil, "nonce": nil}
	cb := ts.browser().signIn(authURL(q))
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
		"code": {cb.Get("code")}, "redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}, [2]string{})
	if res.status != http.StatusOK || res.body["access_token"] == nil || res.body["refresh_token"] == nil {
		t.Fatalf("spa token: %d %s", res.status, res.raw)
	}
	return res
}

// TestEndpointsAcceptTheAuthMethodsDiscoveryAdvertises: a public client's bare client_id is
// no credential at the introspection endpoint (discovery leaves "none" out for it), not even
// for its own token; revocation keeps accepting public clients (RFC 7009 §2.1).
func TestEndpointsAcceptTheAuthMethodsDiscoveryAdvertises(t *testing.T) {
	ts := newFlowServer(t, nil)
	md := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).body
	spa := spaTokens(t, ts)
	svcToken := ts.mustToken("svc", svcSecret, opqResource, "")

	for _, tc := range []struct {
		name, path, field, token string
		wantNone                 bool
	}{
		{"introspect own token", "/introspect", "introspection_endpoint_auth_methods_supported", spa.body["access_token"].(string), false},
		{"introspect own refresh token", "/introspect", "introspection_endpoint_auth_methods_supported", spa.body["refresh_token"].(string), false},
		{"introspect another client's token", "/introspect", "introspection_endpoint_auth_methods_supported", svcToken, false},
		{"revoke own token", "/revoke", "revocation_endpoint_auth_methods_supported", spa.body["access_token"].(string), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			advertised, _ := md[tc.field].([]any)
			if got := slices.Contains(advertised, any("none")); got != tc.wantNone {
				t.Fatalf("%s = %v: none listed %v, want %v", tc.field, advertised, got, tc.wantNone)
			}
			res := ts.do(http.MethodPost, tc.path, url.Values{"client_id": {"spa"}, "token": {tc.token}}, [2]string{})
			if tc.wantNone {
				if res.status != http.StatusOK {
					t.Fatalf("public client refused at %s although discovery lists none: %d %s", tc.path, res.status, res.raw)
				}
				return
			}
			if res.status != http.StatusUnauthorized || res.body["error"] != "invalid_client" {
				t.Fatalf("public client at %s: %d %s, want 401 invalid_client", tc.path, res.status, res.raw)
			}
			for _, leak := range []string{"active", "sub", "scope", "client_id"} {
				if _, ok := res.body[leak]; ok {
					t.Errorf("the refusal carries %q: %s", leak, res.raw)
				}
			}
		})
	}
}

// TestLinkedClientsCannotIntrospectOthersTokens: being allowed to get tokens for a resource
// does not make a client that resource's server: it learns nothing about other clients' tokens.
func TestLinkedClientsCannotIntrospectOthersTokens(t *testing.T) {
	ts := newFlowServer(t, nil)
	// weak and web are linked to jwtResource (they may get tokens for it); svc's token for it
	// is none of their business.
	svcJWT := ts.mustToken("svc", svcSecret, jwtResource, "read")
	svcOpaque := ts.mustToken("svc", svcSecret, opqResource, "read")
	for _, tc := range []struct {
		client, secret, token string
	}{
		{"weak", weakSecret, svcJWT},
		{"web", webSecret, svcJWT},
		{"web", webSecret, svcOpaque},
	} {
		if got := ts.introspect(tc.client, tc.secret, tc.token); len(got) != 1 || got["active"] != false {
			t.Errorf("%s introspecting svc's token: %v, want only active:false", tc.client, got)
		}
	}
	// Its own tokens, a client may always introspect.
	if got := ts.introspect("weak", weakSecret, ts.mustToken("weak", weakSecret, jwtResource, "")); got["active"] != true {
		t.Errorf("weak introspecting its own token: %v", got)
	}
}

// TestIntrospectRefreshToken: RFC 7662 §2.1 covers refresh tokens; only the client they were
// issued to learns about them.
func TestIntrospectRefreshToken(t *testing.T) {
	ts := newFlowServer(t, nil)
	res := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil)
	rt := res.body["refresh_token"].(string)
	issued := ts.now.Load()

	introspect := func(client, secret, token, hint string) map[string]any {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		r := ts.do(http.MethodPost, "/introspect", form, [2]string{client, secret})
		if r.status != http.StatusOK {
			t.Fatalf("introspect: %d %s", r.status, r.raw)
		}
		return r.body
	}
	// Whatever the hint says (or no hint, or one the server does not know), the token is found.
	for _, hint := range []string{"", "refresh_token", "access_token", "id_token", "bogus"} {
		got := introspect("web", webSecret, rt, hint)
		want := map[string]any{
			"active": true, "client_id": "web", "sub": "alice-sub", "scope": "openid profile email offline_access read",
			"iss": testIssuer, "token_type": "refresh_token", "iat": float64(issued),
			"exp": float64(issued + int64(DefaultRefreshTokenTTL/time.Second)),
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hint %q: %v, want %v", hint, got, want)
		}
	}
	// An access-token hint does not hide the access token behind a refresh token, nor the other way.
	if got := introspect("web", webSecret, res.body["access_token"].(string), "refresh_token"); got["active"] != true || got["token_type"] == "refresh_token" {
		t.Errorf("access token with a refresh_token hint: %v", got)
	}
	// Nobody else: not an unrelated client, not the gateway that introspects the grant's resource.
	for _, c := range [][2]string{{"svc", svcSecret}, {"weak", weakSecret}, {"gateway", gwSecret}} {
		if got := introspect(c[0], c[1], rt, "refresh_token"); len(got) != 1 || got["active"] != false {
			t.Errorf("%s introspecting web's refresh token: %v", c[0], got)
		}
	}

	// Rotation retires it; its successor is active.
	next := ts.refresh(rt, nil)
	if next.status != http.StatusOK {
		t.Fatalf("refresh: %s", next.raw)
	}
	if got := introspect("web", webSecret, rt, ""); len(got) != 1 || got["active"] != false {
		t.Errorf("rotated refresh token: %v", got)
	}
	rt2 := next.body["refresh_token"].(string)
	if got := introspect("web", webSecret, rt2, ""); got["active"] != true {
		t.Errorf("successor: %v", got)
	}
	// Expiry.
	ts.now.Add(int64(DefaultRefreshTokenTTL/time.Second) + 1)
	if got := introspect("web", webSecret, rt2, ""); got["active"] != false {
		t.Errorf("expired refresh token: %v", got)
	}
}

func TestIntrospectRefreshTokenEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, ts *testServer, rt string)
	}{
		{"revoked", func(t *testing.T, ts *testServer, rt string) {
			if r := ts.do(http.MethodPost, "/revoke", url.Values{"token": {rt}}, [2]string{"web", webSecret}); r.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
		}},
		// The account check holds on its own, even if revoking the grants failed.
		{"account disabled", func(t *testing.T, ts *testServer, _ string) {
			acc, err := ts.srv.st.GetAccount(ctx, "alice-sub")
			if err != nil {
				t.Fatal(err)
			}
			acc.Disabled = true
			if err := ts.srv.st.UpsertAccount(ctx, acc); err != nil {
				t.Fatal(err)
			}
		}},
		{"account deleted", func(t *testing.T, ts *testServer, _ string) {
			if err := ts.srv.st.DeleteAccount(ctx, "alice-sub"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newFlowServer(t, nil)
			rt := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil).body["refresh_token"].(string)
			if got := ts.introspect("web", webSecret, rt); got["active"] != true {
				t.Fatalf("fresh refresh token: %v", got)
			}
			tc.end(t, ts, rt)
			if got := ts.introspect("web", webSecret, rt); len(got) != 1 || got["active"] != false {
				t.Errorf("after %s: %v", tc.name, got)
			}
		})
	}
}

// TestIntrospectRefreshTokenPairwise: the sub is the one the client knows.
func TestIntrospectRefreshTokenPairwise(t *testing.T) {
	const redirect = "https://pair.example.test/cb"
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "pair", Secret: webSecret, SkipConsent: true, SubjectType: "pairwise",
			GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{redirect}})
	})
	b := ts.browser()
	q := url.Values{"client_id": {"pair"}, "redirect_uri": {redirect}, "scope": {"openid offline_access"}, "resource": nil}
	p := b.do(http.MethodGet, authURL(q), nil)
	p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	cb := callback(t, p, redirect)
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {testVerifier}}, [2]string{"pair", webSecret})
	if res.status != http.StatusOK || res.body["refresh_token"] == nil {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	sub := jwtClaims(t, res.body["id_token"].(string))["sub"]
	if sub == "alice-sub" {
		t.Fatal("the pairwise client got the public sub")
	}
	if got := ts.introspect("pair", webSecret, res.body["refresh_token"].(string)); got["active"] != true || got["sub"] != sub {
		t.Errorf("introspection: %v, want sub %v", got, sub)
	}
}

// TestIntrospectsGrantsIntrospectionOnly: `introspects` makes a client a resource's server,
// able to introspect its tokens, and gives it no tokens for that resource; `resources` and
// `introspects` on the same resource make one link with both grants.
func TestIntrospectsGrantsIntrospectionOnly(t *testing.T) {
	const rsSecret = "Rs5Bt8Cu1Dv4Ew7Fx0Gy3Hz6Ia9Jb2Kc5Ld8Me1Nf4O"
	ts := newTestServerWith(t, func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "rs", Secret: rsSecret,
			Resources: []string{loneResource}, Introspects: []string{jwtResource, loneResource}})
	})
	// No tokens for the resource it only introspects, asked for by name or by default.
	if res := ts.token("rs", rsSecret, url.Values{"resource": {jwtResource}}); res.status != http.StatusBadRequest || res.body["error"] != "invalid_target" {
		t.Errorf("token for an introspected resource: %d %s", res.status, res.raw)
	}
	// The introspect-only link does not count as a second resource: the default is still lone.
	res := ts.token("rs", rsSecret, url.Values{})
	if res.status != http.StatusOK {
		t.Fatalf("token without resource: %d %s", res.status, res.raw)
	}
	if aud := jwtClaims(t, res.body["access_token"].(string))["aud"]; aud != loneResource {
		t.Errorf("default resource = %v, want %s", aud, loneResource)
	}
	// Other clients' tokens for the resources it introspects, and only those.
	for _, tc := range []struct {
		name, token string
		want        bool
	}{
		{"svc's JWT for the introspected resource", ts.mustToken("svc", svcSecret, jwtResource, "read"), true},
		{"weak's JWT for the introspected resource", ts.mustToken("weak", weakSecret, jwtResource, ""), true},
		{"svc's JWT for another resource", ts.mustToken("svc", svcSecret, rsResource, ""), false},
		{"svc's opaque token for another resource", ts.mustToken("svc", svcSecret, opqResource, ""), false},
	} {
		got := ts.introspect("rs", rsSecret, tc.token)
		if got["active"] != tc.want || (!tc.want && len(got) != 1) {
			t.Errorf("%s: %v, want active %v", tc.name, got, tc.want)
		}
	}
	links, err := ts.srv.st.ListClientResources(context.Background(), "rs")
	if err != nil {
		t.Fatal(err)
	}
	grants := map[string][2]bool{}
	for _, l := range links {
		r, err := ts.srv.st.GetResource(context.Background(), l.ResourceID)
		if err != nil {
			t.Fatal(err)
		}
		grants[r.Identifier] = [2]bool{l.Tokens, l.Introspect}
	}
	if want := map[string][2]bool{loneResource: {true, true}, jwtResource: {false, true}}; !reflect.DeepEqual(grants, want) {
		t.Errorf("links (tokens, introspect) = %v, want %v", grants, want)
	}
}

// TestReconfiguredLinkGrants: the configuration is the source of truth for a client's links,
// so moving a resource from `resources` to `introspects` takes its tokens away at the next start.
func TestReconfiguredLinkGrants(t *testing.T) {
	const rsSecret = "Rs5Bt8Cu1Dv4Ew7Fx0Gy3Hz6Ia9Jb2Kc5Ld8Me1Nf4O"
	dsn := filepath.Join(t.TempDir(), "oauth.db")
	first := newTestServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn, edit: func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "rs", Secret: rsSecret, Resources: []string{jwtResource}})
	}})
	svcToken := first.mustToken("svc", svcSecret, jwtResource, "")
	if got := first.introspect("rs", rsSecret, svcToken); got["active"] != false {
		t.Fatalf("a client with tokens for the resource introspected another's token: %v", got)
	}
	first.mustToken("rs", rsSecret, jwtResource, "")

	second := newTestServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn, edit: func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "rs", Secret: rsSecret, Introspects: []string{jwtResource}})
	}})
	if res := second.token("rs", rsSecret, url.Values{"resource": {jwtResource}}); res.body["error"] != "invalid_target" {
		t.Errorf("token after moving the resource to introspects: %d %s", res.status, res.raw)
	}
	if got := second.introspect("rs", rsSecret, svcToken); got["active"] != true {
		t.Errorf("introspection after moving the resource to introspects: %v", got)
	}
}
