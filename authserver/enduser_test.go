package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

func TestCodeFlowEndToEnd(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()

	// The login page, a wrong password (generic message), then the right one.
	p := b.do(http.MethodGet, authURL(nil), nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="username"`) || !strings.Contains(p.body, "Web &lt;App&gt;") {
		t.Fatalf("login page: %d %s", p.status, p.body)
	}
	wrong := b.submit(p, url.Values{"username": {"alice"}, "password": {"nope"}, "decision": {"approve"}})
	unknown := b.submit(p, url.Values{"username": {"nobody"}, "password": {"nope"}, "decision": {"approve"}})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, ui.Lang("en").Text(msgBadCredentials)) {
		t.Fatalf("wrong password: %d %s", wrong.status, wrong.body)
	}
	if unknown.status != wrong.status || !strings.Contains(unknown.body, ui.Lang("en").Text(msgBadCredentials)) {
		t.Fatalf("unknown user must look like a wrong password: %d", unknown.status)
	}
	p = b.submit(wrong, url.Values{"username": {"ALICE "}, "password": {alicePassword}, "decision": {"approve"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, testIssuer+pathResume) {
		t.Fatalf("after login: %d %q", p.status, p.location)
	}
	sessionCookie := ""
	for name := range b.cookies {
		if strings.Contains(name, "session") {
			sessionCookie = name
		}
	}
	if sessionCookie == "" {
		t.Fatal("no session cookie")
	}
	consent := b.follow(p)
	if consent.status != http.StatusOK || !strings.Contains(consent.body, "Allow") || !strings.Contains(consent.body, "Stay signed in") {
		t.Fatalf("consent page: %d %s", consent.status, consent.body)
	}
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}, "remember": {"1"}}), webRedirect)
	if cb.Get("state") != "st4te" || cb.Get("iss") != testIssuer || cb.Get("code") == "" {
		t.Fatalf("callback: %v", cb)
	}

	// Code → tokens.
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	at, rt, idt := res.body["access_token"].(string), res.body["refresh_token"].(string), res.body["id_token"].(string)
	if res.body["token_type"] != "Bearer" || res.body["scope"] != "openid profile email offline_access read" {
		t.Errorf("token response: %v", res.body)
	}
	id := ts.verifyIDToken(idt, "RS256")
	for k, want := range map[string]any{"iss": testIssuer, "sub": "alice-sub", "aud": "web", "azp": "web", "nonce": "n0nce"} {
		if id[k] != want {
			t.Errorf("id_token %s = %v, want %v", k, id[k], want)
		}
	}
	if id["sid"] == nil || id["auth_time"] == nil || id["at_hash"] != leftHalfHash("RS256", at) || !slices.Contains(id["amr"].([]any), any("pwd")) {
		t.Errorf("id_token claims: %v", id)
	}
	atc := ts.verifyAccessToken(at, "ES256")
	if aud, _ := atc["aud"].([]any); len(aud) != 2 || aud[0] != jwtResource || aud[1] != testIssuer+"/userinfo" {
		t.Errorf("access token aud = %v", atc["aud"])
	}
	if atc["sub"] != "alice-sub" || atc["scope"] != "openid profile email read" {
		t.Errorf("access token claims: %v", atc)
	}

	// Userinfo: claims by scope.
	ui := ts.userinfo(at)
	if ui.status != http.StatusOK || ui.body["sub"] != "alice-sub" || ui.body["name"] != "Alice Liddell" || ui.body["email"] != "alice@example.test" || ui.body["email_verified"] != true {
		t.Fatalf("userinfo: %d %s", ui.status, ui.raw)
	}

	// Code replay: invalid_grant, and what the first redemption got is revoked.
	if res := ts.redeem(cb.Get("code"), nil); res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
		t.Fatalf("code replay: %d %s", res.status, res.raw)
	}
	if res := ts.refresh(rt, nil); res.body["error"] != "invalid_grant" {
		t.Fatalf("refresh after code replay: %s", res.raw)
	}
	if ts.introspect("web", webSecret, at)["active"] != false {
		t.Fatal("access token still active after code replay")
	}
	if ui := ts.userinfo(at); ui.status != http.StatusUnauthorized || !strings.Contains(ui.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo after revocation: %d %v", ui.status, ui.header)
	}

	// A second sign-in: session and remembered consent skip both pages.
	cb = b.signIn(authURL(url.Values{"prompt": {"none"}}))
	if cb.Get("code") == "" {
		t.Fatalf("prompt=none with a session and consent: %v", cb)
	}
	res = ts.redeem(cb.Get("code"), nil)
	rt1 := res.body["refresh_token"].(string)
	at1 := res.body["access_token"].(string)

	// Refresh rotation, then reuse of the old token revokes the family.
	r2 := ts.refresh(rt1, nil)
	if r2.status != http.StatusOK || r2.body["refresh_token"] == rt1 || r2.body["id_token"] == nil {
		t.Fatalf("refresh: %d %s", r2.status, r2.raw)
	}
	if c := jwtClaims(t, r2.body["id_token"].(string)); c["nonce"] != nil || c["sub"] != "alice-sub" {
		t.Errorf("refreshed id_token: %v", c)
	}
	rt2 := r2.body["refresh_token"].(string)
	if reuse := ts.refresh(rt1, nil); reuse.body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %s", reuse.raw)
	}
	if again := ts.refresh(rt2, nil); again.body["error"] != "invalid_grant" {
		t.Fatalf("the family survived a reuse: %s", again.raw)
	}
	for _, tok := range []string{at1, r2.body["access_token"].(string)} {
		if ts.introspect("web", webSecret, tok)["active"] != false {
			t.Fatal("an access token of the revoked family is still active")
		}
	}
}

func TestRefreshDownscopeAndResource(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	cb := b.signIn(authURL(url.Values{"resource": {jwtResource, opqResource}}))
	res := ts.redeem(cb.Get("code"), url.Values{"resource": {opqResource}})
	if res.status != http.StatusOK || strings.Count(res.body["access_token"].(string), ".") == 2 {
		t.Fatalf("opaque resource token: %d %s", res.status, res.raw)
	}
	in := ts.introspect("web", webSecret, res.body["access_token"].(string))
	if in["active"] != true || in["sub"] != "alice-sub" {
		t.Fatalf("introspect: %v", in)
	}
	rt := res.body["refresh_token"].(string)
	if bad := ts.refresh(rt, url.Values{"scope": {"openid write"}}); bad.body["error"] != "invalid_scope" {
		t.Fatalf("up-scoping: %s", bad.raw)
	}
	if bad := ts.refresh(rt, url.Values{"resource": {rsResource}}); bad.body["error"] != "invalid_target" {
		t.Fatalf("ungranted resource: %s", bad.raw)
	}
	down := ts.refresh(rt, url.Values{"scope": {"openid read offline_access"}, "resource": {jwtResource}})
	if down.status != http.StatusOK || down.body["scope"] != "openid read offline_access" {
		t.Fatalf("down-scope: %d %s", down.status, down.raw)
	}
	if c := ts.verifyAccessToken(down.body["access_token"].(string), "ES256"); c["scope"] != "openid read" {
		t.Errorf("down-scoped token scope = %v", c["scope"])
	}
}

func TestCodeRedemptionRace(t *testing.T) {
	ts := newFlowServer(t, nil)
	cb := ts.browser().signIn(authURL(nil))
	const n = 16
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ts.redeem(cb.Get("code"), nil)
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.body["error"] != "invalid_grant":
			t.Errorf("loser answered %d %s", r.status, r.raw)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", ok, n)
	}
	// The others were replays: what the winner got is revoked (RFC 6749 §4.1.2).
	for _, r := range results {
		if r.status == http.StatusOK {
			if ts.introspect("web", webSecret, r.body["access_token"].(string))["active"] != false {
				t.Error("the access token of a replayed code is active")
			}
			if rr := ts.refresh(r.body["refresh_token"].(string), nil); rr.body["error"] != "invalid_grant" {
				t.Errorf("the refresh token of a replayed code works: %s", rr.raw)
			}
		}
	}
}

func TestRefreshRace(t *testing.T) {
	for _, grace := range []time.Duration{0, 30 * time.Second} {
		t.Run("grace="+grace.String(), func(t *testing.T) {
			ts := newFlowServer(t, func(c *Config) { c.RefreshGracePeriod = grace })
			res := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil)
			rt := res.body["refresh_token"].(string)
			const n = 16
			var wg sync.WaitGroup
			results := make([]response, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = ts.refresh(rt, nil)
				}()
			}
			wg.Wait()
			var issued []string
			for _, r := range results {
				if r.status == http.StatusOK {
					issued = append(issued, r.body["refresh_token"].(string))
				} else if r.body["error"] != "invalid_grant" {
					t.Errorf("refresh answered %d %s", r.status, r.raw)
				}
			}
			slices.Sort(issued)
			issued = slices.Compact(issued)
			if len(issued) != 1 {
				t.Fatalf("%d distinct refresh tokens issued from one, want exactly 1", len(issued))
			}
			if grace > 0 {
				// Every retry inside the grace period gets the winner's response again …
				for _, r := range results {
					if r.status != http.StatusOK {
						t.Fatalf("inside the grace period a retry failed: %s", r.raw)
					}
				}
				// … and the family lives on; after the grace period a reuse revokes it.
				ts.now.Add(int64(grace/time.Second) + 1)
				if r := ts.refresh(rt, nil); r.body["error"] != "invalid_grant" {
					t.Fatalf("reuse after grace: %s", r.raw)
				}
			}
			if r := ts.refresh(issued[0], nil); r.body["error"] != "invalid_grant" {
				t.Fatalf("the family survived a reuse outside any grace period: %s", r.raw)
			}
		})
	}
}

func TestCodeGrantChecks(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	cases := []struct {
		name  string
		extra url.Values
		auth  [2]string
		code  string
	}{
		{"wrong verifier", url.Values{"code_verifier": {strings.Repeat("a", 43)}}, [2]string{}, ""},
		{"missing verifier", url.Values{"code_verifier": nil}, [2]string{}, ""},
		{"malformed verifier", url.Values{"code_verifier": {"short"}}, [2]string{}, ""},
		{"redirect_uri differs", url.Values{"redirect_uri": {"https://app.example.test/other"}}, [2]string{}, ""},
		{"redirect_uri missing", url.Values{"redirect_uri": nil}, [2]string{}, ""},
		{"another client", nil, [2]string{"first", webSecret}, ""},
		{"unknown code", nil, [2]string{}, "not-a-code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.code
			if code == "" {
				code = b.signIn(authURL(nil)).Get("code")
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}
			for k, v := range tc.extra {
				if v == nil {
					form.Del(k)
				} else {
					form[k] = v
				}
			}
			auth := tc.auth
			if auth[0] == "" {
				auth = [2]string{"web", webSecret}
			}
			res := ts.do(http.MethodPost, "/token", form, auth)
			if res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
				t.Fatalf("%d %s", res.status, res.raw)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		code := b.signIn(authURL(nil)).Get("code")
		ts.now.Add(61)
		if res := ts.redeem(code, nil); res.body["error"] != "invalid_grant" {
			t.Fatalf("%s", res.raw)
		}
	})
	t.Run("client without authorization_code", func(t *testing.T) {
		res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, [2]string{"nocode", webSecret})
		if res.body["error"] != "unauthorized_client" {
			t.Fatalf("%s", res.raw)
		}
	})
}

// TestAuthorizeErrorsOnPage: until the client and its redirect URI are verified, errors are
// shown to the user and never redirected (RFC 6749 §4.1.2.1 first paragraph).
func TestAuthorizeErrorsOnPage(t *testing.T) {
	ts := newFlowServer(t, nil)
	cases := []struct {
		name  string
		extra url.Values
		code  string
	}{
		{"no client_id", url.Values{"client_id": nil}, "invalid_request"},
		{"unknown client", url.Values{"client_id": {"ghost"}}, "invalid_client"},
		{"unregistered redirect_uri", url.Values{"redirect_uri": {"https://evil.example/cb"}}, "invalid_request"},
		{"redirect_uri differing by a slash", url.Values{"redirect_uri": {webRedirect + "/"}}, "invalid_request"},
		{"missing redirect_uri with two registered", url.Values{"redirect_uri": nil}, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ts.browser().do(http.MethodGet, authURL(tc.extra), nil)
			if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, tc.code) ||
				!strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d location=%q: %s", p.status, p.location, p.body)
			}
		})
	}
	t.Run("repeated parameter", func(t *testing.T) {
		p := ts.browser().do(http.MethodGet, authURL(nil)+"&client_id=web", nil)
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("%d %q", p.status, p.location)
		}
	})
}

// TestAuthorizeErrorsToClient covers each error of RFC 6749 §4.1.2.1 and OIDC Core §3.1.2.6
// that this server can produce, sent to the verified redirect URI with state and iss.
func TestAuthorizeErrorsToClient(t *testing.T) {
	ts := newFlowServer(t, nil)
	cases := []struct {
		name   string
		extra  url.Values
		client string
		code   string
	}{
		{"missing response_type", url.Values{"response_type": nil}, "", "invalid_request"},
		{"implicit", url.Values{"response_type": {"token"}}, "", "unsupported_response_type"},
		{"hybrid", url.Values{"response_type": {"code id_token"}}, "", "unsupported_response_type"},
		{"client not allowed the code grant", nil, "nocode", "unauthorized_client"},
		{"scope not allowed", url.Values{"scope": {"openid admin"}}, "", "invalid_scope"},
		{"malformed scope", url.Values{"scope": {"openid  read"}}, "", "invalid_scope"},
		{"scope no resource accepts", url.Values{"scope": {"openid write"}, "resource": {opqResource}}, "", "invalid_scope"},
		{"unknown resource", url.Values{"resource": {"https://nowhere.example"}}, "", "invalid_target"},
		{"resource with fragment", url.Values{"resource": {jwtResource + "#x"}}, "", "invalid_target"},
		{"no PKCE", url.Values{"code_challenge": nil, "code_challenge_method": nil}, "", "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, "", "invalid_request"},
		{"PKCE without method", url.Values{"code_challenge_method": nil}, "", "invalid_request"},
		{"short challenge", url.Values{"code_challenge": {"abc"}}, "", "invalid_request"},
		{"unknown prompt", url.Values{"prompt": {"dance"}}, "", "invalid_request"},
		{"prompt none with login", url.Values{"prompt": {"none login"}}, "", "invalid_request"},
		{"negative max_age", url.Values{"max_age": {"-1"}}, "", "invalid_request"},
		{"bad response_mode", url.Values{"response_mode": {"web_message"}}, "", "invalid_request"},
		{"bad id_token_hint", url.Values{"id_token_hint": {"a.b.c"}}, "", "invalid_request"},
		{"bad dpop_jkt", url.Values{"dpop_jkt": {"short"}}, "", "invalid_request"},
		{"malformed request object", url.Values{"request": {"eyJ.e30."}}, "", "invalid_request_object"},
		{"request_uri", url.Values{"request_uri": {"urn:x"}}, "", "invalid_request_uri"},
		{"registration", url.Values{"registration": {"{}"}}, "", "registration_not_supported"},
		{"prompt none without a session", url.Values{"prompt": {"none"}}, "", "login_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := url.Values{}
			for k, v := range tc.extra {
				extra[k] = v
			}
			if tc.client != "" {
				extra.Set("client_id", tc.client)
			}
			cb := callback(t, ts.browser().do(http.MethodGet, authURL(extra), nil), webRedirect)
			if cb.Get("error") != tc.code || cb.Get("state") != "st4te" || cb.Get("iss") != testIssuer || cb.Get("code") != "" {
				t.Fatalf("callback %v, want error %s", cb, tc.code)
			}
		})
	}
}

func TestPromptAndSessionRules(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	first := b.signIn(authURL(nil))
	idt := ts.redeem(first.Get("code"), nil).body["id_token"].(string)

	cb := func(p page) url.Values { return callback(t, p, webRedirect) }
	// prompt=none: consent for more scopes is missing.
	if got := cb(b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}, "scope": {"openid write"}}), nil)); got.Get("error") != "consent_required" {
		t.Fatalf("consent_required: %v", got)
	}
	// prompt=none: login_hint names someone else.
	if got := cb(b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}, "login_hint": {"bob"}}), nil)); got.Get("error") != "account_selection_required" {
		t.Fatalf("account_selection_required: %v", got)
	}
	// prompt=none with a matching id_token_hint works; max_age=0 needs a fresh login.
	if got := cb(b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}, "id_token_hint": {idt}}), nil)); got.Get("code") == "" {
		t.Fatalf("id_token_hint: %v", got)
	}
	ts.now.Add(5)
	if got := cb(b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}, "max_age": {"1"}}), nil)); got.Get("error") != "login_required" {
		t.Fatalf("max_age: %v", got)
	}
	// prompt=login and select_account show the login page although a session exists.
	for _, prompt := range []string{"login", "select_account"} {
		p := b.do(http.MethodGet, authURL(url.Values{"prompt": {prompt}}), nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("prompt=%s: %d", prompt, p.status)
		}
	}
	// prompt=consent shows consent although remembered; deny → access_denied.
	p := b.do(http.MethodGet, authURL(url.Values{"prompt": {"consent"}}), nil)
	if got := cb(b.submit(p, url.Values{"decision": {"deny"}})); got.Get("error") != "access_denied" {
		t.Fatalf("deny: %v", got)
	}
	// Cancel on the login page → access_denied.
	fresh := ts.browser()
	p = fresh.do(http.MethodGet, authURL(nil), nil)
	if got := cb(fresh.submit(p, url.Values{"decision": {"deny"}})); got.Get("error") != "access_denied" {
		t.Fatalf("cancel: %v", got)
	}
	// The session ends after the idle TTL.
	ts.now.Add(int64(DefaultSessionIdleTTL/time.Second) + 10)
	if got := cb(b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil)); got.Get("error") != "login_required" {
		t.Fatalf("idle session: %v", got)
	}
}

func TestInteractionIsBoundToTheBrowser(t *testing.T) {
	ts := newFlowServer(t, nil)
	victim, attacker := ts.browser(), ts.browser()
	p := victim.do(http.MethodGet, authURL(nil), nil)
	// The attacker posts the victim's form from another browser (no matching CSRF cookie).
	_, fields := p.form(t)
	fields.Set("username", "alice")
	fields.Set("password", alicePassword)
	fields.Set("decision", "approve")
	attacker.do(http.MethodGet, authURL(nil), nil) // has a CSRF cookie of its own
	if res := attacker.do(http.MethodPost, testIssuer+pathLogin, fields); res.status != http.StatusForbidden {
		t.Fatalf("cross-browser post: %d", res.status)
	}
	fields.Set("csrf_token", "forged")
	if res := victim.do(http.MethodPost, testIssuer+pathLogin, fields); res.status != http.StatusForbidden {
		t.Fatalf("forged token: %d", res.status)
	}
	// A completed interaction cannot be replayed for a second code.
	p = victim.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
	consent := victim.follow(p)
	callback(t, victim.submit(consent, url.Values{"decision": {"approve"}}), webRedirect)
	if again := victim.submit(consent, url.Values{"decision": {"approve"}}); again.status != http.StatusBadRequest || again.location != "" {
		t.Fatalf("replayed consent: %d %q", again.status, again.location)
	}
}

func TestLoginThrottling(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.LoginFailuresPerAccount = 3 })
	b := ts.browser()
	p := b.do(http.MethodGet, authURL(nil), nil)
	for range 3 {
		p = b.submit(p, url.Values{"username": {"alice"}, "password": {"wrong"}, "decision": {"approve"}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("failure: %d", p.status)
		}
	}
	p = b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many") {
		t.Fatalf("throttled: %d %v", p.status, p.header)
	}
}

func TestResponseModes(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	b.signIn(authURL(nil))
	p := b.do(http.MethodGet, authURL(url.Values{"response_mode": {"fragment"}}), nil)
	u, _ := url.Parse(p.location)
	frag, _ := url.ParseQuery(u.Fragment)
	if u.RawQuery != "" || frag.Get("code") == "" || frag.Get("iss") != testIssuer {
		t.Fatalf("fragment: %q", p.location)
	}
	p = b.do(http.MethodGet, authURL(url.Values{"response_mode": {"form_post"}}), nil)
	action, fields := p.form(t)
	if p.status != http.StatusOK || action != webRedirect || fields.Get("code") == "" || fields.Get("iss") != testIssuer || fields.Get("state") != "st4te" {
		t.Fatalf("form_post: %d %s %v", p.status, action, fields)
	}
}

func TestPublicClientDPoPAndLoopbackPort(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	key := newDPoPKey(t)
	other := newDPoPKey(t)
	redirect := "http://127.0.0.1:53127/spa/cb" // RFC 8252 §7.3: any port on loopback
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {redirect}, "scope": {"read offline_access"}, "resource": nil, "dpop_jkt": {key.jkt}, "nonce": nil}
	cb := b.signIn(authURL(q))
	token := func(form url.Values, proofKey dpopKey) response {
		form.Set("client_id", "spa")
		return ts.doDPoP(http.MethodPost, "/token", form, proofKey.proof(t, http.MethodPost, testIssuer+"/token", ""))
	}
	codeForm := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {testVerifier}}
	}
	if res := token(codeForm(), other); res.body["error"] != "invalid_grant" {
		t.Fatalf("dpop_jkt with another key: %s", res.raw)
	}
	// The failed attempt consumed the code; sign in again for a fresh one.
	cb = b.signIn(authURL(q))
	res := token(codeForm(), key)
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("code: %d %s", res.status, res.raw)
	}
	rt, _ := res.body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token for the public client: %s", res.raw)
	}
	if r := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, other); r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh with another key: %s", r.raw)
	}
	if r := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, key); r.status != http.StatusOK {
		t.Fatalf("refresh with the bound key: %s", r.raw)
	}
	// A port variation is fine; another path is not.
	if p := b.do(http.MethodGet, authURL(url.Values{"client_id": {"spa"}, "redirect_uri": {"http://127.0.0.1:9/other"}, "resource": nil}), nil); p.status != http.StatusBadRequest {
		t.Fatalf("other loopback path: %d", p.status)
	}
}

func TestPairwiseSubjectAndSkipConsent(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	q := url.Values{"client_id": {"first"}, "redirect_uri": {"https://first.example.test/cb"}, "scope": {"openid email"}, "resource": nil}
	p := b.do(http.MethodGet, authURL(q), nil)
	p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	cb := callback(t, p, "https://first.example.test/cb") // no consent page: skip_consent
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {"https://first.example.test/cb"}, "code_verifier": {testVerifier}}
	res := ts.do(http.MethodPost, "/token", form, [2]string{"first", webSecret})
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	sub := jwtClaims(t, res.body["id_token"].(string))["sub"]
	if sub == "alice-sub" || sub == "" {
		t.Fatalf("pairwise sub = %v", sub)
	}
	ui := ts.userinfo(res.body["access_token"].(string))
	if ui.status != http.StatusOK || ui.body["sub"] != sub || ui.body["email"] != "alice@example.test" || ui.body["name"] != nil {
		t.Fatalf("userinfo: %d %s", ui.status, ui.raw)
	}
	// prompt=consent asks even a first-party client's user.
	q.Set("prompt", "consent")
	if p := b.do(http.MethodGet, authURL(q), nil); p.status != http.StatusOK || !strings.Contains(p.body, `value="approve">Allow`) {
		t.Fatalf("prompt=consent for a skip_consent client: %d %q", p.status, p.location)
	}
}

func TestUserinfoChallenges(t *testing.T) {
	ts := newFlowServer(t, nil)
	cc := ts.mustToken("svc", svcSecret, jwtResource, "read") // no userinfo audience
	cases := []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no token", "", http.StatusUnauthorized, `Bearer realm="userinfo"`},
		{"garbage", "Bearer nope", http.StatusUnauthorized, `error="invalid_token"`},
		{"client credentials token", "Bearer " + cc, http.StatusUnauthorized, `error="invalid_token"`},
		{"basic scheme", "Basic eDp5", http.StatusUnauthorized, `error="invalid_request"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := ts.browser()
			req := httptestRequest(http.MethodGet, testIssuer+"/userinfo", tc.auth)
			rec := serve(ts, req)
			if rec.Code != tc.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
			_ = b
		})
	}
	// A token without openid: 403 insufficient_scope.
	b := ts.browser()
	cb := b.signIn(authURL(url.Values{"scope": {"read"}}))
	at := ts.redeem(cb.Get("code"), nil).body["access_token"].(string)
	if r := ts.userinfo(at); r.status != http.StatusUnauthorized {
		// Without openid the token has no userinfo audience at all.
		t.Fatalf("token without openid at userinfo: %d", r.status)
	}
}

