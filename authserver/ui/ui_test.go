package ui

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
)

// --- helpers -------------------------------------------------------------------------

func newRenderer(t *testing.T, dir string) *Renderer {
	t.Helper()
	r, err := New(dir)
	if err != nil {
		t.Fatalf("New(%q): %v", dir, err)
	}
	return r
}

// render runs fn against a recorder and fails the test if it reports an error.
func render(t *testing.T, fn func(w http.ResponseWriter) error) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := fn(rec); err != nil {
		t.Fatalf("render: %v", err)
	}
	return rec
}

func parse(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// findAll returns the elements under n, in document order, that match tag (any if "").
func findAll(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (tag == "" || d.Data == tag) {
			out = append(out, d)
		}
	}
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrVal(n *html.Node, key string) string { v, _ := attr(n, key); return v }

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// inputs maps the names of the inputs inside n to their elements.
func inputs(n *html.Node) map[string]*html.Node {
	m := map[string]*html.Node{}
	for _, in := range findAll(n, "input") {
		m[attrVal(in, "name")] = in
	}
	return m
}

// cspDirectives splits a Content-Security-Policy into directive name → value.
func cspDirectives(t *testing.T, csp string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if _, dup := m[name]; dup {
			t.Fatalf("duplicate CSP directive %q in %q", name, csp)
		}
		m[name] = value
	}
	return m
}

var testPage = Page{
	Action: "/authorize/interaction/abc", CSRFToken: "tok-123", Interaction: "int-456",
	FormActions: []string{"https://client.example.com/cb"},
}

// --- form contract -------------------------------------------------------------------

func TestInteractivePagesFollowFormContract(t *testing.T) {
	r := newRenderer(t, "")
	type field struct{ typ, autocomplete, value string }
	tests := []struct {
		name    string
		status  int
		render  func(w http.ResponseWriter, status int) error
		approve string
		deny    string
		fields  map[string]field // visible inputs by name
	}{
		{
			name: "login", status: http.StatusOK,
			render: func(w http.ResponseWriter, s int) error {
				return r.Login(w, s, LoginPage{Page: testPage, ClientName: "App", Username: "alice"})
			},
			approve: "Sign in", deny: "Cancel",
			fields: map[string]field{
				"username": {"text", "username", "alice"},
				"password": {"password", "current-password", ""},
			},
		},
		{
			name: "consent", status: http.StatusOK,
			render: func(w http.ResponseWriter, s int) error {
				return r.Consent(w, s, ConsentPage{Page: testPage, ClientName: "App", ClientID: "app",
					Account: "alice", Scopes: DescribeScopes([]string{"openid"})})
			},
			approve: "Allow", deny: "Deny",
			fields: map[string]field{"remember": {"checkbox", "", "1"}},
		},
		{
			name: "logout", status: http.StatusAccepted,
			render: func(w http.ResponseWriter, s int) error {
				return r.Logout(w, s, LogoutPage{Page: testPage, ClientName: "App", Account: "alice"})
			},
			approve: "Sign out", deny: "Cancel",
			fields: map[string]field{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, func(w http.ResponseWriter) error { return tc.render(w, tc.status) })
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			doc := parse(t, rec.Body.String())
			checkDocument(t, doc)

			forms := findAll(doc, "form")
			if len(forms) == 0 {
				t.Fatal("no <form>")
			}
			form := forms[0]
			if got := attrVal(form, "method"); got != "post" {
				t.Errorf("form method = %q, want post", got)
			}
			if got := attrVal(form, "action"); got != testPage.Action {
				t.Errorf("form action = %q, want %q", got, testPage.Action)
			}
			for _, f := range forms {
				in := inputs(f)
				for name, want := range map[string]string{"csrf_token": "tok-123", "interaction": "int-456"} {
					if in[name] == nil || attrVal(in[name], "type") != "hidden" || attrVal(in[name], "value") != want {
						t.Errorf("form lacks hidden %s=%q", name, want)
					}
				}
			}

			in := inputs(form)
			for name, want := range tc.fields {
				el := in[name]
				if el == nil {
					t.Errorf("no input %q", name)
					continue
				}
				if got := attrVal(el, "type"); got != want.typ {
					t.Errorf("%s type = %q, want %q", name, got, want.typ)
				}
				if got := attrVal(el, "autocomplete"); got != want.autocomplete {
					t.Errorf("%s autocomplete = %q, want %q", name, got, want.autocomplete)
				}
				if got := attrVal(el, "value"); got != want.value {
					t.Errorf("%s value = %q, want %q", name, got, want.value)
				}
			}
			if tc.name == "consent" {
				if _, checked := attr(in["remember"], "checked"); checked {
					t.Error("remember is checked by default")
				}
			}
			if tc.name == "login" {
				if _, ok := attr(in["password"], "value"); ok {
					t.Error("password input has a value attribute")
				}
			}
			checkLabels(t, doc)

			// Approve comes first: Enter in a field submits with the first submit button.
			buttons := findAll(form, "button")
			if len(buttons) != 2 {
				t.Fatalf("form has %d buttons, want 2", len(buttons))
			}
			for i, want := range []struct{ value, label string }{{"approve", tc.approve}, {"deny", tc.deny}} {
				b := buttons[i]
				if attrVal(b, "type") != "submit" || attrVal(b, "name") != "decision" || attrVal(b, "value") != want.value {
					t.Errorf("button %d = %v, want submit decision=%s", i, b.Attr, want.value)
				}
				if got := text(b); got != want.label {
					t.Errorf("button %s label = %q, want %q", want.value, got, want.label)
				}
				_, novalidate := attr(b, "formnovalidate")
				if novalidate != (want.value == "deny") {
					t.Errorf("button %s formnovalidate = %v", want.value, novalidate)
				}
			}
		})
	}
}

