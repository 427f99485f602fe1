package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const (
	accountURL       = testIssuer + pathAccount
	carolOwnPassword = "carol's first password"
)

// accountSignIn signs the browser in through the account pages' own sign-in page and returns
// the page it lands on.
func (b *browser) accountSignIn(username, password string) page {
	b.ts.t.Helper()
	p := b.do(http.MethodGet, accountURL+"/login", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		b.ts.t.Fatalf("account sign-in page: %d %s", p.status, p.body)
	}
	p = b.submit(p, url.Values{"username": {username}, "password": {password}, "decision": {"approve"}})
	if p.status != http.StatusSeeOther {
		b.ts.t.Fatalf("account sign-in: %d %s", p.status, p.body)
	}
	return b.follow(p)
}

// newAccountServer is the flow server with carol, an account managed at run time (so its
// user may change its password; alice and bob are declared in the configuration).
func newAccountServer(t *testing.T, edit func(*Config)) *testServer {
	ts := newFlowServer(t, edit)
	if _, _, err := ts.srv.PutAccount(context.Background(), AccountInput{Username: "carol", Password: carolOwnPassword, Mode: CreateOnly}); err != nil {
		t.Fatal(err)
	}
	return ts
}

func sessionOf(b *browser) string {
	for name, v := range b.cookies {
		if strings.Contains(name, sessionCookie) {
			id, _, _ := strings.Cut(v, ".")
			return id
		}
	}
	return ""
}

func TestAccountPagesNeedSignIn(t *testing.T) {
	ts := newAccountServer(t, nil)
	b := ts.browser()
	tests := []struct {
		method, path, want string
	}{
		{http.MethodGet, "", accountURL + "/login"},
		{http.MethodGet, "/apps", accountURL + "/login?return=apps"},
		{http.MethodGet, "/sessions", accountURL + "/login?return=sessions"},
		{http.MethodGet, "/password", accountURL + "/login?return=password"},
		{http.MethodPost, "/apps", accountURL + "/login?return=apps"},
		{http.MethodPost, "/sessions", accountURL + "/login?return=sessions"},
		{http.MethodPost, "/password", accountURL + "/login?return=password"},
	}
	for _, tt := range tests {
		var form url.Values
		if tt.method == http.MethodPost {
			form = url.Values{"client_id": {"web"}, "session_id": {"x"}, "csrf_token": {"x"}}
		}
		p := b.do(tt.method, accountURL+tt.path, form)
		if p.status != http.StatusSeeOther || p.location != tt.want {
			t.Errorf("%s %s: %d %q, want a redirect to %s", tt.method, tt.path, p.status, p.location, tt.want)
		}
	}
	if p := b.do(http.MethodDelete, accountURL, nil); p.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", p.status)
	}

	// The return target is a section name: anything else returns to the overview, never to
	// another site.
	for _, ret := range []string{"https://evil.example/", "//evil.example", "apps/../../x", ""} {
		b := ts.browser()
		p := b.do(http.MethodGet, accountURL+"/login?"+url.Values{"return": {ret}}.Encode(), nil)
		p = b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
		if p.status != http.StatusSeeOther || p.location != accountURL {
			t.Errorf("return=%q: %d %q", ret, p.status, p.location)
		}
	}
	p := b.do(http.MethodGet, accountURL+"/login?return=sessions", nil)
	wrong := b.submit(p, url.Values{"username": {"alice"}, "password": {"nope"}, "decision": {"approve"}})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, "Incorrect username or password.") {
		t.Fatalf("wrong password: %d %s", wrong.status, wrong.body)
	}
	p = b.submit(wrong, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
	if p.status != http.StatusSeeOther || p.location != accountURL+"/sessions" {
		t.Fatalf("after sign-in: %d %q", p.status, p.location)
	}
	if p := b.do(http.MethodGet, accountURL, nil); p.status != http.StatusOK || !strings.Contains(p.body, `id="account-name">alice<`) {
		t.Fatalf("overview: %d %s", p.status, p.body)
	}
	// Signed in already: the sign-in page goes straight on.
	if p := b.do(http.MethodGet, accountURL+"/login?return=apps", nil); p.status != http.StatusSeeOther || p.location != accountURL+"/apps" {
		t.Fatalf("sign-in page while signed in: %d %q", p.status, p.location)
	}
	// Cancel.
	if p := ts.browser(); true {
		lp := p.do(http.MethodGet, accountURL+"/login", nil)
		if c := p.submit(lp, url.Values{"decision": {"deny"}}); c.status != http.StatusOK || sessionOf(p) != "" {
			t.Fatalf("cancel: %d", c.status)
		}
	}
	// A forged sign-in (no token from this browser) is refused.
	other := ts.browser()
	other.do(http.MethodGet, accountURL+"/login", nil) // gets a CSRF cookie of its own
	if p := other.do(http.MethodPost, accountURL+"/login", url.Values{"csrf_token": {"forged"}, "username": {"alice"}, "password": {alicePassword}}); p.status != http.StatusForbidden || sessionOf(other) != "" {
		t.Fatalf("forged sign-in: %d", p.status)
	}
}