func TestRPInitiatedLogout(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	res := ts.redeem(b.signIn(authURL(nil)).Get("code"), nil)
	idt, rt := res.body["id_token"].(string), res.body["refresh_token"].(string)

	bad := []url.Values{
		{"post_logout_redirect_uri": {"https://app.example.test/bye"}},                     // no client
		{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/bye"}}, // not registered
		{"id_token_hint": {"x.y.z"}}, // forged hint
		{"id_token_hint": {idt}, "client_id": {"first"}, "post_logout_redirect_uri": {"https://x/y"}}, // hint for another client
	}
	for _, q := range bad {
		if p := b.do(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil); p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("%v: %d %q", q, p.status, p.location)
		}
	}
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.example.test/bye"}, "state": {"s1"}}
	confirm := b.do(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil)
	if confirm.status != http.StatusOK || !strings.Contains(confirm.body, `value="approve">Sign out<`) {
		t.Fatalf("confirmation: %d %s", confirm.status, confirm.body)
	}
	// Cancel keeps the session.
	if p := b.submit(confirm, url.Values{"decision": {"deny"}}); p.status != http.StatusOK || p.location != "" {
		t.Fatalf("cancel: %d %q", p.status, p.location)
	}
	if ts.refresh(rt, nil).status != http.StatusOK {
		t.Fatal("cancelled logout revoked tokens")
	}
	rt = "" // rotated by the check above; the session's grant is what must die
	done := b.submit(confirm, url.Values{"decision": {"approve"}})
	if done.status != http.StatusSeeOther || done.location != "https://app.example.test/bye?state=s1" {
		t.Fatalf("logout: %d %q", done.status, done.location)
	}
	if got := callback(t, b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil), webRedirect); got.Get("error") != "login_required" {
		t.Fatalf("session survived logout: %v", got)
	}
	// Without a session there is nothing to confirm.
	if p := b.do(http.MethodGet, testIssuer+"/end_session", nil); p.status != http.StatusOK || strings.Contains(p.body, "<form") {
		t.Fatalf("logged-out page: %d", p.status)
	}
}

