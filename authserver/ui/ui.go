// Package ui renders the HTML pages of the authorization server: login, consent,
// logout confirmation, logged-out, error, the form_post response and the device pages.
//
// The handlers own cookies, CSRF tokens and the protocol; this package owns the markup,
// the security headers of HTML responses, template loading, the message catalogs and the
// branding.
//
// # Overriding templates
//
// Templates are html/template files. layout.html defines "layout", the document every
// page is rendered through; each page file (login.html, consent.html, logout.html,
// logged_out.html, frontchannel_logout.html, error.html, form_post.html, device.html,
// device_result.html, ciba_list.html, passkey_register.html) defines "content",
// which the layout includes. Every template is executed with:
//
//	.Title  the page title (never empty), in the page's language
//	.Nonce  the Content-Security-Policy nonce of this response: an inline <style> (and
//	        <script> on form_post, and the passkey.js <script src> on the login and passkeys
//	        pages when passkeys are on) runs only with nonce="{{.Nonce}}"
//	.Data   the page's data: LoginPage, ConsentPage, LogoutPage, LoggedOutPage,
//	        FrontchannelLogoutPage, ErrorPage, FormPostPage, DevicePage, DeviceResultPage,
//	        CIBAListPage or PasskeysPage
//	.Lang   the page's language, a BCP 47 tag for <html lang>
//	.T      translates: {{$.T "consent.allow"}}; placeholders by name and value,
//	        {{$.T "login.to_continue" "client" (strong .ClientName)}}; returns HTML with the
//	        message and string arguments escaped (strong arguments are kept as markup)
//	.Text   the same as plain text, for attributes: title="{{$.Text "key" "client" .Name}}"
//	.Brand  the branding: .Name, .LogoURL, .PrivacyURI, .TermsURI, .HomeURI, and .CSS, the
//	        stylesheet applying the accent colour (empty without one)
//
//	.Date, .Time  an instant in the page's language ({{$.Time .SignedInAt}} is a <time>
//	        element), .Methods  sign-in methods as words, .Message  a message key worded
//
// and the template function strong (emphasis for a message argument, with an optional
// element id). Inside {{with .Data}} use $.T, $.Text and $.Brand.
//
// The account pages (account.html, account_password.html, account_apps.html,
// account_sessions.html, executed with an AccountPage) share account_head.html, which
// defines "account_head" (their style, navigation, heading, notice and error); each calls
// {{template "account_head" .}} first. It is overridden like a page.
//
// Every page is executed once with sample data by New, with and without branding, so an
// override that breaks is reported at start-up; a new page must add its sample to samples.
//
// Overrides must keep the form contract automation relies on: the first <form> is the
// one to submit; it carries hidden csrf_token and interaction inputs; login inputs are
// named username and password; the approving button is name="decision" value="approve",
// the refusing one name="decision" value="deny"; consent has a remember=1 checkbox; the
// device page's code input is named user_code. Consent's "Not you? Use another account" is
// a second form posting csrf_token, interaction and decision=switch_account. Passkey forms
// (the login page's second form, the passkeys page's first) carry data-passkey="get" or
// "create" and data-options, and the hidden inputs csrf_token, interaction, passkey_state and
// credential that passkey.js fills.
//
// # Languages
//
// The message catalogs are locales/<tag>.json, embedded: flat objects of key → message,
// where {name} is a placeholder. English (DefaultLanguage) is the reference: every other
// catalog must have exactly its keys (a test fails otherwise). Languages lists them.
//
// A handler picks the language once per request with ChooseLanguage(ui_locales,
// Accept-Language) and renders with r.For(lang), which also returns the Localizer for
// messages the handler puts on the page (errors, scope descriptions): loc.Text(key, …),
// loc.Wait(duration), loc.DescribeScope(scope). To add a page's strings, add keys with a
// common prefix (e.g. "passkey.") to every catalog and call $.T in the template; to add a
// language, add its catalog.
//
// # Branding
//
// Renderer.WithBranding applies a Branding (product name, logo, accent colour, privacy,
// terms and home links) to every page; ValidateBranding is the one check of it. A logo on
// this server keeps img-src at 'self'; an https logo adds its origin. A client's own logo
// (ClientInfo, from its registered metadata) is shown on login and consent only over https.
package ui

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
)

//go:embed templates/*.html
var embedded embed.FS

const layoutFile = "layout.html"

