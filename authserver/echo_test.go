package authserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// echoMarker is in every hostile value. It is plain ASCII letters and digits, so JSON, HTML
// and URL encodings leave it as is: a response that contains it echoes request input.
const echoMarker = "h0st1le"

// hostileValues are request values an attacker would like to see reflected.
var hostileValues = map[string]string{
	"quotes":         echoMarker + `"'`,
	"angle brackets": "<" + echoMarker + ">",
	"script":         "<script>" + echoMarker + "()</script>",
	"non-ASCII":      echoMarker + "-ünï-漢字",
	"CR LF":          echoMarker + "\r\nX-Injected: 1",
	"very long":      echoMarker + strings.Repeat("x", 5000),
	"backslash":      echoMarker + `\`,
}

// echoProbe is one way of putting a hostile value into a request.
type echoProbe struct {
	name string
	req  func(v string) *http.Request
}

// TestErrorsNeverEchoRequestInput sends hostile values in every parameter an error message
// could quote, at every endpoint, and checks that no response contains them and that every
// error_description stays in RFC 6749 §5.2's characters (issue 8, item 10).
func TestErrorsNeverEchoRequestInput(t *testing.T) {
	ts := newFlowServer(t, nil)
	cb := ts.browser().signIn(authURL(nil))
	tokens := ts.redeem(cb.Get("code"), nil)
	refreshToken, _ := tokens.body["refresh_token"].(string)
	accessToken, _ := tokens.body["access_token"].(string)
	if refreshToken == "" || accessToken == "" {
		t.Fatalf("setup: %s", tokens.raw)
	}

	authorize := func(edit func(q url.Values)) *http.Request {
		q, _ := url.ParseQuery(strings.TrimPrefix(authURL(nil), testIssuer+"/authorize?"))
		edit(q)
		return httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
	}
	authorizeParam := func(name string) echoProbe {
		return echoProbe{"authorize " + name, func(v string) *http.Request {
			return authorize(func(q url.Values) { q.Set(name, v) })
		}}
	}
	post := func(path, client, secret string, form url.Values) *http.Request {
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if client != "" {
			req.SetBasicAuth(client, secret)
		}
		return req
	}
	repeated := func(v string) url.Values { return url.Values{v: {"1", "2"}} }
	with := func(form url.Values, kv ...string) url.Values {
		for i := 0; i < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		return form
	}
	endSession := func(q url.Values) *http.Request {
		return httptest.NewRequest(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil)
	}
	userinfo := func(authorization, proof string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/userinfo", nil)
		req.Header.Set("Authorization", authorization)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return req
	}

	probes := []echoProbe{
		// /authorize, answered on the error page (client or redirect URI not verified).
		{"authorize client_id", func(v string) *http.Request { return authorize(func(q url.Values) { q.Set("client_id", v) }) }},
		{"authorize redirect_uri", func(v string) *http.Request { return authorize(func(q url.Values) { q.Set("redirect_uri", v) }) }},
		{"authorize repeated parameter", func(v string) *http.Request {
			return authorize(func(q url.Values) { q[v] = []string{"1", "2"} })
		}},
		{"authorize POST repeated parameter", func(v string) *http.Request {
			q, _ := url.ParseQuery(strings.TrimPrefix(authURL(nil), testIssuer+"/authorize?"))
			q[v] = []string{"1", "2"}
			return post("/authorize", "", "", q)
		}},
		// /authorize, answered to the client's redirect URI.
		authorizeParam("response_type"),
		authorizeParam("response_mode"),
		authorizeParam("scope"),
		authorizeParam("prompt"),
		authorizeParam("resource"),
		authorizeParam("code_challenge"),
		authorizeParam("code_challenge_method"),
		authorizeParam("max_age"),
		authorizeParam("id_token_hint"),
		authorizeParam("dpop_jkt"),
		authorizeParam("acr_values"),
		authorizeParam("request"),
		authorizeParam("request_uri"),
		{"authorize claims member", func(v string) *http.Request {
			return authorize(func(q url.Values) { q.Set("claims", `{"userinfo":`+jsonString(v)+`}`) })
		}},
		{"authorize claims name", func(v string) *http.Request {
			return authorize(func(q url.Values) { q.Set("claims", `{"userinfo":{`+jsonString(v)+`:true}}`) })
		}},
		{"authorize form_post response_type", func(v string) *http.Request {
			return authorize(func(q url.Values) { q.Set("response_mode", "form_post"); q.Set("response_type", v) })
		}},
		{"authorize fragment scope", func(v string) *http.Request {
			return authorize(func(q url.Values) { q.Set("response_mode", "fragment"); q.Set("scope", v) })
		}},
		// /token
		{"token grant_type", func(v string) *http.Request { return post("/token", "svc", svcSecret, url.Values{"grant_type": {v}}) }},
		{"token client_credentials scope", func(v string) *http.Request {
			return post("/token", "svc", svcSecret, url.Values{"grant_type": {"client_credentials"}, "resource": {jwtResource}, "scope": {v}})
		}},
		{"token client_credentials resource", func(v string) *http.Request {
			return post("/token", "svc", svcSecret, url.Values{"grant_type": {"client_credentials"}, "resource": {v}})
		}},
		{"token code", func(v string) *http.Request {
			return post("/token", "web", webSecret, url.Values{"grant_type": {"authorization_code"}, "code": {v}, "code_verifier": {testVerifier}})
		}},
		{"token refresh scope", func(v string) *http.Request {
			return post("/token", "web", webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "scope": {v}})
		}},
		{"token refresh resource", func(v string) *http.Request {
			return post("/token", "web", webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "resource": {v}})
		}},
		{"token repeated parameter", func(v string) *http.Request {
			return post("/token", "svc", svcSecret, with(repeated(v), "grant_type", "client_credentials"))
		}},
		{"token client_id", func(v string) *http.Request {
			return post("/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {v}})
		}},
		{"token client_secret", func(v string) *http.Request {
			return post("/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"poster"}, "client_secret": {v}})
		}},
		{"token Basic credentials", func(v string) *http.Request {
			return post("/token", v, v, url.Values{"grant_type": {"client_credentials"}})
		}},
		{"token Authorization header", func(v string) *http.Request {
			req := post("/token", "", "", url.Values{"grant_type": {"client_credentials"}})
			req.Header.Set("Authorization", v)
			return req
		}},
		{"token client_assertion_type", func(v string) *http.Request {
			return post("/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {v}, "client_assertion": {"x"}})
		}},
		{"token client_assertion", func(v string) *http.Request {
			return post("/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {v}})
		}},
		{"token DPoP header", func(v string) *http.Request {
			req := post("/token", "svc", svcSecret, url.Values{"grant_type": {"client_credentials"}, "resource": {jwtResource}})
			req.Header.Set("DPoP", v)
			return req
		}},
		// /introspect and /revoke
		{"introspect token", func(v string) *http.Request { return post("/introspect", "svc", svcSecret, url.Values{"token": {v}}) }},
		{"introspect token_type_hint", func(v string) *http.Request {
			return post("/introspect", "svc", svcSecret, url.Values{"token": {accessToken}, "token_type_hint": {v}})
		}},
		{"introspect repeated parameter", func(v string) *http.Request {
			return post("/introspect", "svc", svcSecret, with(repeated(v), "token", accessToken))
		}},
		{"introspect client_id", func(v string) *http.Request {
			return post("/introspect", "", "", url.Values{"token": {accessToken}, "client_id": {v}})
		}},
		{"revoke token", func(v string) *http.Request { return post("/revoke", "svc", svcSecret, url.Values{"token": {v}}) }},
		{"revoke token_type_hint", func(v string) *http.Request {
			return post("/revoke", "svc", svcSecret, url.Values{"token": {"unknown"}, "token_type_hint": {v}})
		}},
		{"revoke repeated parameter", func(v string) *http.Request {
			return post("/revoke", "svc", svcSecret, with(repeated(v), "token", "unknown"))
		}},
		{"revoke client_id", func(v string) *http.Request {
			return post("/revoke", "", "", url.Values{"token": {"x"}, "client_id": {v}})
		}},
		// /userinfo
		{"userinfo Bearer token", func(v string) *http.Request { return userinfo("Bearer "+v, "") }},
		{"userinfo DPoP token", func(v string) *http.Request { return userinfo("DPoP "+v, "") }},
		{"userinfo scheme", func(v string) *http.Request { return userinfo(v+" token", "") }},
		{"userinfo DPoP proof", func(v string) *http.Request { return userinfo("DPoP "+accessToken, v) }},
		{"userinfo form access_token", func(v string) *http.Request { return post("/userinfo", "", "", url.Values{"access_token": {v}}) }},
		{"userinfo repeated parameter", func(v string) *http.Request {
			return post("/userinfo", "", "", with(repeated(v), "access_token", accessToken))
		}},
		// /end_session (RP-initiated logout): always a page.
		{"end_session client_id", func(v string) *http.Request { return endSession(url.Values{"client_id": {v}}) }},
		{"end_session id_token_hint", func(v string) *http.Request { return endSession(url.Values{"id_token_hint": {v}}) }},
		{"end_session post_logout_redirect_uri", func(v string) *http.Request {
			return endSession(url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {v}})
		}},
		{"end_session repeated parameter", func(v string) *http.Request { return endSession(repeated(v)) }},
		{"end_session POST repeated parameter", func(v string) *http.Request {
			return post("/end_session", "", "", with(repeated(v), "client_id", "web"))
		}},
	}
	for _, probe := range probes {
		for kind, v := range hostileValues {
			t.Run(probe.name+"/"+kind, func(t *testing.T) {
				rec := serve(ts, probe.req(v))
				assertNoEcho(t, rec)
				for _, d := range errorDescriptions(t, rec) {
					if !allowedDescription.MatchString(d) {
						t.Errorf("error_description %q has characters RFC 6749 §5.2 does not allow", d)
					}
				}
			})
		}
	}
}

// allowedDescription is RFC 6749 §5.2's error_description: 1*( %x20-21 / %x23-5B / %x5D-7E ).
var allowedDescription = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]+$`)