func TestLogoutRevokesSessionGrants(t *testing.T) {
	ts := newFlowServer(t, nil)
	b := ts.browser()
	res := ts.redeem(b.signIn(authURL(nil)).Get("code"), nil)
	confirm := b.do(http.MethodGet, testIssuer+"/end_session?client_id=web", nil)
	b.submit(confirm, url.Values{"decision": {"approve"}})
	if r := ts.refresh(res.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh after logout: %s", r.raw)
	}
	if ts.introspect("web", webSecret, res.body["access_token"].(string))["active"] != false {
		t.Fatal("access token active after logout")
	}
}

func TestRevokeRefreshTokenRevokesGrant(t *testing.T) {
	ts := newFlowServer(t, nil)
	res := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil)
	rt, at := res.body["refresh_token"].(string), res.body["access_token"].(string)
	if r := ts.do(http.MethodPost, "/revoke", url.Values{"token": {rt}}, [2]string{"svc", svcSecret}); r.status != http.StatusOK {
		t.Fatalf("foreign revoke: %d", r.status)
	}
	if ts.introspect("web", webSecret, at)["active"] != true {
		t.Fatal("another client revoked the grant")
	}
	if r := ts.do(http.MethodPost, "/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, [2]string{"web", webSecret}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	if ts.introspect("web", webSecret, at)["active"] != false || ts.refresh(rt, nil).body["error"] != "invalid_grant" {
		t.Fatal("revoking the refresh token left the grant alive")
	}
}

