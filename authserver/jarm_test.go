package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/net/html"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// jarmClients adds a client that signs its JARM responses with ES256 and one that has them
// encrypted to its RSA key; it returns that key's private half.
func jarmClients(t *testing.T) (func(*Config), *rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "enc-rsa", Use: "enc", Algorithm: "RSA-OAEP-256"},
		{Key: &ecKey.PublicKey, KeyID: "enc-ec", Use: "enc", Algorithm: "ECDH-ES"},
	}})
	return func(c *Config) {
		base := ClientConfig{Secret: webSecret, GrantTypes: []string{"authorization_code"},
			RedirectURIs: []string{webRedirect}, Scopes: []string{"openid", "read"}, Resources: []string{jwtResource}, SkipConsent: true}
		es := base
		es.ID, es.Security = "jarm-es", store.ClientSecurity{AuthorizationSignedResponseAlg: "ES256"}
		enc := base
		enc.ID, enc.JWKS = "jarm-enc", string(set)
		enc.Security = store.ClientSecurity{AuthorizationEncryptedResponseAlg: "RSA-OAEP-256", AuthorizationEncryptedResponseEnc: "A256GCM",
			IntrospectionEncryptedResponseAlg: "ECDH-ES"}
		c.Clients = append(c.Clients, es, enc)
	}, rsaKey, ecKey
}

// authorizeUntilResponse signs alice in and consents, returning the page that carries the
// authorization response (a redirect, or the form_post page).
func (b *browser) authorizeUntilResponse(authorize string) page {
	b.ts.t.Helper()
	p := b.do(http.MethodGet, authorize, nil)
	if p.status == http.StatusOK && strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}}))
	}
	if p.status == http.StatusOK && strings.Contains(p.body, `value="approve">Allow`) {
		p = b.submit(p, url.Values{"decision": {"approve"}})
	}
	return p
}

