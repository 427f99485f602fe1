package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/passkey/passkeytest"
)

// registerPasskey registers a passkey of a for alice from b (signed in with her password) and
// returns its ID.
func registerPasskey(t *testing.T, ts *testServer, b *browser, a *passkeytest.Authenticator, name string) string {
	t.Helper()
	page := b.do(http.MethodGet, testIssuer+pathPasskeys, nil)
	action, fields, opts := page.formByID(t, "passkey-register")
	fields.Set("credential", string(a.Create(opts, passkeyOrigin)))
	fields.Set("name", name)
	if res := b.do(http.MethodPost, action, fields); res.status != http.StatusSeeOther {
		t.Fatalf("registration: %d %s", res.status, res.body)
	}
	views, err := ts.srv.ListPasskeys(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Name == name {
			return v.ID
		}
	}
	t.Fatalf("passkey %s not listed: %+v", name, views)
	return ""
}

// passkeyTokens signs a new browser in with a's passkey, consents and redeems the code.
func passkeyTokens(t *testing.T, ts *testServer, a *passkeytest.Authenticator, counter uint32) (*browser, response) {
	t.Helper()
	b := ts.browser()
	login := b.do(http.MethodGet, authURL(nil), nil)
	action, fields, opts := login.formByID(t, "passkey-signin")
	fields.Set("credential", string(a.Get(opts, passkeyOrigin, counter)))
	p := b.follow(b.do(http.MethodPost, action, fields))
	if p.status == http.StatusOK { // the consent page, unless remembered
		p = b.submit(p, url.Values{"decision": {"approve"}})
	}
	cb := callback(t, p, webRedirect)
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	return b, res
}

// TestRevokingPasskeyEndsItsSessions: a revoked passkey takes the sessions it signed in with
// it, with their grants (refresh tokens), like an operator's sign-out of those sessions,
// whether an operator revokes it (admin API, CLI) or its user removes it; sessions that
// signed in otherwise stay.
func TestRevokingPasskeyEndsItsSessions(t *testing.T) {
	ts := newPasskeyServer(t)
	pwd := ts.browser()
	pwdCode := pwd.signIn(authURL(nil)) // alice, with her password
	pwdTokens := ts.redeem(pwdCode.Get("code"), nil)
	a := passkeytest.New(t, "localhost", passkeytest.FlagUV)
	id := registerPasskey(t, ts, pwd, a, "Laptop")
	other := passkeytest.New(t, "localhost", passkeytest.FlagUV)
	otherID := registerPasskey(t, ts, pwd, other, "Phone")

	pk, pkTokens := passkeyTokens(t, ts, a, 1)
	pk2, pk2Tokens := passkeyTokens(t, ts, other, 1)
	stillIn := func(b *browser) bool {
		p := b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil)
		return callback(t, p, webRedirect).Get("code") != ""
	}
	if !stillIn(pk) || !stillIn(pk2) || !stillIn(pwd) {
		t.Fatal("the sessions do not serve prompt=none before the revocation")
	}

	// The operator revokes the laptop's passkey (what DELETE /oauth/accounts/passkeys calls).
	if err := ts.srv.RevokePasskey(t.Context(), "alice", id); err != nil {
		t.Fatal(err)
	}
	if stillIn(pk) {
		t.Error("the session the revoked passkey started still signs in")
	}
	if r := ts.refresh(pkTokens.body["refresh_token"].(string), nil); r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
		t.Errorf("refresh of the revoked passkey's session: %d %s", r.status, r.raw)
	}
	if !stillIn(pk2) || !stillIn(pwd) {
		t.Fatal("revoking one passkey ended other sessions")
	}
	if r := ts.refresh(pk2Tokens.body["refresh_token"].(string), nil); r.status != http.StatusOK {
		t.Errorf("refresh of another passkey's session: %d %s", r.status, r.raw)
	}

	// The user removes the phone's passkey on the passkeys page (from the password session).
	page := pwd.do(http.MethodGet, testIssuer+pathPasskeys, nil)
	action, fields, _ := page.formByID(t, "passkey-register")
	fields.Set("action", "remove")
	fields.Set("id", otherID)
	if res := pwd.do(http.MethodPost, action, fields); res.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", res.status, res.body)
	}
	if stillIn(pk2) {
		t.Error("the session of the passkey its user removed still signs in")
	}
	if !stillIn(pwd) {
		t.Error("removing a passkey ended the password session it was removed from")
	}
	if r := ts.refresh(pwdTokens.body["refresh_token"].(string), nil); r.status != http.StatusOK {
		t.Errorf("refresh of the password session: %d %s", r.status, r.raw)
	}
}
