package clientauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
)

type authCase struct {
	name     string
	auth     []string // Authorization header values
	form     url.Values
	endpoint string   // default tokenURL
	methods  []string // accepted at the endpoint; default Methods()
	// wantID is the authenticated client; empty means an error with wantCode.
	wantID     string
	wantCode   string
	wantStatus int
	wantBasic  bool
	wantDesc   string // substring of error_description, optional
}

func (c authCase) run(t *testing.T, a *Authenticator) {
	t.Helper()
	endpoint := c.endpoint
	if endpoint == "" {
		endpoint = tokenURL
	}
	methods := c.methods
	if methods == nil {
		methods = Methods()
	}
	client, err := a.Authenticate(newRequest(c.form, c.auth...), endpoint, methods)
	if c.wantID != "" {
		if err != nil {
			t.Fatalf("want client %q, got error %v (cause %v)", c.wantID, err, errors.Unwrap(err))
		}
		if client == nil || client.ID != c.wantID {
			t.Fatalf("authenticated %+v, want %q", client, c.wantID)
		}
		return
	}
	if client != nil {
		t.Fatalf("authenticated %q, want error %s", client.ID, c.wantCode)
	}
	var e *oautherr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *oautherr.Error", err, err)
	}
	if e.Code != c.wantCode || e.Status != c.wantStatus {
		t.Fatalf("got %s %d (%q, cause %v), want %s %d", e.Code, e.Status, e.Description, e.Cause, c.wantCode, c.wantStatus)
	}
	if got := strings.HasPrefix(e.WWWAuthenticate, "Basic "); got != c.wantBasic {
		t.Errorf("WWW-Authenticate = %q, want Basic challenge: %v", e.WWWAuthenticate, c.wantBasic)
	}
	if testing.Verbose() {
		t.Logf("%s: %q cause=%v", e.Code, e.Description, e.Cause)
	}
	if !strings.Contains(e.Description, c.wantDesc) {
		t.Errorf("description %q does not contain %q", e.Description, c.wantDesc)
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

const (
	badReq    = oautherr.InvalidRequest
	badClient = oautherr.InvalidClient
)

func TestSecretMethods(t *testing.T) {
	basic := []string{basicAuth("basic", goodSecret)}
	cases := []authCase{
		// client_secret_basic
		{name: "basic", auth: basic, wantID: "basic"},
		{name: "basic for client without registered method", auth: []string{basicAuth("default", goodSecret)}, wantID: "default"},
		{name: "basic scheme is case-insensitive", auth: []string{"bAsIc " + strings.TrimPrefix(basic[0], "Basic ")}, wantID: "basic"},
		{name: "basic with ':' '+' '%' form-encoded", auth: []string{basicAuth(weirdID, weirdSecret)}, wantID: weirdID},
		{name: "basic '+' decodes to space", auth: []string{basicRaw("spacey:a+b")}, wantID: "spacey"},
		{name: "basic %20 decodes to space", auth: []string{basicRaw("spacey:a%20b")}, wantID: "spacey"},
		{name: "basic without form-encoding", auth: []string{basicRaw(weirdID + ":" + weirdSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic with matching body client_id", auth: basic, form: form("client_id", "basic"), wantID: "basic"},
		{name: "basic with other body client_id", auth: basic, form: form("client_id", "post"), wantCode: badReq, wantStatus: 400},
		{name: "basic wrong secret", auth: []string{basicAuth("basic", "nope")}, wantCode: badClient, wantStatus: 401, wantBasic: true, wantDesc: descFailed},
		{name: "basic unknown client", auth: []string{basicAuth("ghost", goodSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true, wantDesc: descFailed},
		{name: "basic disabled client", auth: []string{basicAuth("off", goodSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true, wantDesc: descFailed},
		{name: "basic empty secret", auth: []string{basicAuth("basic", "")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic client without hash", auth: []string{basicAuth("nohash", "")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic client without hash, any secret", auth: []string{basicAuth("nohash", "x")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic malformed base64", auth: []string{"Basic !!!notbase64"}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic without colon", auth: []string{basicRaw("basic" + goodSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic bad percent escape", auth: []string{basicRaw("basic:%zz")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic empty id", auth: []string{basicRaw(":" + goodSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic scheme without credentials", auth: []string{"Basic"}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "oversized Authorization header", auth: []string{basicAuth("basic", strings.Repeat("x", maxAuthorizationBytes))}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "Bearer scheme", auth: []string{"Bearer abc"}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "repeated Authorization header", auth: []string{basic[0], basic[0]}, wantCode: badReq, wantStatus: 400},
		{name: "basic for a post client", auth: []string{basicAuth("post", goodSecret)}, wantCode: badClient, wantStatus: 401, wantBasic: true, wantDesc: descFailed},
		{name: "basic for a public client", auth: []string{basicAuth("public", "")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic for a client_secret_jwt client", auth: []string{basicAuth("hs", "x")}, wantCode: badClient, wantStatus: 401, wantBasic: true},
		{name: "basic plus client_secret in body", auth: basic, form: form("client_id", "basic", "client_secret", goodSecret), wantCode: badReq, wantStatus: 400},
		{name: "basic plus client_assertion", auth: basic, form: assertionForm("x.y.z"), wantCode: badReq, wantStatus: 400},

		// client_secret_post
		{name: "post", form: form("client_id", "post", "client_secret", goodSecret), wantID: "post"},
		{name: "post with form-encoded specials", form: form("client_id", "post", "client_secret", goodSecret), wantID: "post"},
		{name: "post wrong secret", form: form("client_id", "post", "client_secret", "nope"), wantCode: badClient, wantStatus: 401, wantDesc: descFailed},
		{name: "post unknown client", form: form("client_id", "ghost", "client_secret", goodSecret), wantCode: badClient, wantStatus: 401, wantDesc: descFailed},
		{name: "post for a basic client", form: form("client_id", "basic", "client_secret", goodSecret), wantCode: badClient, wantStatus: 401},
		{name: "post without client_id", form: form("client_secret", goodSecret), wantCode: badClient, wantStatus: 401},
		{name: "post oversized secret", form: form("client_id", "post", "client_secret", strings.Repeat("x", maxSecretBytes+1)), wantCode: badClient, wantStatus: 401},
		{name: "post plus client_assertion", form: form("client_id", "post", "client_secret", goodSecret, "client_assertion_type", AssertionTypeJWT, "client_assertion", "x.y.z"), wantCode: badReq, wantStatus: 400},
		{name: "repeated client_id", form: form("client_id", "post", "client_id", "post", "client_secret", goodSecret), wantCode: badReq, wantStatus: 400},
		{name: "repeated client_secret", form: form("client_id", "post", "client_secret", goodSecret, "client_secret", goodSecret), wantCode: badReq, wantStatus: 400},

		// none
		{name: "public client", form: form("client_id", "public"), wantID: "public"},
		{name: "public client presenting a secret", form: form("client_id", "public", "client_secret", "anything"), wantCode: badClient, wantStatus: 401},
		{name: "confidential client without credentials", form: form("client_id", "basic"), wantCode: badClient, wantStatus: 401, wantDesc: descFailed},
		{name: "public unknown client", form: form("client_id", "ghost"), wantCode: badClient, wantStatus: 401, wantDesc: descFailed},
		{name: "oversized client_id", form: form("client_id", strings.Repeat("p", maxClientIDBytes+1)), wantCode: badClient, wantStatus: 401},
		{name: "no credentials at all", wantCode: badClient, wantStatus: 401},
		{name: "store failure", form: form("client_id", "broken"), wantCode: oautherr.ServerError, wantStatus: 500},

		// assertion parameters
		{name: "assertion without type", form: form("client_assertion", "x.y.z"), wantCode: badReq, wantStatus: 400},
		{name: "assertion with unknown type", form: form("client_assertion", "x.y.z", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), wantCode: badReq, wantStatus: 400},
		{name: "type without assertion", form: form("client_assertion_type", AssertionTypeJWT), wantCode: badReq, wantStatus: 400},
	}
	a := newTestAuthenticator(func() time.Time { return testNow })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, a) })
	}
}

// TestFailuresLookAlike checks that nothing in the response tells an unknown client from a
// known one with the wrong credentials, or registered for another method, or disabled.
func TestFailuresLookAlike(t *testing.T) {
	a := newTestAuthenticator(func() time.Time { return testNow })
	k := keys()
	requests := map[string]*http.Request{
		"unknown":         newRequest(nil, basicAuth("ghost", goodSecret)),
		"wrong secret":    newRequest(nil, basicAuth("basic", "wrong")),
		"disabled":        newRequest(nil, basicAuth("off", goodSecret)),
		"other method":    newRequest(nil, basicAuth("post", goodSecret)),
		"unknown jwt":     newRequest(assertionForm(sign(t, jose.ES256, k.ec256, "ec256", claims("ghost", nil)))),
		"wrong key":       newRequest(assertionForm(sign(t, jose.ES256, k.ec256Other, "ec256", claims("pk", nil)))),
		"disabled jwt":    newRequest(assertionForm(sign(t, jose.ES256, k.ec256, "ec256", claims("pk-off", nil)))),
		"jwt for basic":   newRequest(assertionForm(sign(t, jose.HS256, hsSecret, "", claims("basic", nil)))),
		"wrong hs secret": newRequest(assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("z", 32)), "", claims("hs", nil)))),
	}
	for name, r := range requests {
		_, err := a.Authenticate(r, tokenURL, Methods())
		var e *oautherr.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v", name, err)
		}
		if e.Code != badClient || e.Status != 401 || e.Description != descFailed {
			t.Errorf("%s: got %s %d %q, want the uniform %q", name, e.Code, e.Status, e.Description, descFailed)
		}
		if e.Cause == nil {
			t.Errorf("%s: no cause for the log", name)
		}
	}
}

func TestAssertions(t *testing.T) {
	k := keys()
	hs := func(alg jose.SignatureAlgorithm, id string, edit func(map[string]any)) string {
		return sign(t, alg, hsSecret, "", claims(id, edit))
	}
	es := func(id string, edit func(map[string]any)) string {
		return sign(t, jose.ES256, k.ec256, "ec256", claims(id, edit))
	}
	set := func(kv ...any) func(map[string]any) {
		return func(c map[string]any) {
			for i := 0; i+1 < len(kv); i += 2 {
				c[kv[i].(string)] = kv[i+1]
			}
		}
	}
	del := func(names ...string) func(map[string]any) {
		return func(c map[string]any) {
			for _, n := range names {
				delete(c, n)
			}
		}
	}
	at := func(d time.Duration) int64 { return testNow.Add(d).Unix() }
	ok := func(name, assertion, id string, extra ...string) authCase {
		return authCase{name: name, form: assertionForm(assertion, extra...), wantID: id}
	}
	fail := func(name, assertion string, code string, desc ...string) authCase {
		status := map[string]int{badReq: 400, badClient: 401, oautherr.ServerError: 500}[code]
		return authCase{name: name, form: assertionForm(assertion), wantCode: code, wantStatus: status, wantDesc: strings.Join(desc, "")}
	}
	noneHeader := `{"alg":"none","typ":"JWT"}`

	cases := []authCase{
		// client_secret_jwt
		ok("HS256", hs(jose.HS256, "hs", nil), "hs"),
		ok("HS384", hs(jose.HS384, "hs", nil), "hs"),
		ok("HS512", hs(jose.HS512, "hs", nil), "hs"),
		ok("HS256 for client pinned to HS256", hs(jose.HS256, "hs256", nil), "hs256"),
		fail("HS512 for client pinned to HS256", hs(jose.HS512, "hs256", nil), badClient),
		fail("HS with the wrong secret", sign(t, jose.HS256, []byte(strings.Repeat("w", 64)), "", claims("hs", nil)), badClient),
		fail("HS secret shorter than the hash", rawJWT(`{"alg":"HS256"}`, mustJSON(claims("hsshort", nil)), []byte("short")), badClient),
		fail("HS client without sealed secret", hs(jose.HS256, "hsnoseal", nil), badClient),
		fail("HS client whose secret does not open", hs(jose.HS256, "hsbadseal", nil), oautherr.ServerError),
		fail("HS alg for a private_key_jwt client", hs(jose.HS256, "pk", nil), badClient),
		fail("HS signed with the client's public key bytes", sign(t, jose.HS256, pubKeyBytes(t, k), "ec256", claims("pk", nil)), badClient),
		fail("HS alg for a client_secret_basic client", hs(jose.HS256, "basic", nil), badClient),

		// private_key_jwt, every algorithm
		ok("RS256", sign(t, jose.RS256, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("RS384", sign(t, jose.RS384, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("RS512", sign(t, jose.RS512, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("PS256", sign(t, jose.PS256, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("PS384", sign(t, jose.PS384, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("PS512", sign(t, jose.PS512, k.rsa, "rsa", claims("pk", nil)), "pk"),
		ok("ES256", es("pk", nil), "pk"),
		ok("ES384", sign(t, jose.ES384, k.ec384, "ec384", claims("pk", nil)), "pk"),
		ok("ES512", sign(t, jose.ES512, k.ec521, "ec521", claims("pk", nil)), "pk"),
		ok("EdDSA", sign(t, jose.EdDSA, k.ed, "ed", claims("pk", nil)), "pk"),
		ok("no kid: every fitting key is tried", sign(t, jose.ES384, k.ec384, "", claims("pk", nil)), "pk"),
		ok("ES256 for client pinned to ES256", es("pk-es256", nil), "pk-es256"),
		fail("ES384 for client pinned to ES256", sign(t, jose.ES384, k.ec384, "ec384", claims("pk-es256", nil)), badClient),
		fail("unknown kid", sign(t, jose.ES256, k.ec256, "nope", claims("pk", nil)), badClient),
		fail("right kid, wrong key", sign(t, jose.ES256, k.ec256Other, "ec256", claims("pk", nil)), badClient),
		fail("key published for encryption", sign(t, jose.ES256, k.ec256Other, "enc", claims("pk", nil)), badClient),
		fail("alg does not fit the kid's curve", sign(t, jose.ES384, k.ec384, "ec256", claims("pk", nil)), badClient),
		fail("RSA key under 2048 bits", sign(t, jose.RS256, k.rsaWeak, "weak", claims("pk", nil)), badClient),
		fail("client without keys", es("pk-nokeys", nil), badClient),
		fail("client with unparsable jwks", es("pk-badjwks", nil), badClient),
		fail("private key published in jwks is ignored", sign(t, jose.ES256, k.privateInJWKS, "leaked", claims("pk-leaked", nil)), badClient),
		fail("asymmetric alg for a client_secret_jwt client", es("hs", nil), badClient),
		fail("disabled client", es("pk-off", nil), badClient),
		fail("unknown client", es("ghost", nil), badClient),

		// never alg none, never garbage
		fail("alg none", rawJWT(noneHeader, mustJSON(claims("pk", nil)), nil), badClient, "supported algorithm"),
		fail("alg none with a signature", rawJWT(noneHeader, mustJSON(claims("hs", nil)), hsSecret), badClient, "supported algorithm"),
		fail("unsupported alg", rawJWT(`{"alg":"HS1"}`, mustJSON(claims("hs", nil)), hsSecret), badClient),
		fail("not a JWT", "not-a-jwt", badClient),
		fail("three dots of nothing", "..", badClient),
		fail("JWS JSON serialization", `{"payload":"e30","signatures":[]}`, badClient),
		fail("oversized assertion", strings.Repeat("a", maxAssertionBytes+1), badClient, "too large"),
		fail("payload not JSON", rawJWT(`{"alg":"HS256"}`, []byte("hello"), hsSecret), badClient, "malformed"),
		fail("aud with a number", hs(jose.HS256, "hs", set("aud", []any{1})), badClient, "malformed"),
		fail("exp as a string", hs(jose.HS256, "hs", set("exp", "tomorrow")), badClient, "malformed"),

		// iss, sub, client_id
		fail("iss differs from sub", hs(jose.HS256, "hs", set("iss", "pk")), badClient, "iss and sub"),
		fail("iss missing", hs(jose.HS256, "hs", del("iss")), badClient, "iss and sub"),
		fail("sub missing", hs(jose.HS256, "hs", del("sub")), badClient, "iss and sub"),
		ok("body client_id matches", hs(jose.HS256, "hs", nil), "hs", "client_id", "hs"),
		{name: "body client_id differs", form: assertionForm(hs(jose.HS256, "hs", nil), "client_id", "pk"), wantCode: badReq, wantStatus: 400},

		// time claims (skew 30 s, max age 5 min)
		fail("exp missing", hs(jose.HS256, "hs", del("exp")), badClient, "must have exp"),
		fail("expired", hs(jose.HS256, "hs", set("iat", at(-2*time.Minute), "exp", at(-time.Minute))), badClient, "has expired"),
		ok("expired within skew", hs(jose.HS256, "hs", set("iat", at(-time.Minute), "exp", at(-20*time.Second))), "hs"),
		fail("exp exactly at the skew edge", hs(jose.HS256, "hs", set("iat", at(-time.Minute), "exp", at(-30*time.Second))), badClient, "has expired"),
		ok("exp at the max age", hs(jose.HS256, "hs", set("exp", at(5*time.Minute))), "hs"),
		fail("exp far in the future", hs(jose.HS256, "hs", set("iat", at(10*time.Second), "exp", at(24*time.Hour))), badClient, "more than 5m0s ahead"),
		fail("exp just past max age and skew", hs(jose.HS256, "hs", set("iat", nil, "exp", at(5*time.Minute+31*time.Second))), badClient, "more than 5m0s ahead"),
		fail("exp beyond int range", hs(jose.HS256, "hs", set("exp", 1e300)), badClient, "malformed"),
		fail("iat in the future", hs(jose.HS256, "hs", set("iat", at(time.Minute), "exp", at(2*time.Minute))), badClient, "iat"),
		ok("iat ahead within skew", hs(jose.HS256, "hs", set("iat", at(20*time.Second))), "hs"),
		ok("no iat", hs(jose.HS256, "hs", del("iat")), "hs"),
		fail("exp - iat longer than max age", hs(jose.HS256, "hs", set("iat", at(-10*time.Minute), "exp", at(time.Minute))), badClient, "lives longer"),
		fail("nbf in the future", hs(jose.HS256, "hs", set("nbf", at(time.Minute))), badClient, "nbf"),
		ok("nbf within skew", hs(jose.HS256, "hs", set("nbf", at(20*time.Second))), "hs"),
		ok("nbf in the past", hs(jose.HS256, "hs", set("nbf", at(-time.Minute))), "hs"),

		// jti
		fail("jti missing", hs(jose.HS256, "hs", del("jti")), badClient, "jti"),
		fail("jti empty", hs(jose.HS256, "hs", set("jti", "")), badClient, "jti"),
		fail("jti too long", hs(jose.HS256, "hs", set("jti", strings.Repeat("j", maxJTIBytes+1))), badClient, "jti"),
	}
	a := newTestAuthenticator(func() time.Time { return testNow })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, a) })
	}
}

// TestAssertionAudienceNeverMatchesAnEmptyIssuer: an empty aud must never match an unset issuer.
func TestAssertionAudienceNeverMatchesAnEmptyIssuer(t *testing.T) {
	a := newTestAuthenticator(func() time.Time { return testNow })
	a.Issuer = ""
	empty := sign(t, jose.HS256, hsSecret, "", claims("hs", func(c map[string]any) { c["aud"] = "" }))
	authCase{name: "empty issuer", form: assertionForm(empty), wantCode: badClient, wantStatus: 401}.run(t, a)
}

func TestAssertionReplay(t *testing.T) {
	clk := &clock{t: testNow}
	a := newTestAuthenticator(clk.Now)
	replay := a.Replay.(*memReplay)
	k := keys()
	for _, tc := range []struct {
		name      string
		assertion func(jti string) string
		id        string
	}{
		{"client_secret_jwt", func(jti string) string {
			return sign(t, jose.HS256, hsSecret, "", claims("hs", func(c map[string]any) { c["jti"] = jti }))
		}, "hs"},
		{"private_key_jwt", func(jti string) string {
			return sign(t, jose.ES256, k.ec256, "ec256", claims("pk", func(c map[string]any) { c["jti"] = jti }))
		}, "pk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertion := tc.assertion("once")
			authCase{name: "first use", form: assertionForm(assertion), wantID: tc.id}.run(t, a)
			authCase{name: "replay", form: assertionForm(assertion), wantCode: badClient, wantStatus: 401, wantDesc: "already been used"}.run(t, a)
			// A fresh assertion reusing the jti is a replay too.
			authCase{name: "same jti", form: assertionForm(tc.assertion("once")), wantCode: badClient, wantStatus: 401}.run(t, a)
			authCase{name: "new jti", form: assertionForm(tc.assertion("twice")), wantID: tc.id}.run(t, a)
		})
	}

	// The jti is kept until the assertion stops being acceptable: exp plus skew.
	until, ok := replay.seen["client_assertion:hs:once"]
	if want := testNow.Add(time.Minute + DefaultSkew).Truncate(time.Second); !ok || !until.Equal(want) {
		t.Errorf("jti remembered until %v (%v), want %v", until, ok, want)
	}
	// A failed assertion records nothing: unsigned garbage must not fill the store.
	before := len(replay.seen)
	bad := sign(t, jose.HS256, []byte(strings.Repeat("w", 64)), "", claims("hs", nil))
	if _, err := a.Authenticate(newRequest(assertionForm(bad)), tokenURL, Methods()); err == nil {
		t.Fatal("bad signature accepted")
	}
	if len(replay.seen) != before {
		t.Errorf("a forged assertion was recorded in the replay store")
	}
}

func TestReplayStoreFailure(t *testing.T) {
	a := newTestAuthenticator(func() time.Time { return testNow })
	a.Replay = failingReplay{}
	assertion := sign(t, jose.HS256, hsSecret, "", claims("hs", nil))
	authCase{name: "replay store down", form: assertionForm(assertion), wantCode: oautherr.ServerError, wantStatus: 500}.run(t, a)
}

type failingReplay struct{}

func (failingReplay) UseOnce(context.Context, string, time.Time) error {
	return errors.New("replay store unreachable")
}

func TestMaxAssertionAgeConfigurable(t *testing.T) {
	a := newTestAuthenticator(func() time.Time { return testNow })
	a.MaxAssertionAge = time.Hour
	a.Skew = time.Second
	long := sign(t, jose.HS256, hsSecret, "", claims("hs", func(c map[string]any) { c["exp"] = testNow.Add(50 * time.Minute).Unix() }))
	authCase{name: "50 min within 1 h", form: assertionForm(long), wantID: "hs"}.run(t, a)
	late := sign(t, jose.HS256, hsSecret, "", claims("hs", func(c map[string]any) { c["exp"] = testNow.Add(-2 * time.Second).Unix() }))
	authCase{name: "expired beyond 1 s skew", form: assertionForm(late), wantCode: badClient, wantStatus: 401}.run(t, a)
}

func TestAdvertised(t *testing.T) {
	methods := Methods()
	for _, m := range []string{MethodSecretBasic, MethodSecretPost, MethodSecretJWT, MethodPrivateKeyJWT, MethodNone} {
		if !slices.Contains(methods, m) {
			t.Errorf("Methods() lacks %s", m)
		}
	}
	algs := AssertionAlgs()
	for _, alg := range []string{"HS256", "RS256", "PS256", "ES256", "ES512", "EdDSA"} {
		if !slices.Contains(algs, alg) {
			t.Errorf("AssertionAlgs() lacks %s", alg)
		}
	}
	for _, alg := range algs {
		if strings.EqualFold(alg, "none") {
			t.Error("AssertionAlgs() advertises none")
		}
	}
	algs[0] = "mutated"
	if AssertionAlgs()[0] == "mutated" {
		t.Error("AssertionAlgs() exposes internal state")
	}
}

// pubKeyBytes is the client's public key as bytes, the classic HS/RS confusion secret.
func pubKeyBytes(t *testing.T, k *testKeySet) []byte {
	t.Helper()
	b, err := jose.JSONWebKey{Key: &k.ec256.PublicKey}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, b...) // long enough for HS256
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestAssertionAudience: the aud of a client assertion is the issuer identifier as its only
// value (draft-ietf-oauth-rfc7523bis; OpenID Foundation advisory on audience injection, 2025),
// so an assertion made for another server can never be replayed here. EndpointAudience also
// accepts the URL of the endpoint receiving it, for legacy clients, still as the only value.
func TestAssertionAudience(t *testing.T) {
	const other = "https://other.example"
	cases := []struct {
		name     string
		aud      any // nil: no aud claim
		endpoint string
		// wantDefault and wantLegacy: accepted by default, and with EndpointAudience.
		wantDefault, wantLegacy bool
	}{
		{"the issuer", testIssuer, tokenURL, true, true},
		{"the issuer at the introspection endpoint", testIssuer, introURL, true, true},
		{"an array of just the issuer", []string{testIssuer}, tokenURL, true, true},
		{"the token endpoint URL", tokenURL, tokenURL, false, true},
		{"an array of just the endpoint URL", []string{tokenURL}, tokenURL, false, true},
		{"the introspection endpoint URL there", introURL, introURL, false, true},
		{"the token endpoint URL at the introspection endpoint", tokenURL, introURL, false, false},
		{"another endpoint of this server", introURL, tokenURL, false, false},
		{"the issuer and another server", []string{testIssuer, other}, tokenURL, false, false},
		{"another server and the issuer", []string{other, testIssuer}, tokenURL, false, false},
		{"the issuer and the endpoint URL", []string{testIssuer, tokenURL}, tokenURL, false, false},
		{"another server and the endpoint URL", []string{other, tokenURL}, tokenURL, false, false},
		{"the issuer twice", []string{testIssuer, testIssuer}, tokenURL, false, false},
		{"another server", other, tokenURL, false, false},
		{"the issuer with a trailing slash", testIssuer + "/", tokenURL, false, false},
		{"the issuer in upper case", strings.ToUpper(testIssuer), tokenURL, false, false},
		{"empty", "", tokenURL, false, false},
		{"an empty array", []string{}, tokenURL, false, false},
		{"missing", nil, tokenURL, false, false},
	}
	for _, legacy := range []bool{false, true} {
		a := newTestAuthenticator(func() time.Time { return testNow })
		a.EndpointAudience = legacy
		for _, c := range cases {
			t.Run(fmt.Sprintf("endpoint audience %v/%s", legacy, c.name), func(t *testing.T) {
				assertion := sign(t, jose.HS256, hsSecret, "", claims("hs", func(m map[string]any) {
					if c.aud == nil {
						delete(m, "aud")
					} else {
						m["aud"] = c.aud
					}
				}))
				accepted := c.wantDefault
				if legacy {
					accepted = c.wantLegacy
				}
				ac := authCase{name: c.name, form: assertionForm(assertion), endpoint: c.endpoint, wantID: "hs"}
				if !accepted {
					ac.wantID, ac.wantCode, ac.wantStatus, ac.wantDesc = "", badClient, 401, "aud"
				}
				ac.run(t, a)
			})
		}
	}
}

// TestEndpointMethods: an endpoint accepts only the methods it is given (the ones its
// discovery metadata advertises); a refused method fails before any client lookup, so the
// answer is the same for known and unknown clients.
func TestEndpointMethods(t *testing.T) {
	confidential := slices.DeleteFunc(Methods(), func(m string) bool { return m == MethodNone })
	hsAssertion := sign(t, jose.HS256, hsSecret, "", claims("hs", nil))
	esAssertion := sign(t, jose.ES256, keys().ec256, "ec256", claims("pk", nil))
	cases := []authCase{
		{name: "public client where none is not accepted", form: form("client_id", "public"), methods: confidential,
			wantCode: badClient, wantStatus: 401, wantDesc: "requires client authentication"},
		{name: "unknown client where none is not accepted", form: form("client_id", "ghost"), methods: confidential,
			wantCode: badClient, wantStatus: 401, wantDesc: "requires client authentication"},
		{name: "basic where none is not accepted", auth: []string{basicAuth("basic", goodSecret)}, methods: confidential, wantID: "basic"},
		{name: "post where none is not accepted", form: form("client_id", "post", "client_secret", goodSecret), methods: confidential, wantID: "post"},
		{name: "client_secret_jwt where none is not accepted", form: assertionForm(hsAssertion), methods: confidential, wantID: "hs"},
		{name: "private_key_jwt where none is not accepted", form: assertionForm(esAssertion), methods: confidential, wantID: "pk"},
		{name: "basic where only none is accepted", auth: []string{basicAuth("basic", goodSecret)}, methods: []string{MethodNone},
			wantCode: badClient, wantStatus: 401, wantBasic: true, wantDesc: "does not accept client_secret_basic"},
		{name: "client_secret_jwt where only private_key_jwt is accepted", form: assertionForm(sign(t, jose.HS256, hsSecret, "", claims("hs", nil))),
			methods: []string{MethodPrivateKeyJWT}, wantCode: badClient, wantStatus: 401, wantDesc: "does not accept client_secret_jwt"},
		{name: "nothing accepted", form: form("client_id", "public"), methods: []string{},
			wantCode: badClient, wantStatus: 401},
	}
	a := newTestAuthenticator(func() time.Time { return testNow })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, a) })
	}
}