// TestUserinfoDPoP: a DPoP-bound access token is accepted at userinfo only with the DPoP
// scheme and a proof by its key over this request, with ath (RFC 9449 §7).
func TestUserinfoDPoP(t *testing.T) {
	ts := newFlowServer(t, nil)
	key, other := newDPoPKey(t), newDPoPKey(t)
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"openid email"}, "resource": nil}
	cb := ts.browser().signIn(authURL(q))
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {cb.Get("code")}, "redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}
	res := ts.doDPoP(http.MethodPost, "/token", form, key.proof(t, http.MethodPost, testIssuer+"/token", ""))
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	at := res.body["access_token"].(string)
	call := func(scheme string, proof string) *httptest.ResponseRecorder {
		req := httptestRequest(http.MethodGet, testIssuer+"/userinfo", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return serve(ts, req)
	}
	userinfoURL := testIssuer + "/userinfo"
	cases := []struct {
		name, scheme, proof string
		status              int
		challenge           string
	}{
		{"bearer scheme", "Bearer", "", http.StatusUnauthorized, `DPoP algs=`},
		{"no proof", "DPoP", "", http.StatusUnauthorized, `error="invalid_dpop_proof"`},
		{"other key", "DPoP", other.proofWithATH(t, http.MethodGet, userinfoURL, at), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
		{"wrong htu", "DPoP", key.proofWithATH(t, http.MethodGet, testIssuer+"/token", at), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
		{"no ath", "DPoP", key.proof(t, http.MethodGet, userinfoURL, ""), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
		{"valid", "DPoP", key.proofWithATH(t, http.MethodGet, userinfoURL, at), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(tc.scheme, tc.proof)
			if rec.Code != tc.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
			}
			if tc.status == http.StatusOK && !strings.Contains(rec.Body.String(), "alice@example.test") {
				t.Fatalf("claims: %s", rec.Body.String())
			}
		})
	}
}

// failingSessions makes session lookups fail once armed: a database that times out or breaks.
type failingSessions struct {
	store.Store
	err *error
}

func (f failingSessions) GetSession(ctx context.Context, id string) (*store.Session, error) {
	if *f.err != nil {
		return nil, *f.err
	}
	return f.Store.GetSession(ctx, id)
}

// TestAuthorizeServerFailures: a failing store answers server_error, a timing-out one
// temporarily_unavailable (RFC 6749 §4.1.2.1), both at the client's redirect URI.
func TestAuthorizeServerFailures(t *testing.T) {
	var fail error
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { return failingSessions{Store: st, err: &fail} }})
	b := ts.browser()
	b.signIn(authURL(nil))
	for _, tc := range []struct {
		err  error
		code string
	}{
		{errors.New("disk I/O error"), "server_error"},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), "temporarily_unavailable"},
	} {
		fail = tc.err
		req := httptest.NewRequest(http.MethodGet, authURL(nil), nil)
		for k, v := range b.cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		u, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(u.String(), webRedirect) || u.Query().Get("error") != tc.code || u.Query().Get("state") != "st4te" {
			t.Errorf("%v: %d %q", tc.err, rec.Code, u)
		}
	}
}