// jarmParam extracts the response parameter of a JARM response delivered in mode.
func jarmParam(t *testing.T, p page, mode string) string {
	t.Helper()
	switch mode {
	case modeFormPostJWT:
		if p.status != http.StatusOK {
			t.Fatalf("form_post.jwt: want the auto-submitting page, got %d %s", p.status, p.location)
		}
		doc, err := html.Parse(strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		var inputs []string
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "input" {
				inputs = append(inputs, attr(n, "name"))
				if attr(n, "name") == "response" {
					inputs = append(inputs, attr(n, "value"))
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if len(inputs) != 2 || inputs[0] != "response" {
			t.Fatalf("form_post.jwt must post only response, posts %v", inputs)
		}
		return inputs[1]
	case modeFragmentJWT:
		u, _ := url.Parse(p.location)
		q, _ := url.ParseQuery(u.Fragment)
		if len(q) != 1 || u.RawQuery != "" {
			t.Fatalf("fragment.jwt must carry only response in the fragment: %s", p.location)
		}
		return q.Get("response")
	default:
		q := callback(t, p, webRedirect)
		if len(q) != 1 {
			t.Fatalf("query.jwt must carry only response: %v", q)
		}
		return q.Get("response")
	}
}

func TestJARMResponseModes(t *testing.T) {
	edit, _, _ := jarmClients(t)
	ts := newFlowServer(t, edit)
	for _, mode := range []string{modeJWT, modeQueryJWT, modeFragmentJWT, modeFormPostJWT} {
		t.Run(mode, func(t *testing.T) {
			p := ts.browser().authorizeUntilResponse(authURL(url.Values{"response_mode": {mode}}))
			delivered := mode
			if mode == modeJWT {
				delivered = modeQueryJWT // the default JWT mode of response_type code
			}
			raw := jarmParam(t, p, delivered)
			claims := ts.verifyJWT(raw, "RS256", "")
			if claims["iss"] != testIssuer || claims["aud"] != "web" || claims["state"] != "st4te" || claims["code"] == nil {
				t.Fatalf("claims = %v", claims)
			}
			if exp, _ := claims["exp"].(float64); exp <= float64(time.Now().Unix()) || exp > float64(time.Now().Add(jarmLifetime+time.Minute).Unix()) {
				t.Errorf("exp = %v, want a few minutes from now", claims["exp"])
			}
			if res := ts.redeem(claims["code"].(string), nil); res.status != http.StatusOK {
				t.Errorf("the code in the JWT does not redeem: %d %s", res.status, res.raw)
			}
		})
	}
}

func TestJARMErrorResponseIsSigned(t *testing.T) {
	ts := newFlowServer(t, nil)
	p := ts.browser().do(http.MethodGet, authURL(url.Values{"response_mode": {"jwt"}, "scope": {"openid nope"}}), nil)
	claims := ts.verifyJWT(jarmParam(t, p, modeQueryJWT), "RS256", "")
	if claims["error"] != oautherr.InvalidScope || claims["state"] != "st4te" || claims["aud"] != "web" || claims["code"] != nil {
		t.Fatalf("claims = %v", claims)
	}
}

func TestJARMRegisteredAlgAndEncryption(t *testing.T) {
	edit, rsaKey, _ := jarmClients(t)
	ts := newFlowServer(t, edit)

	q := url.Values{"client_id": {"jarm-es"}, "response_mode": {"jwt"}, "scope": {"openid read"}}
	claims := ts.verifyJWT(jarmParam(t, ts.browser().authorizeUntilResponse(authURL(q)), modeQueryJWT), "ES256", "")
	if claims["aud"] != "jarm-es" || claims["code"] == nil {
		t.Fatalf("ES256 JARM claims = %v", claims)
	}

	q.Set("client_id", "jarm-enc")
	raw := jarmParam(t, ts.browser().authorizeUntilResponse(authURL(q)), modeQueryJWT)
	if n := strings.Count(raw, "."); n != 4 {
		t.Fatalf("want a JWE (5 parts), got %d dots", n)
	}
	jwe, err := jose.ParseEncrypted(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if jwe.Header.KeyID != "enc-rsa" || jwe.Header.ExtraHeaders["cty"] != "JWT" {
		t.Errorf("JWE header = %+v", jwe.Header)
	}
	inner, err := jwe.Decrypt(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	claims = ts.verifyJWT(string(inner), "RS256", "")
	if claims["aud"] != "jarm-enc" || claims["code"] == nil || claims["iss"] != testIssuer {
		t.Fatalf("decrypted claims = %v", claims)
	}
}

// TestJWTResponseRequiredByProfile: FAPI 2.0 Message Signing wants every authorization
// response signed, so a request for a plain response mode is refused at its redirect URI.
func TestJWTResponseRequiredByProfile(t *testing.T) {
	ts := newFlowServer(t, func(c *Config) {
		c.Clients = append(c.Clients, ClientConfig{ID: "signed-only", Secret: webSecret, GrantTypes: []string{"authorization_code"},
			RedirectURIs: []string{webRedirect}, Scopes: []string{"openid"},
			Security: store.ClientSecurity{Profile: profile.FAPI2MessageSigning}})
	})
	q, _ := url.ParseQuery(strings.SplitN(authURL(url.Values{"client_id": {"signed-only"}, "scope": {"openid"}, "resource": nil}), "?", 2)[1])
	_, _, aerr := ts.srv.parseAuthRequest(context.Background(), q)
	if aerr == nil || aerr.err.Code != oautherr.InvalidRequest || aerr.to == nil || !strings.Contains(aerr.err.Description, "JARM") {
		t.Fatalf("plain response_mode under message signing: %+v", aerr)
	}
	q.Set("response_mode", "jwt")
	if _, _, aerr := ts.srv.parseAuthRequest(context.Background(), q); aerr != nil && strings.Contains(aerr.err.Description, "JARM") {
		t.Fatalf("response_mode=jwt refused: %v", aerr.err)
	}
}

func TestIntrospectionJWT(t *testing.T) {
	edit, _, ecKey := jarmClients(t)
	ts := newFlowServer(t, edit)
	token := ts.mustToken("svc", svcSecret, jwtResource, "")
	ask := func(client, secret, token, accept string) response {
		t.Helper()
		form := url.Values{"token": {token}}
		req, _ := http.NewRequest(http.MethodPost, testIssuer+"/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, secret)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := serve(ts, req)
		return response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	}

	res := ask("svc", svcSecret, token, "application/token-introspection+jwt")
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/token-introspection+jwt" || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v %s", res.status, res.header, res.raw)
	}
	claims := ts.verifyJWT(res.raw, "RS256", "token-introspection+jwt")
	ti, _ := claims["token_introspection"].(map[string]any)
	if claims["iss"] != testIssuer || claims["aud"] != "svc" || claims["iat"] == nil || ti["active"] != true || ti["client_id"] != "svc" {
		t.Fatalf("claims = %v", claims)
	}

	claims = ts.verifyJWT(ask("svc", svcSecret, "not-a-token", "application/json;q=0.5, application/token-introspection+jwt").raw, "RS256", "token-introspection+jwt")
	if ti, _ := claims["token_introspection"].(map[string]any); len(ti) != 1 || ti["active"] != false {
		t.Fatalf("inactive: %v", claims)
	}

	if res := ask("svc", svcSecret, token, ""); !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") || !strings.Contains(res.raw, `"active":true`) {
		t.Fatalf("without Accept the answer stays JSON: %v %s", res.header, res.raw)
	}

	// Encrypted to a client that registered ECDH-ES: its own token, read with its EC key.
	code := ts.browser().signIn(authURL(url.Values{"client_id": {"jarm-enc"}, "scope": {"openid read"}}))
	redeemed := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code.Get("code")},
		"redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}, [2]string{"jarm-enc", webSecret})
	if redeemed.status != http.StatusOK {
		t.Fatalf("%d %s", redeemed.status, redeemed.raw)
	}
	res = ask("jarm-enc", webSecret, redeemed.body["access_token"].(string), "application/token-introspection+jwt")
	jwe, err := jose.ParseEncrypted(res.raw, []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		t.Fatalf("%d %s: %v", res.status, res.raw, err)
	}
	inner, err := jwe.Decrypt(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	claims = ts.verifyJWT(string(inner), "RS256", "token-introspection+jwt")
	if ti, _ := claims["token_introspection"].(map[string]any); ti["active"] != true || claims["aud"] != "jarm-enc" {
		t.Fatalf("decrypted: %v", claims)
	}
}
