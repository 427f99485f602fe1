package ui

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestFrontchannelLogoutPage(t *testing.T) {
	r := newRenderer(t, "")
	frames := []LogoutFrame{
		{ClientName: "Mail <beta>", URL: "https://mail.example/logout?iss=https%3A%2F%2Fas.example&sid=s1"},
		{ClientName: "Calendar", URL: "https://mail.example/other-path"}, // same origin: listed once
		{ClientName: "Local", URL: "http://127.0.0.1:8080/fc"},
	}
	cases := []struct {
		name         string
		page         FrontchannelLogoutPage
		title        string
		continueHref string // "" when the page stays (no post-logout redirect)
		refresh      string // the meta refresh content, "" for none
	}{
		{"continues to the client", FrontchannelLogoutPage{Frames: frames, ContinueURL: "https://app.example/bye?state=a%20b&x=1"},
			"Signing you out", "https://app.example/bye?state=a%20b&x=1", "2;url=https://app.example/bye?state=a%20b&x=1"},
		{"native app scheme kept", FrontchannelLogoutPage{Frames: frames, ContinueURL: "com.example.app:/bye", RefreshSeconds: 5},
			"Signing you out", "com.example.app:/bye", "5;url=com.example.app:/bye"},
		{"signed-out page", FrontchannelLogoutPage{Frames: frames}, "You are signed out", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := render(t, func(w http.ResponseWriter) error { return r.FrontchannelLogout(w, http.StatusOK, tc.page) })
			doc := parse(t, rec.Body.String())
			checkDocument(t, doc)
			if got := text(findAll(doc, "h1")[0]); got != tc.title {
				t.Errorf("h1 = %q, want %q", got, tc.title)
			}

			// Every frame, in order, hidden, with its URL exactly.
			var srcs []string
			for _, f := range findAll(doc, "iframe") {
				srcs = append(srcs, attrVal(f, "src"))
				if _, hidden := attr(f, "hidden"); !hidden || attrVal(f, "title") == "" {
					t.Errorf("iframe %q: hidden %v, title %q", attrVal(f, "src"), hidden, attrVal(f, "title"))
				}
				if _, sandboxed := attr(f, "sandbox"); sandboxed {
					t.Error("a sandboxed frame would not carry the client's cookies")
				}
			}
			want := []string{frames[0].URL, frames[1].URL, frames[2].URL}
			if !slices.Equal(srcs, want) {
				t.Errorf("iframe srcs = %q, want %q", srcs, want)
			}
			if names := text(findAll(doc, "ul")[0]); names != "Mail <beta>CalendarLocal" {
				t.Errorf("listed apps %q", names)
			}

			// frame-src is exactly the frames' origins; the rest of the policy is the usual one.
			csp := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
			if got := csp["frame-src"]; got != "https://mail.example http://127.0.0.1:8080" {
				t.Errorf("frame-src = %q", got)
			}
			nonce := attrVal(findAll(doc, "style")[0], "nonce")
			for k, v := range map[string]string{"default-src": "'none'", "frame-ancestors": "'none'", "form-action": "'self'",
				"style-src": "'nonce-" + nonce + "'", "base-uri": "'none'"} {
				if csp[k] != v {
					t.Errorf("CSP %s = %q, want %q", k, csp[k], v)
				}
			}

			// The meta refresh is the way on without JavaScript only: a browser running
			// scripts never sees it (a timed refresh fails WCAG 2.2.1, axe-core's meta-refresh),
			// the script goes on instead.
			for _, m := range findAll(doc, "meta") {
				if strings.EqualFold(attrVal(m, "http-equiv"), "refresh") {
					t.Errorf("a browser running scripts sees the meta refresh %q", attrVal(m, "content"))
				}
			}
			noScript, err := html.ParseWithOptions(strings.NewReader(rec.Body.String()), html.ParseOptionEnableScripting(false))
			if err != nil {
				t.Fatal(err)
			}
			var refresh, href string
			for _, m := range findAll(noScript, "meta") {
				if strings.EqualFold(attrVal(m, "http-equiv"), "refresh") {
					refresh = attrVal(m, "content")
				}
			}
			for _, a := range findAll(doc, "a") {
				if attrVal(a, "id") == "continue" {
					href = attrVal(a, "href")
				}
			}
			if refresh != tc.refresh || href != tc.continueHref {
				t.Errorf("meta refresh %q, Continue link %q; want %q, %q", refresh, href, tc.refresh, tc.continueHref)
			}
			scripts := findAll(doc, "script")
			if tc.continueHref == "" {
				if len(scripts) != 0 || csp["script-src"] != "" {
					t.Errorf("a page that goes nowhere runs a script (%d scripts, script-src %q)", len(scripts), csp["script-src"])
				}
				return
			}
			if len(scripts) != 1 || attrVal(scripts[0], "nonce") != nonce || csp["script-src"] != "'nonce-"+nonce+"'" {
				t.Errorf("script: %d, nonce %q, script-src %q; want one with the response nonce", len(scripts), attrVal(scripts[0], "nonce"), csp["script-src"])
			}
		})
	}
}