// checkDocument asserts the accessibility basics every page shares.
func checkDocument(t *testing.T, doc *html.Node) {
	t.Helper()
	htmlEl := findAll(doc, "html")[0]
	if lang := attrVal(htmlEl, "lang"); lang == "" {
		t.Error("<html> has no lang")
	}
	titles := findAll(doc, "title")
	if len(titles) != 1 || text(titles[0]) == "" {
		t.Error("page has no non-empty <title>")
	}
	if n := len(findAll(doc, "main")); n != 1 {
		t.Errorf("page has %d <main>, want 1", n)
	}
	if n := len(findAll(doc, "h1")); n != 1 {
		t.Errorf("page has %d <h1>, want 1", n)
	}
}

// checkLabels asserts every visible input has a <label for> pointing at it.
func checkLabels(t *testing.T, doc *html.Node) {
	t.Helper()
	labelled := map[string]bool{}
	for _, l := range findAll(doc, "label") {
		labelled[attrVal(l, "for")] = true
	}
	for _, in := range findAll(doc, "input") {
		if attrVal(in, "type") == "hidden" {
			continue
		}
		id := attrVal(in, "id")
		if id == "" || !labelled[id] {
			t.Errorf("input %q has no <label for>", attrVal(in, "name"))
		}
	}
}

func TestLoginError(t *testing.T) {
	r := newRenderer(t, "")
	tests := []struct {
		name      string
		err       string
		wantAlert bool
	}{
		{"with error", "Invalid username or password.", true},
		{"without error", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, func(w http.ResponseWriter) error {
				return r.Login(w, http.StatusBadRequest, LoginPage{Page: testPage, Error: tc.err})
			})
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d", rec.Code)
			}
			doc := parse(t, rec.Body.String())
			var alerts []*html.Node
			for _, n := range findAll(doc, "") {
				if attrVal(n, "role") == "alert" {
					alerts = append(alerts, n)
				}
			}
			if (len(alerts) == 1) != tc.wantAlert {
				t.Fatalf("got %d role=alert elements, want alert=%v", len(alerts), tc.wantAlert)
			}
			if tc.wantAlert {
				if got := text(alerts[0]); got != tc.err {
					t.Errorf("alert text = %q, want %q", got, tc.err)
				}
				user := inputs(doc)["username"]
				if attrVal(user, "aria-describedby") != attrVal(alerts[0], "id") {
					t.Error("username is not described by the alert")
				}
			}
		})
	}
}

