package authserver

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
)

const delegatedSecret = "test-api-secret-0123456789-abcdefghijklmnop"

// loginApp is a small example of a "bring your own" login app: its own users, a sign-in form
// and a consent form, answering the server's challenges through the API.
type loginApp struct {
	t   testing.TB
	srv *httptest.Server
	// api is the authorization server reached over HTTP, as a real app would.
	api    string
	secret string
	// users: username → password and subject.
	users map[string][2]string
	// remember, claims and idTokenClaims are what the app answers on login accept;
	// grantScope (nil: all requested) and rememberConsent on consent accept.
	remember        bool
	claims          map[string]any
	idTokenClaims   map[string]any
	grantScope      []string
	rememberConsent bool
	// contexts records every challenge context the app read.
	contexts []delegated.Context
	// answers records the redirect_to of every accept and reject.
	answers []string
}

var appForm = template.Must(template.New("f").Parse(`<!doctype html><form method="post" action="{{.Action}}">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<button name="decision" value="approve">Continue</button><button name="decision" value="deny">Cancel</button></form>`))

// newLoginApp starts the app; attach then points it at the server.
func newLoginApp(t testing.TB) *loginApp {
	app := &loginApp{t: t, secret: delegatedSecret, remember: true, rememberConsent: true,
		users: map[string][2]string{"carol": {"carol's password", "ext-carol-42"}}}
	mux := http.NewServeMux()
	for _, kind := range []string{"login", "consent"} {
		mux.HandleFunc("GET /"+kind, func(w http.ResponseWriter, r *http.Request) {
			ch := r.URL.Query().Get(kind + "_challenge")
			var c delegated.Context
			if status := app.call(http.MethodGet, kind, "", ch, nil, &c); status != http.StatusOK {
				http.Error(w, "challenge refused", http.StatusBadRequest)
				return
			}
			app.contexts = append(app.contexts, c)
			_ = appForm.Execute(w, map[string]string{"Action": "/" + kind, "Challenge": ch})
		})
		mux.HandleFunc("POST /"+kind, func(w http.ResponseWriter, r *http.Request) {
			ch := r.PostFormValue("challenge")
			var body any
			action := "accept"
			switch {
			case r.PostFormValue("decision") != "approve":
				action, body = "reject", delegated.Reject{Error: "access_denied", ErrorDescription: "The user cancelled at the login app"}
			case kind == "login":
				u, ok := app.users[r.PostFormValue("username")]
				if !ok || u[0] != r.PostFormValue("password") {
					http.Error(w, "wrong password", http.StatusUnauthorized)
					return
				}
				body = delegated.LoginAccept{Subject: u[1], AMR: []string{"pwd", "otp"}, ACR: "urn:example:mfa",
					Remember: app.remember, Claims: app.claims, IDTokenClaims: app.idTokenClaims}
			default:
				body = delegated.ConsentAccept{GrantScope: app.grantScope, Remember: app.rememberConsent}
			}
			var out struct {
				RedirectTo string `json:"redirect_to"`
			}
			if status := app.call(http.MethodPut, kind, action, ch, body, &out); status != http.StatusOK {
				http.Error(w, "the server refused the answer", http.StatusBadGateway)
				return
			}
			app.answers = append(app.answers, out.RedirectTo)
			http.Redirect(w, r, out.RedirectTo, http.StatusSeeOther)
		})
	}
	app.srv = httptest.NewServer(mux)
	t.Cleanup(app.srv.Close)
	return app
}

