package authserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop/dpoptest"
)

// One test per clause of authserver/profile/CLAUSES.md that a non-conforming request, client
// or configuration is refused with the right error. Clauses enforced by the PAR, request-object
// and JARM pieces are tested beside them (CLAUSES.md names the tests).

// fapiClient is a FAPI 2.0 client on a plain server: private_key_jwt with an ES256 and an
// RSA key (the RSA one to show that RS256 is refused), per-client profile fapi2.
type fapiClient struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

func newFAPIClient(t *testing.T) (*fapiClient, ClientConfig) {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "ec", Use: "sig"}, {Key: &rk.PublicKey, KeyID: "rsa", Use: "sig"}}})
	return &fapiClient{ec: ec, rsa: rk}, ClientConfig{
		ID: "fapi", TokenEndpointAuthMethod: spec.AuthPrivateKey, JWKS: string(set),
		GrantTypes:   []string{"authorization_code", "refresh_token", "client_credentials"},
		RedirectURIs: []string{webRedirect}, Scopes: []string{"openid", "read"}, Resources: []string{jwtResource},
		Security: store.ClientSecurity{Profile: profile.FAPI2},
	}
}

// assertion signs a client assertion with alg (ES256 with the EC key, RS256 with the RSA key).
func (c *fapiClient) assertion(t *testing.T, alg jose.SignatureAlgorithm) string {
	t.Helper()
	key, kid := crypto.Signer(c.ec), "ec"
	if alg == jose.RS256 || alg == jose.PS256 {
		key, kid = c.rsa, "rsa"
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "fapi", Subject: "fapi", Audience: jwt.Audience{testIssuer},
		ID: rand.Text(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tokenRequest posts a client_credentials request of the FAPI client with an assertion in alg
// and, when proof is not empty, a DPoP proof.
func (ts *testServer) fapiToken(c *fapiClient, alg jose.SignatureAlgorithm, proof string, form url.Values) response {
	ts.t.Helper()
	if !form.Has("grant_type") {
		form.Set("grant_type", "client_credentials")
	}
	form.Set("client_id", "fapi")
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", c.assertion(ts.t.(*testing.T), alg))
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	rec := serve(ts, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	return res
}

func wantOAuthError(t *testing.T, res response, status int, code string) {
	t.Helper()
	if res.status != status || res.body["error"] != code {
		t.Fatalf("got %d %s, want %d %s", res.status, res.raw, status, code)
	}
}

func TestFAPITokenEndpointClauses(t *testing.T) {
	c, cc := newFAPIClient(t)
	ts := newFlowServer(t, func(cfg *Config) { cfg.Clients = append(cfg.Clients, cc) })
	cc2 := url.Values{"resource": {jwtResource}, "scope": {"read"}}
	key := dpoptest.NewKey(t)
	proof := func() string { return key.Proof(t, http.MethodPost, testIssuer+"/token") }

	t.Run("5.3.2.1: sender-constrained access tokens only (no DPoP, no mTLS binding)", func(t *testing.T) {
		res := ts.fapiToken(c, jose.ES256, "", url.Values{"resource": {jwtResource}, "scope": {"read"}})
		wantOAuthError(t, res, http.StatusBadRequest, oautherr.InvalidRequest)
		if !strings.Contains(res.raw, "sender-constrained") {
			t.Errorf("description = %s", res.raw)
		}
	})
	t.Run("5.3.2.1: the conforming request gets a DPoP-bound token", func(t *testing.T) {
		res := ts.fapiToken(c, jose.ES256, proof(), cc2)
		if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
	t.Run("5.4: client assertions only in PS256, ES256 or EdDSA", func(t *testing.T) {
		wantOAuthError(t, ts.fapiToken(c, jose.RS256, proof(), cc2), http.StatusUnauthorized, oautherr.InvalidClient)
		if res := ts.fapiToken(c, jose.PS256, proof(), cc2); res.status != http.StatusOK {
			t.Fatalf("PS256: %d %s", res.status, res.raw)
		}
	})
	t.Run("5.3.2.1: no resource owner password credentials grant", func(t *testing.T) {
		wantOAuthError(t, ts.fapiToken(c, jose.ES256, proof(), url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}),
			http.StatusBadRequest, oautherr.UnsupportedGrantType)
	})
	t.Run("5.3.2.1: clients authenticate with private_key_jwt or mTLS only", func(t *testing.T) {
		// A client stored before its profile was switched on, with a shared secret.
		legacy := &store.Client{ID: "legacy", SecretHash: "", TokenEndpointAuthMethod: spec.AuthSecretBasic,
			GrantTypes: []string{"client_credentials"}, Security: store.ClientSecurity{Profile: profile.FAPI2}}
		rec, err := spec.ClientRecord(spec.Client{ID: "legacy", Secret: webSecret, TokenEndpointAuthMethod: spec.AuthSecretBasic,
			GrantTypes: []string{"client_credentials"}}, ts.srv.deps.Sealer.Seal)
		if err != nil {
			t.Fatal(err)
		}
		legacy.SecretHash = rec.SecretHash
		if err := ts.srv.st.UpsertClient(context.Background(), legacy); err != nil {
			t.Fatal(err)
		}
		ts.srv.lookups.invalidate()
		wantOAuthError(t, ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"client_credentials"}}, [2]string{"legacy", webSecret}),
			http.StatusUnauthorized, oautherr.InvalidClient)
	})
}

func TestFAPIAuthorizationClauses(t *testing.T) {
	_, cc := newFAPIClient(t)
	ts := newFlowServer(t, func(cfg *Config) {
		cfg.CodeTTL = 5 * time.Minute // the server's; the profile caps the FAPI client's
		cfg.Clients = append(cfg.Clients, cc)
	})
	base := func(extra url.Values) url.Values {
		q, _ := url.ParseQuery(strings.SplitN(authURL(url.Values{"client_id": {"fapi"}, "scope": {"openid read"}}), "?", 2)[1])
		for k, v := range extra {
			if len(v) == 0 {
				q.Del(k)
			} else {
				q[k] = v
			}
		}
		return q
	}
	parse := func(q url.Values) *authError {
		_, _, aerr := ts.srv.parseAuthRequest(context.Background(), q)
		return aerr
	}

	t.Run("5.3.2.2: authorization requests only through PAR", func(t *testing.T) {
		cb := callback(t, ts.browser().do(http.MethodGet, authURL(url.Values{"client_id": {"fapi"}, "scope": {"openid read"}}), nil), webRedirect)
		if cb.Get("error") != oautherr.InvalidRequest || !strings.Contains(cb.Get("error_description"), "push") || cb.Get("code") != "" {
			t.Fatalf("callback %v", cb)
		}
	})
	t.Run("5.3.2.2: PKCE required", func(t *testing.T) {
		if aerr := parse(base(url.Values{"code_challenge": nil, "code_challenge_method": nil})); aerr == nil || aerr.err.Code != oautherr.InvalidRequest || aerr.to == nil {
			t.Fatalf("no PKCE: %+v", aerr)
		}
	})
	t.Run("5.3.2.2: PKCE with S256 only", func(t *testing.T) {
		if aerr := parse(base(url.Values{"code_challenge_method": {"plain"}, "code_challenge": {testVerifier}})); aerr == nil || aerr.err.Code != oautherr.InvalidRequest {
			t.Fatalf("plain PKCE: %+v", aerr)
		}
	})
	t.Run("5.3.2.2: response_type code only", func(t *testing.T) {
		if aerr := parse(base(url.Values{"response_type": {"code id_token"}})); aerr == nil || aerr.err.Code != oautherr.UnsupportedResponseType {
			t.Fatalf("hybrid: %+v", aerr)
		}
	})
	t.Run("5.3.2.2: the conforming request passes", func(t *testing.T) {
		if aerr := parse(base(nil)); aerr != nil {
			t.Fatalf("%v", aerr.err)
		}
	})
	t.Run("5.3.2.2: authorization codes live 60 s at most", func(t *testing.T) {
		fapi, _ := ts.srv.lookups.GetClient(context.Background(), "fapi")
		web, _ := ts.srv.lookups.GetClient(context.Background(), "web")
		if got := ts.srv.codeTTL(fapi); got != profile.FAPI2MaxCodeTTL {
			t.Errorf("FAPI client code TTL = %s", got)
		}
		if got := ts.srv.codeTTL(web); got != 5*time.Minute {
			t.Errorf("a plain client keeps the server's code TTL, got %s", got)
		}
	})
	t.Run("5.3.2.2: no CORS at the authorization endpoint", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, authURL(url.Values{"client_id": {"fapi"}}), nil)
		req.Header.Set("Origin", "https://evil.example")
		if got := serve(ts, req).Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("Access-Control-Allow-Origin = %q", got)
		}
	})
}

