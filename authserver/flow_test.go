package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// End-user flow fixtures: a confidential web app, a public SPA, a first-party app and two
// accounts, on top of the standard test server.
const (
	webRedirect   = "https://app.example.test/cb"
	webSecret     = "Wb3Ap9Qx2Lm7Nc4Vz8Kd1Hs6Jf0Gt5Ry3Ue8Io2Pa7S"
	spaRedirect   = "http://127.0.0.1/spa/cb"
	alicePassword = "correct horse battery staple"
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123456789"
)

func newFlowServer(t testing.TB, edit func(*Config)) *testServer {
	return newFlowServerOpts(t, serverOptions{edit: edit})
}

// newFlowServerOpts adds the end-user fixtures to o's configuration.
func newFlowServerOpts(t testing.TB, o serverOptions) *testServer {
	edit := o.edit
	o.edit = func(c *Config) {
		c.Clients = append(c.Clients,
			ClientConfig{ID: "web", Name: "Web <App>", Secret: webSecret,
				GrantTypes:             []string{"authorization_code", "refresh_token"},
				RedirectURIs:           []string{webRedirect, "https://app.example.test/other"},
				PostLogoutRedirectURIs: []string{"https://app.example.test/bye"},
				Scopes:                 []string{"openid", "profile", "email", "offline_access", "read", "write"},
				Resources:              []string{jwtResource, opqResource}},
			ClientConfig{ID: "spa", GrantTypes: []string{"authorization_code", "refresh_token"},
				RedirectURIs: []string{spaRedirect}, Resources: []string{jwtResource}},
			ClientConfig{ID: "first", Secret: webSecret, SkipConsent: true, SubjectType: "pairwise",
				GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://first.example.test/cb"}},
			ClientConfig{ID: "nocode", Secret: webSecret, RedirectURIs: []string{webRedirect}},
		)
		c.Accounts = append(c.Accounts,
			AccountConfig{Username: "Alice", Password: alicePassword, Subject: "alice-sub",
				Claims: map[string]any{"name": "Alice Liddell", "email": "alice@example.test", "email_verified": true}},
			AccountConfig{Username: "bob", Password: "bob's own password", Subject: "bob-sub"},
		)
		if edit != nil {
			edit(c)
		}
	}
	return newTestServerOpts(t, o)
}

// browser is a user agent with a cookie jar talking to the test server in-process.
type browser struct {
	ts      *testServer
	cookies map[string]string
	addr    string      // the peer address (host:port); empty means httptest's 192.0.2.1:1234
	header  http.Header // sent with every request (e.g. Accept-Language)
}

func (ts *testServer) browser() *browser { return &browser{ts: ts, cookies: map[string]string{}} }

// browserAt is a browser connecting from the client address addr (host:port).
func (ts *testServer) browserAt(addr string) *browser {
	b := ts.browser()
	b.addr = addr
	return b
}

type page struct {
	status   int
	header   http.Header
	body     string
	location string
}

func (b *browser) do(method, target string, form url.Values) page {
	b.ts.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if b.addr != "" {
		req.RemoteAddr = b.addr
	}
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	b.ts.srv.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		b.ts.t.Fatalf("%s %s answered %d: %s", method, target, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return page{status: rec.Code, header: rec.Header(), body: rec.Body.String(), location: rec.Header().Get("Location")}
}

// form returns the action and the fields of the first form of an HTML page, with the values
// of its hidden inputs (the form contract of DESIGN.md).
func (p page) form(t testing.TB) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var formNode *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if formNode != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			formNode = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if formNode == nil {
		t.Fatalf("no form on page (status %d): %s", p.status, p.body)
	}
	fields := url.Values{}
	var collect func(*html.Node)
	collect = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "type") == "hidden" {
			fields.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			collect(c)
		}
	}
	collect(formNode)
	return attr(formNode, "action"), fields
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// submit posts the page's first form with extra fields.
func (b *browser) submit(p page, extra url.Values) page {
	b.ts.t.Helper()
	action, fields := p.form(b.ts.t)
	for k, v := range extra {
		fields[k] = v
	}
	return b.do(http.MethodPost, action, fields)
}

// follow follows same-server redirects until a page or a redirect leaving the server.
func (b *browser) follow(p page) page {
	b.ts.t.Helper()
	for i := 0; i < 5 && p.location != "" && strings.HasPrefix(p.location, testIssuer); i++ {
		p = b.do(http.MethodGet, p.location, nil)
	}
	return p
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authURL builds an authorization request for the web client with PKCE.
func authURL(extra url.Values) string {
	q := url.Values{
		"client_id":             {"web"},
		"response_type":         {"code"},
		"redirect_uri":          {webRedirect},
		"scope":                 {"openid profile email offline_access read"},
		"state":                 {"st4te"},
		"nonce":                 {"n0nce"},
		"code_challenge":        {s256(testVerifier)},
		"code_challenge_method": {"S256"},
		"resource":              {jwtResource},
	}
	for k, v := range extra {
		if len(v) == 0 {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return testIssuer + "/authorize?" + q.Encode()
}

// callback parses an authorization response redirect to the client.
func callback(t testing.TB, p page, redirect string) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirect) {
		t.Fatalf("want a redirect to %s, got %d %q: %s", redirect, p.status, p.location, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// signIn runs login and consent for alice and returns the callback parameters.
func (b *browser) signIn(authorize string) url.Values {
	b.ts.t.Helper()
	p := b.do(http.MethodGet, authorize, nil)
	if p.status == http.StatusOK && strings.Contains(p.body, `name="password"`) {
		p = b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
		p = b.follow(p)
	}
	if p.status == http.StatusOK && strings.Contains(p.body, `value="approve">Allow`) {
		p = b.submit(p, url.Values{"decision": {"approve"}, "remember": {"1"}})
	}
	u, _ := url.Parse(authorize)
	return callback(b.ts.t, p, u.Query().Get("redirect_uri"))
}

// redeem exchanges a code for the web client.
func (ts *testServer) redeem(code string, extra url.Values) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}
	for k, v := range extra {
		if len(v) == 0 {
			form.Del(k)
		} else {
			form[k] = v
		}
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{"web", webSecret})
}

func (ts *testServer) refresh(rt string, extra url.Values) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{"web", webSecret})
}

func (ts *testServer) userinfo(token string) response {
	ts.t.Helper()
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

// jwtClaims decodes a JWT's payload without verifying it (verification is tested separately).
func jwtClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// doDPoP sends a form with a DPoP proof (public client: client_id in the form).
func (ts *testServer) doDPoP(method, path string, form url.Values, proof string) response {
	ts.t.Helper()
	req := httptest.NewRequest(method, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	rec := serve(ts, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

func httptestRequest(method, target, authorization string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return req
}

func serve(ts *testServer, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		ts.t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, rec.Code, rec.Body.String())
	}
	return rec
}