// TestResourceRefreshTTL: a resource's refresh_token_ttl bounds the grants that include it.
func TestResourceRefreshTTL(t *testing.T) {
	hour := time.Hour
	ts := newFlowServer(t, func(c *Config) { c.Resources[0].RefreshTokenTTL = &hour }) // jwtResource
	rt := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil).body["refresh_token"].(string)
	ts.now.Add(int64(hour/time.Second) - 10)
	r := ts.refresh(rt, nil)
	if r.status != http.StatusOK {
		t.Fatalf("inside the resource's TTL: %s", r.raw)
	}
	ts.now.Add(20)
	if r := ts.refresh(r.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("past the resource's refresh TTL: %s", r.raw)
	}
}

// TestDisablingAConfiguredAccountRevokesItsGrants: a restart (or reload) with `disabled` on a
// configured account revokes the tokens it already holds.
func TestDisablingAConfiguredAccountRevokesItsGrants(t *testing.T) {
	dsn := t.TempDir() + "/oauth.db"
	first := newFlowServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn})
	res := first.redeem(first.browser().signIn(authURL(nil)).Get("code"), nil)
	at := res.body["access_token"].(string)
	newFlowServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn, edit: func(c *Config) {
		for i := range c.Accounts {
			if c.Accounts[i].Username == "Alice" {
				c.Accounts[i].Disabled = true
			}
		}
	}})
	if first.introspect("web", webSecret, at)["active"] != false {
		t.Fatal("the disabled account's access token is still active")
	}
	if r := first.refresh(res.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh: %s", r.raw)
	}
}

