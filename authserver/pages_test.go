package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// brandedFlowServer is the flow server with branding, a logo file, translated descriptions
// and a client that registered its links.
func brandedFlowServer(t *testing.T, edit func(*Config)) *testServer {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(logo, []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), 0o600); err != nil {
		t.Fatal(err)
	}
	return newFlowServer(t, func(c *Config) {
		c.Branding = Branding{Name: "Acme", Logo: logo, Accent: "#aa3300", HomeURI: "https://acme.example/",
			PrivacyURI: "https://acme.example/privacy", TermsURI: "https://acme.example/terms"}
		c.ScopeDescriptions = map[string]map[string]string{"read": {"de": "Ihre Dokumente lesen", "en": "Read your documents"}}
		c.ResourceDescriptions = map[string]map[string]string{jwtResource: {"de": "Dokumenten-API"}}
		for i := range c.Clients {
			if c.Clients[i].ID == "web" {
				c.Clients[i].ClientURI = "https://app.example.test/"
				c.Clients[i].PolicyURI = "https://app.example.test/privacy"
				c.Clients[i].LogoURI = "https://cdn.app.example.test/logo.png"
			}
		}
		if edit != nil {
			edit(c)
		}
	})
}

func TestDiscoveryListsUILocales(t *testing.T) {
	ts := newFlowServer(t, nil)
	p := ts.browser().do(http.MethodGet, testIssuer+"/.well-known/openid-configuration", nil)
	var m struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := json.Unmarshal([]byte(p.body), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.UILocales) < 3 || m.UILocales[0] != "en" || !slices.Contains(m.UILocales, "de") || !slices.Contains(m.UILocales, "fr") {
		t.Errorf("ui_locales_supported = %v", m.UILocales)
	}
}

// TestPagesSpeakTheRequestedLanguage: ui_locales, kept with the interaction, beats
// Accept-Language on every page of the flow; without it Accept-Language counts.
func TestPagesSpeakTheRequestedLanguage(t *testing.T) {
	ts := brandedFlowServer(t, nil)
	b := ts.browser()
	b.header = http.Header{"Accept-Language": {"fr"}}
	login := b.do(http.MethodGet, authURL(url.Values{"ui_locales": {"de fr"}}), nil)
	if login.status != http.StatusOK || !strings.Contains(login.body, `<html lang="de">`) || !strings.Contains(login.body, "Benutzername") {
		t.Fatalf("login page is not German: %d %s", login.status, login.body)
	}
	if got := login.header.Get("Content-Language"); got != "de" {
		t.Errorf("Content-Language = %q", got)
	}
	// A wrong password: the message in German too (the interaction kept ui_locales).
	wrong := b.submit(login, url.Values{"username": {"alice"}, "password": {"nope"}, "decision": {"approve"}})
	if !strings.Contains(wrong.body, "Benutzername oder Passwort ist falsch.") {
		t.Errorf("the login error is not German: %s", wrong.body)
	}
	consent := b.follow(b.submit(wrong, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	for _, want := range []string{`<html lang="de">`, "Erlauben", "Ihre E-Mail-Adresse sehen", "Ihre Dokumente lesen", "Dokumenten-API",
		"https://app.example.test/privacy", "https://cdn.app.example.test/logo.png", "Acme", "Anderes Konto verwenden"} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(consent.body, `name="remember" value="1" checked`) {
		t.Error("remember is ticked by default")
	}
	if csp := consent.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.app.example.test;") {
		t.Errorf("CSP = %s", csp)
	}

	// Accept-Language alone.
	frb := ts.browser()
	frb.header = http.Header{"Accept-Language": {"fr-CA,fr;q=0.9"}}
	fr := frb.do(http.MethodGet, authURL(nil), nil)
	if !strings.Contains(fr.body, `<html lang="fr">`) || !strings.Contains(fr.body, "Mot de passe") {
		t.Errorf("login page is not French: %s", fr.body)
	}
	// Nothing supported: English.
	enb := ts.browser()
	enb.header = http.Header{"Accept-Language": {"zh"}}
	en := enb.do(http.MethodGet, authURL(url.Values{"ui_locales": {"ja"}}), nil)
	if !strings.Contains(en.body, `<html lang="en">`) || !strings.Contains(en.body, "Password") {
		t.Errorf("login page is not English: %s", en.body)
	}
}

func TestConsentRememberDefaultOption(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.ConsentRememberDefault = true })
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	consent := b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if !strings.Contains(consent.body, `name="remember" value="1" checked`) {
		t.Errorf("remember is not ticked with consent_remember_default: %s", consent.body)
	}
}