func TestConsentDescribesScopesAndResources(t *testing.T) {
	r := newRenderer(t, "")
	scopes := []Scope{{Name: "openid"}, {Name: "offline_access"}, {Name: "billing:read"},
		{Name: "email", Description: "Read your work email"}}
	rec := render(t, func(w http.ResponseWriter) error {
		return r.Consent(w, http.StatusOK, ConsentPage{Page: testPage, ClientName: "Photo App",
			ClientID: "photo", Account: "alice@example.com", Scopes: scopes,
			Resources: []Resource{{Identifier: "https://api.example.com", Name: "Photos API"},
				{Identifier: "https://unnamed.example.com"},
				{Identifier: "https://same.example.com", Name: "https://same.example.com"}}})
	})
	doc := parse(t, rec.Body.String())
	var items []string
	for _, li := range findAll(doc, "li") {
		items = append(items, text(li))
	}
	want := []string{"Sign you in", "Stay signed in (refresh tokens)", "billing:read", "Read your work email",
		"Photos API (https://api.example.com)", "https://unnamed.example.com", "https://same.example.com"}
	if !slices.Equal(items, want) {
		t.Errorf("list items = %q\nwant %q", items, want)
	}
	body := text(doc)
	for _, s := range []string{"Photo App", "photo", "alice@example.com"} {
		if !strings.Contains(body, s) {
			t.Errorf("page does not show %q", s)
		}
	}
	if scopes[0].Description != "" {
		t.Error("Consent changed the caller's scopes")
	}
}

func TestDescribeScopes(t *testing.T) {
	tests := []struct{ name, want string }{
		{"openid", "Sign you in"},
		{"offline_access", "Stay signed in (refresh tokens)"},
		{"profile", "View your basic profile (name, picture, locale)"},
		{"email", "View your email address"},
		{"address", "View your postal address"},
		{"phone", "View your phone number"},
		{"api:write", "api:write"},
		{"", ""},
	}
	for _, tc := range tests {
		got := DescribeScopes([]string{tc.name})
		if len(got) != 1 || got[0] != (Scope{Name: tc.name, Description: tc.want}) {
			t.Errorf("DescribeScopes(%q) = %v, want description %q", tc.name, got, tc.want)
		}
	}
}

// --- pages without the interaction form ----------------------------------------------

func TestInformationPages(t *testing.T) {
	r := newRenderer(t, "")
	tests := []struct {
		name      string
		status    int
		render    func(w http.ResponseWriter, status int) error
		title     string
		alert     string // text of the role=alert element, "" for none
		wantForms int
	}{
		{
			name: "logged out", status: http.StatusOK, title: "You are signed out",
			render: func(w http.ResponseWriter, s int) error { return r.LoggedOut(w, s, LoggedOutPage{}) },
		},
		{
			name: "logged out custom title", status: http.StatusOK, title: "Goodbye",
			render: func(w http.ResponseWriter, s int) error {
				return r.LoggedOut(w, s, LoggedOutPage{Title: "Goodbye"})
			},
		},
		{
			name: "error", status: http.StatusBadRequest, title: "Something went wrong",
			alert: "The request could not be completed. Go back to the application and try again.",
			render: func(w http.ResponseWriter, s int) error {
				return r.Error(w, s, ErrorPage{Code: "invalid_request", Description: "redirect_uri is not registered"})
			},
		},
		{
			name: "error without details", status: http.StatusInternalServerError, title: "Oops",
			alert: "The request could not be completed. Go back to the application and try again.",
			render: func(w http.ResponseWriter, s int) error {
				return r.Error(w, s, ErrorPage{Title: "Oops"})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, func(w http.ResponseWriter) error { return tc.render(w, tc.status) })
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			doc := parse(t, rec.Body.String())
			checkDocument(t, doc)
			if got := text(findAll(doc, "title")[0]); got != tc.title {
				t.Errorf("title = %q, want %q", got, tc.title)
			}
			if got := text(findAll(doc, "h1")[0]); got != tc.title {
				t.Errorf("h1 = %q, want %q", got, tc.title)
			}
			var alert string
			for _, n := range findAll(doc, "") {
				if attrVal(n, "role") == "alert" {
					alert = text(n)
				}
			}
			if alert != tc.alert {
				t.Errorf("alert = %q, want %q", alert, tc.alert)
			}
			if n := len(findAll(doc, "form")); n != tc.wantForms {
				t.Errorf("%d forms, want %d", n, tc.wantForms)
			}
		})
	}
}

