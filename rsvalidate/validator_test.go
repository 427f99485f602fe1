package rsvalidate

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

const rm = `resource_metadata="` + testMetadata + `"`

var (
	bareBearer = `Bearer ` + rm
	bareDPoP   = `DPoP algs="ES256 EdDSA", ` + rm
	bare       = []string{bareBearer, bareDPoP}
)

func bearerErr(code, desc string) string {
	return `Bearer error="` + code + `", error_description="` + desc + `", ` + rm
}

func dpopErr(code, desc string) string {
	return `DPoP error="` + code + `", error_description="` + desc + `", algs="ES256 EdDSA", ` + rm
}

// invalidBearer is the answer to an invalid token presented with the Bearer scheme.
func invalidBearer(desc string) []string {
	return []string{bearerErr("invalid_token", desc), bareDPoP}
}

type authCase struct {
	name       string
	cfg        func(*Config)
	req        func(t *testing.T) *http.Request
	status     int // 0: accepted
	code       string
	challenges []string
	nonce      bool
	check      func(t *testing.T, id *Identity)
}

func runAuthCases(t *testing.T, cases []authCase) {
	t.Helper()
	f := fixtures(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, f)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			v := mustNew(t, cfg)
			id, e := v.Authenticate(tc.req(t))
			if tc.status == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				if tc.check != nil {
					tc.check(t, id)
				}
				return
			}
			if e == nil {
				t.Fatalf("accepted %+v, want %d %s", id, tc.status, tc.code)
			}
			if e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("got %d %q (%v), want %d %q", e.Status, e.Code, e, tc.status, tc.code)
			}
			w := written(v, e)
			if w.Code != tc.status {
				t.Errorf("written status %d", w.Code)
			}
			if got := w.Header().Values("WWW-Authenticate"); joinLines(got) != joinLines(tc.challenges) {
				t.Errorf("challenges:\n%s\nwant:\n%s", joinLines(got), joinLines(tc.challenges))
			}
			if got := w.Header().Get("DPoP-Nonce") != ""; got != tc.nonce {
				t.Errorf("DPoP-Nonce present = %v, want %v", got, tc.nonce)
			}
		})
	}
}