// replayDuringRedemption runs replay right after the first successful code consumption:
// the replay lands between ConsumeAuthorizationCode and CreateGrant of that redemption.
type replayDuringRedemption struct {
	store.Store
	replay func()
}

func (r *replayDuringRedemption) ConsumeAuthorizationCode(ctx context.Context, hash string, usedAt time.Time) (*store.AuthorizationCode, error) {
	c, err := r.Store.ConsumeAuthorizationCode(ctx, hash, usedAt)
	if err == nil && r.replay != nil {
		replay := r.replay
		r.replay = nil
		replay()
	}
	return c, err
}

// TestCodeReplayInsideRedemption: a replay that arrives before the first redemption has
// created its grant still revokes what that redemption issues.
func TestCodeReplayInsideRedemption(t *testing.T) {
	hook := &replayDuringRedemption{}
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { hook.Store = st; return hook }})
	code := ts.browser().signIn(authURL(nil)).Get("code")
	var replay response
	hook.replay = func() { replay = ts.redeem(code, nil) }
	first := ts.redeem(code, nil)
	if replay.status != http.StatusBadRequest || replay.body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %s", replay.status, replay.raw)
	}
	if first.status != http.StatusOK {
		t.Fatalf("the redemption that consumed the code: %d %s", first.status, first.raw)
	}
	if ts.introspect("web", webSecret, first.body["access_token"].(string))["active"] != false {
		t.Error("access token issued after the replay is active")
	}
	if r := ts.refresh(first.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
		t.Errorf("refresh token issued after the replay works: %s", r.raw)
	}
}

