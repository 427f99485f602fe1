package authserver

import (
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/caddy-oauth/caddy-oauth/authserver/passkey"
	"github.com/caddy-oauth/caddy-oauth/authserver/passkey/passkeytest"
)

// The passkey tests run the relying party on localhost (browsers refuse IP addresses as RP
// IDs); the software authenticator answers as a page on passkeyOrigin would.
const (
	passkeyOrigin = "http://localhost:9999"
	strongACR     = "urn:example:acr:phishing-resistant"
)

func newPasskeyServer(t *testing.T) *testServer {
	return newFlowServer(t, func(c *Config) {
		c.Passkeys = &PasskeysConfig{Config: passkey.Config{RPID: "localhost", Origins: []string{passkeyOrigin}}, PhishingResistantACR: strongACR}
	})
}

// formByID returns the action, fields (hidden inputs) and data-options of the form with id.
func (p page) formByID(t *testing.T, id string) (action string, fields url.Values, options string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && attr(n, "id") == id {
			form = n
		}
		for c := n.FirstChild; c != nil && form == nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		t.Fatalf("no form #%s on the page (status %d): %s", id, p.status, p.body)
	}
	fields = url.Values{}
	var collect func(*html.Node)
	collect = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "type") == "hidden" {
			fields.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			collect(c)
		}
	}
	collect(form)
	return attr(form, "action"), fields, attr(form, "data-options")
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	ts := newPasskeyServer(t)
	b := ts.browser()

	// The login page: the password form first, the passkey form second, the script with the
	// page's nonce.
	login := b.do(http.MethodGet, authURL(nil), nil)
	if action, _ := login.form(t); action != testIssuer+pathLogin {
		t.Fatalf("the first form posts to %q, want the password form", action)
	}
	if _, _, opts := login.formByID(t, "passkey-signin"); !strings.Contains(opts, `"challenge"`) {
		t.Fatalf("passkey form options: %q", opts)
	}
	csp := login.header.Get("Content-Security-Policy")
	nonce := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(csp)[3], "'nonce-"), "';")
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(login.body, `src="`+testIssuer+pathPasskeyScript+`" nonce="`+nonce+`"`) {
		t.Fatalf("the script is not loaded under the nonce: %s\n%s", csp, login.body)
	}
	if js := b.do(http.MethodGet, testIssuer+pathPasskeyScript, nil); js.status != http.StatusOK || !strings.Contains(js.body, "navigator.credentials") ||
		!strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("passkey.js: %d %v", js.status, js.header)
	}

	// Password sign-in, then the consent page offers to add a passkey.
	consent := b.follow(b.submit(login, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if consent.status != http.StatusOK || !strings.Contains(consent.body, `id="passkey-offer"`) {
		t.Fatalf("consent page without the passkey offer: %d %s", consent.status, consent.body)
	}
	link := html.UnescapeString(regexpFind(t, consent.body, `<a href="([^"]+)">Add a passkey</a>`))
	page := b.do(http.MethodGet, link, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "You have no passkeys yet") || !strings.Contains(page.body, `id="passkey-continue"`) {
		t.Fatalf("passkeys page: %d %s", page.status, page.body)
	}
	a := passkeytest.New(t, "localhost", passkeytest.FlagUV)
	action, fields, opts := page.formByID(t, "passkey-register")
	// Without JavaScript nothing is sent: a message, no passkey.
	if res := b.do(http.MethodPost, action, fields); res.status != http.StatusBadRequest || !strings.Contains(res.body, "needs JavaScript") {
		t.Fatalf("registration without an answer: %d", res.status)
	}
	fields.Set("credential", string(a.Create(opts, passkeyOrigin)))
	fields.Set("name", "Test key")
	res := b.do(http.MethodPost, action, fields)
	if res.status != http.StatusSeeOther {
		t.Fatalf("registration: %d %s", res.status, res.body)
	}
	page = b.follow(res)
	if !strings.Contains(page.body, `id="passkey-added"`) || !strings.Contains(page.body, "<strong>Test key</strong>") {
		t.Fatalf("after registration: %s", page.body)
	}
	// The registration state was used up: posting it again is refused.
	if again := b.do(http.MethodPost, action, fields); again.status != http.StatusBadRequest || !strings.Contains(again.body, enText(msgPasskeyExpired)) {
		t.Fatalf("replayed registration: %d", again.status)
	}
	views, err := ts.srv.ListPasskeys(t.Context(), "alice")
	if err != nil || len(views) != 1 || views[0].Name != "Test key" || views[0].BackupEligible {
		t.Fatalf("ListPasskeys: %+v %v", views, err)
	}

	// A new browser signs in with the passkey alone: amr hwk + user.
	nb := ts.browser()
	login = nb.do(http.MethodGet, authURL(nil), nil)
	action, fields, opts = login.formByID(t, "passkey-signin")
	fields.Set("credential", string(a.Get(opts, passkeyOrigin, 1)))
	res = nb.do(http.MethodPost, action, fields)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location, testIssuer+pathResume) {
		t.Fatalf("passkey sign-in: %d %s", res.status, res.body)
	}
	consent = nb.follow(res)
	if strings.Contains(consent.body, `id="passkey-offer"`) {
		t.Fatal("a passkey session is offered to add a passkey")
	}
	cb := callback(t, nb.submit(consent, url.Values{"decision": {"approve"}}), webRedirect)
	tok := ts.redeem(cb.Get("code"), nil)
	id := ts.verifyIDToken(tok.body["id_token"].(string), "RS256")
	if amr, _ := id["amr"].([]any); !slices.Equal(amr, []any{"hwk", "user"}) || id["sub"] != "alice-sub" {
		t.Fatalf("ID token after a passkey sign-in: %v", id)
	}

	// Another origin (a phishing page relaying the challenge) is refused.
	ob := ts.browser()
	login = ob.do(http.MethodGet, authURL(nil), nil)
	action, fields, opts = login.formByID(t, "passkey-signin")
	fields.Set("credential", string(a.Get(opts, "http://localhost:8080", 1)))
	if res := ob.do(http.MethodPost, action, fields); res.status != http.StatusUnauthorized || !strings.Contains(res.body, enText(msgPasskeyFailed)) {
		t.Fatalf("another origin: %d %s", res.status, res.body)
	}

	// Revoked: refused.
	if err := ts.srv.RevokePasskey(t.Context(), "alice", views[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.RevokePasskey(t.Context(), "alice", views[0].ID); err == nil {
		t.Fatal("revoking twice succeeded")
	}
	rb := ts.browser()
	login = rb.do(http.MethodGet, authURL(nil), nil)
	action, fields, opts = login.formByID(t, "passkey-signin")
	fields.Set("credential", string(a.Get(opts, passkeyOrigin, 1)))
	if res := rb.do(http.MethodPost, action, fields); res.status != http.StatusUnauthorized || !strings.Contains(res.body, enText(msgPasskeyFailed)) {
		t.Fatalf("revoked passkey: %d %s", res.status, res.body)
	}
	if views, _ := ts.srv.ListPasskeys(t.Context(), "alice"); len(views) != 1 || !views[0].Revoked {
		t.Fatalf("after revocation: %+v", views)
	}
}

// TestPasskeyPhishingResistantACR: a request for the phishing-resistant acr is not served by
// a password sign-in (login page again, login_required under prompt=none), and is by a
// passkey sign-in, whose ID token then carries it.
func TestPasskeyPhishingResistantACR(t *testing.T) {
	ts := newPasskeyServer(t)
	a := passkeytest.New(t, "localhost", 0)
	// Register (UV not done this time).
	b := ts.browser()
	b.follow(b.loginAs("alice", alicePassword))
	page := b.do(http.MethodGet, testIssuer+pathPasskeys, nil)
	action, fields, opts := page.formByID(t, "passkey-register")
	fields.Set("credential", string(a.Create(opts, passkeyOrigin)))
	if res := b.do(http.MethodPost, action, fields); res.status != http.StatusSeeOther {
		t.Fatalf("registration: %d %s", res.status, res.body)
	}

	strong := authURL(url.Values{"acr_values": {strongACR}})
	if cb := callback(t, b.do(http.MethodGet, authURL(url.Values{"acr_values": {strongACR}, "prompt": {"none"}}), nil), webRedirect); cb.Get("error") != "login_required" {
		t.Fatalf("prompt=none with a password session: %v", cb)
	}
	login := b.do(http.MethodGet, strong, nil)
	if login.status != http.StatusOK || !strings.Contains(login.body, enText(msgPasskeyRequired)) {
		t.Fatalf("a password session for the strong acr: %d %s", login.status, login.body)
	}
	// Signing in with the password again does not help.
	again := b.follow(b.submit(login, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if !strings.Contains(again.body, enText(msgPasskeyRequired)) {
		t.Fatalf("password sign-in satisfied the strong acr: %s", again.body)
	}
	action, fields, opts = again.formByID(t, "passkey-signin")
	fields.Set("credential", string(a.Get(opts, passkeyOrigin, 1)))
	consent := b.follow(b.do(http.MethodPost, action, fields))
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}}), webRedirect)
	id := ts.verifyIDToken(ts.redeem(cb.Get("code"), nil).body["id_token"].(string), "RS256")
	if id["acr"] != strongACR || !slices.Equal(id["amr"].([]any), []any{"hwk"}) {
		t.Fatalf("ID token: acr %v amr %v", id["acr"], id["amr"])
	}
	if meta := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).body; !slices.Contains(meta["acr_values_supported"].([]any), any(strongACR)) {
		t.Fatalf("acr_values_supported: %v", meta["acr_values_supported"])
	}
}

// TestPasskeysOffByDefault: no passkey form, page or script unless configured.
func TestPasskeysOffByDefault(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	login := b.do(http.MethodGet, authURL(nil), nil)
	if strings.Contains(login.body, "passkey") || strings.Contains(login.header.Get("Content-Security-Policy"), "script-src") {
		t.Fatalf("passkeys appear while off: %s", login.body)
	}
	for _, path := range []string{pathPasskeys, pathPasskeyLogin, pathPasskeyScript} {
		if res := b.do(http.MethodGet, testIssuer+path, nil); res.status != http.StatusNotFound {
			t.Errorf("%s: %d while passkeys are off", path, res.status)
		}
	}
}

func regexpFind(t *testing.T, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not found in %s", pattern, body)
	}
	return m[1]
}

// enText is a message key as the English pages word it.
func enText(key string) string { return ui.Lang(ui.DefaultLanguage).Text(key) }