func jsonString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// assertNoEcho fails when the response's headers or body contain the hostile marker.
func assertNoEcho(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	for name, values := range rec.Header() {
		for _, v := range values {
			if strings.Contains(strings.ToLower(v), echoMarker) {
				t.Errorf("header %s echoes the request: %q", name, v)
			}
		}
	}
	body := rec.Body.String()
	if i := strings.Index(strings.ToLower(body), echoMarker); i >= 0 {
		t.Errorf("the body echoes the request (%d): …%s…", rec.Code, body[max(0, i-120):min(len(body), i+60)])
	}
}

// errorDescriptions collects every error_description of a response: the JSON body, the query
// or fragment of a redirect, a form_post page's fields and a WWW-Authenticate challenge.
func errorDescriptions(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	var out []string
	var body struct {
		Description *string `json:"error_description"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &body) == nil && body.Description != nil {
		out = append(out, *body.Description)
	}
	if loc := rec.Header().Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		for _, raw := range []string{u.RawQuery, u.Fragment} {
			if q, err := url.ParseQuery(raw); err == nil && q.Has("error_description") {
				out = append(out, q.Get("error_description"))
			}
		}
	}
	if strings.Contains(rec.Body.String(), `name="error_description"`) {
		_, fields := page{status: rec.Code, body: rec.Body.String()}.form(t)
		out = append(out, fields.Get("error_description"))
	}
	for _, ch := range rec.Header().Values("WWW-Authenticate") {
		for _, m := range challengeDescription.FindAllStringSubmatch(ch, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var challengeDescription = regexp.MustCompile(`error_description="([^"]*)"`)
