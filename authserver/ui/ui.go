// Package ui renders the HTML pages of the authorization server: login, consent,
// logout confirmation, logged-out, error, the form_post response and the device pages.
//
// The handlers own cookies, CSRF tokens and the protocol; this package owns the markup,
// the security headers of HTML responses and template loading.
//
// # Overriding templates
//
// Templates are html/template files. layout.html defines "layout", the document every
// page is rendered through; each page file (login.html, consent.html, logout.html,
// logged_out.html, frontchannel_logout.html, error.html, form_post.html, device.html,
// device_result.html, ciba_list.html, passkey_register.html) defines "content",
// which the layout includes. Every template is executed with:
//
//	.Title  the page title (never empty)
//	.Nonce  the Content-Security-Policy nonce of this response: an inline <style> (and
//	        <script> on form_post, and the passkey.js <script src> on the login and passkeys
//	        pages when passkeys are on) runs only with nonce="{{.Nonce}}"
//	.Data   the page's data: LoginPage, ConsentPage, LogoutPage, LoggedOutPage,
//	        FrontchannelLogoutPage, ErrorPage, FormPostPage, DevicePage, DeviceResultPage,
//	        CIBAListPage or PasskeysPage
//
// Overrides must keep the form contract automation relies on: the first <form> is the
// one to submit; it carries hidden csrf_token and interaction inputs; login inputs are
// named username and password; the approving button is name="decision" value="approve",
// the refusing one name="decision" value="deny"; consent has a remember=1 checkbox; the
// device page's code input is named user_code. Passkey forms (the login page's second form,
// the passkeys page's first) carry data-passkey="get" or "create" and data-options, and the
// hidden inputs csrf_token, interaction, passkey_state and credential that passkey.js fills.
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
		Passkey: &samplePasskeyForm,
	}},
	pagePasskeys: {Title: "Passkeys", Data: PasskeysPage{
		Page: samplePage, Account: "alice", Error: "That passkey could not be added.", Added: true,
		Passkeys: []Passkey{{ID: "cred", Name: "Laptop", Synced: true, Created: "2026-01-02", LastUsed: "2026-01-03"}},
		Register: &samplePasskeyForm, ContinueURL: "/authorize/resume?interaction=x",
	}},
	pageConsent: {Title: "Authorize access", Data: ConsentPage{
		Page:       samplePage,
		ClientName: "Example App", ClientID: "example-app", Account: "alice", UserCode: "BCDF-GHJK", BindingMessage: "Pay 42 EUR",
		PasskeysURL: "/passkeys?interaction=x",
		Scopes:      append(DescribeScopes([]string{"openid", "custom"}), Scope{Name: "x"}),
		Resources: []Resource{
			{Identifier: "https://api.example.com", Name: "Example API"},
			{Identifier: "https://other.example.com"},
		},
	}},
	pageLogout: {Title: "Sign out", Data: LogoutPage{
		Page: samplePage, ClientName: "Example App", Account: "alice",
	}},
	pageLoggedOut: {Title: "Signed out", Data: LoggedOutPage{Title: "Signed out"}},
	pageError: {Title: "Error", Data: ErrorPage{
		Title: "Error", Code: "invalid_request", Description: "Missing parameter.",
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

// view is what every template is executed with (see the package documentation).
type view struct {
	Title string
	Nonce string
	Data  any
}

// Renderer renders the pages. It is safe for concurrent use.
type Renderer struct {
	pages map[string]*template.Template
}

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
		t := template.New(name)
		if _, err := t.New(layoutFile).Parse(layout); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
		if _, err := t.New(file).Parse(page); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
		sample.Nonce = "sample"
		if err := t.ExecuteTemplate(io.Discard, "layout", sample); err != nil {
			return nil, fmt.Errorf("ui: %s: %w", file, err)
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
	return r.render(w, status, pageLogin, orDefault(p.Title, "Sign in"), p, formActionSources(p.FormActions), p.Passkey != nil)
}

// Passkeys renders the signed-in user's passkeys page.
func (r *Renderer) Passkeys(w http.ResponseWriter, status int, p PasskeysPage) error {
	return r.render(w, status, pagePasskeys, orDefault(p.Title, "Passkeys"), p, formActionSources(nil), p.Register != nil)
}

// Consent renders the consent page. Scopes without a description get the standard one.
func (r *Renderer) Consent(w http.ResponseWriter, status int, p ConsentPage) error {
	scopes := make([]Scope, len(p.Scopes))
	for i, s := range p.Scopes {
		if s.Description == "" {
			s.Description = describe(s.Name)
		}
		scopes[i] = s
	}
	p.Scopes = scopes // a copy: the caller's slice is left alone
	return r.render(w, status, pageConsent, orDefault(p.Title, "Authorize access"), p, formActionSources(p.FormActions), false)
}

// Logout renders the logout confirmation page.
func (r *Renderer) Logout(w http.ResponseWriter, status int, p LogoutPage) error {
	return r.render(w, status, pageLogout, orDefault(p.Title, "Sign out"), p, formActionSources(p.FormActions), false)
}

// LoggedOut renders the page shown after a logout without a post-logout redirect.
func (r *Renderer) LoggedOut(w http.ResponseWriter, status int, p LoggedOutPage) error {
	return r.render(w, status, pageLoggedOut, orDefault(p.Title, "Signed out"), p, formActionSources(nil), false)
}

// Error renders an error page.
func (r *Renderer) Error(w http.ResponseWriter, status int, p ErrorPage) error {
	return r.render(w, status, pageError, orDefault(p.Title, "Something went wrong"), p, formActionSources(nil), false)
}

// Device renders the device verification page, where the user enters the code their
// device shows.
func (r *Renderer) Device(w http.ResponseWriter, status int, p DevicePage) error {
	return r.render(w, status, pageDevice, orDefault(p.Title, "Connect a device"), p, formActionSources(p.FormActions), false)
}

// DeviceResult renders the outcome of a device authorization or a CIBA request.
func (r *Renderer) DeviceResult(w http.ResponseWriter, status int, p DeviceResultPage) error {
	title := p.Outcome.title()
	if p.Backchannel {
		title = p.Outcome.backchannelTitle()
	}
	return r.render(w, status, pageDeviceResult, title, p, formActionSources(nil), false)
}

// CIBAList renders the signed-in user's pending CIBA requests.
func (r *Renderer) CIBAList(w http.ResponseWriter, status int, p CIBAListPage) error {
	return r.render(w, status, pageCIBAList, "Pending requests", p, formActionSources(nil), false)
}

// FormPost renders a Form Post Response Mode page that submits p.Params to p.Action
// by itself (the only page with a script) or on a click on Continue.
func (r *Renderer) FormPost(w http.ResponseWriter, status int, p FormPostPage) error {
	// Browsers cannot POST a body to a private-use scheme, so only http(s) makes sense.
	origin, ok := cspSource(p.Action)
	if !ok || !(strings.HasPrefix(origin, "https://") || strings.HasPrefix(origin, "http://")) {
		return fail(w, errors.New("ui: form_post action must be an absolute http(s) URL"))
	}
	return r.render(w, status, pageFormPost, "Continue", p, []string{origin}, true)
}

// render executes page into a buffer, so a template error never leaves a half-written
// response, and only then writes headers and body.
func (r *Renderer) render(w http.ResponseWriter, status int, page, title string, data any, formAction []string, script bool) error {
	return r.renderWith(w, status, page, title, data, policy{formAction: formAction, script: script})
}

// renderWith is render with the page's whole Content-Security-Policy.
func (r *Renderer) renderWith(w http.ResponseWriter, status int, page, title string, data any, csp policy) error {
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 999 {
		// WriteHeader would panic.
		return fail(w, fmt.Errorf("ui: invalid HTTP status %d", status))
	}
	t := r.pages[page]
	nonce := rand.Text()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", view{Title: title, Nonce: nonce, Data: data}); err != nil {
		return fail(w, fmt.Errorf("ui: rendering %s: %w", page, err))
	}
	setHeaders(w.Header(), nonce, csp)
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

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
