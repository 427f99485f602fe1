package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
)

// FuzzEndpoints throws arbitrary bodies and Basic credentials at every POST endpoint: the
// answer must always be a standard response, never a panic or a 5xx.
func FuzzEndpoints(f *testing.F) {
	f.Add("/token", "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test", "svc", svcSecret)
	f.Add("/token", "grant_type=client_credentials&scope=%00%ff&resource=%", "svc", "x")
	f.Add("/introspect", "token=a.b.c", "svc", svcSecret)
	f.Add("/revoke", "token=eyJhbGciOiJub25lIn0.e30.&token_type_hint=refresh_token", "svc", svcSecret)
	f.Add("/token", "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&grant_type=client_credentials", "", "")
	ts := newTestServer(f)
	f.Fuzz(func(t *testing.T, path, body, user, pass string) {
		if !ts.srv.OwnsPath(path) {
			path = "/token"
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzAuthorize sends arbitrary authorization requests from a signed-in browser: the answer is
// never a 5xx, and a redirect only ever goes to a redirect URI registered for the client.
func FuzzAuthorize(f *testing.F) {
	f.Add(strings.TrimPrefix(authURL(nil), testIssuer+"/authorize?"))
	f.Add(strings.TrimPrefix(authURL(url.Values{"prompt": {"none"}, "response_mode": {"form_post"}}), testIssuer+"/authorize?"))
	f.Add("client_id=web&redirect_uri=https%3A%2F%2Fevil.example&response_type=code")
	f.Add("client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fspa%2Fcb&response_type=code&max_age=%2B1&id_token_hint=a.b.c")
	ts := newFlowServer(f, nil)
	b := ts.browser()
	b.signIn(authURL(nil))
	registered := []string{webRedirect, "https://app.example.test/other", "http://127.0.0.1", "https://first.example.test/cb"}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize", nil)
		req.URL.RawQuery = query
		for k, v := range b.cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", query, rec.Code, rec.Body.String())
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			ok := false
			for _, r := range registered {
				ok = ok || strings.HasPrefix(loc, r)
			}
			if !ok {
				t.Fatalf("%q redirected to %q", query, loc)
			}
		}
	})
}

// FuzzPages posts arbitrary forms to the interactive pages (login, consent, logout).
func FuzzPages(f *testing.F) {
	f.Add("/login", "interaction=abc&csrf_token=x&username=alice&password=p&decision=approve")
	f.Add("/consent", "interaction=&decision=approve&remember=1")
	f.Add("/end_session", "interaction=%ff&decision=approve")
	f.Add("/end_session", "id_token_hint=a.b.c&post_logout_redirect_uri=https%3A%2F%2Fx")
	ts := newFlowServer(f, nil)
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/login" && path != "/consent" && path != "/end_session" && path != pathResume {
			path = "/login"
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzDevice sends arbitrary device authorization requests, device-code polls and user-code
// submissions: the answer is never a 5xx, and every JSON error carries a code.
func FuzzDevice(f *testing.F) {
	f.Add("/device_authorization", "client_id=tv&scope=openid+read&resource=https%3A%2F%2Fapi.example.test", "")
	f.Add("/device_authorization", "client_id=tv&scope=%00&resource=%", "")
	f.Add("/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv&device_code=x", "")
	f.Add("/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=x&device_code=y&client_id=tv", "")
	f.Add("/device", "user_code=bcdf-ghjk", "ok")
	f.Add("/device", "user_code=%ff%fe", "ok")
	ts := newDeviceServer(f, serverOptions{})
	b := ts.browser()
	page := b.do(http.MethodGet, testIssuer+"/device", nil)
	_, hidden := page.form(f)
	csrf := hidden.Get("csrf_token")
	f.Fuzz(func(t *testing.T, path, body, withCSRF string) {
		if path != "/device" && path != "/token" {
			path = "/device_authorization"
		}
		if path == "/device" && withCSRF != "" {
			body += "&csrf_token=" + url.QueryEscape(csrf)
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range b.cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body.String())
		}
		if path != "/device" && rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error":"`) {
			t.Fatalf("%s %q: %d without an OAuth error: %s", path, body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzTokenExchangeAndJWTBearer sends arbitrary token exchange and JWT bearer requests from
// clients allowed to use them: the answer is never a 5xx, and a refusal is an OAuth error.
func FuzzTokenExchangeAndJWTBearer(f *testing.F) {
	f.Add(true, "subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&resource=https%3A%2F%2Fapi.example.test")
	f.Add(true, "subject_token=x&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&actor_token=y&actor_token_type=z&audience=%00")
	f.Add(true, "subject_token=eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLnRlc3QifQ.&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&scope=read+%ff")
	f.Add(false, "assertion=eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLnRlc3QiLCJzdWIiOiJhIn0.AAAA&scope=read")
	f.Add(false, "assertion=&resource=%")
	ts := newExchangeServer(f, serverOptions{})
	// A real subject token among the seeds' mutations.
	f.Add(true, "subject_token="+url.QueryEscape(ts.mustToken("orders-gw", gwExchange, jwtResource, "read"))+
		"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&resource=https%3A%2F%2Fopaque.example.test")
	f.Fuzz(func(t *testing.T, exchangeGrant bool, body string) {
		grant, client := jwtbearer.GrantType, "partner"
		if exchangeGrant {
			grant, client = exchange.GrantType, "orders-gw"
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader("grant_type="+url.QueryEscape(grant)+"&"+body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, gwExchange)
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", grant, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error":"`) {
			t.Fatalf("%s %q: %d without an OAuth error: %s", grant, body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzBackchannelAuthentication sends arbitrary CIBA requests and polls from an
// authenticated client: never a 5xx, every refusal an OAuth error.
func FuzzBackchannelAuthentication(f *testing.F) {
	f.Add(true, "scope=openid+read&login_hint=alice&binding_message=Pay+42&requested_expiry=60")
	f.Add(true, "scope=openid&id_token_hint=a.b.c&acr_values=%00&resource=%")
	f.Add(true, "scope=openid&login_hint_token=eyJhbGciOiJub25lIn0.e30.&client_notification_token=x")
	f.Add(false, "auth_req_id=x")
	f.Add(false, "auth_req_id=&auth_req_id=y")
	ts := newCIBAServer(f, "https://bank.example/cb", "https://bank.example/cb")
	f.Fuzz(func(t *testing.T, start bool, body string) {
		path, form := "/bc-authorize", body
		if !start {
			path, form = "/token", "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&"+body
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bank", bankSecret)
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, form, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error":"`) {
			t.Fatalf("%s %q: %d without an OAuth error: %s", path, form, rec.Code, rec.Body.String())
		}
	})
}