// Page template names, each loaded from templates/<name>.html.
const (
	pageLogin     = "login"
	pageConsent   = "consent"
	pageLogout    = "logout"
	pageLoggedOut = "logged_out"
	pageError     = "error"
	pageFormPost  = "form_post"
	// The device authorization grant's verification page and its outcome (RFC 8628 §3.3).
	pageDevice       = "device"
	pageDeviceResult = "device_result"
	// pageCIBAList lists a user's pending CIBA requests.
	pageCIBAList = "ciba_list"
	// pageFrontchannelLogout is the sign-out page of OpenID Connect Front-Channel Logout.
	pageFrontchannelLogout = "frontchannel_logout"
	// pagePasskeys is the signed-in user's passkeys page (list, add, remove).
	pagePasskeys = "passkey_register"
)

// samples are executed once per page by New so that a broken override fails at start-up.
// They fill every field so that every branch of the default templates runs.
var samples = map[string]view{
	pageLogin: {Title: "Sign in", Data: LoginPage{
		Page:       samplePage,
		ClientName: "Example App", Username: "alice", Error: "Invalid username or password.", Notice: "Use a passkey.",
		Client: sampleClient, Passkey: &samplePasskeyForm,
	}},
	pagePasskeys: {Title: "Passkeys", Data: PasskeysPage{
		Page: samplePage, Account: "alice", Error: "That passkey could not be added.", Added: true,
		Passkeys: []Passkey{{ID: "cred", Name: "Laptop", Synced: true, Created: "2026-01-02", LastUsed: "2026-01-03"}},
		Register: &samplePasskeyForm, ContinueURL: "/authorize/resume?interaction=x",
	}},
	pageConsent: {Title: "Authorize access", Data: ConsentPage{
		Page:       samplePage,
		ClientName: "Example App", ClientID: "example-app", Account: "alice", UserCode: "BCDF-GHJK", BindingMessage: "Pay 42 EUR",
		Client: sampleClient, RememberDefault: true, SwitchAccount: true, PasskeysURL: "/passkeys?interaction=x",
		Scopes: []Scope{{Name: "openid"}, {Name: "custom", Description: "Configured text"}, {Name: "x"}},
		Resources: []Resource{
			{Identifier: "https://api.example.com", Name: "Example API"},
			{Identifier: "https://other.example.com"},
		},
	}},
	pageLogout: {Title: "Sign out", Data: LogoutPage{
		Page: samplePage, ClientName: "Example App", Account: "alice",
	}},
	pageLoggedOut: {Title: "Signed out", Data: LoggedOutPage{Title: "Signed out", Cancelled: true,
		Back: Back{URL: "https://client.example.com/", Name: "Example App"}}},
	pageError: {Title: "Error", Data: ErrorPage{
		Title: "Error", Kind: ErrorRejected, Code: "invalid_request", Description: "Missing parameter.",
		Back: Back{URL: "https://client.example.com/", Name: "Example App"},
	}},
	pageFrontchannelLogout: {Title: "Signing you out", Data: FrontchannelLogoutPage{
		Title:       "Signing you out",
		Frames:      []LogoutFrame{{ClientName: "Example App", URL: "https://client.example.com/logout?iss=x&sid=y"}},
		ContinueURL: "https://client.example.com/bye",
	}},
	pageDevice: {Title: "Connect a device", Data: DevicePage{
		Page: samplePage, UserCode: "BCDF-GHJK", Error: "That code is not valid.",
	}},
	pageDeviceResult: {Title: "Device connected", Data: DeviceResultPage{Outcome: DeviceApproved}},
	pageCIBAList: {Title: "Pending requests", Data: CIBAListPage{Account: "alice",
		Requests: []CIBARequest{{ClientName: "Example Bank", BindingMessage: "Pay 42 EUR", Link: "/ciba?request=x"}}}},
	pageFormPost: {Title: "Continue", Data: FormPostPage{
		Action: "https://client.example.com/cb",
		Params: []Param{{Name: "code", Value: "abc"}, {Name: "state", Value: "xyz"}},
	}},
}

var samplePasskeyForm = PasskeyForm{Action: "/login/passkey", Options: `{"publicKey":{}}`, State: "state", Script: "/assets/passkey.js", Required: true}

var samplePage = Page{
	Title: "Sample", Action: "/authorize/interaction", CSRFToken: "csrf", Interaction: "iid",
	FormActions: []string{"https://client.example.com/cb"},
}

var sampleClient = ClientInfo{
	LogoURI: "https://client.example.com/logo.png", URI: "https://client.example.com/",
	PolicyURI: "https://client.example.com/privacy", TosURI: "https://client.example.com/terms",
}

// sampleBrand fills every branding field, so that every branch of an override's layout runs.
var sampleBrand = brand{Branding: Branding{
	Name: "Example", LogoURL: "/branding/logo", Accent: "#0969da",
	PrivacyURI: "https://example.com/privacy", TermsURI: "https://example.com/terms", HomeURI: "https://example.com/",
}, CSS: accentCSS("#0969da")}