func TestFormPost(t *testing.T) {
	r := newRenderer(t, "")
	params := []Param{{"code", "c0de"}, {"state", `a"b<c>&d`}, {"iss", "https://as.example.com"}}
	rec := render(t, func(w http.ResponseWriter) error {
		return r.FormPost(w, http.StatusOK, FormPostPage{Action: "https://Client.example.com:8443/cb?x=1", Params: params})
	})
	doc := parse(t, rec.Body.String())
	checkDocument(t, doc)
	form := findAll(doc, "form")[0]
	if got := attrVal(form, "action"); got != "https://Client.example.com:8443/cb?x=1" {
		t.Errorf("action = %q", got)
	}
	if got := attrVal(form, "method"); got != "post" {
		t.Errorf("method = %q", got)
	}
	var got []Param
	for _, in := range findAll(form, "input") {
		if attrVal(in, "type") != "hidden" {
			t.Errorf("visible input %q", attrVal(in, "name"))
		}
		got = append(got, Param{attrVal(in, "name"), attrVal(in, "value")})
	}
	if !slices.Equal(got, params) {
		t.Errorf("params = %q, want %q", got, params)
	}
	buttons := findAll(form, "button")
	if len(buttons) != 1 || text(buttons[0]) != "Continue" || attrVal(buttons[0], "type") != "submit" {
		t.Fatalf("want one Continue submit button, got %d", len(buttons))
	}
	if _, named := attr(buttons[0], "name"); named {
		t.Error("Continue button has a name: it would add a parameter to the response")
	}

	csp := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
	if got := csp["form-action"]; got != "https://client.example.com:8443" {
		t.Errorf("form-action = %q, want the redirect URI's origin only", got)
	}
	scripts := findAll(doc, "script")
	if len(scripts) != 1 {
		t.Fatalf("%d scripts, want 1", len(scripts))
	}
	if want := "'nonce-" + attrVal(scripts[0], "nonce") + "'"; csp["script-src"] != want {
		t.Errorf("script-src = %q, want %q", csp["script-src"], want)
	}
}

func TestFormPostRejectsBadAction(t *testing.T) {
	r := newRenderer(t, "")
	for _, action := range []string{
		"", "/relative", "javascript:alert(1)", "com.example.app:/cb", "https:///nohost",
		"https://a.example;script-src *", "data:text/html,hi", "https://a.example,b/cb",
	} {
		t.Run(action, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := r.FormPost(rec, http.StatusOK, FormPostPage{Action: action, Params: []Param{{"code", "x"}}})
			if err == nil {
				t.Fatal("no error")
			}
			checkPlainFailure(t, rec)
		})
	}
}

func checkPlainFailure(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	if strings.Contains(rec.Body.String(), "<") {
		t.Errorf("failure body contains markup: %q", rec.Body.String())
	}
}

// --- escaping ------------------------------------------------------------------------