// TestCORSForBrowserApps: /token, /userinfo and /revoke answer preflights and name any origin
// (they take credentials in headers or the body, never cookies); the pages do not.
func TestCORSForBrowserApps(t *testing.T) {
	ts := newFlowServer(t, nil)
	for _, path := range []string{"/token", "/userinfo", "/revoke"} {
		req := httptest.NewRequest(http.MethodOptions, testIssuer+path, nil)
		req.Header.Set("Origin", "https://spa.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, dpop")
		rec := serve(ts, req)
		h := rec.Header()
		if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "DPoP") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s: %d %v", path, rec.Code, h)
		}
	}
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/userinfo", nil)
	req.Header.Set("Origin", "https://spa.example")
	if h := serve(ts, req).Header(); h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("userinfo from a browser: %v", h)
	}
	req = httptest.NewRequest(http.MethodGet, authURL(nil), nil)
	req.Header.Set("Origin", "https://spa.example")
	if h := serve(ts, req).Header(); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the authorization endpoint allows cross-origin reads: %v", h)
	}
}

// TestCookiesOnHTTPS: on an https issuer at the root the cookies are Secure, HttpOnly,
// SameSite=Lax, host-only and __Host- prefixed; on loopback http they cannot be Secure.
func TestCookiesOnHTTPS(t *testing.T) {
	for _, tc := range []struct {
		issuer, prefix string
		secure         bool
	}{
		{"https://auth.example.test", "__Host-", true},
		{testIssuer, "", false},
	} {
		ts := newFlowServer(t, func(c *Config) { c.Issuer = tc.issuer })
		req := httptest.NewRequest(http.MethodGet, tc.issuer+"/authorize?"+strings.SplitN(authURL(nil), "?", 2)[1], nil)
		rec := serve(ts, req)
		cookies := rec.Result().Cookies()
		if len(cookies) == 0 {
			t.Fatalf("%s: no CSRF cookie on the login page (%d)", tc.issuer, rec.Code)
		}
		for _, c := range cookies {
			if !strings.HasPrefix(c.Name, tc.prefix) || c.Secure != tc.secure || !c.HttpOnly ||
				c.SameSite != http.SameSiteLaxMode || c.Domain != "" || c.Path != "/" {
				t.Errorf("%s: cookie %+v", tc.issuer, c)
			}
		}
	}
}