// pageParts are the shared template files a page includes besides the layout, each
// overridable like a page: the account pages share account_head.html.
var pageParts = map[string][]string{
	pageAccount: {accountHeadFile}, pageAccountPassword: {accountHeadFile},
	pageAccountApps: {accountHeadFile}, pageAccountSessions: {accountHeadFile},
}

// accountHeadFile defines "account_head": the account pages' style, navigation, heading,
// notice and error.
const accountHeadFile = "account_head.html"

// view is what every template is executed with (see the package documentation).
type view struct {
	Title string
	Nonce string
	Data  any
	// Localizer is the page's language: $.T, $.Text, $.Lang.
	Localizer
	Brand brand
}

// Lang is the BCP 47 tag of the page's language, for <html lang>.
func (v view) Lang() string { return v.Tag() }

// Renderer renders the pages. It is safe for concurrent use; For and WithBranding return
// copies that share the parsed templates.
type Renderer struct {
	pages map[string]*template.Template
	loc   Localizer
	brand brand
	// logoSource is the img-src source of an https logo URL, "" for a logo on this server.
	logoSource string
}

// For returns a Renderer that renders in lang (a tag ChooseLanguage returned) and the
// Localizer of that language, for the messages a handler passes to the page.
func (r *Renderer) For(lang string) (*Renderer, Localizer) {
	c := *r
	c.loc = Lang(lang)
	return &c, c.loc
}

// Localizer is the language r renders in.
func (r *Renderer) Localizer() Localizer { return r.loc }

// funcs are the template functions every template may call.
var funcs = template.FuncMap{"strong": strong}

// New loads the templates. With dir "" every template is the embedded default;
// otherwise each file of dir named like a template (layout.html, login.html, …)
// replaces that template and the others stay embedded. Every page is parsed and
// executed once with sample data, so a broken override is reported here.
func New(dir string) (*Renderer, error) {
	var overrides fs.FS
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("ui: template directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("ui: template directory %s is not a directory", dir)
		}
		overrides = os.DirFS(dir)
	}
	layout, err := source(overrides, layoutFile)
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: make(map[string]*template.Template, len(samples))}
	for name, sample := range samples {
		file := name + ".html"
		page, err := source(overrides, file)
		if err != nil {
			return nil, err
		}
		t := template.New(name).Funcs(funcs)
		if _, err := t.New(layoutFile).Parse(layout); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
		if _, err := t.New(file).Parse(page); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
		for _, part := range pageParts[name] {
			src, err := source(overrides, part)
			if err != nil {
				return nil, err
			}
			if _, err := t.New(part).Parse(src); err != nil {
				return nil, fmt.Errorf("ui: %w", err)
			}
		}
		sample.Nonce = "sample"
		// Once plain, once with every branding field, so both branches of the layout run.
		for _, b := range []brand{{}, sampleBrand} {
			sample.Brand = b
			if err := t.ExecuteTemplate(io.Discard, "layout", sample); err != nil {
				return nil, fmt.Errorf("ui: %s: %w", file, err)
			}
		}
		r.pages[name] = t
	}
	return r, nil
}

// source reads file from overrides when it is there, else from the embedded defaults.
func source(overrides fs.FS, file string) (string, error) {
	if overrides != nil {
		b, err := fs.ReadFile(overrides, file)
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("ui: %w", err)
		}
	}
	b, err := embedded.ReadFile("templates/" + file)
	if err != nil {
		return "", fmt.Errorf("ui: %w", err)
	}
	return string(b), nil
}

// Login renders the login page.
func (r *Renderer) Login(w http.ResponseWriter, status int, p LoginPage) error {
	p.Error, p.Notice = r.loc.Message(p.Error), r.loc.Message(p.Notice)
	p.Client = httpsOnly(p.Client)
	return r.renderWith(w, status, pageLogin, r.title(p.Title, "login.title"), p,
		policy{formAction: formActionSources(p.FormActions), images: p.Client.imageSources(), script: p.Passkey != nil})
}

// Passkeys renders the signed-in user's passkeys page.
func (r *Renderer) Passkeys(w http.ResponseWriter, status int, p PasskeysPage) error {
	p.Error = r.loc.Message(p.Error)
	return r.render(w, status, pagePasskeys, r.title(p.Title, "passkeys.title"), p, formActionSources(nil), p.Register != nil)
}

// Consent renders the consent page. Scopes without a description get the standard one in
// the page's language.
func (r *Renderer) Consent(w http.ResponseWriter, status int, p ConsentPage) error {
	p.Scopes = r.loc.describeScopes(p.Scopes)
	p.Client = httpsOnly(p.Client)
	return r.renderWith(w, status, pageConsent, r.title(p.Title, "consent.title"), p,
		policy{formAction: formActionSources(p.FormActions), images: p.Client.imageSources()})
}