// call calls the API and decodes its JSON answer into out; it returns the status.
func (app *loginApp) call(method, kind, action, challenge string, body, out any) int {
	app.t.Helper()
	path := "/delegated/" + kind
	if action != "" {
		path += "/" + action
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, app.api+path+"?"+url.Values{kind + "_challenge": {challenge}}.Encode(), rd)
	if app.secret != "" {
		req.Header.Set("Authorization", "Bearer "+app.secret)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		app.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// visit is the browser at the app (which keeps no cookies of its own).
func (app *loginApp) visit(method, target string, form url.Values) page {
	app.t.Helper()
	var req *http.Request
	if form != nil {
		req, _ = http.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, target, nil)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		app.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(b), location: res.Header.Get("Location")}
}

// run takes the browser from a page through the app and back until the response leaves for
// the client (or a page of the server's is shown). fill answers the app's forms.
func (app *loginApp) run(b *browser, p page, fill func(kind string) url.Values) page {
	app.t.Helper()
	for range 10 {
		switch {
		case p.location != "" && strings.HasPrefix(p.location, testIssuer):
			p = b.do(http.MethodGet, p.location, nil)
		case p.location != "" && strings.HasPrefix(p.location, app.srv.URL):
			u, _ := url.Parse(p.location)
			kind := strings.TrimPrefix(u.Path, "/")
			form := app.visit(http.MethodGet, p.location, nil)
			if form.status != http.StatusOK {
				app.t.Fatalf("app %s page: %d %s", kind, form.status, form.body)
			}
			_, fields := form.form(app.t)
			for k, v := range fill(kind) {
				fields[k] = v
			}
			p = app.visit(http.MethodPost, app.srv.URL+"/"+kind, fields)
			if p.status != http.StatusSeeOther {
				app.t.Fatalf("app %s answer: %d %s", kind, p.status, p.body)
			}
		default:
			return p
		}
	}
	app.t.Fatal("too many redirects")
	return p
}

func approveAs(user, password string) func(string) url.Values {
	return func(kind string) url.Values {
		return url.Values{"username": {user}, "password": {password}, "decision": {"approve"}}
	}
}

// attach makes the app call ts's API over HTTP.
func (app *loginApp) attach(ts *testServer) {
	as := httptest.NewServer(ts.srv)
	app.t.Cleanup(as.Close)
	app.api = as.URL
}

// newDelegatedServer is the flow server with sign-in (and, with consent, consent) handed to
// a new example app.
func newDelegatedServer(t *testing.T, consent bool, edit func(*Config)) (*testServer, *loginApp) {
	t.Helper()
	app := newLoginApp(t)
	ts := newFlowServer(t, func(c *Config) {
		c.Delegated = delegated.Config{LoginURL: app.srv.URL + "/login", APISecret: delegatedSecret}
		if consent {
			c.Delegated.ConsentURL = app.srv.URL + "/consent"
		}
		if edit != nil {
			edit(c)
		}
	})
	app.attach(ts)
	return ts, app
}

// TestDelegatedLoginAndConsent drives the whole flow through the example app: sign-in and
// consent at the app, the session, the code and the tokens with the app's subject, amr, acr
// and claims, then a second request that needs neither.
func TestDelegatedLoginAndConsent(t *testing.T) {
	ts, app := newDelegatedServer(t, true, nil)
	app.claims = map[string]any{"name": "Carol Danvers", "email": "carol@example.test"}
	app.idTokenClaims = map[string]any{"tenant": "acme", "roles": []any{"admin"}}
	app.grantScope = []string{"openid", "profile", "offline_access", "read"} // not email
	b := ts.browser()

	p := b.do(http.MethodGet, authURL(url.Values{"ui_locales": {"fr-CA en"}, "login_hint": {"carol"}}), nil)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, app.srv.URL+"/login?login_challenge=") {
		t.Fatalf("authorize: %d %q", p.status, p.location)
	}
	p = app.run(b, p, approveAs("carol", "carol's password"))
	cb := callback(t, p, webRedirect)
	if cb.Get("code") == "" || cb.Get("state") != "st4te" {
		t.Fatalf("callback: %v", cb)
	}
	if len(app.contexts) != 2 {
		t.Fatalf("the app read %d contexts, want login and consent", len(app.contexts))
	}
	login, consent := app.contexts[0], app.contexts[1]
	if login.Kind != "login" || login.Client.ClientID != "web" || login.Client.ClientName != "Web <App>" ||
		!slices.Equal(login.OIDCContext.UILocales, []string{"fr-CA", "en"}) || login.OIDCContext.LoginHint != "carol" ||
		!slices.Equal(login.RequestedScope, []string{"openid", "profile", "email", "offline_access", "read"}) ||
		!slices.Equal(login.RequestedAudience, []string{jwtResource}) || login.Subject != "" || login.Skip || login.ExpiresAt == 0 {
		t.Errorf("login context: %+v", login)
	}
	if consent.Kind != "consent" || consent.Subject != "ext-carol-42" || consent.ACR != "urn:example:mfa" || !slices.Equal(consent.AMR, []string{"pwd", "otp"}) {
		t.Errorf("consent context: %+v", consent)
	}

	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	if res.body["scope"] != "openid profile offline_access read" {
		t.Errorf("scope = %v, want what the app granted", res.body["scope"])
	}
	id := ts.verifyIDToken(res.body["id_token"].(string), "RS256")
	if id["sub"] != "ext-carol-42" || id["acr"] != "urn:example:mfa" || id["tenant"] != "acme" || id["nonce"] != "n0nce" {
		t.Errorf("id_token: %v", id)
	}
	if amr, _ := id["amr"].([]any); len(amr) != 2 || amr[0] != "pwd" || amr[1] != "otp" {
		t.Errorf("id_token amr: %v", id["amr"])
	}
	ui := ts.userinfo(res.body["access_token"].(string))
	if ui.status != http.StatusOK || ui.body["sub"] != "ext-carol-42" || ui.body["name"] != "Carol Danvers" || ui.body["email"] != nil {
		t.Errorf("userinfo (profile granted, email not): %d %s", ui.status, ui.raw)
	}
	// The app's claims outlive the code: refreshed ID tokens carry them.
	r2 := ts.refresh(res.body["refresh_token"].(string), nil)
	if r2.status != http.StatusOK || jwtClaims(t, r2.body["id_token"].(string))["tenant"] != "acme" {
		t.Errorf("refresh: %d %s", r2.status, r2.raw)
	}

	// Again with the same scopes: the remembered session and consent skip the app.
	seen := len(app.contexts)
	p = b.do(http.MethodGet, authURL(url.Values{"scope": {"openid profile read"}, "prompt": {"none"}}), nil)
	if cb := callback(t, p, webRedirect); cb.Get("code") == "" || len(app.contexts) != seen {
		t.Fatalf("second request: %v, app asked %d times more", cb, len(app.contexts)-seen)
	}
	// A scope the user did not grant asks the consent app again (and only it).
	p = b.do(http.MethodGet, authURL(url.Values{"scope": {"openid email"}}), nil)
	if !strings.HasPrefix(p.location, app.srv.URL+"/consent?consent_challenge=") {
		t.Fatalf("new scope: %d %q", p.status, p.location)
	}
	// prompt=login sends the user to the app again, telling it who is signed in.
	p = b.do(http.MethodGet, authURL(url.Values{"prompt": {"login"}}), nil)
	app.grantScope = nil
	p = app.run(b, p, approveAs("carol", "carol's password"))
	if cb := callback(t, p, webRedirect); cb.Get("code") == "" {
		t.Fatalf("prompt=login: %v", cb)
	}
	if c := app.contexts[seen]; c.Kind != "login" || c.Subject != "ext-carol-42" || !slices.Equal(c.Prompt, []string{"login"}) {
		t.Errorf("prompt=login context: %+v", c)
	}
}

