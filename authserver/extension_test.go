package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
)

const apiKeyGrant = "urn:example:params:grant-type:api-key"

// apiKeyTestGrant decides per the api_key parameter, so one grant exercises every kind of
// decision and error.
type apiKeyTestGrant struct{ seen *extension.GrantRequest }

func (g *apiKeyTestGrant) GrantType() string { return apiKeyGrant }

func (g *apiKeyTestGrant) Token(_ context.Context, req *extension.GrantRequest) (*extension.Decision, error) {
	g.seen = req
	switch req.Params.Get("api_key") {
	case "robot":
		return &extension.Decision{Subject: "robot-7", Claims: map[string]any{"fleet": "north", "sub": "admin", "act": "x"}}, nil
	case "narrow":
		return &extension.Decision{Resource: opqResource, Scopes: []string{"read"}}, nil
	case "too-wide":
		return &extension.Decision{Scopes: []string{"write", "admin"}, Resource: opqResource}, nil
	case "elsewhere":
		return &extension.Decision{Resource: loneResource}, nil
	case "broken":
		return nil, errors.New("the key store is down")
	case "nothing":
		return nil, nil
	default:
		return nil, extension.Error(extension.InvalidGrant, "the API key is not valid")
	}
}

// recordingContributor adds fixed claims and records what it was asked.
type recordingContributor struct {
	claims map[string]any
	err    error
	asked  []extension.ClaimsRequest
}

func (c *recordingContributor) AccessTokenClaims(_ context.Context, req extension.ClaimsRequest) (map[string]any, error) {
	c.asked = append(c.asked, req)
	return c.claims, c.err
}

func newExtensionServer(t *testing.T, grant extension.Grant, contributors ...extension.ClaimContributor) *testServer {
	return newFlowServer(t, func(c *Config) {
		c.ExtensionGrants = []extension.Grant{grant}
		c.ClaimContributors = contributors
		c.Clients = append(c.Clients, ClientConfig{ID: "robot", Secret: svcSecret, GrantTypes: []string{apiKeyGrant},
			Scopes: []string{"read", "write"}, Resources: []string{jwtResource, opqResource}, DefaultResource: jwtResource})
	})
}