func TestAccountPagesOff(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.AccountPages.Disabled = true })
	for _, path := range []string{"", "/login", "/apps", "/sessions", "/password"} {
		if p := ts.browser().do(http.MethodGet, accountURL+path, nil); p.status != http.StatusNotFound {
			t.Errorf("%s: %d", path, p.status)
		}
	}
}

func TestAccountRemoveApp(t *testing.T) {
	ts := newAccountServer(t, nil)
	alice := ts.browser()
	res := ts.redeem(alice.signIn(authURL(nil)).Get("code"), nil)
	at, rt := res.body["access_token"].(string), res.body["refresh_token"].(string)

	apps := alice.do(http.MethodGet, accountURL+"/apps", nil)
	if apps.status != http.StatusOK || !strings.Contains(apps.body, "Web &lt;App&gt;") || !strings.Contains(apps.body, "Stay signed in") ||
		!strings.Contains(apps.body, jwtResource) || !strings.Contains(apps.body, `name="client_id" value="web"`) {
		t.Fatalf("apps page: %d %s", apps.status, apps.body)
	}

	// Bob cannot remove what alice allowed: he has nothing for that client.
	bob := ts.browser()
	bob.accountSignIn("bob", "bob's own password")
	bobApps := bob.do(http.MethodGet, accountURL+"/apps", nil)
	if !strings.Contains(bobApps.body, "No app can access your account") {
		t.Fatalf("bob's apps: %s", bobApps.body)
	}
	bobToken := ts.srv.csrfMAC(bob.cookies[csrfCookie], "account:"+sessionOf(bob))
	if p := bob.do(http.MethodPost, accountURL+"/apps", url.Values{"csrf_token": {bobToken}, "client_id": {"web"}}); p.status != http.StatusNotFound {
		t.Fatalf("bob removing alice's app: %d %s", p.status, p.body)
	}
	// Alice's own form, with a wrong token or with bob's token (bound to bob's session).
	action, fields := apps.form(t)
	for name, token := range map[string]string{"wrong": "nope", "empty": "", "bob's": bobToken} {
		f := url.Values{"client_id": {"web"}, "csrf_token": {token}}
		if p := alice.do(http.MethodPost, action, f); p.status != http.StatusForbidden {
			t.Fatalf("%s CSRF token: %d", name, p.status)
		}
	}
	if ts.introspect("web", webSecret, at)["active"] != true {
		t.Fatal("a refused removal revoked the token")
	}

	p := alice.do(http.MethodPost, action, fields)
	if p.status != http.StatusSeeOther || p.location != accountURL+"/apps?done=app" {
		t.Fatalf("remove: %d %q %s", p.status, p.location, p.body)
	}
	if p := alice.follow(p); !strings.Contains(p.body, "no longer has access") || !strings.Contains(p.body, "No app can access your account") {
		t.Fatalf("after removal: %s", p.body)
	}
	if ts.introspect("web", webSecret, at)["active"] != false {
		t.Fatal("the access token is still active")
	}
	if r := ts.refresh(rt, nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh after removal: %s", r.raw)
	}
	if _, err := ts.srv.st.GetConsent(context.Background(), "alice-sub", "web"); err == nil {
		t.Fatal("the consent survived")
	}
	// Removed twice: nothing left.
	if p := alice.do(http.MethodPost, action, fields); p.status != http.StatusNotFound {
		t.Fatalf("second removal: %d", p.status)
	}
	// The next authorization asks again.
	if p := alice.do(http.MethodGet, authURL(nil), nil); !strings.Contains(p.body, `value="approve">Allow`) {
		t.Fatalf("no consent page after removal: %s", p.body)
	}
}

