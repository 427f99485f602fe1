package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// presentCode sends a code to the token endpoint as client: a confidential client with its
// secret, a public one with client_id in the form.
func (ts *testServer) presentCode(client, secret, code, verifier string) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	if secret == "" {
		form.Set("client_id", client)
		return ts.do(http.MethodPost, "/token", form, [2]string{})
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{client, secret})
}

// assertTokensLive fails unless the access token is active and the refresh token still works.
func (ts *testServer) assertTokensLive(at, rt string) {
	ts.t.Helper()
	if ts.introspect("web", webSecret, at)["active"] != true {
		ts.t.Error("the victim's access token was revoked")
	}
	if r := ts.refresh(rt, nil); r.status != http.StatusOK {
		ts.t.Errorf("the victim's refresh token no longer works: %d %s", r.status, r.raw)
	}
}

// TestStolenUsedCodeCannotRevokeTheVictim (issue 8 item 6): an already-used code presented
// by anyone who could not have redeemed it — another client, or the code's own client without
// its PKCE verifier — gets invalid_grant and revokes nothing. Only the code's own client
// replaying it (RFC 6749 §4.1.2) revokes what the first redemption got.
func TestStolenUsedCodeCannotRevokeTheVictim(t *testing.T) {
	cases := []struct {
		name, client, secret, verifier string
	}{
		{"another confidential client", "first", webSecret, testVerifier},
		{"a public client by client_id alone", "spa", "", testVerifier},
		{"another client without a verifier", "first", webSecret, ""},
		{"the own client with a wrong verifier", "web", webSecret, "x" + testVerifier[1:]},
		{"the own client without a verifier", "web", webSecret, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newFlowServer(t, nil)
			code := ts.browser().signIn(authURL(nil)).Get("code")
			victim := ts.redeem(code, nil)
			if victim.status != http.StatusOK {
				t.Fatalf("victim's redemption: %d %s", victim.status, victim.raw)
			}
			res := ts.presentCode(tc.client, tc.secret, code, tc.verifier)
			if res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
				t.Fatalf("stolen code: %d %s, want invalid_grant", res.status, res.raw)
			}
			ts.assertTokensLive(victim.body["access_token"].(string), victim.body["refresh_token"].(string))
		})
	}

	t.Run("the owner replaying revokes the grant", func(t *testing.T) {
		ts := newFlowServer(t, nil)
		code := ts.browser().signIn(authURL(nil)).Get("code")
		first := ts.redeem(code, nil)
		if replay := ts.redeem(code, nil); replay.status != http.StatusBadRequest || replay.body["error"] != "invalid_grant" {
			t.Fatalf("replay: %d %s", replay.status, replay.raw)
		}
		if ts.introspect("web", webSecret, first.body["access_token"].(string))["active"] != false {
			t.Error("access token still active after the owner's replay")
		}
		if r := ts.refresh(first.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
			t.Errorf("refresh token works after the owner's replay: %s", r.raw)
		}
	})
}

// TestForeignCodeDuringRedemptionLeavesNoTombstone (issue 8 item 6, race path): another client
// presenting the code while its owner's redemption is between consuming it and creating the
// grant must not leave the revoked tombstone that an owner's replay leaves.
func TestForeignCodeDuringRedemptionLeavesNoTombstone(t *testing.T) {
	hook := &replayDuringRedemption{}
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { hook.Store = st; return hook }})
	code := ts.browser().signIn(authURL(nil)).Get("code")
	var foreign response
	hook.replay = func() { foreign = ts.presentCode("first", webSecret, code, testVerifier) }
	victim := ts.redeem(code, nil)
	if foreign.status != http.StatusBadRequest || foreign.body["error"] != "invalid_grant" {
		t.Fatalf("foreign client: %d %s", foreign.status, foreign.raw)
	}
	if victim.status != http.StatusOK {
		t.Fatalf("victim: %d %s", victim.status, victim.raw)
	}
	ts.assertTokensLive(victim.body["access_token"].(string), victim.body["refresh_token"].(string))
}
