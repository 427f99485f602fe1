package ui

import (
	"golang.org/x/net/html"
	"io/fs"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestChooseLanguage(t *testing.T) {
	tests := []struct{ uiLocales, accept, want string }{
		{"", "", "en"},
		{"de", "fr", "de"},                      // ui_locales beats Accept-Language
		{"fr-CA de", "de", "fr"},                // a regional variant matches its language
		{"ja de", "fr", "de"},                   // the first supported one of ui_locales
		{"ja", "fr-FR,fr;q=0.9,en;q=0.5", "fr"}, // nothing of ui_locales: Accept-Language
		{"", "de-CH, en;q=0.5", "de"},           // Accept-Language alone
		{"", "ja, zh;q=0.8", "en"},              // nothing supported: the default
		{"!!bogus x-%%", "", "en"},              // malformed tags are skipped
		{"not_a_tag de", "", "de"},              // … and the next one counts
		{"", "garbage;;q=x", "en"},              // a malformed header
		{"", "en;q=0.1, de;q=0.9", "de"},        // q values order the header
		{"EN", "", "en"},                        // tags are case-insensitive
		{"", "*", "en"},                         // the wildcard
		{"de-Latn-DE-u-co-phonebk", "", "de"},   // extensions
		{strings.Repeat("x ", 1000), "", "en"},  // many fields
		{"", strings.Repeat("de,", 50) + "fr", "de"},
	}
	for _, tc := range tests {
		if got := ChooseLanguage(tc.uiLocales, tc.accept); got != tc.want {
			t.Errorf("ChooseLanguage(%.40q, %.40q) = %q, want %q", tc.uiLocales, tc.accept, got, tc.want)
		}
	}
}

func TestLanguagesListsEnglishFirstAndAtLeastThree(t *testing.T) {
	langs := Languages()
	if len(langs) < 3 || langs[0] != "en" || !slices.Contains(langs, "de") || !slices.Contains(langs, "fr") {
		t.Fatalf("Languages() = %v", langs)
	}
}

// TestCatalogsComplete fails when a language lacks a key of the default catalog (or has one
// the default lacks), when a translation is empty or left in English by mistake where the
// languages differ, or when a placeholder is lost in translation.
func TestCatalogsComplete(t *testing.T) {
	en := catalogs.messages[DefaultLanguage]
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, lang := range Languages() {
		msgs := catalogs.messages[lang]
		for key, m := range en {
			tr, ok := msgs[key]
			if !ok {
				t.Errorf("%s: missing %q", lang, key)
				continue
			}
			if strings.TrimSpace(tr) == "" {
				t.Errorf("%s: %q is empty", lang, key)
			}
			want := placeholder.FindAllString(m, -1)
			got := placeholder.FindAllString(tr, -1)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %q has placeholders %v, English %v", lang, key, got, want)
			}
		}
		for key := range msgs {
			if _, ok := en[key]; !ok {
				t.Errorf("%s: %q is not in the English catalog", lang, key)
			}
		}
	}
}