func TestFAPIClientRules(t *testing.T) {
	_, fapi := newFAPIClient(t)
	env := spec.Env{SigningAlgs: []string{"RS256", "ES256", "PS256"}, Profile: profile.FAPI2}
	tests := []struct {
		name, clause, field string
		edit                func(*spec.Client)
	}{
		{"public client", "5.3.2.1 confidential clients only", "token_endpoint_auth_method", func(c *spec.Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.GrantTypes = spec.AuthNone, "", []string{"authorization_code"}
		}},
		{"client secret", "5.3.2.1 private_key_jwt or mTLS", "token_endpoint_auth_method", func(c *spec.Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.Secret = spec.AuthSecretBasic, "", webSecret
		}},
		{"http redirect URI", "5.3.2.2 no unencrypted responses", "redirect_uris", func(c *spec.Client) {
			c.RedirectURIs = []string{"http://app.example.test/cb"}
		}},
		{"RS256 assertions", "5.4 algorithms", "token_endpoint_auth_signing_alg", func(c *spec.Client) { c.TokenEndpointAuthSigningAlg = "RS256" }},
		{"RS256 ID tokens", "5.4 algorithms", "id_token_signed_response_alg", func(c *spec.Client) { c.IDTokenSignedResponseAlg = "RS256" }},
		{"RS256 request objects", "5.4 algorithms", "request_object_signing_alg", func(c *spec.Client) { c.Security.RequestObjectSigningAlg = "RS256" }},
		{"RS256 JARM", "5.4 algorithms", "authorization_signed_response_alg", func(c *spec.Client) { c.Security.AuthorizationSignedResponseAlg = "RS256" }},
		{"unknown profile", "profile names", "profile", func(c *spec.Client) { c.Security.Profile = "fapi1" }},
	}
	for _, tt := range tests {
		t.Run(tt.clause+": "+tt.name, func(t *testing.T) {
			c := fapi
			c.Security.Profile = "" // inherits the server's (env) profile
			tt.edit(&c)
			_, err := spec.NormalizeClient(c, env)
			var se *spec.Error
			if !asSpecError(err, &se) || se.Field != tt.field {
				t.Fatalf("error = %v, want one about %s", err, tt.field)
			}
		})
	}
	t.Run("ID tokens default to an algorithm the profile allows", func(t *testing.T) {
		n, err := spec.NormalizeClient(fapi, env)
		if err != nil || n.IDTokenSignedResponseAlg != "PS256" {
			t.Fatalf("alg = %q, err = %v", n.IDTokenSignedResponseAlg, err)
		}
	})
	t.Run("a client opts out of the server's profile with profile none", func(t *testing.T) {
		c := spec.Client{ID: "plain", Secret: webSecret, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"},
			Security: store.ClientSecurity{Profile: profile.None}}
		if _, err := spec.NormalizeClient(c, env); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a FAPI client on a plain server follows its own profile", func(t *testing.T) {
		c := fapi
		c.Security.RequestObjectSigningAlg = "RS256"
		if _, err := spec.NormalizeClient(c, spec.Env{SigningAlgs: env.SigningAlgs}); err == nil {
			t.Fatal("RS256 request objects accepted for a fapi2 client")
		}
	})
}