func TestHostileInputIsEscaped(t *testing.T) {
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(1)>`
	r := newRenderer(t, "")
	evilPage := Page{Title: evil, Action: "/i", CSRFToken: evil, Interaction: evil}
	tests := []struct {
		name    string
		render  func(w http.ResponseWriter) error
		scripts int
	}{
		{"login", func(w http.ResponseWriter) error {
			return r.Login(w, 200, LoginPage{Page: evilPage, ClientName: evil, Username: evil, Error: evil})
		}, 0},
		{"consent", func(w http.ResponseWriter) error {
			return r.Consent(w, 200, ConsentPage{Page: evilPage, ClientName: evil, ClientID: evil, Account: evil,
				Scopes:    []Scope{{Name: evil}, {Name: "x", Description: evil}},
				Resources: []Resource{{Identifier: evil, Name: evil}, {Identifier: evil}}})
		}, 0},
		{"consent without name", func(w http.ResponseWriter) error {
			return r.Consent(w, 200, ConsentPage{Page: evilPage, ClientID: evil})
		}, 0},
		{"logout", func(w http.ResponseWriter) error {
			return r.Logout(w, 200, LogoutPage{Page: evilPage, ClientName: evil, Account: evil})
		}, 0},
		{"logged out", func(w http.ResponseWriter) error {
			return r.LoggedOut(w, 200, LoggedOutPage{Title: evil})
		}, 0},
		{"error", func(w http.ResponseWriter) error {
			return r.Error(w, 400, ErrorPage{Title: evil, Code: evil, Description: evil})
		}, 0},
		{"form post", func(w http.ResponseWriter) error {
			return r.FormPost(w, 200, FormPostPage{Action: "https://c.example/cb", Params: []Param{{evil, evil}}})
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, tc.render)
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img") {
				t.Fatalf("hostile markup reached the page:\n%s", body)
			}
			doc := parse(t, body)
			if n := len(findAll(doc, "script")); n != tc.scripts {
				t.Errorf("%d <script> elements, want %d", n, tc.scripts)
			}
			if n := len(findAll(doc, "img")); n != 0 {
				t.Errorf("%d <img> elements, want 0", n)
			}
			// The hostile value is shown (or carried) verbatim, not dropped.
			shown := strings.Contains(text(doc), evil)
			for _, in := range findAll(doc, "input") {
				shown = shown || attrVal(in, "value") == evil
			}
			if !shown {
				t.Error("hostile value does not round-trip as text")
			}
		})
	}
}

// --- headers -------------------------------------------------------------------------

func TestSecurityHeaders(t *testing.T) {
	r := newRenderer(t, "")
	pages := []struct {
		name       string
		render     func(w http.ResponseWriter) error
		script     bool
		formAction string
	}{
		{"login", func(w http.ResponseWriter) error { return r.Login(w, 200, LoginPage{Page: testPage}) },
			false, "'self' https://client.example.com"},
		{"consent", func(w http.ResponseWriter) error { return r.Consent(w, 200, ConsentPage{Page: testPage}) },
			false, "'self' https://client.example.com"},
		{"logout", func(w http.ResponseWriter) error { return r.Logout(w, 200, LogoutPage{}) },
			false, "'self'"},
		{"logged out", func(w http.ResponseWriter) error { return r.LoggedOut(w, 200, LoggedOutPage{}) },
			false, "'self'"},
		{"error", func(w http.ResponseWriter) error { return r.Error(w, 400, ErrorPage{}) },
			false, "'self'"},
		{"form post", func(w http.ResponseWriter) error {
			return r.FormPost(w, 200, FormPostPage{Action: "http://localhost:3000/cb"})
		}, true, "http://localhost:3000"},
	}
	fixed := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"Pragma":                 "no-cache",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			var nonces []string
			for range 2 {
				rec := render(t, tc.render)
				for k, want := range fixed {
					if got := rec.Header().Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				csp := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
				styles := findAll(parse(t, rec.Body.String()), "style")
				if len(styles) != 1 {
					t.Fatalf("%d <style> elements, want 1", len(styles))
				}
				nonce := attrVal(styles[0], "nonce")
				if len(nonce) < 22 {
					t.Fatalf("style nonce %q is too short", nonce)
				}
				nonces = append(nonces, nonce)
				want := map[string]string{
					"default-src":     "'none'",
					"style-src":       "'nonce-" + nonce + "'",
					"img-src":         "'self' data:",
					"form-action":     tc.formAction,
					"frame-ancestors": "'none'",
					"base-uri":        "'none'",
				}
				if tc.script {
					want["script-src"] = "'nonce-" + nonce + "'"
				}
				if len(csp) != len(want) {
					t.Errorf("CSP has directives %v, want %v", csp, want)
				}
				for k, v := range want {
					if csp[k] != v {
						t.Errorf("CSP %s = %q, want %q", k, csp[k], v)
					}
				}
			}
			if nonces[0] == nonces[1] {
				t.Error("nonce did not change between responses")
			}
		})
	}
}

func TestFormActionSources(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, []string{"'self'"}},
		{"origin only", []string{"https://App.Example.com/cb?x=1#f"}, []string{"'self'", "https://app.example.com"}},
		{"port kept", []string{"http://localhost:8080/cb"}, []string{"'self'", "http://localhost:8080"}},
		{"ipv6", []string{"https://[::1]:8443/cb"}, []string{"'self'", "https://[::1]:8443"}},
		{"userinfo dropped", []string{"https://u:p@a.example/cb"}, []string{"'self'", "https://a.example"}},
		{"deduplicated", []string{"https://a.example/1", "https://a.example/2"}, []string{"'self'", "https://a.example"}},
		{"private-use scheme", []string{"com.example.app:/oauth"}, []string{"'self'", "com.example.app:"}},
		{"unsafe and invalid dropped", []string{
			"javascript:alert(1)", "data:text/html,x", "/relative", "", "https:///cb", "https://*.example/cb",
			"https://a.example;script-src *", "https://a.example,b", "https://a.example'x", "1nvalid:x",
			"http:", "https://a.example%20b",
		}, []string{"'self'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formActionSources(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("formActionSources(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// --- template loading ----------------------------------------------------------------

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOverrides(t *testing.T) {
	customLogin := `{{define "content"}}<h1>{{.Title}}</h1><p id="custom">Welcome to {{.Data.ClientName}}</p>{{end}}`
	customLayout := `{{define "layout"}}<!doctype html><html lang="fr"><head><title>{{.Title}}</title>` +
		`<style nonce="{{.Nonce}}"></style></head><body><main>{{template "content" .}}</main></body></html>{{end}}`
	tests := []struct {
		name        string
		files       map[string]string
		loginCustom bool   // login shows the custom paragraph
		lang        string // lang of every page
	}{
		{"empty directory", nil, false, "en"},
		{"one page", map[string]string{"login.html": customLogin, "README.txt": "ignored"}, true, "en"},
		{"layout", map[string]string{"layout.html": customLayout}, false, "fr"},
		{"layout and page", map[string]string{"layout.html": customLayout, "login.html": customLogin}, true, "fr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRenderer(t, writeFiles(t, tc.files))

			login := parse(t, render(t, func(w http.ResponseWriter) error {
				return r.Login(w, 200, LoginPage{Page: testPage, ClientName: "<App>"})
			}).Body.String())
			var custom string
			for _, p := range findAll(login, "p") {
				if attrVal(p, "id") == "custom" {
					custom = text(p)
				}
			}
			if tc.loginCustom != (custom == "Welcome to <App>") {
				t.Errorf("custom login paragraph = %q, want override=%v", custom, tc.loginCustom)
			}

			// The consent page is never overridden here and keeps its contract.
			consent := parse(t, render(t, func(w http.ResponseWriter) error {
				return r.Consent(w, 200, ConsentPage{Page: testPage, ClientName: "App"})
			}).Body.String())
			if inputs(consent)["remember"] == nil {
				t.Error("consent page lost its default content")
			}
			for name, doc := range map[string]*html.Node{"login": login, "consent": consent} {
				if got := attrVal(findAll(doc, "html")[0], "lang"); got != tc.lang {
					t.Errorf("%s lang = %q, want %q", name, got, tc.lang)
				}
			}
		})
	}
}

func TestBrokenOverrideFailsNew(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"parse error", map[string]string{"consent.html": `{{define "content"}}{{if}}{{end}}`}, "consent.html"},
		{"unknown field", map[string]string{"logout.html": `{{define "content"}}{{.Data.NoSuchField}}{{end}}`}, "logout.html"},
		{"no content", map[string]string{"error.html": `<p>hello</p>`}, "error.html"},
		{"layout without layout", map[string]string{"layout.html": `<html></html>`}, "layout"},
		{"layout parse error", map[string]string{"layout.html": `{{define "layout"}}{{end}`}, "layout.html"},
		{"unsafe context", map[string]string{"form_post.html": `{{define "content"}}<a href="{{.Data.Action}}{{end}}`}, "form_post.html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(writeFiles(t, tc.files))
			if err == nil {
				t.Fatal("New accepted a broken override")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestNewRejectsMissingDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := New(dir); err == nil {
			t.Errorf("New(%q) succeeded", dir)
		}
	}
}

// A template that fails half-way must not leave a half-written page.
func TestRenderFailureWritesNoPartialPage(t *testing.T) {
	dir := writeFiles(t, map[string]string{"login.html": `{{define "content"}}<p>partial</p>` +
		`{{if eq .Data.Username "boom"}}{{index .Data.FormActions 9}}{{end}}{{end}}`})
	r := newRenderer(t, dir)
	rec := httptest.NewRecorder()
	if err := r.Login(rec, 200, LoginPage{Username: "boom"}); err == nil {
		t.Fatal("no error from a failing template")
	}
	checkPlainFailure(t, rec)
	if rec.Header().Get("Content-Security-Policy") != "" {
		t.Error("failure carries the HTML headers")
	}
}

func TestStatus(t *testing.T) {
	r := newRenderer(t, "")
	tests := []struct {
		status, want int
		wantErr      bool
	}{
		{0, http.StatusOK, false},
		{http.StatusUnauthorized, http.StatusUnauthorized, false},
		{42, http.StatusInternalServerError, true},
		{1000, http.StatusInternalServerError, true},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		err := r.Error(rec, tc.status, ErrorPage{})
		if (err != nil) != tc.wantErr || rec.Code != tc.want {
			t.Errorf("status %d: got %d, err %v; want %d, err %v", tc.status, rec.Code, err, tc.want, tc.wantErr)
		}
	}
}

func TestConcurrentRendering(t *testing.T) {
	r := newRenderer(t, "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			if err := r.Consent(rec, 200, ConsentPage{Page: testPage, Scopes: DescribeScopes([]string{"openid"})}); err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}