// TestDelegatedLoginBuiltInConsent: only sign-in is delegated; the built-in consent page
// asks for the app's user.
func TestDelegatedLoginBuiltInConsent(t *testing.T) {
	ts, app := newDelegatedServer(t, false, nil)
	b := ts.browser()
	p := app.run(b, b.do(http.MethodGet, authURL(nil), nil), approveAs("carol", "carol's password"))
	if p.status != http.StatusOK || !strings.Contains(p.body, `value="approve">Allow`) {
		t.Fatalf("want the built-in consent page: %d %s", p.status, p.body)
	}
	cb := callback(t, b.submit(p, url.Values{"decision": {"approve"}}), webRedirect)
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK || jwtClaims(t, res.body["id_token"].(string))["sub"] != "ext-carol-42" {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
}

// TestDelegatedReject: the app's error reaches the client's redirect URI with the state.
func TestDelegatedReject(t *testing.T) {
	ts, app := newDelegatedServer(t, true, nil)
	b := ts.browser()
	p := app.run(b, b.do(http.MethodGet, authURL(nil), nil), func(string) url.Values { return url.Values{"decision": {"deny"}} })
	cb := callback(t, p, webRedirect)
	if cb.Get("error") != "access_denied" || cb.Get("error_description") != "The user cancelled at the login app" || cb.Get("state") != "st4te" || cb.Get("code") != "" {
		t.Fatalf("reject: %v", cb)
	}
	// Consent rejected after a sign-in.
	p = app.run(b, b.do(http.MethodGet, authURL(nil), nil), func(kind string) url.Values {
		if kind == "consent" {
			return url.Values{"decision": {"deny"}}
		}
		return approveAs("carol", "carol's password")(kind)
	})
	if cb := callback(t, p, webRedirect); cb.Get("error") != "access_denied" {
		t.Fatalf("consent reject: %v", cb)
	}
	// Reject bodies are checked: only authorization errors, printable descriptions.
	p = b.do(http.MethodGet, authURL(nil), nil)
	ch := challengeOf(t, p.location)
	for _, body := range []string{`{"error":"invalid_client"}`, `{"error_description":"bad \"quote\""}`, `{"unknown":1}`, `[`} {
		if st, out := rawCall(t, app, http.MethodPut, "/delegated/consent/reject?consent_challenge="+url.QueryEscape(ch), body); st != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Errorf("reject body %s: %d %v", body, st, out)
		}
	}
}