// httpsOnly drops a client logo that is not https: the page would have to allow plain-http
// images, which anyone on the network can replace.
func httpsOnly(c ClientInfo) ClientInfo {
	if !strings.HasPrefix(strings.ToLower(c.LogoURI), "https://") {
		c.LogoURI = ""
	}
	return c
}

// Logout renders the logout confirmation page.
func (r *Renderer) Logout(w http.ResponseWriter, status int, p LogoutPage) error {
	return r.render(w, status, pageLogout, r.title(p.Title, "logout.title"), p, formActionSources(p.FormActions), false)
}

// LoggedOut renders the page shown after a logout without a post-logout redirect (or after
// the user chose not to sign out, with Cancelled).
func (r *Renderer) LoggedOut(w http.ResponseWriter, status int, p LoggedOutPage) error {
	key := "logged_out.title"
	if p.Cancelled {
		key = "logged_out.cancelled_title"
	}
	return r.render(w, status, pageLoggedOut, r.title(p.Title, key), p, formActionSources(nil), false)
}

// Error renders an error page: a plain explanation for the kind of error, the way back,
// and the technical code and description in a collapsed detail.
func (r *Renderer) Error(w http.ResponseWriter, status int, p ErrorPage) error {
	key := "error.title"
	if p.Kind != "" && r.loc.Has("error.title."+string(p.Kind)) {
		key = "error.title." + string(p.Kind)
	}
	return r.render(w, status, pageError, r.title(p.Title, key), p, formActionSources(nil), false)
}

// Device renders the device verification page, where the user enters the code their
// device shows.
func (r *Renderer) Device(w http.ResponseWriter, status int, p DevicePage) error {
	return r.render(w, status, pageDevice, r.title(p.Title, "device.title"), p, formActionSources(p.FormActions), false)
}

// DeviceResult renders the outcome of a device authorization or a CIBA request.
func (r *Renderer) DeviceResult(w http.ResponseWriter, status int, p DeviceResultPage) error {
	return r.render(w, status, pageDeviceResult, r.loc.Text(p.Key()+".title"), p, formActionSources(nil), false)
}

// CIBAList renders the signed-in user's pending CIBA requests.
func (r *Renderer) CIBAList(w http.ResponseWriter, status int, p CIBAListPage) error {
	return r.render(w, status, pageCIBAList, r.loc.Text("ciba_list.title"), p, formActionSources(nil), false)
}

// FormPost renders a Form Post Response Mode page that submits p.Params to p.Action
// by itself (the only page with a script) or on a click on Continue.
func (r *Renderer) FormPost(w http.ResponseWriter, status int, p FormPostPage) error {
	// Browsers cannot POST a body to a private-use scheme, so only http(s) makes sense.
	origin, ok := cspSource(p.Action)
	if !ok || !(strings.HasPrefix(origin, "https://") || strings.HasPrefix(origin, "http://")) {
		return fail(w, errors.New("ui: form_post action must be an absolute http(s) URL"))
	}
	return r.render(w, status, pageFormPost, r.loc.Text("form_post.title"), p, []string{origin}, true)
}

// title is the page's title: the caller's, else the message key in the page's language.
func (r *Renderer) title(given, key string) string {
	if strings.TrimSpace(given) != "" {
		return given
	}
	return r.loc.Text(key)
}

// render executes page into a buffer, so a template error never leaves a half-written
// response, and only then writes headers and body.
func (r *Renderer) render(w http.ResponseWriter, status int, page, title string, data any, formAction []string, script bool) error {
	return r.renderWith(w, status, page, title, data, policy{formAction: formAction, script: script})
}

// renderWith is render with the page's whole Content-Security-Policy (to which it adds the
// branding logo's origin).
func (r *Renderer) renderWith(w http.ResponseWriter, status int, page, title string, data any, csp policy) error {
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 999 {
		// WriteHeader would panic.
		return fail(w, fmt.Errorf("ui: invalid HTTP status %d", status))
	}
	if r.logoSource != "" {
		csp.images = append(csp.images, r.logoSource)
	}
	t := r.pages[page]
	nonce := rand.Text()
	var buf bytes.Buffer
	v := view{Title: title, Nonce: nonce, Data: data, Localizer: r.loc, Brand: r.brand}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fail(w, fmt.Errorf("ui: rendering %s: %w", page, err))
	}
	setHeaders(w.Header(), nonce, csp)
	w.Header().Set("Content-Language", r.loc.Tag())
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// fail answers a plain 500 and hands err back for the caller to log.
func fail(w http.ResponseWriter, err error) error {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	return err
}