func asSpecError(err error, target **spec.Error) bool {
	se, ok := err.(*spec.Error)
	if !ok {
		return false
	}
	*target = se
	return true
}

func TestFAPIServerRules(t *testing.T) {
	base := Config{Issuer: testIssuer, Profile: profile.FAPI2}
	tests := []struct {
		name, want string
		edit       func(*Config)
	}{
		{"plain PKCE", "allow_plain_pkce must be off", func(c *Config) { c.AllowPlainPKCE = true }},
		{"endpoint audience", "client_assertion_endpoint_audience must be off", func(c *Config) { c.ClientAssertionEndpointAudience = true }},
		{"long codes", "code_ttl", func(c *Config) { c.CodeTTL = 2 * time.Minute }},
		{"long request_uri", "pushed_authorization_requests ttl", func(c *Config) { c.PAR.TTL = 10 * time.Minute }},
		{"no FAPI signing key", "signing_algs needs one of", func(c *Config) {
			c.SigningAlgs, c.AccessTokenSigningAlg = []string{"RS256"}, "RS256"
		}},
		{"unknown profile", `profile "fapi1"`, func(c *Config) { c.Profile = "fapi1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			if err := c.Validate(false); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if err := base.Validate(false); err != nil {
		t.Fatalf("the defaults meet the profile: %v", err)
	}
}

func TestFAPIDiscovery(t *testing.T) {
	_, cc := newFAPIClient(t)
	cc.Security.Profile = "" // inherits
	ts := newTestServerOpts(t, serverOptions{edit: func(c *Config) {
		c.Profile = profile.FAPI2MessageSigning
		c.Clients = []ClientConfig{cc}
	}})
	var m map[string]any
	res := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if err := json.Unmarshal([]byte(res.raw), &m); err != nil {
		t.Fatal(err)
	}
	list := func(name string) []string {
		var out []string
		for _, v := range m[name].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for _, method := range list("token_endpoint_auth_methods_supported") {
		if method != "private_key_jwt" && method != "tls_client_auth" && method != "self_signed_tls_client_auth" {
			t.Errorf("token_endpoint_auth_methods_supported lists %s", method)
		}
	}
	for _, alg := range list("token_endpoint_auth_signing_alg_values_supported") {
		if !profile.Resolve(profile.FAPI2, "").AllowsAlg(alg) {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported lists %s", alg)
		}
	}
	if got := list("code_challenge_methods_supported"); len(got) != 1 || got[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	for _, mode := range list("response_modes_supported") {
		if _, jwt := jwtModeBase(mode); !jwt && mode != modeJWT {
			t.Errorf("message signing, yet response_modes_supported lists %s", mode)
		}
	}
	if m["require_pushed_authorization_requests"] != true || m["require_signed_request_object"] != true {
		t.Errorf("require_pushed_authorization_requests = %v, require_signed_request_object = %v", m["require_pushed_authorization_requests"], m["require_signed_request_object"])
	}
}