func TestAccountSessions(t *testing.T) {
	ts := newAccountServer(t, nil)
	here, there := ts.browser(), ts.browser()
	here.accountSignIn("alice", alicePassword)
	res := ts.redeem(there.signIn(authURL(nil)).Get("code"), nil)
	thereRT := res.body["refresh_token"].(string)
	hereSID, thereSID := sessionOf(here), sessionOf(there)

	list := here.do(http.MethodGet, accountURL+"/sessions", nil)
	if list.status != http.StatusOK || strings.Count(list.body, "<li>\n<h2>") != 2 || !strings.Contains(list.body, "This browser") ||
		!strings.Contains(list.body, `value="`+thereSID+`"`) || strings.Contains(list.body, `value="`+hereSID+`"`) ||
		!strings.Contains(list.body, "from 192.0.2.1") {
		t.Fatalf("sessions page: %d %s", list.status, list.body)
	}

	// Bob cannot end alice's session.
	bob := ts.browser()
	bob.accountSignIn("bob", "bob's own password")
	bobToken := ts.srv.csrfMAC(bob.cookies[csrfCookie], "account:"+sessionOf(bob))
	if p := bob.do(http.MethodPost, accountURL+"/sessions", url.Values{"csrf_token": {bobToken}, "session_id": {thereSID}}); p.status != http.StatusNotFound {
		t.Fatalf("bob ending alice's session: %d", p.status)
	}
	// Nor can a forged form.
	if p := here.do(http.MethodPost, accountURL+"/sessions", url.Values{"csrf_token": {"x"}, "session_id": {thereSID}}); p.status != http.StatusForbidden {
		t.Fatalf("forged end: %d", p.status)
	}
	if p := there.do(http.MethodGet, accountURL, nil); p.status != http.StatusOK {
		t.Fatalf("the other browser was signed out by a refused request: %d", p.status)
	}

	p := here.submit(list, nil)
	if p.status != http.StatusSeeOther || p.location != accountURL+"/sessions?done=session" {
		t.Fatalf("end: %d %q", p.status, p.location)
	}
	if p := there.do(http.MethodGet, accountURL, nil); p.status != http.StatusSeeOther {
		t.Fatalf("the ended session still signs in: %d", p.status)
	}
	if r := ts.refresh(thereRT, nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("the ended session's grant survived: %s", r.raw)
	}
	if p := here.follow(p); !strings.Contains(p.body, "That browser is signed out") || strings.Count(p.body, "<li>\n<h2>") != 1 {
		t.Fatalf("after ending: %s", p.body)
	}

	// Ending this browser's own session signs it out.
	tok := ts.srv.csrfMAC(here.cookies[csrfCookie], "account:"+hereSID)
	if p := here.do(http.MethodPost, accountURL+"/sessions", url.Values{"csrf_token": {tok}, "session_id": {hereSID}}); p.status != http.StatusOK || sessionOf(here) != "" {
		t.Fatalf("ending this session: %d", p.status)
	}
	if _, err := ts.srv.st.GetSession(context.Background(), hereSID); err == nil {
		t.Fatal("the session is still stored")
	}
}