// TestSessionAndInteractionLifetimes: session_ttl ends a session however active it is, and a
// login page left open past interaction_ttl cannot be submitted.
func TestSessionAndInteractionLifetimes(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.SessionTTL = time.Hour })
	b := ts.browser()
	b.signIn(authURL(nil))
	for range 3 { // active every 25 minutes: never idle, but past the absolute TTL at the end
		ts.now.Add(25 * 60)
		callback(t, b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil), webRedirect)
	}
	if got := callback(t, b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil), webRedirect); got.Get("error") != "login_required" {
		t.Fatalf("session past session_ttl: %v", got)
	}
	slow := ts.browser()
	p := slow.do(http.MethodGet, authURL(nil), nil)
	ts.now.Add(int64(DefaultInteractionTTL/time.Second) + 1)
	if late := slow.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}); late.status != http.StatusBadRequest || late.location != "" {
		t.Fatalf("login page submitted past interaction_ttl: %d %q", late.status, late.location)
	}
}

// TestPublicClientRevokesItsRefreshToken: revocation (unlike introspection) is open to public
// clients (RFC 7009 §5: a client_id is enough), and discovery says so.
func TestPublicClientRevokesItsRefreshToken(t *testing.T) {
	ts := newFlowServer(t, nil)
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"offline_access"}, "resource": nil, "nonce": nil}
	cb := ts.browser().signIn(authURL(q))
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
		"code": {cb.Get("code")}, "redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}, [2]string{})
	rt, _ := res.body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("token: %s", res.raw)
	}
	if r := ts.do(http.MethodPost, "/revoke", url.Values{"token": {rt}, "client_id": {"spa"}}, [2]string{}); r.status != http.StatusOK {
		t.Fatalf("revoke by the public client: %d %s", r.status, r.raw)
	}
	r := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}, [2]string{})
	if r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %s", r.raw)
	}
	md := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).body
	if !slices.Contains(md["revocation_endpoint_auth_methods_supported"].([]any), any("none")) ||
		slices.Contains(md["introspection_endpoint_auth_methods_supported"].([]any), any("none")) {
		t.Errorf("auth methods: revocation %v, introspection %v", md["revocation_endpoint_auth_methods_supported"], md["introspection_endpoint_auth_methods_supported"])
	}
}
