package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// jarClient is a confidential client with an ES256 key for its request objects.
func jarClient(t *testing.T) (*ecdsa.PrivateKey, ClientConfig) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "ro", Use: "sig"}}})
	return key, ClientConfig{ID: "jar", Secret: webSecret, JWKS: string(set), GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{webRedirect}, Scopes: []string{"openid", "read"}, Resources: []string{jwtResource}, SkipConsent: true}
}

// requestObjectClaims are a complete, valid authorization request for the jar client.
func requestObjectClaims(state string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": "jar", "aud": testIssuer, "client_id": "jar", "exp": now + 300, "nbf": now, "iat": now, "jti": rand.Text(),
		"response_type": "code", "redirect_uri": webRedirect, "scope": "openid read", "state": state, "nonce": "n-" + state,
		"code_challenge": s256(testVerifier), "code_challenge_method": "S256", "resource": []string{jwtResource},
	}
}

func signRequestObject(t *testing.T, key any, alg jose.SignatureAlgorithm, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", "ro")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestRequestObjectByValue(t *testing.T) {
	key, cc := jarClient(t)
	ts := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc) })
	obj := signRequestObject(t, key, jose.ES256, "oauth-authz-req+jwt", requestObjectClaims("from-the-object"))

	// The query's own state and scope are not the object's: only the object counts.
	authorize := testIssuer + "/authorize?" + url.Values{"client_id": {"jar"}, "request": {obj}, "state": {"from-the-query"}, "scope": {"openid"}}.Encode()
	p := ts.browser().authorizeUntilResponse(authorize)
	cb := callback(t, p, webRedirect)
	if cb.Get("state") != "from-the-object" || cb.Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}, [2]string{"jar", webSecret})
	if res.status != http.StatusOK || res.body["scope"] != "openid read" {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}

	// The same object again: its jti is spent.
	if p := ts.browser().do(http.MethodGet, authorize, nil); p.status != http.StatusBadRequest || !strings.Contains(p.body, "invalid_request_object") {
		t.Fatalf("replayed object: %d %s", p.status, p.location)
	}

	// Tampered: the state changed after signing. No code, the error on the page.
	parts := strings.Split(signRequestObject(t, key, jose.ES256, "", requestObjectClaims("s")), ".")
	claims := requestObjectClaims("changed")
	body, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	tampered := testIssuer + "/authorize?" + url.Values{"client_id": {"jar"}, "request": {strings.Join(parts, ".")}}.Encode()
	if p := ts.browser().do(http.MethodGet, tampered, nil); p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "invalid_request_object") {
		t.Fatalf("tampered object: %d %q", p.status, p.location)
	}
}

func TestRequestObjectInsidePAR(t *testing.T) {
	key, cc := jarClient(t)
	ts := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc) })
	obj := signRequestObject(t, key, jose.ES256, "oauth-authz-req+jwt", requestObjectClaims("pushed"))
	res := ts.push("jar", webSecret, url.Values{"request": {obj}}, "")
	if res.status != http.StatusCreated {
		t.Fatalf("push: %d %s", res.status, res.raw)
	}
	authorize := testIssuer + "/authorize?" + url.Values{"client_id": {"jar"}, "request_uri": {res.body["request_uri"].(string)}}.Encode()
	if cb := callback(t, ts.browser().authorizeUntilResponse(authorize), webRedirect); cb.Get("state") != "pushed" || cb.Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}
	// A broken object is refused at push time, as JSON.
	res = ts.push("jar", webSecret, url.Values{"request": {obj + "x"}}, "")
	if res.status != http.StatusBadRequest || res.body["error"] != oautherr.InvalidRequestObject {
		t.Fatalf("bad object at /par: %d %s", res.status, res.raw)
	}
}