func TestAccountChangePassword(t *testing.T) {
	ts := newAccountServer(t, func(c *Config) { c.LoginFailuresPerAccount = 3 })
	here, there := ts.browser(), ts.browser()
	here.accountSignIn("carol", carolOwnPassword)
	there.accountSignIn("carol", carolOwnPassword)
	signInCarol := func(b *browser) response {
		p := b.do(http.MethodGet, authURL(nil), nil)
		if p.status == http.StatusOK { // the consent page, unless remembered
			p = b.submit(p, url.Values{"decision": {"approve"}, "remember": {"1"}})
		}
		cb := callback(t, p, webRedirect)
		return ts.redeem(cb.Get("code"), nil)
	}
	hereRT := signInCarol(here).body["refresh_token"].(string)
	thereRT := signInCarol(there).body["refresh_token"].(string)

	form := here.do(http.MethodGet, accountURL+"/password", nil)
	// The form shows the server's rule (spec), not a copy of it.
	minLen := fmt.Sprintf(`minlength="%d"`, spec.MinNewPasswordLen)
	atLeast := fmt.Sprintf("At least %d characters", spec.MinNewPasswordLen)
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="new_password"`) ||
		!strings.Contains(form.body, minLen) || !strings.Contains(form.body, atLeast) {
		t.Fatalf("password page: %d, want the new password field with %s and %q: %s", form.status, minLen, atLeast, form.body)
	}
	tests := []struct {
		name           string
		fields         url.Values
		status         int
		message        string
		changePassword bool
	}{
		{"mismatch", url.Values{"current_password": {carolOwnPassword}, "new_password": {"a new long password"}, "confirm_password": {"another one"}}, http.StatusBadRequest, "differ", false},
		{"too short", url.Values{"current_password": {carolOwnPassword}, "new_password": {"short"}, "confirm_password": {"short"}}, http.StatusBadRequest, fmt.Sprintf("at least %d characters", spec.MinNewPasswordLen), false},
		{"only spaces", url.Values{"current_password": {carolOwnPassword}, "new_password": {"          "}, "confirm_password": {"          "}}, http.StatusBadRequest, "only spaces", false},
		{"same", url.Values{"current_password": {carolOwnPassword}, "new_password": {carolOwnPassword}, "confirm_password": {carolOwnPassword}}, http.StatusBadRequest, "your current one", false},
		{"empty", url.Values{"current_password": {""}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}}, http.StatusBadRequest, "Enter your current password", false},
		{"wrong current", url.Values{"current_password": {"not it at all"}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}}, http.StatusUnauthorized, "current password is not right", false},
		{"wrong CSRF", url.Values{"csrf_token": {"forged"}, "current_password": {carolOwnPassword}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}}, http.StatusForbidden, "could not be verified", false},
	}
	for _, tt := range tests {
		p := here.submit(form, tt.fields)
		if p.status != tt.status || !strings.Contains(p.body, tt.message) {
			t.Fatalf("%s: %d, want %d with %q: %s", tt.name, p.status, tt.status, tt.message, p.body)
		}
	}
	if acc, err := ts.srv.accounts.Authenticate(context.Background(), "carol", carolOwnPassword); err != nil || acc == nil {
		t.Fatalf("a refused change changed the password: %v", err)
	}
	if p := there.do(http.MethodGet, accountURL, nil); p.status != http.StatusOK {
		t.Fatal("a refused change ended the other session")
	}

	p := here.submit(form, url.Values{"current_password": {carolOwnPassword}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if p.status != http.StatusSeeOther || p.location != accountURL+"?done=password" {
		t.Fatalf("change: %d %q %s", p.status, p.location, p.body)
	}
	if p := here.follow(p); p.status != http.StatusOK || !strings.Contains(p.body, "Your password is changed") {
		t.Fatalf("this browser after the change: %d %s", p.status, p.body)
	}
	if p := there.do(http.MethodGet, accountURL, nil); p.status != http.StatusSeeOther {
		t.Fatalf("the other session survived: %d", p.status)
	}
	if r := ts.refresh(hereRT, nil); r.status != http.StatusOK {
		t.Fatalf("this session's grant was revoked: %s", r.raw)
	}
	if r := ts.refresh(thereRT, nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("the other session's grant survived: %s", r.raw)
	}
	if _, err := ts.srv.st.GetConsent(context.Background(), sessionSubject(t, ts, sessionOf(here)), "web"); err != nil {
		t.Fatalf("the consent was dropped: %v", err)
	}
	// The new password signs in, the old one no longer does.
	if p := ts.browser().accountSignIn("carol", "a new long password"); p.status != http.StatusOK {
		t.Fatalf("new password: %d", p.status)
	}
	b := ts.browser()
	lp := b.do(http.MethodGet, accountURL+"/login", nil)
	if p := b.submit(lp, url.Values{"username": {"carol"}, "password": {carolOwnPassword}, "decision": {"approve"}}); p.status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", p.status)
	}

	// Wrong current passwords count like failed sign-ins: after the limit, 429.
	form = here.do(http.MethodGet, accountURL+"/password", nil)
	wrong := url.Values{"current_password": {"still not it"}, "new_password": {"yet another password"}, "confirm_password": {"yet another password"}}
	for i := range 3 {
		if p := here.submit(form, wrong); p.status != http.StatusUnauthorized && p.status != http.StatusTooManyRequests {
			t.Fatalf("wrong %d: %d", i, p.status)
		}
	}
	if p := here.submit(form, wrong); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many") {
		t.Fatalf("throttled: %d %v", p.status, p.header)
	}
}

func sessionSubject(t *testing.T, ts *testServer, sid string) string {
	t.Helper()
	se, err := ts.srv.st.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	return se.Subject
}

func TestAccountPasswordManagedByConfiguration(t *testing.T) {
	ts := newAccountServer(t, nil)
	b := ts.browser()
	b.accountSignIn("alice", alicePassword)
	p := b.do(http.MethodGet, accountURL+"/password", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, "set in the server&#39;s configuration") || strings.Contains(p.body, `name="new_password"`) {
		t.Fatalf("password page of a configured account: %d %s", p.status, p.body)
	}
	tok := ts.srv.csrfMAC(b.cookies[csrfCookie], "account:"+sessionOf(b))
	p = b.do(http.MethodPost, accountURL+"/password", url.Values{"csrf_token": {tok}, "current_password": {alicePassword},
		"new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if p.status != http.StatusForbidden {
		t.Fatalf("change of a configured account's password: %d", p.status)
	}
	if _, err := ts.srv.accounts.Authenticate(context.Background(), "alice", alicePassword); err != nil {
		t.Fatalf("the configured password changed: %v", err)
	}
}

// The overview and lists survive a store that fails: an error page, never a panic.
func TestAccountPagesStoreFailure(t *testing.T) {
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { return failingLists{st} }})
	b := ts.browser()
	b.accountSignIn("alice", alicePassword)
	for _, path := range []string{"/apps", "/sessions"} {
		req := httptest.NewRequest(http.MethodGet, accountURL+path, nil)
		for k, v := range b.cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "Something went wrong") {
			t.Errorf("%s with a failing store: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}

// failingLists fails the lists of the account pages.
type failingLists struct{ store.Store }

func (failingLists) ListConsents(context.Context, store.ConsentQuery) ([]*store.Consent, error) {
	return nil, errors.New("the database is on fire")
}

func (f failingLists) ListSessions(ctx context.Context, subject string) ([]*store.Session, error) {
	return nil, errors.New("the database is on fire")
}
