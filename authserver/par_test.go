package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// pushParams are the web client's authorization request parameters (authURL's), for a push.
func pushParams(extra url.Values) url.Values {
	u, _ := url.Parse(authURL(extra))
	return u.Query()
}

// push posts form to /par as client (HTTP Basic with secret; a public client when secret is
// empty), with a DPoP proof when proof is set.
func (ts *testServer) push(client, secret string, form url.Values, proof string) response {
	ts.t.Helper()
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/par", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret))
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	rec := serve(ts, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

// mustPush pushes the web client's request and returns its request_uri.
func (ts *testServer) mustPush(extra url.Values) string {
	ts.t.Helper()
	res := ts.push("web", webSecret, pushParams(extra), "")
	if res.status != http.StatusCreated {
		ts.t.Fatalf("push: %d %s", res.status, res.raw)
	}
	return res.body["request_uri"].(string)
}

// parAuthURL is an authorization request naming a pushed request.
func parAuthURL(clientID, requestURI string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "request_uri": {requestURI}}
	for k, v := range extra {
		q[k] = v
	}
	return testIssuer + "/authorize?" + q.Encode()
}

func TestPARPushAnswer(t *testing.T) {
	ts := newFlowServer(t, nil)
	res := ts.push("web", webSecret, pushParams(nil), "")
	if res.status != http.StatusCreated {
		t.Fatalf("push: %d %s", res.status, res.raw)
	}
	uri, _ := res.body["request_uri"].(string)
	ref, ok := strings.CutPrefix(uri, "urn:ietf:params:oauth:request_uri:")
	if !ok || len(ref) != 43 { // 32 random bytes, base64url
		t.Errorf("request_uri = %q, want the URN with a 256-bit reference", uri)
	}
	if res.body["expires_in"] != float64(60) {
		t.Errorf("expires_in = %v, want 60 (the default)", res.body["expires_in"])
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if other := ts.mustPush(nil); other == uri {
		t.Error("two pushes got the same request_uri")
	}
}

// TestPARFlow runs the code flow through a pushed request: only the pushed parameters count
// (§4: the state and scope in the query are ignored), and the request_uri is used once.
func TestPARFlow(t *testing.T) {
	ts := newFlowServer(t, nil)
	uri := ts.mustPush(url.Values{"state": {"pushed-state"}})
	authorize := parAuthURL("web", uri, url.Values{"state": {"query-state"}, "scope": {"openid write"}})
	br := ts.browser()
	p := br.do(http.MethodGet, authorize, nil)
	p = br.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
	p = br.follow(p)
	if strings.Contains(p.body, "write") {
		t.Error("the consent page names a scope from the query, not from the pushed request")
	}
	p = br.submit(p, url.Values{"decision": {"approve"}, "remember": {"1"}})
	cb := callback(t, p, webRedirect)
	if cb.Get("state") != "pushed-state" {
		t.Errorf("state = %q, want the pushed one", cb.Get("state"))
	}
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	if scope := res.body["scope"]; scope != "openid profile email offline_access read" {
		t.Errorf("scope = %v, want the pushed scope", scope)
	}
	again := br.do(http.MethodGet, authorize, nil)
	if again.status != http.StatusBadRequest || !strings.Contains(again.body, "invalid_request_uri") {
		t.Errorf("second use of the request_uri: %d %s, want 400 invalid_request_uri", again.status, again.body)
	}
}

// TestPARRefusals: every refusal at the PAR endpoint, as a JSON error (never a redirect).
func TestPARRefusals(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "noauth", Secret: webSecret,
			GrantTypes: []string{"client_credentials"}, RedirectURIs: []string{webRedirect}})
	})
	key := newDPoPKey(t)
	other := newDPoPKey(t)
	cases := []struct {
		name        string
		client      string
		secret      string
		params      url.Values // changes to the web client's parameters (empty value: remove)
		proof       func() string
		method      string
		contentType string
		wantStatus  int
		wantError   string
	}{
		{name: "GET", method: http.MethodGet, wantStatus: http.StatusMethodNotAllowed, wantError: "invalid_request"},
		{name: "JSON body", contentType: "application/json", wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "no client authentication", secret: "-", wantStatus: http.StatusUnauthorized, wantError: "invalid_client"},
		{name: "wrong secret", secret: "not-the-secret-of-web-at-all", wantStatus: http.StatusUnauthorized, wantError: "invalid_client"},
		{name: "unknown client", client: "nobody", wantStatus: http.StatusUnauthorized, wantError: "invalid_client"},
		{name: "request_uri parameter", params: url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:abc"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "client_id of another client", params: url.Values{"client_id": {"first"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "repeated parameter", params: url.Values{"scope": {"openid", "read"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "no response_type", params: url.Values{"response_type": nil}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "response_type token", params: url.Values{"response_type": {"token"}}, wantStatus: http.StatusBadRequest, wantError: "unsupported_response_type"},
		{name: "unregistered redirect_uri", params: url.Values{"redirect_uri": {"https://evil.example/cb"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "bad response_mode", params: url.Values{"response_mode": {"web_message"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "registration parameter", params: url.Values{"registration": {"{}"}}, wantStatus: http.StatusBadRequest, wantError: "registration_not_supported"},
		{name: "scope not allowed", params: url.Values{"scope": {"openid admin"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_scope"},
		{name: "unknown resource", params: url.Values{"resource": {"https://nowhere.example.test"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_target"},
		{name: "no PKCE", params: url.Values{"code_challenge": nil, "code_challenge_method": nil}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "PKCE plain", params: url.Values{"code_challenge_method": {"plain"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "bad max_age", params: url.Values{"max_age": {"-1"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "bad prompt", params: url.Values{"prompt": {"maybe"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "bad id_token_hint", params: url.Values{"id_token_hint": {"not.a.token"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "bad claims", params: url.Values{"claims": {"{not json"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "malformed dpop_jkt", params: url.Values{"dpop_jkt": {"short"}}, wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "client without the code grant", client: "noauth", wantStatus: http.StatusBadRequest, wantError: "unauthorized_client"},
		{name: "dpop_jkt of another key than the proof's", params: url.Values{"dpop_jkt": {other.jkt}},
			proof: func() string { return key.proof(t, http.MethodPost, testIssuer+"/par", "") }, wantStatus: http.StatusBadRequest, wantError: "invalid_dpop_proof"},
		{name: "DPoP proof for the token endpoint", proof: func() string { return key.proof(t, http.MethodPost, testIssuer+"/token", "") },
			wantStatus: http.StatusBadRequest, wantError: "invalid_dpop_proof"},
		{name: "malformed DPoP proof", proof: func() string { return "not-a-jwt" }, wantStatus: http.StatusBadRequest, wantError: "invalid_dpop_proof"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, secret := "web", webSecret
			if c.client != "" {
				client = c.client
			}
			switch c.secret {
			case "":
			case "-":
				secret = ""
			default:
				secret = c.secret
			}
			form := pushParams(nil)
			form.Set("client_id", client)
			for k, v := range c.params {
				if len(v) == 0 {
					form.Del(k)
				} else {
					form[k] = v
				}
			}
			method, contentType := http.MethodPost, "application/x-www-form-urlencoded"
			if c.method != "" {
				method = c.method
			}
			if c.contentType != "" {
				contentType = c.contentType
			}
			req := httptest.NewRequest(method, testIssuer+"/par", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", contentType)
			if secret != "" {
				req.SetBasicAuth(client, secret)
			}
			if c.proof != nil {
				req.Header.Set("DPoP", c.proof())
			}
			rec := serve(ts, req)
			if rec.Code != c.wantStatus || !strings.Contains(rec.Body.String(), `"error":"`+c.wantError+`"`) {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body.String(), c.wantStatus, c.wantError)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("a PAR error redirected to %q", loc)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}

// TestPARRefusedPushSpendsNothing: a push refused after its DPoP proof was checked leaves the
// proof unspent, so the client can correct the request and send the same proof.
func TestPARRefusedPushSpendsNothing(t *testing.T) {
	ts := newFlowServer(t, nil)
	key := newDPoPKey(t)
	proof := key.proof(t, http.MethodPost, testIssuer+"/par", "")
	if res := ts.push("web", webSecret, pushParams(url.Values{"scope": {"openid admin"}}), proof); res.body["error"] != "invalid_scope" {
		t.Fatalf("bad push: %d %s, want invalid_scope", res.status, res.raw)
	}
	if res := ts.push("web", webSecret, pushParams(nil), proof); res.status != http.StatusCreated {
		t.Fatalf("corrected push with the same proof: %d %s", res.status, res.raw)
	}
	if res := ts.push("web", webSecret, pushParams(nil), proof); res.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof: %d %s, want invalid_dpop_proof", res.status, res.raw)
	}
}

// TestPARClientAuthMethods: the PAR endpoint accepts the token endpoint's methods:
// client_secret_post, private_key_jwt (aud: the issuer) and none for public clients.
func TestPARClientAuthMethods(t *testing.T) {
	key := newAssertionKey(t)
	jwks := publicJWKS(t, key)
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients,
			ClientConfig{ID: "post", Secret: webSecret, TokenEndpointAuthMethod: "client_secret_post",
				GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{webRedirect}},
			ClientConfig{ID: "pkjwt", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256",
				JWKS: jwks, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{webRedirect}})
	})
	base := func(client string) url.Values {
		f := pushParams(url.Values{"client_id": {client}, "scope": {"openid"}, "resource": nil})
		return f
	}
	post := base("post")
	post.Set("client_secret", webSecret)
	pk := base("pkjwt")
	pk.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	pk.Set("client_assertion", signAssertion(t, key, "k1", "pkjwt", time.Unix(ts.now.Load(), 0)))
	spa := pushParams(url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"openid"}})
	for name, form := range map[string]url.Values{"client_secret_post": post, "private_key_jwt": pk, "none": spa} {
		t.Run(name, func(t *testing.T) {
			res := ts.push("", "", form, "")
			if res.status != http.StatusCreated {
				t.Fatalf("push: %d %s", res.status, res.raw)
			}
			if strings.Contains(res.raw, webSecret) {
				t.Fatal("the answer echoes the client secret")
			}
		})
	}
}

// TestPARAtAuthorize: the refusals of the authorization endpoint about pushed requests.
func TestPARAtAuthorize(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "pushes", Secret: webSecret,
			GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{webRedirect},
			Security: store.ClientSecurity{RequirePushedAuthorizationRequests: true}})
	})
	used := ts.mustPush(nil)
	ts.browser().signIn(parAuthURL("web", used, nil))
	expired := ts.mustPush(nil)
	cases := []struct {
		name    string
		url     func() string
		advance int64 // seconds the clock moves first
	}{
		{"reused", func() string { return parAuthURL("web", used, nil) }, 0},
		{"unknown", func() string {
			return parAuthURL("web", "urn:ietf:params:oauth:request_uri:"+strings.Repeat("A", 43), nil)
		}, 0},
		{"not our URN", func() string { return parAuthURL("web", "https://app.example.test/request.jwt", nil) }, 0},
		{"empty reference", func() string { return parAuthURL("web", "urn:ietf:params:oauth:request_uri:", nil) }, 0},
		{"another client's", func() string { return parAuthURL("first", ts.mustPush(nil), nil) }, 0},
		{"expired", func() string { return parAuthURL("web", expired, nil) }, 61},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := c.url()
			ts.now.Add(c.advance)
			p := ts.browser().do(http.MethodGet, target, nil)
			if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "invalid_request_uri") {
				t.Fatalf("got %d %q %s, want the error page with invalid_request_uri", p.status, p.location, p.body)
			}
		})
	}
	t.Run("another client's request_uri is spent", func(t *testing.T) {
		uri := ts.mustPush(nil)
		ts.browser().do(http.MethodGet, parAuthURL("first", uri, nil), nil)
		if p := ts.browser().do(http.MethodGet, parAuthURL("web", uri, nil), nil); !strings.Contains(p.body, "invalid_request_uri") {
			t.Fatalf("a request_uri shown to another client still works: %d %s", p.status, p.body)
		}
	})
	t.Run("client requires PAR: a plain request is refused", func(t *testing.T) {
		p := ts.browser().do(http.MethodGet, authURL(url.Values{"client_id": {"pushes"}, "resource": nil, "scope": {"openid"}}), nil)
		cb := callback(t, p, webRedirect)
		if cb.Get("error") != "invalid_request" || cb.Get("state") != "st4te" {
			t.Fatalf("callback %v, want invalid_request with the state", cb)
		}
	})
}

// TestPARRequiredByServer: with pushed_authorization_requests required, discovery says so and
// plain requests are refused; a pushed one goes through.
func TestPARRequiredByServer(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.PAR.Required = true; c.PAR.TTL = 90 * time.Second })
	meta := ts.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{})
	if meta.body["pushed_authorization_request_endpoint"] != testIssuer+"/par" || meta.body["require_pushed_authorization_requests"] != true {
		t.Errorf("discovery: %v / %v", meta.body["pushed_authorization_request_endpoint"], meta.body["require_pushed_authorization_requests"])
	}
	cb := callback(t, ts.browser().do(http.MethodGet, authURL(nil), nil), webRedirect)
	if cb.Get("error") != "invalid_request" {
		t.Fatalf("plain request: %v, want invalid_request", cb)
	}
	p := ts.browser().do(http.MethodGet, authURL(url.Values{"redirect_uri": {"https://evil.example/cb"}}), nil)
	if p.status != http.StatusBadRequest || p.location != "" {
		t.Fatalf("plain request with an unregistered redirect_uri: %d %q, want the error page", p.status, p.location)
	}
	res := ts.push("web", webSecret, pushParams(nil), "")
	if res.status != http.StatusCreated || res.body["expires_in"] != float64(90) {
		t.Fatalf("push: %d %s, want 201 with expires_in 90", res.status, res.raw)
	}
	if cb := ts.browser().signIn(parAuthURL("web", res.body["request_uri"].(string), url.Values{"redirect_uri": {webRedirect}})); cb.Get("code") == "" {
		t.Fatalf("pushed request: %v", cb)
	}
}

func TestPARDiscoveryByDefault(t *testing.T) {
	ts := newFlowServer(t, nil)
	meta := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if meta.body["pushed_authorization_request_endpoint"] != testIssuer+"/par" {
		t.Errorf("pushed_authorization_request_endpoint = %v", meta.body["pushed_authorization_request_endpoint"])
	}
	if _, ok := meta.body["require_pushed_authorization_requests"]; ok {
		t.Error("require_pushed_authorization_requests advertised although not required")
	}
}

func TestPARCORS(t *testing.T) {
	ts := newFlowServer(t, nil)
	req := httptest.NewRequest(http.MethodOptions, testIssuer+"/par", nil)
	req.Header.Set("Origin", "https://spa.example.test")
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := serve(ts, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
}

func TestPARConfigTTL(t *testing.T) {
	cases := []struct {
		ttl     time.Duration
		want    time.Duration
		wantErr bool
	}{
		{0, 60 * time.Second, false},
		{10 * time.Second, 10 * time.Second, false},
		{599 * time.Second, 599 * time.Second, false},
		{600 * time.Second, 0, true},
		{time.Hour, 0, true},
		{-time.Second, 0, true},
		{time.Millisecond, 0, true},
	}
	for _, c := range cases {
		cfg := PARConfig{TTL: c.ttl}
		err := cfg.withDefaults()
		if (err != nil) != c.wantErr || (!c.wantErr && cfg.TTL != c.want) {
			t.Errorf("TTL %s: got %s, %v; want %s, error %v", c.ttl, cfg.TTL, err, c.want, c.wantErr)
		}
	}
}

// TestPARRaceOneWinner: one request_uri sent to the authorization endpoint many times at once
// is used exactly once.
func TestPARRaceOneWinner(t *testing.T) {
	ts := newFlowServer(t, nil)
	uri := ts.mustPush(nil)
	const n = 16
	var wg sync.WaitGroup
	results := make([]page, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ts.browser().do(http.MethodGet, parAuthURL("web", uri, nil), nil)
		}()
	}
	wg.Wait()
	wins := 0
	for _, p := range results {
		switch {
		case p.status == http.StatusOK && strings.Contains(p.body, `name="password"`):
			wins++
		case !strings.Contains(p.body, "invalid_request_uri"):
			t.Errorf("loser: %d %s", p.status, p.body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d authorization requests used one request_uri, want 1", wins)
	}
}

// newAssertionKey is a client's ES256 key for private_key_jwt.
func newAssertionKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// publicJWKS is the JWK Set (kid k1) of key's public half, as a client registers it.
func publicJWKS(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(set)
}

// TestPARDPoPBoundFlow: a public client pushes with a DPoP proof; the code is bound to the
// proof's key (dpop_jkt, RFC 9449 §10.1), so only that key redeems it, and the access token
// is DPoP-bound.
func TestPARDPoPBoundFlow(t *testing.T) {
	ts := newFlowServer(t, nil)
	key, thief := newDPoPKey(t), newDPoPKey(t)
	push := func() string {
		form := pushParams(url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"openid read"}})
		res := ts.push("", "", form, key.proof(t, http.MethodPost, testIssuer+"/par", ""))
		if res.status != http.StatusCreated {
			t.Fatalf("push: %d %s", res.status, res.raw)
		}
		return res.body["request_uri"].(string)
	}
	redeem := func(code string, k dpopKey) response {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"spa"},
			"redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}}
		return ts.doDPoP(http.MethodPost, "/token", form, k.proof(t, http.MethodPost, testIssuer+"/token", ""))
	}
	br := ts.browser()
	cb := br.signIn(parAuthURL("spa", push(), url.Values{"redirect_uri": {spaRedirect}}))
	if res := redeem(cb.Get("code"), thief); res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
		t.Fatalf("code redeemed with another key: %d %s", res.status, res.raw)
	}
	cb = br.signIn(parAuthURL("spa", push(), url.Values{"redirect_uri": {spaRedirect}}))
	res := redeem(cb.Get("code"), key)
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("redeem with the pushed key: %d %s", res.status, res.raw)
	}
	claims := jwtClaims(t, res.body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Errorf("cnf = %v, want jkt %s", claims["cnf"], key.jkt)
	}
}

// TestPARDPoPNonce: with server nonces on, a push without one gets use_dpop_nonce and the
// nonce to retry with (RFC 9449 §8).
func TestPARDPoPNonce(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) { c.DPoPNonceSecret = "Nn5Qz8Wx2Lc7Vb4Km1Hj6Gf3Ds9Ap0Oi5Uy8Tr2Ee7Ww" })
	key := newDPoPKey(t)
	res := ts.push("web", webSecret, pushParams(nil), key.proof(t, http.MethodPost, testIssuer+"/par", ""))
	nonce := res.header.Get("DPoP-Nonce")
	if res.status != http.StatusBadRequest || res.body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("push without a nonce: %d %v %s, want 400 use_dpop_nonce with DPoP-Nonce", res.status, res.header, res.raw)
	}
	res = ts.push("web", webSecret, pushParams(nil), key.proof(t, http.MethodPost, testIssuer+"/par", nonce))
	if res.status != http.StatusCreated {
		t.Fatalf("push with the nonce: %d %s", res.status, res.raw)
	}
}

// TestPARProfileRequiresRedirectURI: under FAPI 2.0 a push must name its redirect_uri
// (profile.Policy.RequireRedirectURIInPAR); the same push from a client without the profile
// may rely on its one registered redirect URI.
func TestPARProfileRequiresRedirectURI(t *testing.T) {
	key := newAssertionKey(t)
	const redirect = "https://fapi.example.test/cb"
	fapiClient := func(id, prof string) ClientConfig {
		return ClientConfig{ID: id, TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256",
			JWKS: publicJWKS(t, key), GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{redirect},
			Security: store.ClientSecurity{Profile: prof}}
	}
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients, fapiClient("fapi", "fapi2"), fapiClient("plain", ""))
	})
	dpopKey := newDPoPKey(t)
	push := func(client string, withRedirect bool) response {
		form := url.Values{
			"client_id": {client}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {signAssertion(t, key, "k1", client, time.Unix(ts.now.Load(), 0))},
		}
		if withRedirect {
			form.Set("redirect_uri", redirect)
		}
		return ts.push("", "", form, dpopKey.proof(t, http.MethodPost, testIssuer+"/par", ""))
	}
	if res := push("fapi", false); res.status != http.StatusBadRequest || res.body["error"] != "invalid_request" {
		t.Fatalf("FAPI push without redirect_uri: %d %s, want 400 invalid_request", res.status, res.raw)
	}
	if res := push("plain", false); res.status != http.StatusCreated {
		t.Fatalf("push without redirect_uri and without a profile: %d %s", res.status, res.raw)
	}
	if res := push("fapi", true); res.status != http.StatusCreated {
		t.Fatalf("FAPI push with redirect_uri: %d %s", res.status, res.raw)
	}
}