func TestAuthenticateCredentials(t *testing.T) {
	f := fixtures(t)
	tok := signJWT(t, f.es, "at+jwt", claims())
	form := func(method, ctype, body string) func(*testing.T) *http.Request {
		return func(*testing.T) *http.Request {
			r := httptest.NewRequest(method, testURL, strings.NewReader(body))
			r.Header.Set("Content-Type", ctype)
			return r
		}
	}
	allowQuery := func(c *Config) { c.AllowQueryToken = true }
	allowBody := func(c *Config) { c.AllowBodyToken = true }
	runAuthCases(t, []authCase{
		{name: "bearer header", req: func(*testing.T) *http.Request { return req("Authorization", "Bearer "+tok) },
			check: func(t *testing.T, id *Identity) {
				if id.Subject != "alice" || id.Scheme != "Bearer" || strings.Join(id.Scopes, ",") != "read,write" || id.Claims["tenant"] != "acme" {
					t.Errorf("identity %+v", id)
				}
			}},
		{name: "scheme is case-insensitive", req: func(*testing.T) *http.Request { return req("Authorization", "bEARER "+tok) }},
		{name: "no credentials", req: func(*testing.T) *http.Request { return req() },
			status: 401, challenges: bare},
		{name: "other scheme is not ours", req: func(*testing.T) *http.Request { return req("Authorization", "Basic YTpi") },
			status: 401, challenges: bare},
		{name: "two Authorization headers", req: func(*testing.T) *http.Request {
			return req("Authorization", "Bearer "+tok, "Authorization", "Bearer "+tok)
		}, status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="more than one Authorization header", ` + rm,
				`DPoP error="invalid_request", error_description="more than one Authorization header", algs="ES256 EdDSA", ` + rm}},
		{name: "scheme without token", req: func(*testing.T) *http.Request { return req("Authorization", "Bearer") },
			status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="empty access token", ` + rm,
				bareDPoP}},
		{name: "token with illegal characters", req: func(*testing.T) *http.Request { return req("Authorization", "Bearer a\"b") },
			status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="malformed access token", ` + rm,
				bareDPoP}},
		{name: "token too large", req: func(*testing.T) *http.Request {
			return req("Authorization", "Bearer "+strings.Repeat("a", maxTokenLen+1))
		}, status: 401, code: "invalid_token", challenges: invalidBearer("invalid access token")},
		{name: "query token refused by default", req: func(*testing.T) *http.Request {
			return httptest.NewRequest("GET", testURL+"?access_token="+tok, nil)
		}, status: 401, challenges: bare},
		{name: "query token when allowed", cfg: allowQuery, req: func(*testing.T) *http.Request {
			return httptest.NewRequest("GET", testURL+"?x=1&access_token="+tok, nil)
		}},
		{name: "two query tokens", cfg: allowQuery, req: func(*testing.T) *http.Request {
			return httptest.NewRequest("GET", testURL+"?access_token="+tok+"&access_token="+tok, nil)
		}, status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="more than one access_token parameter", ` + rm,
				`DPoP error="invalid_request", error_description="more than one access_token parameter", algs="ES256 EdDSA", ` + rm}},
		{name: "header and query token", cfg: allowQuery, req: func(*testing.T) *http.Request {
			r := httptest.NewRequest("GET", testURL+"?access_token="+tok, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}, status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="more than one method of sending the access token", ` + rm,
				`DPoP error="invalid_request", error_description="more than one method of sending the access token", algs="ES256 EdDSA", ` + rm}},
		{name: "body token refused by default", req: form("POST", "application/x-www-form-urlencoded", "access_token="+tok),
			status: 401, challenges: bare},
		{name: "body token when allowed", cfg: allowBody, req: form("POST", "application/x-www-form-urlencoded; charset=utf-8", "a=1&access_token="+tok)},
		{name: "body token needs a form", cfg: allowBody, req: form("POST", "application/json", "access_token="+tok),
			status: 401, challenges: bare},
		{name: "body token needs POST", cfg: allowBody, req: form("PUT", "application/x-www-form-urlencoded", "access_token="+tok),
			status: 401, challenges: bare},
		{name: "header and body token", cfg: allowBody, req: func(t *testing.T) *http.Request {
			r := form("POST", "application/x-www-form-urlencoded", "access_token="+tok)(t)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}, status: 400, code: "invalid_request",
			challenges: []string{`Bearer error="invalid_request", error_description="more than one method of sending the access token", ` + rm,
				`DPoP error="invalid_request", error_description="more than one method of sending the access token", algs="ES256 EdDSA", ` + rm}},
	})
}

func TestAuthenticateRestoresBody(t *testing.T) {
	f := fixtures(t)
	cfg := baseConfig(t, f)
	cfg.AllowBodyToken = true
	v := mustNew(t, cfg)
	tok := signJWT(t, f.es, "at+jwt", claims())
	for _, body := range []string{"access_token=" + tok + "&x=1", "x=" + strings.Repeat("y", maxFormBody+10)} {
		r := httptest.NewRequest("POST", testURL, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		v.Authenticate(r)
		got, err := io.ReadAll(r.Body)
		if err != nil || string(got) != body {
			t.Errorf("body after Authenticate: %d bytes, err %v; want the original %d bytes", len(got), err, len(body))
		}
	}
}

func TestAuthenticateJWT(t *testing.T) {
	f := fixtures(t)
	bearer := func(tok string) func(*testing.T) *http.Request {
		return func(*testing.T) *http.Request { return req("Authorization", "Bearer "+tok) }
	}
	jwt := func(mods ...func(map[string]any)) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return bearer(signJWT(t, f.es, "at+jwt", claims(mods...)))(t) }
	}
	typed := func(typ string) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return bearer(signJWT(t, f.es, typ, claims()))(t) }
	}
	plain := func(c *Config) { c.AcceptPlainJWT = true }
	invalid := invalidBearer("invalid access token")
	runAuthCases(t, []authCase{
		{name: "at+jwt", req: jwt()},
		{name: "application/at+jwt", req: typed("application/at+jwt")},
		{name: "RS256 key", req: func(t *testing.T) *http.Request { return bearer(signJWT(t, f.rs, "at+jwt", claims()))(t) }},
		{name: "typ JWT refused", req: typed("JWT"), status: 401, code: "invalid_token", challenges: invalid},
		{name: "typ absent refused", req: typed(""), status: 401, code: "invalid_token", challenges: invalid},
		{name: "typ JWT when plain accepted", cfg: plain, req: typed("JWT")},
		{name: "typ absent when plain accepted", cfg: plain, req: typed("")},
		{name: "other typ even when plain accepted", cfg: plain, req: typed("dpop+jwt"), status: 401, code: "invalid_token", challenges: invalid},
		{name: "alg outside allowlist", cfg: func(c *Config) { c.Algs = []string{"ES256"} },
			req:    func(t *testing.T) *http.Request { return bearer(signJWT(t, f.rs, "at+jwt", claims()))(t) },
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "alg none", req: bearer("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + b64url(`{"iss":"`+testIssuer+`"}`) + "."),
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "unknown kid", req: func(t *testing.T) *http.Request {
			return bearer(signJWT(t, &ecdsaOrRSA{f.es.priv, f.es.alg, "nope"}, "at+jwt", claims()))(t)
		}, status: 401, code: "invalid_token", challenges: invalid},
		{name: "wrong key for kid", req: func(t *testing.T) *http.Request { return bearer(signJWT(t, f.esOther, "at+jwt", claims()))(t) },
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "key source unavailable", cfg: func(c *Config) { c.Keys.(*memKeys).err = ErrUnavailable }, req: jwt(),
			status: 503, code: "temporarily_unavailable"},
		{name: "key source other error", cfg: func(c *Config) { c.Keys.(*memKeys).err = errors.New("boom") }, req: jwt(),
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "wrong iss", req: jwt(set("iss", "https://evil.example")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "no iss", req: jwt(del("iss")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "wrong aud", req: jwt(set("aud", "https://other.example")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "no aud", req: jwt(del("aud")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "aud array with resource", req: jwt(set("aud", []string{"https://other.example", testResource}))},
		{name: "aud of wrong type", req: jwt(set("aud", 7)), status: 401, code: "invalid_token", challenges: invalid},
		{name: "expired", req: jwt(set("exp", testNow.Add(-31*time.Second).Unix())),
			status: 401, code: "invalid_token", challenges: invalidBearer("access token expired")},
		{name: "expired within skew", req: jwt(set("exp", testNow.Add(-29*time.Second).Unix()))},
		{name: "no exp", req: jwt(del("exp")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "exp not a number", req: jwt(set("exp", "tomorrow")), status: 401, code: "invalid_token", challenges: invalid},
		{name: "nbf in the future", req: jwt(set("nbf", testNow.Add(time.Minute).Unix())),
			status: 401, code: "invalid_token", challenges: invalidBearer("access token not yet valid")},
		{name: "nbf within skew", req: jwt(set("nbf", testNow.Add(20*time.Second).Unix()))},
		{name: "iat in the future", req: jwt(set("iat", testNow.Add(time.Minute).Unix())),
			status: 401, code: "invalid_token", challenges: invalidBearer("access token not yet valid")},
		{name: "scp array", req: jwt(del("scope"), set("scp", []string{"a", "b"})), check: func(t *testing.T, id *Identity) {
			if id.Scope != "a b" {
				t.Errorf("scope %q", id.Scope)
			}
		}},
		{name: "cnf without usable method", req: jwt(set("cnf", map[string]any{"jwk": map[string]any{}})),
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "garbage three segments", req: bearer("a.b.c"), status: 401, code: "invalid_token", challenges: invalid},
		{name: "opaque token without introspector", req: bearer("opaque-token"), status: 401, code: "invalid_token", challenges: invalid},
	})
}

func b64url(s string) string { return strings.TrimRight(base64URL.EncodeToString([]byte(s)), "=") }

func TestAuthenticateDPoPAndMTLS(t *testing.T) {
	f := fixtures(t)
	bound := signJWT(t, f.es, "at+jwt", claims(set("cnf", map[string]any{"jkt": f.dpopJKT})))
	unbound := signJWT(t, f.es, "at+jwt", claims())
	certDER := []byte("client certificate DER")
	mtls := signJWT(t, f.es, "at+jwt", claims(set("cnf", map[string]any{"x5t#S256": x5t(certDER)})))
	dpopReq := func(tok string, proofFn func(t *testing.T) string) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			return req("Authorization", "DPoP "+tok, "DPoP", proofFn(t))
		}
	}
	good := func(mods ...func(map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string { return proof(t, f.dpop, "GET", testURL, bound, mods...) }
	}
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	nonces.Now = clock
	replayed := proof(t, f.dpop, "GET", testURL, bound)
	onlyDPoP := func(desc string) []string { return []string{dpopErr("invalid_token", desc)} }
	runAuthCases(t, []authCase{
		{name: "DPoP bound token with proof", req: dpopReq(bound, good()), check: func(t *testing.T, id *Identity) {
			if id.Scheme != "DPoP" || id.JKT != f.dpopJKT {
				t.Errorf("identity %+v", id)
			}
		}},
		{name: "scheme is case-insensitive", req: func(t *testing.T) *http.Request {
			return req("Authorization", "dpop "+bound, "DPoP", good()(t))
		}},
		{name: "bound token as Bearer", req: func(*testing.T) *http.Request { return req("Authorization", "Bearer "+bound) },
			status: 401, code: "invalid_token",
			challenges: []string{bareBearer, dpopErr("invalid_token", "DPoP-bound access token requires the DPoP scheme")}},
		{name: "unbound token with DPoP scheme", req: dpopReq(unbound, func(t *testing.T) string { return proof(t, f.dpop, "GET", testURL, unbound) }),
			status: 401, code: "invalid_token",
			challenges: []string{bareBearer, dpopErr("invalid_token", "access token is not DPoP-bound")}},
		{name: "proof by another key", req: dpopReq(bound, func(t *testing.T) string { return proof(t, f.dpopOther, "GET", testURL, bound) }),
			status: 401, code: "invalid_token",
			challenges: []string{bareBearer, dpopErr("invalid_token", "DPoP proof key does not match the token's binding")}},
		{name: "no proof header", req: func(*testing.T) *http.Request { return req("Authorization", "DPoP "+bound) },
			status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "exactly one DPoP proof header required")}},
		{name: "two proof headers", req: func(t *testing.T) *http.Request {
			return req("Authorization", "DPoP "+bound, "DPoP", good()(t), "DPoP", good()(t))
		}, status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "exactly one DPoP proof header required")}},
		{name: "wrong htm", req: dpopReq(bound, good(set("htm", "POST"))), status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "DPoP proof htm does not match the request method")}},
		{name: "wrong htu", req: dpopReq(bound, good(set("htu", "https://api.example/v1/other"))), status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "DPoP proof htu does not match the request URL")}},
		{name: "htu ignores the query", req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", testURL+"?page=2", nil)
			r.Header.Set("Authorization", "DPoP "+bound)
			r.Header.Set("DPoP", good()(t))
			return r
		}},
		{name: "ath of another token", req: dpopReq(bound, func(t *testing.T) string { return proof(t, f.dpop, "GET", testURL, unbound) }),
			status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "DPoP proof ath does not match the access token")}},
		{name: "replayed proof", cfg: func(c *Config) {
			// First use consumes the jti.
			if _, err := c.DPoP.Verify(context.Background(), replayed, dpop.Request{Method: "GET", URL: testURL, AccessToken: bound}); err != nil {
				t.Fatal(err)
			}
		}, req: dpopReq(bound, func(*testing.T) string { return replayed }), status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "DPoP proof replayed")}},
		{name: "nonce required", cfg: func(c *Config) { c.DPoP.Nonces = nonces }, req: dpopReq(bound, good()),
			status: 401, code: "use_dpop_nonce", nonce: true,
			challenges: []string{bareBearer, dpopErr("use_dpop_nonce", "DPoP proof requires a server nonce")}},
		{name: "nonce supplied", cfg: func(c *Config) { c.DPoP.Nonces = nonces }, req: dpopReq(bound, good(set("nonce", nonces.Current())))},
		{name: "DPoP required refuses Bearer", cfg: func(c *Config) { c.RequireDPoP = true },
			req:    func(*testing.T) *http.Request { return req("Authorization", "Bearer "+unbound) },
			status: 401, code: "invalid_token", challenges: onlyDPoP("DPoP-bound access token required")},
		{name: "DPoP required, no credentials", cfg: func(c *Config) { c.RequireDPoP = true },
			req: func(*testing.T) *http.Request { return req() }, status: 401, challenges: []string{bareDPoP}},
		{name: "DPoP scheme without verifier is not ours", cfg: func(c *Config) { c.DPoP = nil }, req: dpopReq(bound, good()),
			status: 401, challenges: []string{bareBearer}},
		{name: "request for a host the resource is not served at", cfg: func(c *Config) {
			c.Origin = func(*http.Request) (string, bool) { return "", false }
		}, req: dpopReq(bound, good()), status: 401, code: "invalid_dpop_proof",
			challenges: []string{bareBearer, dpopErr("invalid_dpop_proof", "DPoP proof cannot match: the request's host is not one this resource is served at")}},
		{name: "mTLS bound token with its certificate", req: func(*testing.T) *http.Request {
			return withTLSCert(req("Authorization", "Bearer "+mtls), certDER)
		}},
		{name: "mTLS bound token without TLS", req: func(*testing.T) *http.Request { return req("Authorization", "Bearer "+mtls) },
			status: 401, code: "invalid_token",
			challenges: invalidBearer("certificate-bound access token requires the client certificate")},
		{name: "mTLS bound token with another certificate", req: func(*testing.T) *http.Request {
			return withTLSCert(req("Authorization", "Bearer "+mtls), []byte("other"))
		}, status: 401, code: "invalid_token",
			challenges: invalidBearer("client certificate does not match the token's binding")},
		// Behind a TLS-terminating proxy the configured source says which certificate counts,
		// not the connection's (which is the proxy's).
		{name: "mTLS bound token, certificate from the configured source", cfg: func(c *Config) {
			c.ClientCertificate = func(*http.Request) *x509.Certificate { return &x509.Certificate{Raw: certDER} }
		}, req: func(*testing.T) *http.Request {
			return withTLSCert(req("Authorization", "Bearer "+mtls), []byte("proxy"))
		}},
		{name: "mTLS bound token, configured source has none", cfg: func(c *Config) {
			c.ClientCertificate = func(*http.Request) *x509.Certificate { return nil }
		}, req: func(*testing.T) *http.Request { return withTLSCert(req("Authorization", "Bearer "+mtls), certDER) },
			status: 401, code: "invalid_token",
			challenges: invalidBearer("certificate-bound access token requires the client certificate")},
	})
}

func TestAuthenticateIntrospection(t *testing.T) {
	active := &TokenInfo{Issuer: testIssuer, Subject: "bob", Scope: "read", Audience: []string{testResource},
		ExpiresAt: testNow.Add(time.Hour)}
	with := func(mod func(*TokenInfo)) *TokenInfo { c := *active; mod(&c); return &c }
	intro := func(info *TokenInfo, err error) func(*Config) {
		return func(c *Config) {
			c.Keys = nil
			c.Introspector = &fakeIntrospector{tokens: map[string]*TokenInfo{"opaque-1": info}, err: err}
		}
	}
	r := func(*testing.T) *http.Request { return req("Authorization", "Bearer opaque-1") }
	invalid := invalidBearer("invalid access token")
	runAuthCases(t, []authCase{
		{name: "active", cfg: intro(active, nil), req: r, check: func(t *testing.T, id *Identity) {
			if id.Subject != "bob" || id.Scheme != "Bearer" {
				t.Errorf("identity %+v", id)
			}
		}},
		{name: "no iss in the response", cfg: intro(with(func(i *TokenInfo) { i.Issuer = "" }), nil), req: r},
		{name: "no exp in the response", cfg: intro(with(func(i *TokenInfo) { i.ExpiresAt = time.Time{} }), nil), req: r},
		{name: "inactive", cfg: intro(nil, nil), req: r, status: 401, code: "invalid_token", challenges: invalid},
		{name: "other issuer", cfg: intro(with(func(i *TokenInfo) { i.Issuer = "https://evil.example" }), nil), req: r,
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "no aud", cfg: intro(with(func(i *TokenInfo) { i.Audience = nil }), nil), req: r,
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "other aud", cfg: intro(with(func(i *TokenInfo) { i.Audience = []string{"https://other.example"} }), nil), req: r,
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "expired", cfg: intro(with(func(i *TokenInfo) { i.ExpiresAt = testNow.Add(-time.Minute) }), nil), req: r,
			status: 401, code: "invalid_token", challenges: invalidBearer("access token expired")},
		{name: "unavailable", cfg: intro(nil, ErrUnavailable), req: r, status: 503, code: "temporarily_unavailable"},
		{name: "other error", cfg: intro(nil, errors.New("boom")), req: r, status: 401, code: "invalid_token", challenges: invalid},
		{name: "JWT without key source is introspected", cfg: func(c *Config) {
			c.Keys = nil
			c.Introspector = &fakeIntrospector{tokens: map[string]*TokenInfo{"a.b.c": active}}
		}, req: func(*testing.T) *http.Request { return req("Authorization", "Bearer a.b.c") }},
	})
}

func TestAuthenticateLocal(t *testing.T) {
	active := &TokenInfo{Issuer: testIssuer, Subject: "carol", Scope: "read", Audience: []string{testResource},
		IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	with := func(mod func(*TokenInfo)) *TokenInfo { c := *active; mod(&c); return &c }
	local := func(info *TokenInfo, err error, policy *ResourcePolicy) func(*Config) {
		return func(c *Config) {
			c.Issuer = ""
			c.Local = &fakeLocal{issuer: testIssuer, tokens: map[string]*TokenInfo{"tok": info}, err: err, policy: policy}
		}
	}
	r := func(*testing.T) *http.Request { return req("Authorization", "Bearer tok") }
	invalid := invalidBearer("invalid access token")
	runAuthCases(t, []authCase{
		{name: "active", cfg: local(active, nil, nil), req: r, check: func(t *testing.T, id *Identity) {
			if id.Subject != "carol" {
				t.Errorf("identity %+v", id)
			}
		}},
		{name: "not active (revoked)", cfg: local(nil, nil, nil), req: r, status: 401, code: "invalid_token", challenges: invalid},
		{name: "store failure", cfg: local(nil, errors.New("db down"), nil), req: r, status: 503, code: "temporarily_unavailable"},
		{name: "other iss", cfg: local(with(func(i *TokenInfo) { i.Issuer = "https://evil.example" }), nil, nil), req: r,
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "other aud", cfg: local(with(func(i *TokenInfo) { i.Audience = []string{"x"} }), nil, nil), req: r,
			status: 401, code: "invalid_token", challenges: invalid},
		{name: "expired", cfg: local(with(func(i *TokenInfo) { i.ExpiresAt = testNow.Add(-time.Hour) }), nil, nil), req: r,
			status: 401, code: "invalid_token", challenges: invalidBearer("access token expired")},
		{name: "issuer policy requires DPoP", cfg: local(active, nil, &ResourcePolicy{DPoPBoundAccessTokensRequired: true}), req: r,
			status: 401, code: "invalid_token", challenges: []string{dpopErr("invalid_token", "DPoP-bound access token required")}},
	})
}

func TestLocalPolicyIsCached(t *testing.T) {
	now := testNow
	l := &fakeLocal{issuer: testIssuer, policy: &ResourcePolicy{}}
	v := mustNew(t, Config{Resource: testResource, Local: l, Now: func() time.Time { return now }})
	for range 3 {
		v.dpopRequired(context.Background())
	}
	if n := l.policyCalls.Load(); n != 1 {
		t.Fatalf("policy fetched %d times within its TTL, want 1", n)
	}
	l.policy = &ResourcePolicy{DPoPBoundAccessTokensRequired: true}
	now = now.Add(policyTTL)
	if req, _ := v.dpopRequired(context.Background()); !req || l.policyCalls.Load() != 2 {
		t.Fatalf("after TTL: required=%v calls=%d", req, l.policyCalls.Load())
	}
}

func TestJWTCache(t *testing.T) {
	f := fixtures(t)
	now := testNow
	cfg := baseConfig(t, f)
	cfg.Now = func() time.Time { return now }
	v := mustNew(t, cfg)
	keys := cfg.Keys.(*memKeys)
	tok := signJWT(t, f.es, "at+jwt", claims(set("exp", testNow.Add(time.Minute).Unix())))
	id1, e := v.Authenticate(req("Authorization", "Bearer "+tok))
	if e != nil {
		t.Fatal(e)
	}
	v.verified.Wait()
	id2, e := v.Authenticate(req("Authorization", "Bearer "+tok))
	if e != nil {
		t.Fatal(e)
	}
	if id1 != id2 || keys.calls.Load() != 1 {
		t.Fatalf("second use was not a cache hit (key lookups %d)", keys.calls.Load())
	}
	// A hit whose digest differs (a 64-bit key collision) must not be served.
	other := signJWT(t, f.es, "at+jwt", claims(set("sub", "mallory")))
	digest := sha256Sum(other)
	v.verified.Set(cacheKey(digest), &verifiedJWT{digest: sha256Sum(tok), id: id1}, 1)
	v.verified.Wait()
	if id, _ := v.Authenticate(req("Authorization", "Bearer "+other)); id == nil || id.Subject != "mallory" {
		t.Fatalf("collision served another token's identity: %+v", id)
	}
	// Expiry is checked on every hit.
	now = now.Add(time.Minute + 31*time.Second)
	if _, e := v.Authenticate(req("Authorization", "Bearer "+tok)); e == nil || e.Description != "access token expired" {
		t.Fatalf("expired cached token: %v", e)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := fixtures(t)
	for name, mod := range map[string]func(*Config){
		"no resource":                  func(c *Config) { c.Resource = "" },
		"no issuer":                    func(c *Config) { c.Issuer = "" },
		"no validation source":         func(c *Config) { c.Keys = nil },
		"alg none":                     func(c *Config) { c.Algs = []string{"none"} },
		"alg HS256":                    func(c *Config) { c.Algs = []string{"ES256", "HS256"} },
		"negative skew":                func(c *Config) { c.Skew = -time.Second },
		"DPoP required, no verifier":   func(c *Config) { c.RequireDPoP, c.DPoP = true, nil },
		"DPoP without replay guard":    func(c *Config) { c.DPoP.Replay = nil },
		"DPoP without origin":          func(c *Config) { c.Origin = nil },
		"issuer differs from local AS": func(c *Config) { c.Local = &fakeLocal{issuer: "https://other.example"} },
	} {
		cfg := baseConfig(t, f)
		mod(&cfg)
		if v, err := New(cfg); err == nil {
			v.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAuthenticateConcurrent exercises the verified-token cache and the policy cache from
// many goroutines (run with -race).
func TestAuthenticateConcurrent(t *testing.T) {
	f := fixtures(t)
	v := mustNew(t, baseConfig(t, f))
	toks := []string{
		signJWT(t, f.es, "at+jwt", claims(set("sub", "a"))),
		signJWT(t, f.es, "at+jwt", claims(set("sub", "b"))),
	}
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				tok := toks[(g+i)%2]
				id, e := v.Authenticate(req("Authorization", "Bearer "+tok))
				if e != nil {
					done <- e
					return
				}
				if want := []string{"a", "b"}[(g+i)%2]; id.Subject != want {
					done <- errors.New("identity of another token: " + id.Subject)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
