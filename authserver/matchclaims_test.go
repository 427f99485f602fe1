package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccessTokensCarryGrantAndSession: tokens issued under a user grant name the grant
// (grant_id) and its login session (sid) in the JWT, in introspection and to in-process
// gateways; client_credentials tokens name neither. Gateways match revocation events on them.
func TestAccessTokensCarryGrantAndSession(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) {
		for i := range c.Resources {
			if c.Resources[i].Identifier == opqResource {
				// A custom claim may not pose as a matching claim.
				c.Resources[i].CustomClaims = map[string]any{"tier": "gold", "sid": "forged", "grant_id": "forged"}
			}
		}
	})
	ctx := context.Background()

	// The user grant: the ID token's sid is the session the access tokens must name.
	cb := ts.browser().signIn(authURL(url.Values{"resource": {jwtResource, opqResource}}))
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	sid, _ := jwtClaims(t, res.body["id_token"].(string))["sid"].(string)
	userJWT := res.body["access_token"].(string)
	grantID, _ := jwtClaims(t, userJWT)["grant_id"].(string)
	if sid == "" || grantID == "" {
		t.Fatalf("sid %q, grant_id %q", sid, grantID)
	}
	g, err := ts.srv.st.GetGrant(ctx, grantID)
	if err != nil || g.ClientID != "web" || g.SessionID != sid {
		t.Fatalf("grant_id names %+v, %v", g, err)
	}
	if got := jwtClaims(t, userJWT)["sid"]; got != sid {
		t.Errorf("JWT sid = %v, want %s", got, sid)
	}
	// A refreshed token of the same grant names it too; an opaque one shows them through
	// introspection (the sid found through the grant).
	refreshed := ts.refresh(res.body["refresh_token"].(string), url.Values{"resource": {opqResource}, "scope": {"read"}})
	if refreshed.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", refreshed.status, refreshed.raw)
	}
	userOpaque := refreshed.body["access_token"].(string)
	serviceJWT := ts.mustToken("svc", svcSecret, jwtResource, "read")
	serviceOpaque := ts.mustToken("svc", svcSecret, opqResource, "read")

	tests := []struct {
		name            string
		token           string
		wantGrant, want string // "" means the member is absent
	}{
		{"authorization_code JWT", userJWT, grantID, sid},
		{"refresh_token opaque", userOpaque, grantID, sid},
		{"client_credentials JWT", serviceJWT, "", ""},
		{"client_credentials opaque", serviceOpaque, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ts.introspect("gateway", gwSecret, tt.token)
			if got["active"] != true {
				t.Fatalf("inactive: %v", got)
			}
			checkMember(t, "introspection grant_id", got, "grant_id", tt.wantGrant)
			checkMember(t, "introspection sid", got, "sid", tt.want)
			info, err := ts.srv.ActiveAccessToken(ctx, tt.token)
			if err != nil || info == nil {
				t.Fatalf("ActiveAccessToken: %+v %v", info, err)
			}
			checkMember(t, "in-process grant_id", info.Claims, "grant_id", tt.wantGrant)
			checkMember(t, "in-process sid", info.Claims, "sid", tt.want)
			if strings.Count(tt.token, ".") == 2 { // a JWT
				claims := jwtClaims(t, tt.token)
				checkMember(t, "JWT grant_id", claims, "grant_id", tt.wantGrant)
				checkMember(t, "JWT sid", claims, "sid", tt.want)
			}
		})
	}
	if got := ts.introspect("gateway", gwSecret, serviceOpaque); got["tier"] != "gold" {
		t.Errorf("custom claims lost: %v", got)
	}
}

func checkMember(t *testing.T, what string, m map[string]any, name, want string) {
	t.Helper()
	got, ok := m[name]
	switch {
	case want == "" && ok:
		t.Errorf("%s: present (%v), want absent", what, got)
	case want != "" && got != want:
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}