// challengeOf returns the challenge of a redirect to the app.
func challengeOf(t *testing.T, location string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"login_challenge", "consent_challenge"} {
		if v := u.Query().Get(k); v != "" {
			return v
		}
	}
	t.Fatalf("no challenge in %q", location)
	return ""
}

// rawCall calls the API with the app's secret and a raw body.
func rawCall(t *testing.T, app *loginApp, method, pathQuery, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, app.api+pathQuery, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+app.secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestDelegatedChallengeRules: replayed, expired, forged, foreign and misused challenges
// and verifiers are refused with clear errors, and the API wants its secret.
func TestDelegatedChallengeRules(t *testing.T) {
	ts, app := newDelegatedServer(t, true, nil)
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	ch := challengeOf(t, p.location)
	q := "?login_challenge=" + url.QueryEscape(ch)
	accept := `{"subject":"ext-carol-42","remember":true}`

	// The secret.
	for _, auth := range []string{"", "Bearer wrong-secret", "Basic " + delegatedSecret, "Bearer " + delegatedSecret + "x"} {
		req, _ := http.NewRequest(http.MethodGet, app.api+"/delegated/login"+q, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("auth %q: %d %v", auth, res.StatusCode, res.Header)
		}
	}
	// Bad challenges and bodies.
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{http.MethodGet, "/delegated/login", "", http.StatusBadRequest, "invalid_request"},
		{http.MethodGet, "/delegated/login?login_challenge=forged", "", http.StatusNotFound, delegated.ErrInvalidChallenge},
		{http.MethodGet, "/delegated/login?login_challenge=" + url.QueryEscape(ch[:len(ch)-2]+"AA"), "", http.StatusNotFound, delegated.ErrInvalidChallenge},
		// A login challenge is not a consent challenge.
		{http.MethodGet, "/delegated/consent?consent_challenge=" + url.QueryEscape(ch), "", http.StatusNotFound, delegated.ErrInvalidChallenge},
		{http.MethodPost, "/delegated/login" + q, "", http.StatusMethodNotAllowed, "invalid_request"},
		{http.MethodGet, "/delegated/login/accept" + q, "", http.StatusMethodNotAllowed, "invalid_request"},
		{http.MethodPut, "/delegated/login/accept" + q, `{}`, http.StatusBadRequest, "invalid_request"},
		{http.MethodPut, "/delegated/login/accept" + q, `{"subject":"has space"}`, http.StatusBadRequest, "invalid_request"},
		{http.MethodPut, "/delegated/login/accept" + q, `{"subject":"x","id_token_claims":{"sub":"admin"}}`, http.StatusBadRequest, "invalid_request"},
		{http.MethodPut, "/delegated/login/accept" + q, `{"subject":"x","claims":{"email_verified":"yes"}}`, http.StatusBadRequest, "invalid_request"},
		{http.MethodPut, "/delegated/login/accept" + q, `{"subject":"x","remember_for":-1}`, http.StatusBadRequest, "invalid_request"},
	} {
		if st, out := rawCall(t, app, tc.method, tc.path, tc.body); st != tc.status || out["error"] != tc.code {
			t.Errorf("%s %s %s: %d %v, want %d %s", tc.method, tc.path, tc.body, st, out, tc.status, tc.code)
		}
	}
	// None of those used the challenge: it is accepted once, and only once.
	st, out := rawCall(t, app, http.MethodPut, "/delegated/login/accept"+q, accept)
	if st != http.StatusOK || !strings.HasPrefix(out["redirect_to"].(string), testIssuer+delegated.PathCallback+"?verifier=") {
		t.Fatalf("accept: %d %v", st, out)
	}
	redirectTo := out["redirect_to"].(string)
	for action, body := range map[string]string{"accept": accept, "reject": `{}`} {
		if st, out := rawCall(t, app, http.MethodPut, "/delegated/login/"+action+q, body); st != http.StatusConflict || out["error"] != delegated.ErrUsedChallenge {
			t.Errorf("%s after the accept: %d %v", action, st, out)
		}
	}

	// The redirect_to works in the browser the challenge was issued to, once.
	other := ts.browser()
	if p := other.do(http.MethodGet, redirectTo, nil); p.status != http.StatusForbidden {
		t.Fatalf("verifier in another browser: %d %s", p.status, p.body)
	}
	p = b.follow(b.do(http.MethodGet, redirectTo, nil))
	if !strings.HasPrefix(p.location, app.srv.URL+"/consent?consent_challenge=") {
		t.Fatalf("verifier: %d %q %s", p.status, p.location, p.body)
	}
	if p := b.do(http.MethodGet, redirectTo, nil); p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
		t.Fatalf("verifier replayed: %d %s", p.status, p.body)
	}
	if p := b.do(http.MethodGet, testIssuer+delegated.PathCallback+"?verifier=forged", nil); p.status != http.StatusBadRequest {
		t.Fatalf("forged verifier: %d", p.status)
	}

	// Consent: only requested scopes and resources may be granted.
	cq := "?consent_challenge=" + url.QueryEscape(challengeOf(t, p.location))
	if st, out := rawCall(t, app, http.MethodPut, "/delegated/consent/accept"+cq, `{"grant_scope":["openid","write"]}`); st != http.StatusBadRequest || out["error"] != "invalid_scope" {
		t.Errorf("grant_scope beyond the request: %d %v", st, out)
	}
	if st, out := rawCall(t, app, http.MethodPut, "/delegated/consent/accept"+cq, `{"grant_access_token_audience":["`+opqResource+`"]}`); st != http.StatusBadRequest || out["error"] != "invalid_target" {
		t.Errorf("audience beyond the request: %d %v", st, out)
	}

	// Expiry: the challenge outlives neither its TTL nor the interaction.
	ts.now.Add(int64(delegated.DefaultTTL/time.Second) + 1)
	for _, tc := range [][2]string{{http.MethodGet, "/delegated/consent" + cq}, {http.MethodPut, "/delegated/consent/accept" + cq}} {
		if st, out := rawCall(t, app, tc[0], tc[1], `{}`); st != http.StatusGone || out["error"] != delegated.ErrExpiredChallenge {
			t.Errorf("%s expired: %d %v", tc[0], st, out)
		}
	}

	// A challenge of another issuer (same master key) is foreign.
	ts2, app2 := newDelegatedServer(t, true, func(c *Config) { c.Issuer = "http://127.0.0.1:9998" })
	p2 := ts2.browser().do(http.MethodGet, strings.Replace(authURL(nil), testIssuer, "http://127.0.0.1:9998", 1), nil)
	foreign := "/delegated/login?login_challenge=" + url.QueryEscape(challengeOf(t, p2.location))
	if st, out := rawCall(t, app, http.MethodGet, foreign, ""); st != http.StatusNotFound || out["error"] != delegated.ErrInvalidChallenge {
		t.Errorf("foreign challenge: %d %v", st, out)
	}
	if st, _ := rawCall(t, app2, http.MethodGet, foreign, ""); st != http.StatusOK {
		t.Errorf("the challenge at its own issuer: %d", st)
	}
}

