package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
)

const (
	idpIssuer   = "https://idp.example.test"
	otherIssuer = "https://other-idp.example.test"
	gwExchange  = "Ex8Gw2Lm7Nc4Vz8Kd1Hs6Jf0Gt5Ry3Ue8Io2Pa7SqWe"
)

// idpKey is the trusted issuer's signing key, made once per test binary.
var idpKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

func idpJWKS() string {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idpKey.PublicKey, KeyID: "idp-1", Algorithm: "ES256"}}})
	return string(b)
}

// idpToken signs claims as the trusted issuer (iss, exp, iat and jti defaulted).
func (ts *testServer) idpToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": idpIssuer, "aud": testIssuer, "iat": ts.now.Load(), "exp": ts.now.Load() + 300, "jti": newJTI()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: idpKey}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "idp-1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func newExchangeServer(t testing.TB, o serverOptions) *testServer {
	edit := o.edit
	o.edit = func(c *Config) {
		c.TrustedIssuers = []trust.Issuer{{Issuer: idpIssuer, JWKS: idpJWKS()}}
		c.Clients = append(c.Clients,
			ClientConfig{ID: "orders-gw", Secret: gwExchange, GrantTypes: []string{exchange.GrantType, "client_credentials"},
				Scopes: []string{"read", "write", "openid"}, Resources: []string{jwtResource, opqResource}},
			ClientConfig{ID: "partner", Secret: gwExchange, GrantTypes: []string{jwtbearer.GrantType},
				Scopes: []string{"read", "write", "openid"}, Resources: []string{jwtResource, opqResource}, DefaultResource: jwtResource},
			ClientConfig{ID: "stranger", Secret: gwExchange, GrantTypes: []string{exchange.GrantType, jwtbearer.GrantType},
				Scopes: []string{"read"}, Resources: []string{jwtResource}},
		)
		c.TokenExchange = exchange.Policy{Rules: []exchange.Rule{
			{Clients: []string{"orders-gw"}, SubjectIssuers: []string{exchange.SelfIssuer, idpIssuer}, Resources: []string{opqResource, jwtResource}},
		}}
		c.JWTBearer = []jwtbearer.Policy{{Issuer: idpIssuer, Subject: jwtbearer.SubjectAccount, Clients: []string{"partner"},
			Scopes: []string{"read", "openid"}, Resources: []string{jwtResource}}}
		if edit != nil {
			edit(c)
		}
	}
	return newFlowServerOpts(t, o)
}

// exchangeAs posts a token exchange request as client (secret gwExchange).
func (ts *testServer) exchangeAs(client string, form url.Values) response {
	form.Set("grant_type", exchange.GrantType)
	return ts.do(http.MethodPost, "/token", form, [2]string{client, gwExchange})
}

// aliceTokens signs alice in with the web client and returns its token response.
func (ts *testServer) aliceTokens(t testing.TB) map[string]any {
	t.Helper()
	cb := ts.browser().signIn(authURL(nil))
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	return res.body
}

func TestTokenExchangeOfAUserToken(t *testing.T) {
	ts := newExchangeServer(t, serverOptions{})
	alice := ts.aliceTokens(t)
	subject := alice["access_token"].(string)

	res := ts.exchangeAs("orders-gw", url.Values{"subject_token": {subject}, "subject_token_type": {exchange.TypeAccessToken},
		"resource": {opqResource}, "scope": {"read"}})
	if res.status != http.StatusOK || res.body["issued_token_type"] != exchange.TypeAccessToken || res.body["token_type"] != "Bearer" ||
		res.body["scope"] != "read" || res.body["refresh_token"] != nil {
		t.Fatalf("exchange: %d %s", res.status, res.raw)
	}
	// The subject token lives 5 minutes (jwtResource); the new one, for a 10-minute resource, no longer.
	if exp := res.body["expires_in"].(float64); exp > 300 || exp < 290 {
		t.Fatalf("expires_in %v outlives the subject token", exp)
	}
	info := ts.introspect("gateway", gwSecret, res.body["access_token"].(string))
	if info["active"] != true || info["sub"] != "alice-sub" || info["client_id"] != "orders-gw" || info["aud"] != opqResource ||
		info["scope"] != "read" || info["act"] != nil {
		t.Fatalf("introspection of the exchanged token: %v", info)
	}

	// Without a scope parameter: the subject token's scopes the target accepts.
	res = ts.exchangeAs("orders-gw", url.Values{"subject_token": {subject}, "subject_token_type": {exchange.TypeAccessToken},
		"audience": {jwtResource}})
	if res.status != http.StatusOK || res.body["scope"] != "openid read" {
		t.Fatalf("default scopes: %d %s", res.status, res.raw)
	}
	exchanged := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	if exchanged["sub"] != "alice-sub" || exchanged["grant_id"] == nil {
		t.Fatalf("exchanged JWT: %v", exchanged)
	}

	// Revoking alice's grant revokes what was exchanged from it.
	if rv := ts.do(http.MethodPost, "/revoke", url.Values{"token": {alice["refresh_token"].(string)}}, [2]string{"web", webSecret}); rv.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", rv.status, rv.raw)
	}
	if info := ts.introspect("gateway", gwSecret, res.body["access_token"].(string)); info["active"] != false {
		t.Fatalf("exchanged token after its grant was revoked: %v", info)
	}
	wantOAuthError(t, ts.exchangeAs("orders-gw", url.Values{"subject_token": {subject}, "subject_token_type": {exchange.TypeAccessToken},
		"resource": {opqResource}}), 400, "invalid_request")
}