func (ts *testServer) apiKeyToken(key string, extra url.Values) response {
	form := url.Values{"grant_type": {apiKeyGrant}, "api_key": {key}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.do(http.MethodPost, "/token", form, [2]string{"robot", svcSecret})
}

func TestExtensionGrant(t *testing.T) {
	grant := &apiKeyTestGrant{}
	ts := newExtensionServer(t, grant)

	res := ts.apiKeyToken("robot", url.Values{"scope": {"read"}})
	if res.status != http.StatusOK {
		t.Fatalf("robot: %d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	if claims["sub"] != "robot-7" || claims["aud"] != jwtResource || claims["client_id"] != "robot" || claims["scope"] != "read" ||
		claims["fleet"] != "north" || claims["act"] != nil || claims["tenant"] != "acme" {
		t.Fatalf("claims: %v (reserved sub and act must be dropped, the resource's own claims kept)", claims)
	}
	// The grant saw the client and the parameters, never the client's secret.
	if grant.seen.Client.ID != "robot" || grant.seen.Client.Public || grant.seen.Params.Get("api_key") != "robot" ||
		grant.seen.Params.Has("grant_type") || grant.seen.Header.Get("Authorization") == "" || grant.seen.GrantType != apiKeyGrant {
		t.Fatalf("grant request: %+v", grant.seen)
	}

	// A decided resource and scopes: an opaque token whose introspection shows them.
	res = ts.apiKeyToken("narrow", nil)
	if res.status != http.StatusOK || res.body["scope"] != "read" {
		t.Fatalf("narrow: %d %s", res.status, res.raw)
	}
	info := ts.introspect("gateway", gwSecret, res.body["access_token"].(string))
	if info["active"] != true || info["sub"] != "robot" || info["aud"] != opqResource || info["tier"] != "gold" {
		t.Fatalf("introspection: %v", info)
	}

	for _, tc := range []struct {
		key, code string
		status    int
	}{
		{"wrong", "invalid_grant", 400},
		{"too-wide", "invalid_scope", 400},
		{"elsewhere", "invalid_target", 400}, // a resource the client is not linked to
		{"broken", "server_error", 500},
		{"nothing", "server_error", 500},
	} {
		t.Run(tc.key, func(t *testing.T) {
			form := url.Values{"grant_type": {apiKeyGrant}, "api_key": {tc.key}}
			req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("robot", svcSecret)
			rec := httptest.NewRecorder()
			ts.srv.ServeHTTP(rec, req) // not serve: a 500 is what two of these want
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"error":"`+tc.code+`"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		})
	}
	// A requested scope outside the client's: refused like client_credentials.
	wantOAuthError(t, ts.apiKeyToken("robot", url.Values{"scope": {"admin"}}), 400, "invalid_scope")
	// A client not given the grant type.
	wantOAuthError(t, ts.do(http.MethodPost, "/token", url.Values{"grant_type": {apiKeyGrant}, "api_key": {"robot"}},
		[2]string{"svc", svcSecret}), 400, "unauthorized_client")

	meta := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if !strings.Contains(meta.raw, apiKeyGrant) {
		t.Fatalf("discovery does not list the extension grant: %s", meta.raw)
	}
}

func TestExtensionConfigRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grant extension.Grant
		want  string
	}{
		{"relative", namedGrant("api-key"), "absolute URI"},
		{"built-in", namedGrant("urn:ietf:params:oauth:grant-type:token-exchange"), "built-in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Config{Issuer: testIssuer, ExtensionGrants: []extension.Grant{tc.grant}}.Validate(false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	err := Config{Issuer: testIssuer, ExtensionGrants: []extension.Grant{namedGrant("urn:x:a"), namedGrant("urn:x:a")}}.Validate(false)
	if err == nil || !strings.Contains(err.Error(), "two extensions") {
		t.Fatalf("a grant type served twice: %v", err)
	}
	// A client may be given an extension grant type only when an extension serves it.
	client := ClientConfig{ID: "c", Secret: svcSecret, GrantTypes: []string{"urn:x:a"}}
	if err := (Config{Issuer: testIssuer, Clients: []ClientConfig{client}}).Validate(false); err == nil || !strings.Contains(err.Error(), "grant_types") {
		t.Fatalf("an unserved grant type was accepted: %v", err)
	}
	if err := (Config{Issuer: testIssuer, Clients: []ClientConfig{client}, ExtensionGrants: []extension.Grant{namedGrant("urn:x:a")}}).Validate(false); err != nil {
		t.Fatalf("a served extension grant type: %v", err)
	}
}

type namedGrant string

func (g namedGrant) GrantType() string { return string(g) }
func (g namedGrant) Token(context.Context, *extension.GrantRequest) (*extension.Decision, error) {
	return &extension.Decision{}, nil
}

func TestClaimContributors(t *testing.T) {
	first := &recordingContributor{claims: map[string]any{"plan": "pro", "region": "eu", "cnf": "x"}}
	second := &recordingContributor{claims: map[string]any{"region": "us"}}
	ts := newExtensionServer(t, &apiKeyTestGrant{}, first, second)

	// Client credentials: the contributors are asked about the client's own token.
	tok := ts.mustToken("svc", svcSecret, jwtResource, "read")
	claims := ts.verifyAccessToken(tok, "ES256")
	if claims["plan"] != "pro" || claims["region"] != "us" || claims["cnf"] != nil || claims["tenant"] != "acme" {
		t.Fatalf("claims: %v (later contributor wins, reserved dropped, resource claims kept)", claims)
	}
	if got := first.asked[len(first.asked)-1]; got.ClientID != "svc" || got.Subject != "svc" || got.Account != nil ||
		got.GrantType != "client_credentials" || got.Resource != jwtResource || strings.Join(got.Scopes, " ") != "read" {
		t.Fatalf("claims request: %+v", got)
	}

	// A user's token: the contributor sees the account's subject and claims.
	cb := ts.browser().signIn(authURL(nil))
	res := ts.redeem(cb.Get("code"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	got := first.asked[len(first.asked)-1]
	if got.Subject != "alice-sub" || got.Account["name"] != "Alice Liddell" || got.GrantType != "authorization_code" || got.ClientID != "web" {
		t.Fatalf("claims request for alice: %+v", got)
	}
	if c := ts.verifyAccessToken(res.body["access_token"].(string), "ES256"); c["plan"] != "pro" {
		t.Fatalf("user token claims: %v", c)
	}

	// A failing contributor fails the request: no token without the claims gateways rely on.
	second.err = errors.New("directory unreachable")
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader("grant_type=client_credentials&resource="+url.QueryEscape(jwtResource)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", svcSecret)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "access_token") {
		t.Fatalf("with a failing contributor: %d %s", rec.Code, rec.Body.String())
	}
}

func TestResourceAccountClaims(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) {
		for i := range c.Resources {
			if c.Resources[i].Identifier == jwtResource || c.Resources[i].Identifier == opqResource {
				c.Resources[i].AccountClaims = []string{"roles", "groups", "tenant"}
			}
		}
		c.Accounts[0].Claims["roles"] = []any{"admin", "reader"}
		c.Accounts[0].Claims["tenant"] = "wonderland"
	})
	cb := ts.browser().signIn(authURL(url.Values{"resource": {jwtResource, opqResource}}))
	res := ts.redeem(cb.Get("code"), url.Values{"resource": {jwtResource}})
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	roles, _ := claims["roles"].([]any)
	if len(roles) != 2 || roles[0] != "admin" || claims["tenant"] != "wonderland" || claims["groups"] != nil {
		t.Fatalf("claims: %v (account roles and tenant copied, over the resource's tenant; no groups on the account)", claims)
	}
	// Refreshed tokens carry them too, for the opaque resource as well.
	ref := ts.refresh(res.body["refresh_token"].(string), url.Values{"resource": {opqResource}, "scope": {"read"}})
	if ref.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", ref.status, ref.raw)
	}
	info := ts.introspect("gateway", gwSecret, ref.body["access_token"].(string))
	if info["tenant"] != "wonderland" || info["tier"] != "gold" {
		t.Fatalf("opaque token introspection: %v", info)
	}
	// A client's own token has no account: nothing is copied.
	c := ts.verifyAccessToken(ts.mustToken("svc", svcSecret, jwtResource, "read"), "ES256")
	if c["roles"] != nil || c["tenant"] != "acme" {
		t.Fatalf("client token: %v", c)
	}

	for _, bad := range [][]string{{"sub"}, {"roles", "roles"}, {""}, {"scope"}} {
		cfg := Config{Issuer: testIssuer, Resources: []ResourceConfig{{Identifier: "https://r.example", AccountClaims: bad}}}
		if err := cfg.Validate(false); err == nil || !strings.Contains(err.Error(), "account_claims") {
			t.Errorf("account_claims %q: %v", bad, err)
		}
	}
}