// TestCatalogCheckFailsOnAMissingKey shows the check above can fail: a catalog set where one
// language lacks a key does not pass the same comparison.
func TestCatalogCheckFailsOnAMissingKey(t *testing.T) {
	c, err := loadCatalogs(fstest.MapFS{
		"locales/en.json": {Data: []byte(`{"a": "A", "b": "B"}`)},
		"locales/de.json": {Data: []byte(`{"a": "A"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	missing := slices.Collect(maps.Keys(c.messages["en"]))
	missing = slices.DeleteFunc(missing, func(k string) bool { _, ok := c.messages["de"][k]; return ok })
	if !slices.Equal(missing, []string{"b"}) {
		t.Fatalf("missing = %v", missing)
	}
	if _, err := loadCatalogs(fstest.MapFS{"locales/de.json": {Data: []byte(`{}`)}}); err == nil {
		t.Error("a catalog set without English loaded")
	}
	if _, err := loadCatalogs(fstest.MapFS{"locales/en.json": {Data: []byte(`{`)}}); err == nil {
		t.Error("a broken catalog loaded")
	}
	if _, err := loadCatalogs(fstest.MapFS{"locales/en.json": {Data: []byte(`{}`)}, "locales/EN_us.json": {Data: []byte(`{}`)}}); err == nil {
		t.Error("a catalog with a non-canonical tag loaded")
	}
}

// TestTemplatesUseOnlyKnownKeys: every key a default template names exists in the catalogs.
func TestTemplatesUseOnlyKnownKeys(t *testing.T) {
	key := regexp.MustCompile(`\$\.(?:T|Text) "([a-z_.]+)"`)
	files, err := fs.Glob(embedded, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		b, _ := fs.ReadFile(embedded, f)
		for _, m := range key.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !Lang("en").Has(m[1]) {
				t.Errorf("%s uses unknown key %q", f, m[1])
			}
		}
		// No English sentence left untranslated between tags.
		if strings.Contains(string(b), ">Sign in<") || strings.Contains(string(b), ">Continue<") {
			t.Errorf("%s has an untranslated label", f)
		}
	}
	if seen < 40 {
		t.Errorf("only %d translated strings in the templates", seen)
	}
}

func TestLocalizer(t *testing.T) {
	de := Lang("de")
	if got := de.Text("login.to_continue", "client", "Foto-App"); got != "um mit Foto-App fortzufahren" {
		t.Errorf("Text = %q", got)
	}
	if got := string(de.T("logout.signed_in_as", "account", "<b>")); got != "Sie sind als &lt;b&gt; angemeldet." {
		t.Errorf("T escapes arguments: %q", got)
	}
	if got := string(de.T("logout.signed_in_as", "account", strong("a&b", "x"))); got != `Sie sind als <strong id="x">a&amp;b</strong> angemeldet.` {
		t.Errorf("T with strong = %q", got)
	}
	if got := de.Text("no.such.key"); got != "no.such.key" {
		t.Errorf("a missing key = %q", got)
	}
	if got := Lang("de-AT").Tag(); got != "de" {
		t.Errorf("Lang(de-AT) = %q", got)
	}
	if got := Lang("xx").Tag(); got != "en" {
		t.Errorf("Lang(xx) = %q", got)
	}
	if got := (Localizer{}).Tag(); got != "en" {
		t.Errorf("zero Localizer = %q", got)
	}
	for d, want := range map[time.Duration]string{
		10 * time.Second: "10 Sekunden", 200 * time.Millisecond: "1 Sekunden",
		time.Minute: "1 Minute", 61 * time.Second: "2 Minuten",
	} {
		if got := de.Wait(d); got != want {
			t.Errorf("Wait(%s) = %q, want %q", d, got, want)
		}
	}
	if got := Lang("fr").DescribeScope("email"); got != "Voir votre adresse e-mail" {
		t.Errorf("DescribeScope(email) = %q", got)
	}
	if got := Lang("fr").DescribeScope("billing:read"); got != "billing:read" {
		t.Errorf("DescribeScope(unknown) = %q", got)
	}
}

func TestPagesRenderInTheirLanguage(t *testing.T) {
	base := newRenderer(t, "")
	for _, tc := range []struct{ lang, button, scope string }{
		{"en", "Allow", "View your email address"},
		{"de", "Erlauben", "Ihre E-Mail-Adresse sehen"},
		{"fr", "Autoriser", "Voir votre adresse e-mail"},
	} {
		r, _ := base.For(tc.lang)
		rec := render(t, func(w http.ResponseWriter) error {
			return r.Consent(w, http.StatusOK, ConsentPage{Page: testPage, ClientName: "App", Account: "alice",
				Scopes: []Scope{{Name: "email"}, {Name: "custom", Description: "Configured text"}}})
		})
		if got := rec.Header().Get("Content-Language"); got != tc.lang {
			t.Errorf("%s: Content-Language = %q", tc.lang, got)
		}
		doc := parse(t, rec.Body.String())
		if got := attrVal(findAll(doc, "html")[0], "lang"); got != tc.lang {
			t.Errorf("%s: <html lang=%q>", tc.lang, got)
		}
		body := text(doc)
		for _, s := range []string{tc.button, tc.scope, "Configured text"} {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q", tc.lang, s)
			}
		}
		// Every page renders in every language without a raw key showing.
		for name, sample := range samples {
			rec := render(t, func(w http.ResponseWriter) error {
				return r.renderWith(w, http.StatusOK, name, "T", sample.Data, policy{formAction: []string{"'self'"}})
			})
			if m := regexp.MustCompile(`\b[a-z_]+\.[a-z_.]+\b`).FindString(text(parse(t, rec.Body.String()))); m != "" && Lang("en").Has(m) {
				t.Errorf("%s/%s shows the raw key %q", tc.lang, name, m)
			}
		}
	}
}

func TestValidateBranding(t *testing.T) {
	good := []Branding{
		{},
		{Name: "Acme", LogoURL: "/oauth/branding/logo", Accent: "#0a7", PrivacyURI: "https://acme.example/privacy",
			TermsURI: "https://acme.example/terms", HomeURI: "http://127.0.0.1:8080/"},
		{LogoURL: "https://cdn.acme.example/logo.svg", Accent: "rgb(10, 20, 30)"},
		{Accent: "rgb(10% 20% 100%)"},
		{Accent: "#A1B2C3"},
	}
	for _, b := range good {
		if err := ValidateBranding(b); err != nil {
			t.Errorf("ValidateBranding(%+v) = %v", b, err)
		}
	}
	bad := []Branding{
		{Accent: "red"},
		{Accent: "#12345"},
		{Accent: "#ggg"},
		{Accent: "rgb(300, 0, 0)"},
		{Accent: "rgb(1,2)"},
		{Accent: "#fff;background:url(x)"},
		{Accent: "rgba(1,2,3,0.5)"},
		{LogoURL: "http://cdn.example/logo.png"},
		{LogoURL: "//cdn.example/logo.png"},
		{LogoURL: "javascript:alert(1)"},
		{LogoURL: "data:image/png;base64,AAAA"},
		{PrivacyURI: "ftp://acme.example/"},
		{TermsURI: "/terms"},
		{HomeURI: "http://acme.example/"},
		{HomeURI: "https://user:pw@acme.example/"},
		{Name: "A\nB"},
		{Name: strings.Repeat("x", 101)},
	}
	for _, b := range bad {
		if err := ValidateBranding(b); err == nil {
			t.Errorf("ValidateBranding(%+v) accepted", b)
		}
		if _, err := newRenderer(t, "").WithBranding(b); err == nil {
			t.Errorf("WithBranding(%+v) accepted", b)
		}
	}
}

func TestAccentKeepsTextReadable(t *testing.T) {
	for _, accent := range []string{"#ffeb3b", "#000080", "#777", "#0969da", "#fff", "#000"} {
		c, _ := ParseColor(accent)
		css := string(accentCSS(accent))
		fg := white
		if strings.Contains(css, "--accent-fg:"+black.Hex()) {
			fg = black
		}
		if r := contrast(c, fg); r < 4.5 {
			t.Errorf("%s: button text contrast %.2f", accent, r)
		}
		// Links take the accent only where it reads on the card, else the scheme's default.
		light, dark, _ := strings.Cut(css, "@media")
		for _, scheme := range []struct {
			css  string
			card RGB
		}{{light, lightCard}, {dark, darkCard}} {
			_, rest, ok := strings.Cut(scheme.css, "--link:")
			if !ok {
				t.Fatalf("%s: no link colour in %s", accent, scheme.css)
			}
			link, err := ParseColor(rest[:7])
			if err != nil || contrast(link, scheme.card) < 4.5 {
				t.Errorf("%s: link colour %s reads %.2f:1 on %s", accent, rest[:7], contrast(link, scheme.card), scheme.card.Hex())
			}
		}
	}
}

func TestBrandingOnPages(t *testing.T) {
	r, err := newRenderer(t, "").WithBranding(Branding{Name: "Acme", LogoURL: "https://cdn.acme.example/logo.png",
		Accent: "#aa3300", PrivacyURI: "https://acme.example/privacy", TermsURI: "https://acme.example/terms", HomeURI: "https://acme.example/"})
	if err != nil {
		t.Fatal(err)
	}
	rec := render(t, func(w http.ResponseWriter) error {
		return r.Consent(w, http.StatusOK, ConsentPage{Page: testPage, ClientName: "Photo App", Account: "alice",
			Client: ClientInfo{LogoURI: "https://photos.example/logo.png", URI: "https://photos.example/",
				PolicyURI: "https://photos.example/privacy", TosURI: "https://photos.example/tos"}})
	})
	doc := parse(t, rec.Body.String())
	if got := text(findAll(doc, "title")[0]); got != "Allow access – Acme" {
		t.Errorf("title = %q", got)
	}
	var imgs, hrefs []string
	for _, n := range findAll(doc, "img") {
		imgs = append(imgs, attrVal(n, "src"))
	}
	for _, n := range findAll(doc, "a") {
		hrefs = append(hrefs, attrVal(n, "href"))
	}
	if !slices.Equal(imgs, []string{"https://cdn.acme.example/logo.png", "https://photos.example/logo.png"}) {
		t.Errorf("images = %v", imgs)
	}
	for _, h := range []string{"https://photos.example/", "https://photos.example/privacy", "https://photos.example/tos",
		"https://acme.example/privacy", "https://acme.example/terms", "https://acme.example/"} {
		if !slices.Contains(hrefs, h) {
			t.Errorf("no link to %s in %v", h, hrefs)
		}
	}
	if !strings.Contains(rec.Body.String(), "--accent:#aa3300") {
		t.Error("the accent is not applied")
	}
	img := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))["img-src"]
	if img != "'self' data: https://photos.example https://cdn.acme.example" {
		t.Errorf("img-src = %q", img)
	}

	// A client logo that is not https is not shown, nor allowed.
	rec = render(t, func(w http.ResponseWriter) error {
		return r.Consent(w, http.StatusOK, ConsentPage{Page: testPage, ClientName: "App",
			Client: ClientInfo{LogoURI: "http://127.0.0.1:9/logo.png"}})
	})
	if strings.Contains(rec.Body.String(), "127.0.0.1:9") {
		t.Error("a plain-http client logo is shown")
	}
	if img := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))["img-src"]; img != "'self' data: https://cdn.acme.example" {
		t.Errorf("img-src = %q", img)
	}
}

func TestConsentRememberDefaultAndSwitchAccount(t *testing.T) {
	r := newRenderer(t, "")
	for _, remember := range []bool{false, true} {
		rec := render(t, func(w http.ResponseWriter) error {
			return r.Consent(w, http.StatusOK, ConsentPage{Page: testPage, ClientName: "App", Account: "alice",
				RememberDefault: remember, SwitchAccount: true})
		})
		doc := parse(t, rec.Body.String())
		forms := findAll(doc, "form")
		if len(forms) != 2 {
			t.Fatalf("%d forms, want the consent form and the switch-account form", len(forms))
		}
		if _, checked := attr(inputs(forms[0])["remember"], "checked"); checked != remember {
			t.Errorf("RememberDefault %v: checked = %v", remember, checked)
		}
		in := inputs(forms[1])
		if attrVal(in["csrf_token"], "value") != testPage.CSRFToken || attrVal(in["interaction"], "value") != testPage.Interaction {
			t.Error("the switch-account form lacks the CSRF token or the interaction")
		}
		b := findAll(forms[1], "button")
		if len(b) != 1 || attrVal(b[0], "value") != "switch_account" || text(b[0]) != "Use another account" {
			t.Errorf("switch-account button = %v", b)
		}
		if attrVal(forms[1], "action") != testPage.Action || attrVal(forms[1], "method") != "post" {
			t.Error("the switch-account form does not post to the consent action")
		}
	}
}

func TestErrorPageWayBack(t *testing.T) {
	plain := newRenderer(t, "")
	branded, err := plain.WithBranding(Branding{HomeURI: "https://acme.example/"})
	if err != nil {
		t.Fatal(err)
	}
	de, _ := branded.For("de")
	tests := []struct {
		name     string
		r        *Renderer
		page     ErrorPage
		back     string // href of #back, "" for none
		backText string
		title    string
		explain  string
	}{
		{"client known", branded, ErrorPage{Kind: ErrorRejected, Code: "invalid_request", Description: "redirect_uri is not registered",
			Back: Back{URL: "https://photos.example/", Name: "Photo App"}},
			"https://photos.example/", "Return to Photo App", "This sign-in request cannot be completed", "The application sent"},
		{"home", branded, ErrorPage{Kind: ErrorExpired, Code: "invalid_request"},
			"https://acme.example/", "Go to the home page", "This sign-in request has expired", "The sign-in page was open too long"},
		{"nowhere", plain, ErrorPage{Code: "server_error"}, "", "", "Something went wrong", "The request could not be completed"},
		{"german", de, ErrorPage{Kind: ErrorCSRF, Back: Back{URL: "https://photos.example/", Name: "Photo App"}},
			"https://photos.example/", "Zurück zu Photo App", "Das Formular konnte nicht überprüft werden", "Das Formular wurde nicht"},
		{"unknown kind", plain, ErrorPage{Kind: "nonsense"}, "", "", "Something went wrong", "The request could not be completed"},
		{"script url", plain, ErrorPage{Back: Back{URL: "javascript:alert(1)", Name: "X"}}, "#ZgotmplZ", "Return to X", "Something went wrong", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, func(w http.ResponseWriter) error { return tc.r.Error(w, http.StatusBadRequest, tc.page) })
			doc := parse(t, rec.Body.String())
			if got := text(findAll(doc, "h1")[0]); got != tc.title {
				t.Errorf("h1 = %q, want %q", got, tc.title)
			}
			var back, backText, alert string
			for _, n := range findAll(doc, "") {
				if attrVal(n, "id") == "back" {
					back, backText = attrVal(n, "href"), text(n)
				}
				if attrVal(n, "role") == "alert" {
					alert = text(n)
				}
			}
			if back != tc.back || backText != tc.backText {
				t.Errorf("way back = %q %q, want %q %q", back, backText, tc.back, tc.backText)
			}
			if !strings.HasPrefix(alert, tc.explain) {
				t.Errorf("explanation = %q, want %q…", alert, tc.explain)
			}
			// The technical code stays in a collapsed detail, not in the explanation.
			details := findAll(doc, "details")
			if tc.page.Code != "" {
				if len(details) != 1 {
					t.Fatalf("%d details elements", len(details))
				}
				if _, open := attr(details[0], "open"); open {
					t.Error("details is open")
				}
				if !strings.Contains(text(details[0]), tc.page.Code) || strings.Contains(alert, tc.page.Code) {
					t.Error("the code is not (only) in the details")
				}
			}
		})
	}
}

func TestLoggedOutLinksBack(t *testing.T) {
	r, _ := newRenderer(t, "").WithBranding(Branding{HomeURI: "https://acme.example/"})
	for _, tc := range []struct {
		page     LoggedOutPage
		href, tx string
	}{
		{LoggedOutPage{Back: Back{URL: "https://photos.example/", Name: "Photo App"}}, "https://photos.example/", "Return to Photo App"},
		{LoggedOutPage{}, "https://acme.example/", "Go to the home page"},
	} {
		rec := render(t, func(w http.ResponseWriter) error { return r.LoggedOut(w, http.StatusOK, tc.page) })
		var href, tx string
		for _, n := range findAll(parse(t, rec.Body.String()), "a") {
			if attrVal(n, "id") == "back" {
				href, tx = attrVal(n, "href"), text(n)
			}
		}
		if href != tc.href || tx != tc.tx {
			t.Errorf("back = %q %q, want %q %q", href, tx, tc.href, tc.tx)
		}
	}
	rec := render(t, func(w http.ResponseWriter) error {
		return newRenderer(t, "").LoggedOut(w, http.StatusOK, LoggedOutPage{})
	})
	if strings.Contains(rec.Body.String(), `id="back"`) {
		t.Error("a way back with nowhere to go")
	}
}

// TestNoEnglishLeftOnTranslatedPages renders every page (with its sample data) in each
// language but English and fails on an English word in the text people read or hear: text
// outside style and script, and the aria-label, placeholder, alt, title and data-msg-*
// attributes. Content marked lang="en" (the error page's technical description) is skipped.
func TestNoEnglishLeftOnTranslatedPages(t *testing.T) {
	english := regexp.MustCompile(`\b(the|your|you|You|Your|with|and|This|Sign|Signed|Add|Added|Remove|Change|from|last|Continue|Allow|passkeys|browser|password)\b`)
	// Words of the sample data, which no catalog translates.
	sample := strings.NewReplacer("Firefox on Linux", "", "Example App", "", "Example API", "", "Example Bank", "",
		"Pay 42 EUR", "", "Something was wrong.", "", "Invalid username or password.", "", "Use a passkey.", "", "Done.", "",
		"Missing parameter.", "", "Configured text", "", "The administrator manages this password.", "", "That passkey could not be added.", "")
	base := newRenderer(t, "")
	checked := 0
	for _, lang := range Languages() {
		if lang == DefaultLanguage {
			continue
		}
		r, _ := base.For(lang)
		for name, s := range samples {
			rec := render(t, func(w http.ResponseWriter) error {
				return r.renderWith(w, http.StatusOK, name, "T", s.Data, policy{formAction: []string{"'self'"}})
			})
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					if n.Data == "style" || n.Data == "script" || attrVal(n, "lang") == "en" {
						return
					}
					for _, a := range n.Attr {
						if a.Key == "aria-label" || a.Key == "placeholder" || a.Key == "alt" || a.Key == "title" || strings.HasPrefix(a.Key, "data-msg-") {
							checked++
							if m := english.FindString(sample.Replace(a.Val)); m != "" {
								t.Errorf("%s/%s: %s=%q has the English %q", lang, name, a.Key, a.Val, m)
							}
						}
					}
				}
				if n.Type == html.TextNode && strings.TrimSpace(n.Data) != "" {
					checked++
					if m := english.FindString(sample.Replace(n.Data)); m != "" {
						t.Errorf("%s/%s: text %q has the English %q", lang, name, strings.TrimSpace(n.Data), m)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(parse(t, rec.Body.String()))
		}
	}
	if checked < 300 {
		t.Errorf("only %d texts checked", checked)
	}
}