// TestDelegatedLoginNotRemembered: without remember the session ends with the browser and
// the interaction, and a disabled account is refused.
func TestDelegatedLoginNotRemembered(t *testing.T) {
	ts, app := newDelegatedServer(t, true, nil)
	app.remember = false
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	ch := challengeOf(t, p.location)
	st, out := rawCall(t, app, http.MethodPut, "/delegated/login/accept?login_challenge="+url.QueryEscape(ch), `{"subject":"ext-dave"}`)
	if st != http.StatusOK {
		t.Fatalf("accept: %d %v", st, out)
	}
	req := httptest.NewRequest(http.MethodGet, out["redirect_to"].(string), nil)
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	rec := serve(ts, req)
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if strings.Contains(c.Name, "session") {
			session = c
		}
	}
	if session == nil || session.MaxAge != 0 || !strings.HasPrefix(rec.Header().Get("Location"), testIssuer+pathResume) {
		t.Fatalf("callback: %d %v %q", rec.Code, session, rec.Header().Get("Location"))
	}
	b.cookies[session.Name] = session.Value
	if p := b.follow(b.do(http.MethodGet, rec.Header().Get("Location"), nil)); !strings.HasPrefix(p.location, app.srv.URL+"/consent") {
		t.Fatalf("resume: %d %q", p.status, p.location)
	}
	// After the interaction's lifetime the session is gone: prompt=none needs a sign-in.
	ts.now.Add(int64(DefaultInteractionTTL/time.Second) + 61)
	if cb := callback(t, b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil), webRedirect); cb.Get("error") != "login_required" {
		t.Fatalf("after the interaction: %v", cb)
	}

	// A disabled account (here a local one the app names) cannot sign in through the app.
	ts2, app2 := newDelegatedServer(t, true, func(c *Config) {
		c.Accounts = append(c.Accounts, AccountConfig{Username: "eve", Password: "eve's password", Subject: "eve-sub", Disabled: true})
	})
	b2 := ts2.browser()
	app2.users["eve"] = [2]string{"x", "eve-sub"}
	p = app2.run(b2, b2.do(http.MethodGet, authURL(nil), nil), approveAs("eve", "x"))
	if cb := callback(t, p, webRedirect); cb.Get("error") != "access_denied" {
		t.Fatalf("disabled account: %v", cb)
	}
}