// TestSwitchAccount: "Not you?" shows the login page again for the same request, without
// the signed-in user's name; the session no longer serves the request until someone signs in.
func TestSwitchAccount(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	consent := b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	if !strings.Contains(consent.body, `value="switch_account"`) {
		t.Fatalf("no switch-account form: %s", consent.body)
	}
	// A forged switch (no CSRF token) is refused.
	_, fields := consent.form(t)
	forged := b.do(http.MethodPost, testIssuer+pathConsent, url.Values{"interaction": {fields.Get("interaction")}, "decision": {"switch_account"}})
	if forged.status != http.StatusForbidden {
		t.Errorf("switch without CSRF token: %d", forged.status)
	}
	login := b.submit(consent, url.Values{"decision": {"switch_account"}})
	if login.status != http.StatusOK || !strings.Contains(login.body, `name="password"`) || strings.Contains(login.body, `value="alice"`) {
		t.Fatalf("after switch: %d %s", login.status, login.body)
	}
	// The switched interaction no longer resumes with the old session.
	_, lf := login.form(t)
	resumed := b.do(http.MethodGet, testIssuer+pathResume+"?"+url.Values{"interaction": {lf.Get("interaction")}}.Encode(), nil)
	if !strings.Contains(resumed.body, `name="password"`) {
		t.Fatalf("resume after switch skipped the login: %d %s", resumed.status, resumed.body)
	}
	again := b.follow(b.submit(login, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	cb := callback(t, b.submit(again, url.Values{"decision": {"approve"}}), webRedirect)
	if cb.Get("code") == "" || cb.Get("state") != "st4te" {
		t.Errorf("callback: %v", cb)
	}
}

func TestLogoServedByTheServer(t *testing.T) {
	ts := brandedFlowServer(t, nil)
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	if !strings.Contains(p.body, `src="`+pathLogo+`"`) && !strings.Contains(p.body, pathLogo+`"`) {
		t.Errorf("the login page does not show the logo: %s", p.body)
	}
	logo := b.do(http.MethodGet, testIssuer+pathLogo, nil)
	if logo.status != http.StatusOK || logo.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(logo.body, "<svg") {
		t.Fatalf("logo: %d %v", logo.status, logo.header)
	}
	if !strings.Contains(logo.header.Get("Content-Security-Policy"), "sandbox") {
		t.Error("an SVG logo is not sandboxed")
	}
	if post := b.do(http.MethodPost, testIssuer+pathLogo, url.Values{}); post.status != http.StatusMethodNotAllowed {
		t.Errorf("POST logo: %d", post.status)
	}
	// No logo file, no route.
	plain := newFlowServer(t, nil).browser().do(http.MethodGet, testIssuer+pathLogo, nil)
	if plain.status != http.StatusNotFound {
		t.Errorf("logo without branding: %d", plain.status)
	}
}

// TestErrorPageLeadsBack: an unregistered redirect URI gets the error page, never a redirect,
// with the client's client_uri as the way back; without a known client, the home page.
func TestErrorPageLeadsBack(t *testing.T) {
	ts := brandedFlowServer(t, nil)
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(url.Values{"redirect_uri": {"https://evil.example/cb"}}), nil)
	if p.status != http.StatusBadRequest || p.location != "" {
		t.Fatalf("unregistered redirect_uri: %d %q", p.status, p.location)
	}
	for _, want := range []string{`id="back" href="https://app.example.test/"`, "Web &lt;App&gt;", "<details>", "invalid_request"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("error page lacks %q: %s", want, p.body)
		}
	}
	if strings.Contains(p.body, "evil.example") {
		t.Error("the error page links to the unverified redirect URI")
	}
	unknown := b.do(http.MethodGet, authURL(url.Values{"client_id": {"nobody"}}), nil)
	if !strings.Contains(unknown.body, `id="back" href="https://acme.example/"`) {
		t.Errorf("no way home for an unknown client: %s", unknown.body)
	}
}

func TestBrandingConfigValidated(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	if err := os.WriteFile(big, make([]byte, MaxLogoSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	txt := filepath.Join(dir, "logo.txt")
	if err := os.WriteFile(txt, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range []Branding{
		{Accent: "blue-ish"},
		{Logo: "http://cdn.example/logo.png"},
		{Logo: filepath.Join(dir, "missing.png")},
		{Logo: big},
		{Logo: txt},
		{Logo: dir + "/"},
		{HomeURI: "javascript:alert(1)"},
		{PrivacyURI: "http://acme.example/privacy"},
	} {
		if err := b.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", b)
		}
	}
	for _, b := range []Branding{{}, {Logo: "https://cdn.example/logo.png", Accent: "#123"}} {
		if err := b.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", b, err)
		}
	}
	for _, c := range []Config{
		{ScopeDescriptions: map[string]map[string]string{"read": {"not a tag!": "x"}}},
		{ScopeDescriptions: map[string]map[string]string{"read": {"de": ""}}},
		{ScopeDescriptions: map[string]map[string]string{"bad scope": {"de": "x"}}},
		{ResourceDescriptions: map[string]map[string]string{"not-absolute": {"de": "x"}}},
		{ResourceDescriptions: map[string]map[string]string{"https://api.example": {}}},
	} {
		if err := c.pagesDefaults(); err == nil {
			t.Errorf("pagesDefaults(%v %v) accepted", c.ScopeDescriptions, c.ResourceDescriptions)
		}
	}
}

func TestDescribedIn(t *testing.T) {
	m := map[string]map[string]string{"x": {"de-CH": "CH", "de-AT": "AT", "fr": "FR"}}["x"]
	for lang, want := range map[string]string{"fr": "FR", "de": "AT", "en": ""} {
		if got := describedIn(m, lang); got != want {
			t.Errorf("describedIn(%s) = %q, want %q", lang, got, want)
		}
	}
}