func TestRequestObjectRefusals(t *testing.T) {
	key, cc := jarClient(t)
	ts := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc) })
	client, err := ts.srv.lookups.GetClient(context.Background(), "jar")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().Unix()
	fapi := profile.Resolve(profile.FAPI2MessageSigning, "")
	tests := []struct {
		name   string
		policy profile.Policy
		edit   func(map[string]any)
		raw    func(map[string]any) string
	}{
		{name: "iss is not the client", edit: func(c map[string]any) { c["iss"] = "someone" }},
		{name: "aud is another server", edit: func(c map[string]any) { c["aud"] = "https://other.example" }},
		{name: "aud array without the issuer", edit: func(c map[string]any) { c["aud"] = []string{"https://other.example"} }},
		{name: "client_id differs", edit: func(c map[string]any) { c["client_id"] = "web" }},
		{name: "no exp", edit: func(c map[string]any) { delete(c, "exp") }},
		{name: "expired", edit: func(c map[string]any) { c["exp"] = now - 120 }},
		{name: "exp too far ahead", edit: func(c map[string]any) { c["exp"] = now + 3*3600 }},
		{name: "nbf in the future", edit: func(c map[string]any) { c["nbf"] = now + 600 }},
		{name: "iat in the future", edit: func(c map[string]any) { c["iat"] = now + 600 }},
		{name: "request inside", edit: func(c map[string]any) { c["request"] = "x.y.z" }},
		{name: "request_uri inside", edit: func(c map[string]any) { c["request_uri"] = "urn:x" }},
		{name: "boolean parameter", edit: func(c map[string]any) { c["prompt"] = true }},
		{name: "array parameter", edit: func(c map[string]any) { c["scope"] = []string{"openid"} }},
		{name: "another kind of JWT", raw: func(c map[string]any) string { return signRequestObject(t, key, jose.ES256, "at+jwt", c) }},
		{name: "signed by another key", raw: func(c map[string]any) string { return signRequestObject(t, other, jose.ES256, "", c) }},
		{name: "HMAC", raw: func(c map[string]any) string {
			return signRequestObject(t, []byte(strings.Repeat("k", 32)), jose.HS256, "", c)
		}},
		{name: "alg none", raw: func(c map[string]any) string {
			b, _ := json.Marshal(c)
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
		}},
		{name: "encrypted", raw: func(map[string]any) string { return "a.b.c.d.e" }},
		{name: "oversized", raw: func(map[string]any) string { return strings.Repeat("a", 17<<10) }},
		{name: "garbage", raw: func(map[string]any) string { return "not a jwt" }},
		{name: "profile: no nbf", policy: fapi, edit: func(c map[string]any) { delete(c, "nbf") }},
		{name: "profile: no jti", policy: fapi, edit: func(c map[string]any) { delete(c, "jti") }},
		{name: "profile: nbf over an hour old", policy: fapi, edit: func(c map[string]any) { c["nbf"] = now - 2*3600 }},
		{name: "profile: ES512 is not a FAPI alg", policy: fapi, raw: func(c map[string]any) string {
			k, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
			return signRequestObject(t, k, jose.ES512, "", c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := requestObjectClaims("s")
			if tt.edit != nil {
				tt.edit(claims)
			}
			raw := signRequestObject(t, key, jose.ES256, "", claims)
			if tt.raw != nil {
				raw = tt.raw(claims)
			}
			policy := tt.policy
			if policy.Name == "" {
				policy = profile.Resolve("", "")
			}
			_, err := ts.srv.requestObjects.Verify(context.Background(), client, policy, raw)
			if e := oautherr.As(err); err == nil || e.Code != oautherr.InvalidRequestObject || e.Status != http.StatusBadRequest {
				t.Fatalf("err = %v, want invalid_request_object", err)
			}
		})
	}

	t.Run("request_object_signing_alg narrows the algs", func(t *testing.T) {
		c := *client
		c.Security = store.ClientSecurity{RequestObjectSigningAlg: "PS256"}
		_, err := ts.srv.requestObjects.Verify(context.Background(), &c, profile.Resolve("", ""), signRequestObject(t, key, jose.ES256, "", requestObjectClaims("s")))
		if e := oautherr.As(err); err == nil || e.Code != oautherr.InvalidRequestObject {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a valid object under the profile", func(t *testing.T) {
		params, err := ts.srv.requestObjects.Verify(context.Background(), client, fapi, signRequestObject(t, key, jose.ES256, "", requestObjectClaims("ok")))
		if err != nil || params.Get("state") != "ok" || params.Get("client_id") != "jar" || params["resource"][0] != jwtResource || params.Has("exp") {
			t.Fatalf("params %v, err %v", params, err)
		}
	})
}

func TestRequestObjectsOffAndRequired(t *testing.T) {
	key, cc := jarClient(t)
	obj := signRequestObject(t, key, jose.ES256, "", requestObjectClaims("s"))
	off := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc); c.RequestObjects.Disabled = true })
	p := off.browser().do(http.MethodGet, testIssuer+"/authorize?"+url.Values{"client_id": {"jar"}, "request": {obj}}.Encode(), nil)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, oautherr.RequestNotSupported) {
		t.Fatalf("request objects off: %d %s", p.status, p.location)
	}

	required := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc); c.RequestObjects.Required = true })
	cb := callback(t, required.browser().do(http.MethodGet, authURL(url.Values{"client_id": {"jar"}, "scope": {"openid read"}}), nil), webRedirect)
	if cb.Get("error") != oautherr.InvalidRequest || !strings.Contains(cb.Get("error_description"), "signed request objects") {
		t.Fatalf("plain request where objects are required: %v", cb)
	}
}