func TestDelegatedConfig(t *testing.T) {
	for _, tc := range []struct {
		c    delegated.Config
		want string
	}{
		{delegated.Config{LoginURL: "https://login.example/in", APISecret: "short"}, "api_secret"},
		{delegated.Config{LoginURL: "/relative", APISecret: delegatedSecret}, "login_url"},
		{delegated.Config{ConsentURL: "https://c.example/#frag", APISecret: delegatedSecret}, "consent_url"},
		{delegated.Config{LoginURL: "https://login.example/in", APISecret: delegatedSecret, TTL: time.Second}, "ttl"},
		{delegated.Config{APISecret: delegatedSecret}, "login_url or consent_url"},
		{delegated.Config{LoginURL: "https://login.example/in?tenant=a", APISecret: delegatedSecret}, ""},
	} {
		if err := (&delegated.Config{LoginURL: "https://l.example/", APISecret: "{env.SECRET}"}).Validate(true); err != nil {
			t.Errorf("a placeholder secret is checked at run time: %v", err)
		}
		err := tc.c.Validate(false)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

// TestDelegatedDeviceFlow: the device verification page signs in through the app too; the
// built-in consent page shows the code, and the device gets tokens for the app's user.
func TestDelegatedDeviceFlow(t *testing.T) {
	app := newLoginApp(t)
	ts := newDeviceServer(t, serverOptions{edit: func(c *Config) {
		c.Delegated = delegated.Config{LoginURL: app.srv.URL + "/login", APISecret: delegatedSecret}
	}})
	app.attach(ts)
	start := ts.startDevice(nil)
	userCode := start["user_code"].(string)
	b := ts.browser()
	p := b.submit(b.do(http.MethodGet, testIssuer+"/device?"+url.Values{"user_code": {userCode}}.Encode(), nil), url.Values{"user_code": {userCode}})
	if !strings.HasPrefix(p.location, app.srv.URL+"/login?login_challenge=") {
		t.Fatalf("verification page: %d %q", p.status, p.location)
	}
	p = app.run(b, p, approveAs("carol", "carol's password"))
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="user-code">`+userCode+`<`) {
		t.Fatalf("consent page: %d %s", p.status, p.body)
	}
	if c := app.contexts[0]; c.DeviceUserCode != userCode || c.Client.ClientID != "tv" {
		t.Errorf("login context: %+v", c)
	}
	if done := b.submit(p, url.Values{"decision": {"approve"}}); done.status != http.StatusOK || !strings.Contains(done.body, "Device connected") {
		t.Fatalf("approval: %d %s", done.status, done.body)
	}
	ts.now.Add(10)
	res := ts.pollDevice(start["device_code"].(string))
	if res.status != http.StatusOK || jwtClaims(t, res.body["id_token"].(string))["sub"] != "ext-carol-42" {
		t.Fatalf("tokens: %d %s", res.status, res.raw)
	}
}
