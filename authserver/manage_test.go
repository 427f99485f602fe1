package authserver

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestManagedClientLifecycle: a client created through Manage gets tokens at once; when it is
// disabled or deleted, its JWT and opaque access tokens stop validating in process and at
// introspection, and it can no longer authenticate.
func TestManagedClientLifecycle(t *testing.T) {
	for _, end := range []string{"delete", "disable"} {
		t.Run(end, func(t *testing.T) {
			ctx := context.Background()
			ts := newTestServer(t)
			m := ts.srv.Manage()
			created, err := m.CreateClient(ctx, spec.Client{ID: "rt", Scopes: []string{"read"}, Resources: []string{jwtResource, opqResource}}, store.SourceAdmin)
			if err != nil {
				t.Fatal(err)
			}
			jwt := ts.mustToken("rt", created.Secret, jwtResource, "read")
			opaque := ts.mustToken("rt", created.Secret, opqResource, "read")
			for _, tok := range []string{jwt, opaque} {
				if info, err := ts.srv.ActiveAccessToken(ctx, tok); err != nil || info == nil {
					t.Fatalf("fresh token inactive in process: %v", err)
				}
				if ts.introspect("gateway", gwSecret, tok)["active"] != true {
					t.Fatal("fresh token inactive at introspection")
				}
			}
			switch end {
			case "delete":
				err = m.DeleteClient(ctx, "rt")
			case "disable":
				c := spec.Client{ID: "rt", Scopes: []string{"read"}, Resources: []string{jwtResource, opqResource}, Disabled: true, TokenEndpointAuthMethod: "client_secret_basic"}
				_, err = m.ReplaceClient(ctx, c, store.SourceAdmin)
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"jwt": jwt, "opaque": opaque} {
				if info, err := ts.srv.ActiveAccessToken(ctx, tok); err != nil || info != nil {
					t.Errorf("%s token of a client that is gone still validates in process (%v)", name, err)
				}
				if got := ts.introspect("gateway", gwSecret, tok); got["active"] != false {
					t.Errorf("%s token of a client that is gone introspects as %v", name, got)
				}
			}
			res := ts.token("rt", created.Secret, url.Values{"resource": {jwtResource}})
			if res.status != http.StatusUnauthorized || res.body["error"] != "invalid_client" {
				t.Fatalf("client that is gone got %d %s", res.status, res.raw)
			}
		})
	}
}

// TestManagedRotationOverlap: after RotateSecret both secrets obtain tokens until the overlap
// ends; then only the new one.
func TestManagedRotationOverlap(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	m := ts.srv.Manage()
	created, err := m.CreateClient(ctx, spec.Client{ID: "rot", Resources: []string{jwtResource}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := m.RotateSecret(ctx, "rot", manage.DefaultOverlap) // the default: 24 h
	if err != nil {
		t.Fatal(err)
	}
	status := func(secret string) int {
		return ts.token("rot", secret, url.Values{"resource": {jwtResource}}).status
	}
	if status(created.Secret) != http.StatusOK || status(rotated.Secret) != http.StatusOK {
		t.Fatal("inside the overlap both secrets must work")
	}
	ts.now.Add(int64(DefaultSecretRotationOverlap.Seconds()) + 1)
	if status(created.Secret) != http.StatusUnauthorized || status(rotated.Secret) != http.StatusOK {
		t.Fatal("after the overlap only the new secret may work")
	}
}

// TestDeletedClientRefreshTokenIsDead: deleting a client through Manage revokes its grants,
// so its refresh token no longer refreshes (nor introspects), and its access token is
// inactive.
func TestDeletedClientRefreshTokenIsDead(t *testing.T) {
	ctx := context.Background()
	ts := newFlowServer(t, nil)
	_, err := ts.srv.Manage().CreateClient(ctx, spec.Client{ID: "app", TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{spaRedirect}, Resources: []string{jwtResource}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {"app"}, "redirect_uri": {spaRedirect}, "scope": {"offline_access"}, "resource": nil, "nonce": nil}
	cb := ts.browser().signIn(authURL(q))
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"app"},
		"code": {cb.Get("code")}, "redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}, [2]string{})
	refresh, _ := res.body["refresh_token"].(string)
	access, _ := res.body["access_token"].(string)
	if res.status != http.StatusOK || refresh == "" {
		t.Fatalf("tokens: %d %s", res.status, res.raw)
	}
	if err := ts.srv.Manage().DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	res = ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {refresh}}, [2]string{})
	if res.status == http.StatusOK {
		t.Fatalf("refresh after delete: %d %s", res.status, res.raw)
	}
	if g, err := ts.srv.st.ListGrants(ctx, store.GrantQuery{ClientID: "app"}); err != nil || len(g) != 0 {
		t.Fatalf("live grants after delete: %v %v", g, err)
	}
	if info, err := ts.srv.ActiveAccessToken(ctx, access); err != nil || info != nil {
		t.Fatalf("access token after delete: %+v %v", info, err)
	}
}