func TestTokenExchangeRefusals(t *testing.T) {
	ts := newExchangeServer(t, serverOptions{edit: func(c *Config) {
		c.TokenExchange.Rules[0].SubjectIssuers = []string{exchange.SelfIssuer}
		c.TokenExchange.Rules = append(c.TokenExchange.Rules, exchange.Rule{Clients: []string{"orders-gw"},
			SubjectIssuers: []string{idpIssuer}, Resources: []string{jwtResource}, Scopes: []string{"read"}, Actor: exchange.ActorRequired})
	}})
	subject := ts.aliceTokens(t)["access_token"].(string)
	ext := ts.idpToken(t, map[string]any{"sub": "ext-user", "scope": "read write"})
	form := func(kv ...string) url.Values {
		f := url.Values{"subject_token": {subject}, "subject_token_type": {exchange.TypeAccessToken}, "resource": {opqResource}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	cases := []struct {
		name   string
		client string
		form   url.Values
		status int
		code   string
	}{
		{"no subject_token", "orders-gw", form("subject_token", ""), 400, "invalid_request"},
		{"no subject_token_type", "orders-gw", form("subject_token_type", ""), 400, "invalid_request"},
		{"unknown subject_token_type", "orders-gw", form("subject_token_type", "urn:example:saml"), 400, "invalid_request"},
		{"forged subject_token", "orders-gw", form("subject_token", subject+"x"), 400, "invalid_request"},
		{"an ID token called an access token", "orders-gw", form("subject_token", ext), 400, "invalid_request"},
		{"actor_token without its type", "orders-gw", form("actor_token", subject), 400, "invalid_request"},
		{"refresh token requested", "orders-gw", form("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request"},
		{"jwt of an opaque resource", "orders-gw", form("requested_token_type", exchange.TypeJWT), 400, "invalid_target"},
		{"wider scope than the subject token's", "orders-gw", form("scope", "write"), 400, "invalid_scope"},
		{"a scope the client may not have", "orders-gw", form("scope", "admin"), 400, "invalid_scope"},
		{"two targets", "orders-gw", form("audience", jwtResource), 400, "invalid_target"},
		{"unknown target", "orders-gw", form("resource", "https://nowhere.example.test"), 400, "invalid_target"},
		{"a target the rule does not allow", "orders-gw", form("resource", rsResource), 400, "invalid_target"},
		{"a client without a rule", "stranger", form(), 400, "unauthorized_client"},
		{"a client without the grant", "web", form(), 400, "unauthorized_client"},
		// The second rule takes the IdP's tokens only with an actor, for jwtResource, read only.
		{"external without the actor its rule requires", "orders-gw", form("subject_token", ext, "subject_token_type", exchange.TypeJWT, "resource", jwtResource), 400, "invalid_request"},
		{"external token for someone else", "orders-gw", form("subject_token", ts.idpToken(t, map[string]any{"sub": "u", "aud": "https://elsewhere.example"}),
			"subject_token_type", exchange.TypeJWT), 400, "invalid_request"},
		{"external token expired", "orders-gw", form("subject_token", ts.idpToken(t, map[string]any{"sub": "u", "exp": ts.now.Load() - 120}),
			"subject_token_type", exchange.TypeJWT), 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.form
			if tc.client == "web" {
				f.Set("grant_type", exchange.GrantType)
				wantOAuthError(t, ts.do(http.MethodPost, "/token", f, [2]string{"web", webSecret}), tc.status, tc.code)
				return
			}
			wantOAuthError(t, ts.exchangeAs(tc.client, f), tc.status, tc.code)
		})
	}
}

func TestTokenExchangeDelegationAndExternalTokens(t *testing.T) {
	ts := newExchangeServer(t, serverOptions{})
	alice := ts.aliceTokens(t)
	actor := ts.mustToken("orders-gw", gwExchange, jwtResource, "read")

	// Delegation: orders-gw acts for alice; the token says so in act.
	res := ts.exchangeAs("orders-gw", url.Values{"subject_token": {alice["access_token"].(string)}, "subject_token_type": {exchange.TypeAccessToken},
		"actor_token": {actor}, "actor_token_type": {exchange.TypeAccessToken}, "resource": {jwtResource}, "scope": {"read"},
		"requested_token_type": {exchange.TypeJWT}})
	if res.status != http.StatusOK || res.body["issued_token_type"] != exchange.TypeJWT {
		t.Fatalf("delegation: %d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	act, _ := claims["act"].(map[string]any)
	if claims["sub"] != "alice-sub" || act["sub"] != "orders-gw" || act["iss"] != nil {
		t.Fatalf("delegated token: %v", claims)
	}
	// A second hop keeps the chain: the new actor outermost, the first one nested.
	second := ts.idpToken(t, map[string]any{"sub": "billing-svc"})
	res = ts.exchangeAs("orders-gw", url.Values{"subject_token": {res.body["access_token"].(string)}, "subject_token_type": {exchange.TypeAccessToken},
		"actor_token": {second}, "actor_token_type": {exchange.TypeJWT}, "resource": {jwtResource}})
	if res.status != http.StatusOK {
		t.Fatalf("second hop: %d %s", res.status, res.raw)
	}
	chain := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")["act"].(map[string]any)
	if chain["sub"] != "billing-svc" || chain["iss"] != idpIssuer || chain["act"].(map[string]any)["sub"] != "orders-gw" {
		t.Fatalf("act chain: %v", chain)
	}

	// An ID token as the subject: the user it names.
	res = ts.exchangeAs("orders-gw", url.Values{"subject_token": {alice["id_token"].(string)}, "subject_token_type": {exchange.TypeIDToken},
		"resource": {jwtResource}, "scope": {"read"}})
	if res.status != http.StatusOK || ts.verifyAccessToken(res.body["access_token"].(string), "ES256")["sub"] != "alice-sub" {
		t.Fatalf("ID token subject: %d %s", res.status, res.raw)
	}
	// An ID token past its exp is refused (unlike an id_token_hint).
	ts.now.Add(3600)
	wantOAuthError(t, ts.exchangeAs("orders-gw", url.Values{"subject_token": {alice["id_token"].(string)}, "subject_token_type": {exchange.TypeIDToken},
		"resource": {jwtResource}, "scope": {"read"}}), 400, "invalid_request")

	// A trusted issuer's JWT as the subject: its sub as is, scopes within its scope claim.
	ext := ts.idpToken(t, map[string]any{"sub": "ext-user", "scope": "read"})
	res = ts.exchangeAs("orders-gw", url.Values{"subject_token": {ext}, "subject_token_type": {exchange.TypeJWT}, "resource": {opqResource}})
	if res.status != http.StatusOK || res.body["scope"] != "read" {
		t.Fatalf("external subject: %d %s", res.status, res.raw)
	}
	if info := ts.introspect("gateway", gwSecret, res.body["access_token"].(string)); info["sub"] != "ext-user" {
		t.Fatalf("external subject's token: %v", info)
	}
	wantOAuthError(t, ts.exchangeAs("orders-gw", url.Values{"subject_token": {ts.idpToken(t, map[string]any{"sub": "ext-user", "scope": "read"})},
		"subject_token_type": {exchange.TypeJWT}, "resource": {opqResource}, "scope": {"write"}}), 400, "invalid_scope")
	// may_act names who may act for the subject: another actor is refused.
	bound := ts.idpToken(t, map[string]any{"sub": "ext-user", "may_act": map[string]any{"sub": "someone-else"}})
	wantOAuthError(t, ts.exchangeAs("orders-gw", url.Values{"subject_token": {bound}, "subject_token_type": {exchange.TypeJWT},
		"actor_token": {ts.mustToken("orders-gw", gwExchange, jwtResource, "read")}, "actor_token_type": {exchange.TypeAccessToken},
		"resource": {jwtResource}}), 400, "invalid_request")
}

func TestJWTBearerGrant(t *testing.T) {
	ts := newExchangeServer(t, serverOptions{})
	bearer := func(assertion string, extra ...string) response {
		form := url.Values{"grant_type": {jwtbearer.GrantType}, "assertion": {assertion}}
		for i := 0; i < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return ts.do(http.MethodPost, "/token", form, [2]string{"partner", gwExchange})
	}
	assertion := ts.idpToken(t, map[string]any{"sub": "alice-sub"})
	res := bearer(assertion, "scope", "read openid")
	if res.status != http.StatusOK {
		t.Fatalf("assertion: %d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	if claims["sub"] != "alice-sub" || claims["client_id"] != "partner" || claims["scope"] != "read openid" {
		t.Fatalf("claims: %v", claims)
	}
	// The access token reads alice at userinfo (openid granted).
	if ui := ts.userinfo(res.body["access_token"].(string)); ui.status != http.StatusOK || ui.body["sub"] != "alice-sub" {
		t.Fatalf("userinfo: %d %s", ui.status, ui.raw)
	}
	wantOAuthError(t, bearer(assertion), 400, "invalid_grant") // jti used

	for _, tc := range []struct {
		name      string
		assertion string
		extra     []string
		status    int
		code      string
	}{
		{"no assertion", "", nil, 400, "invalid_request"},
		{"garbage", "a.b.c", nil, 400, "invalid_grant"},
		{"aud elsewhere", ts.idpToken(t, map[string]any{"sub": "alice-sub", "aud": "https://elsewhere.example"}), nil, 400, "invalid_grant"},
		{"token endpoint as aud", ts.idpToken(t, map[string]any{"sub": "alice-sub", "aud": testIssuer + "/token"}), nil, 400, "invalid_grant"},
		{"no jti", ts.idpToken(t, map[string]any{"sub": "alice-sub", "jti": nil}), nil, 400, "invalid_grant"},
		{"exp two hours ahead", ts.idpToken(t, map[string]any{"sub": "alice-sub", "exp": ts.now.Load() + 7200}), nil, 400, "invalid_grant"},
		{"expired", ts.idpToken(t, map[string]any{"sub": "alice-sub", "exp": ts.now.Load() - 120}), nil, 400, "invalid_grant"},
		{"unknown account", ts.idpToken(t, map[string]any{"sub": "nobody"}), nil, 400, "invalid_grant"},
		{"resource outside the policy", ts.idpToken(t, map[string]any{"sub": "alice-sub"}), []string{"resource", opqResource}, 400, "invalid_target"},
		{"scope outside the policy", ts.idpToken(t, map[string]any{"sub": "alice-sub"}), []string{"scope", "write"}, 400, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantOAuthError(t, bearer(tc.assertion, tc.extra...), tc.status, tc.code) })
	}
	// A refused request does not spend the assertion: corrected, it works.
	fresh := ts.idpToken(t, map[string]any{"sub": "alice-sub"})
	wantOAuthError(t, bearer(fresh, "resource", opqResource), 400, "invalid_target")
	if res := bearer(fresh); res.status != http.StatusOK || res.body["scope"] != "read" {
		t.Fatalf("the corrected retry (the client's default scopes for the resource, within the policy): %d %s", res.status, res.raw)
	}
	// A client the policy does not name.
	form := url.Values{"grant_type": {jwtbearer.GrantType}, "assertion": {ts.idpToken(t, map[string]any{"sub": "alice-sub"})}}
	wantOAuthError(t, ts.do(http.MethodPost, "/token", form, [2]string{"stranger", gwExchange}), 400, "unauthorized_client")
}

func TestJWTBearerSubjectMappings(t *testing.T) {
	for _, tc := range []struct {
		mapping, sub, wantSub string
	}{
		{jwtbearer.SubjectClient, "partner", "partner"},
		{jwtbearer.SubjectExternal, "repo:acme/app:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main"},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			ts := newExchangeServer(t, serverOptions{edit: func(c *Config) { c.JWTBearer[0].Subject = tc.mapping }})
			form := url.Values{"grant_type": {jwtbearer.GrantType}, "assertion": {ts.idpToken(t, map[string]any{"sub": tc.sub})}, "scope": {"read"}}
			res := ts.do(http.MethodPost, "/token", form, [2]string{"partner", gwExchange})
			if res.status != http.StatusOK || ts.verifyAccessToken(res.body["access_token"].(string), "ES256")["sub"] != tc.wantSub {
				t.Fatalf("%d %s", res.status, res.raw)
			}
		})
	}
	ts := newExchangeServer(t, serverOptions{edit: func(c *Config) { c.JWTBearer[0].Subject = jwtbearer.SubjectClient }})
	form := url.Values{"grant_type": {jwtbearer.GrantType}, "assertion": {ts.idpToken(t, map[string]any{"sub": "someone-else"})}}
	wantOAuthError(t, ts.do(http.MethodPost, "/token", form, [2]string{"partner", gwExchange}), 400, "invalid_grant")
}

// TestJWTBearerReplayRace: one assertion presented by many requests at once, across two
// instances sharing the database, gets one token.
func TestJWTBearerReplayRace(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			a := newExchangeServer(t, serverOptions{driver: driver, dsn: dsn})
			b := newExchangeServer(t, serverOptions{driver: driver, dsn: dsn})
			assertion := a.idpToken(t, map[string]any{"sub": "alice-sub"})
			const n = 16
			results := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				srv := a
				if i%2 == 1 {
					srv = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = srv.do(http.MethodPost, "/token", url.Values{"grant_type": {jwtbearer.GrantType}, "assertion": {assertion}},
						[2]string{"partner", gwExchange})
				}()
			}
			wg.Wait()
			wins := 0
			for _, r := range results {
				switch {
				case r.status == http.StatusOK:
					wins++
				case r.body["error"] != "invalid_grant":
					t.Errorf("loser: %d %s", r.status, r.raw)
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d got a token for one assertion", wins, n)
			}
		})
	}
}