func TestFrontchannelLogoutRefusesBadInput(t *testing.T) {
	r := newRenderer(t, "")
	good := []LogoutFrame{{ClientName: "A", URL: "https://a.example/fc"}}
	cases := []struct {
		name string
		page FrontchannelLogoutPage
	}{
		{"no frames", FrontchannelLogoutPage{ContinueURL: "https://app.example/bye"}},
		{"javascript frame", FrontchannelLogoutPage{Frames: []LogoutFrame{{URL: "javascript:alert(1)"}}}},
		{"relative frame", FrontchannelLogoutPage{Frames: []LogoutFrame{{URL: "/fc"}}}},
		{"private-use scheme frame", FrontchannelLogoutPage{Frames: []LogoutFrame{{URL: "com.example.app:/fc"}}}},
		{"frame origin that would inject a directive", FrontchannelLogoutPage{Frames: []LogoutFrame{{URL: "https://a.example;script-src/fc"}}}},
		{"javascript continue", FrontchannelLogoutPage{Frames: good, ContinueURL: template.URL("javascript:alert(1)")}},
		{"data continue", FrontchannelLogoutPage{Frames: good, ContinueURL: template.URL("data:text/html,x")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := r.FrontchannelLogout(rec, http.StatusOK, tc.page); err == nil {
				t.Fatal("rendered")
			}
			checkPlainFailure(t, rec)
			if rec.Header().Get("Content-Security-Policy") != "" {
				t.Error("a refused page set a CSP")
			}
		})
	}
}

// An override of the page keeps working with the page's data and policy.
func TestFrontchannelLogoutOverride(t *testing.T) {
	dir := writeFiles(t, map[string]string{"frontchannel_logout.html": `{{define "content"}}<h1>{{.Title}}</h1>` +
		`{{range .Data.Frames}}<iframe src="{{.URL}}" hidden></iframe>{{end}}<a id="continue" href="{{.Data.ContinueURL}}">Go</a>{{end}}`})
	r := newRenderer(t, dir)
	rec := render(t, func(w http.ResponseWriter) error {
		return r.FrontchannelLogout(w, http.StatusOK, FrontchannelLogoutPage{Frames: []LogoutFrame{{URL: "https://a.example/fc"}}, ContinueURL: "https://app.example/bye"})
	})
	doc := parse(t, rec.Body.String())
	if n := len(findAll(doc, "iframe")); n != 1 || attrVal(findAll(doc, "a")[0], "href") != "https://app.example/bye" {
		t.Errorf("override rendered %s", rec.Body.String())
	}
	var found bool
	for n := range doc.Descendants() {
		found = found || (n.Type == html.ElementNode && n.Data == "ul")
	}
	if found {
		t.Error("the default template's list is still there")
	}
}