// encryptToServer encrypts a signed request object to the server's published key for alg.
func encryptToServer(t *testing.T, ts *testServer, alg, signed string) string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(ts.srv.keys.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Algorithm != alg || k.Use != "enc" {
			continue
		}
		e, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.KeyAlgorithm(alg), Key: k.Key, KeyID: k.KeyID},
			(&jose.EncrypterOptions{}).WithContentType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := e.Encrypt([]byte(signed))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := obj.CompactSerialize()
		return out
	}
	t.Fatalf("no %s encryption key in the JWKS", alg)
	return ""
}

func TestEncryptedRequestObjects(t *testing.T) {
	key, cc := jarClient(t)
	ts := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc); c.RequestObjects.Encryption = true })
	var meta map[string]any
	_ = json.Unmarshal([]byte(ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).raw), &meta)
	if algs, _ := meta["request_object_encryption_alg_values_supported"].([]any); len(algs) != 2 {
		t.Fatalf("request_object_encryption_alg_values_supported = %v", meta["request_object_encryption_alg_values_supported"])
	}
	for _, alg := range []string{"RSA-OAEP-256", "ECDH-ES"} {
		t.Run(alg, func(t *testing.T) {
			obj := encryptToServer(t, ts, alg, signRequestObject(t, key, jose.ES256, "", requestObjectClaims("sealed-"+alg)))
			authorize := testIssuer + "/authorize?" + url.Values{"client_id": {"jar"}, "request": {obj}}.Encode()
			if cb := callback(t, ts.browser().authorizeUntilResponse(authorize), webRedirect); cb.Get("state") != "sealed-"+alg || cb.Get("code") == "" {
				t.Fatalf("callback %v", cb)
			}
		})
	}
	client, _ := ts.srv.lookups.GetClient(context.Background(), "jar")
	unsigned := encryptToServer(t, ts, "ECDH-ES", `{"iss":"jar"}`)
	if _, err := ts.srv.requestObjects.Verify(context.Background(), client, profile.Resolve("", ""), unsigned); oautherr.As(err).Code != oautherr.InvalidRequestObject {
		t.Fatalf("an encrypted but unsigned object: %v", err)
	}
	wrongAlg := *client
	wrongAlg.Security.RequestObjectEncryptionAlg = "RSA-OAEP-256"
	sealed := encryptToServer(t, ts, "ECDH-ES", signRequestObject(t, key, jose.ES256, "", requestObjectClaims("x")))
	if _, err := ts.srv.requestObjects.Verify(context.Background(), &wrongAlg, profile.Resolve("", ""), sealed); oautherr.As(err).Code != oautherr.InvalidRequestObject {
		t.Fatalf("an alg the client did not register: %v", err)
	}

	// Without the option: no encryption keys published, encrypted objects refused.
	plain := newFlowServer(t, func(c *Config) { c.Clients = append(c.Clients, cc) })
	if strings.Contains(string(plain.srv.keys.JWKS()), `"use":"enc"`) {
		t.Fatal("encryption keys published while request object encryption is off")
	}
	pc, _ := plain.srv.lookups.GetClient(context.Background(), "jar")
	if _, err := plain.srv.requestObjects.Verify(context.Background(), pc, profile.Resolve("", ""), sealed); oautherr.As(err).Code != oautherr.InvalidRequestObject {
		t.Fatalf("encrypted object with encryption off: %v", err)
	}
}
