package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
)

// TestDelegatedLoginTurnsOffBuiltInSignIn: with sign-in delegated, the server accepts no
// password of its own. The login page is never shown, but its POST path must not sign
// anyone in either, even with a valid CSRF token and interaction (here those of the built-in
// consent page, which carries the same form binding); the account pages' sign-in refuses
// passwords, and their password page says the password is kept elsewhere.
func TestDelegatedLoginTurnsOffBuiltInSignIn(t *testing.T) {
	ts, app := newDelegatedServer(t, false, nil)
	ctx := context.Background()
	if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol-local", Password: carolOwnPassword, Mode: CreateOnly}); err != nil {
		t.Fatal(err)
	}
	local, err := ts.srv.st.GetAccountByUsername(ctx, "carol-local")
	if err != nil {
		t.Fatal(err)
	}
	app.users["carol-local"] = [2]string{"app password", local.Subject}

	b := ts.browser()
	consent := app.run(b, b.do(http.MethodGet, authURL(nil), nil), approveAs("carol", "carol's password"))
	if consent.status != http.StatusOK || !strings.Contains(consent.body, `value="approve">Allow`) {
		t.Fatalf("want the built-in consent page: %d %s", consent.status, consent.body)
	}
	carolSession := sessionOf(b)
	_, fields := consent.form(t)
	fields.Set("username", "alice")
	fields.Set("password", alicePassword)
	p := b.do(http.MethodPost, testIssuer+pathLogin, fields)
	if p.status != http.StatusForbidden || p.location != "" {
		t.Errorf("POST %s with sign-in delegated: %d %q, want 403", pathLogin, p.status, p.location)
	}
	if got := sessionOf(b); got != carolSession {
		t.Fatalf("the built-in login path replaced the session (%s → %s)", carolSession, got)
	}
	// The consent goes on for the app's user.
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}}), webRedirect)
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK || jwtClaims(t, res.body["id_token"].(string))["sub"] != "ext-carol-42" {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}

	// The account pages' sign-in takes no password.
	other := ts.browser()
	form := other.do(http.MethodGet, accountURL+"/login", nil)
	if strings.Contains(form.body, `name="password"`) {
		t.Errorf("the account sign-in page offers a password form with sign-in delegated: %d", form.status)
	}
	// Even a form with a valid CSRF token (the sign-in page of the account pages binds its
	// form to this purpose) signs nobody in.
	cookie := strings.Repeat("c", 43)
	other.cookies[ts.srv.cookieName(csrfCookie)] = cookie
	csrf := ts.srv.csrfMAC(cookie, "account-login")
	p = other.do(http.MethodPost, accountURL+"/login", url.Values{"username": {"carol-local"}, "password": {carolOwnPassword}, "csrf_token": {csrf}})
	if p.status != http.StatusForbidden || sessionOf(other) != "" {
		t.Errorf("POST /account/login with sign-in delegated: %d %q, session %q", p.status, p.location, sessionOf(other))
	}

	// A local account signed in through the app cannot change its password here.
	b2 := ts.browser()
	p = app.run(b2, b2.do(http.MethodGet, authURL(url.Values{"prompt": {"login"}}), nil), approveAs("carol-local", "app password"))
	if sessionOf(b2) == "" {
		t.Fatalf("no session after the app's sign-in: %d %s", p.status, p.body)
	}
	p = b2.do(http.MethodGet, accountURL+"/password", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="password-managed"`) {
		t.Errorf("password page: %d %s", p.status, p.body)
	}
	// The page has no form then; a hand-made one (with a valid CSRF token) is refused too.
	pf := url.Values{"current_password": {carolOwnPassword}, "new_password": {"a brand new password"},
		"confirm_password": {"a brand new password"},
		"csrf_token":       {ts.srv.csrfMAC(b2.cookies[ts.srv.cookieName(csrfCookie)], "account:"+sessionOf(b2))}}
	if p := b2.do(http.MethodPost, accountURL+"/password", pf); p.status != http.StatusForbidden {
		t.Errorf("password change with sign-in delegated: %d %q", p.status, p.location)
	}
	if _, err := ts.srv.accounts.Authenticate(ctx, "carol-local", carolOwnPassword); err != nil {
		t.Errorf("the stored password changed")
	}
}

// TestDelegatedLoginRefusesPasskeys: passkeys sign in on the built-in login page, which a
// delegated login_url replaces; the configuration says so instead of serving a passkeys page
// whose passkeys could never sign in.
func TestDelegatedLoginRefusesPasskeys(t *testing.T) {
	base := func() Config {
		return Config{Issuer: "https://login.example.test", Passkeys: &PasskeysConfig{}}
	}
	c := base()
	c.Delegated = delegated.Config{LoginURL: "https://app.example.test/login", APISecret: delegatedSecret}
	if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), "passkeys") {
		t.Errorf("passkeys with delegated login_url: %v", err)
	}
	// Consent alone delegated: sign-in is still the server's, passkeys included.
	c = base()
	c.Delegated = delegated.Config{ConsentURL: "https://app.example.test/consent", APISecret: delegatedSecret}
	if _, err := c.withDefaults(); err != nil && strings.Contains(err.Error(), "passkeys") {
		t.Errorf("passkeys with delegated consent only: %v", err)
	}
}

// TestDelegatedSessionRecordsBrowser: a session the app signed in records the browser and
// its address like any other, for the account pages' session list.
func TestDelegatedSessionRecordsBrowser(t *testing.T) {
	ts, app := newDelegatedServer(t, true, nil)
	b := ts.browserAt("203.0.113.9:5000")
	b.header = http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"}}
	callback(t, app.run(b, b.do(http.MethodGet, authURL(nil), nil), approveAs("carol", "carol's password")), webRedirect)
	se, err := ts.srv.st.GetSession(t.Context(), sessionOf(b))
	if err != nil {
		t.Fatal(err)
	}
	if se.UserAgent != b.header.Get("User-Agent") || se.RemoteIP != "203.0.113.9" || se.Subject != "ext-carol-42" {
		t.Fatalf("session: user agent %q, address %q, subject %q", se.UserAgent, se.RemoteIP, se.Subject)
	}
}