func TestTrustConfigRules(t *testing.T) {
	base := func() Config {
		return Config{Issuer: testIssuer, TrustedIssuers: []trust.Issuer{{Issuer: idpIssuer, JWKS: idpJWKS()}}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bearer of an untrusted issuer", func(c *Config) {
			c.JWTBearer = []jwtbearer.Policy{{Issuer: otherIssuer, Subject: "account", Clients: []string{"x"}}}
		}, "not a trusted_issuer"},
		{"bearer without clients", func(c *Config) {
			c.JWTBearer = []jwtbearer.Policy{{Issuer: idpIssuer, Subject: "account"}}
		}, "name the clients"},
		{"bearer with an unknown mapping", func(c *Config) {
			c.JWTBearer = []jwtbearer.Policy{{Issuer: idpIssuer, Subject: "email", Clients: []string{"x"}}}
		}, "want account, client or external"},
		{"exchange rule without clients", func(c *Config) {
			c.TokenExchange.Rules = []exchange.Rule{{}}
		}, "name the clients"},
		{"exchange of an untrusted issuer", func(c *Config) {
			c.TokenExchange.Rules = []exchange.Rule{{Clients: []string{"x"}, SubjectIssuers: []string{otherIssuer}}}
		}, "neither self nor a trusted_issuer"},
		{"exchange with an unknown actor rule", func(c *Config) {
			c.TokenExchange.Rules = []exchange.Rule{{Clients: []string{"x"}, Actor: "sometimes"}}
		}, "want optional, required or forbidden"},
		{"this server as a trusted issuer", func(c *Config) {
			c.TrustedIssuers = append(c.TrustedIssuers, trust.Issuer{Issuer: testIssuer, JWKS: idpJWKS()})
		}, "always trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			if err := c.Validate(false); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// Discovery lists the grants only when they are configured.
	off := newFlowServer(t, nil)
	meta := off.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	on := newExchangeServer(t, serverOptions{})
	metaOn := on.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	for _, g := range []string{exchange.GrantType, jwtbearer.GrantType} {
		if strings.Contains(meta.raw, g) || !strings.Contains(metaOn.raw, g) {
			t.Errorf("discovery and %s: off %v, on %v", g, strings.Contains(meta.raw, g), strings.Contains(metaOn.raw, g))
		}
	}
}