// TestPARWithJARM: a pushed request's response_mode applies: the response comes back as a
// signed JWT (JARM) carrying the pushed state.
func TestPARWithJARM(t *testing.T) {
	ts := newFlowServer(t, nil)
	uri := ts.mustPush(url.Values{"response_mode": {modeQueryJWT}, "state": {"pushed"}})
	p := ts.browser().authorizeUntilResponse(parAuthURL("web", uri, nil))
	claims := ts.verifyJWT(jarmParam(t, p, modeQueryJWT), "RS256", "")
	if claims["state"] != "pushed" || claims["aud"] != "web" || claims["code"] == nil {
		t.Fatalf("claims = %v", claims)
	}
}

// FuzzPAR pushes arbitrary bodies as the web client and as a public client: never a 5xx,
// never a redirect, and a 201 only with a request_uri of ours.
func FuzzPAR(f *testing.F) {
	f.Add(pushParams(nil).Encode(), true)
	f.Add(pushParams(url.Values{"request_uri": {"urn:x"}, "dpop_jkt": {"%%"}}).Encode(), true)
	f.Add("client_id=spa&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fspa%2Fcb&code_challenge=%00&request=a.b.c", false)
	f.Add("claims=%7B%22id_token%22%3A1%7D&scope=%ff&resource=%", true)
	ts := newFlowServer(f, nil)
	f.Fuzz(func(t *testing.T, body string, confidential bool) {
		req := httptest.NewRequest(http.MethodPost, testIssuer+"/par", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if confidential {
			req.SetBasicAuth("web", webSecret)
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.String())
		case rec.Header().Get("Location") != "":
			t.Fatalf("%q redirected", body)
		case rec.Code == http.StatusCreated && !strings.Contains(rec.Body.String(), `"request_uri":"urn:ietf:params:oauth:request_uri:`):
			t.Fatalf("%q: 201 without a request_uri: %s", body, rec.Body.String())
		}
	})
}
