package spec

import (
	"errors"
	"strings"
	"testing"
)

const goodJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`

// A private key in a client's published keys is a leaked credential.
const privateJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`

func TestNormalizeClientRefusals(t *testing.T) {
	env := Env{SigningAlgs: []string{"RS256", "ES256"}, EnforceLinks: true}
	cases := []struct {
		name        string
		c           Client
		field, code string
	}{
		{"no id", Client{}, "client_id", CodeInvalidClientMetadata},
		{"id with a control character", Client{ID: "a\nb"}, "client_id", CodeInvalidClientMetadata},
		{"http redirect off loopback", Client{ID: "c", RedirectURIs: []string{"http://example.com/cb"}}, "redirect_uris", CodeInvalidRedirectURI},
		{"redirect with fragment", Client{ID: "c", RedirectURIs: []string{"https://a.example/cb#x"}}, "redirect_uris", CodeInvalidRedirectURI},
		{"custom scheme not reverse DNS", Client{ID: "c", RedirectURIs: []string{"myapp:/cb"}}, "redirect_uris", CodeInvalidRedirectURI},
		{"post-logout on http", Client{ID: "c", PostLogoutRedirectURIs: []string{"http://example.com/"}}, "post_logout_redirect_uris", CodeInvalidRedirectURI},
		{"unknown auth method", Client{ID: "c", TokenEndpointAuthMethod: "client_secret_magic"}, "token_endpoint_auth_method", CodeInvalidClientMetadata},
		{"basic without secret", Client{ID: "c", TokenEndpointAuthMethod: AuthSecretBasic}, "token_endpoint_auth_method", CodeInvalidClientMetadata},
		{"public with secret", Client{ID: "c", TokenEndpointAuthMethod: AuthNone, Secret: "s"}, "token_endpoint_auth_method", CodeInvalidClientMetadata},
		{"HMAC alg for private_key_jwt", Client{ID: "c", JWKS: goodJWKS, TokenEndpointAuthSigningAlg: "HS256"}, "token_endpoint_auth_signing_alg", CodeInvalidClientMetadata},
		{"alg none", Client{ID: "c", Secret: "s", TokenEndpointAuthMethod: AuthSecretJWT, TokenEndpointAuthSigningAlg: "none"}, "token_endpoint_auth_signing_alg", CodeInvalidClientMetadata},
		{"private key in jwks", Client{ID: "c", JWKS: privateJWKS}, "jwks", CodeInvalidClientMetadata},
		{"jwks not a set", Client{ID: "c", JWKS: `[1]`}, "jwks", CodeInvalidClientMetadata},
		{"jwks_uri over http", Client{ID: "c", JWKSURI: "http://keys.example/jwks"}, "jwks_uri", CodeInvalidClientMetadata},
		{"public client_credentials", Client{ID: "c", GrantTypes: []string{"client_credentials"}}, "grant_types", CodeInvalidClientMetadata},
		{"unknown grant", Client{ID: "c", Secret: "s", GrantTypes: []string{"password"}}, "grant_types", CodeInvalidClientMetadata},
		{"bad scope", Client{ID: "c", Secret: "s", Scopes: []string{`a"b`}}, "scope", CodeInvalidClientMetadata},
		{"relative resource", Client{ID: "c", Secret: "s", Resources: []string{"/api"}}, "resources", CodeInvalidClientMetadata},
		{"public introspector", Client{ID: "c", Introspects: []string{"https://api.example"}}, "introspects", CodeInvalidClientMetadata},
		{"unlinked default resource", Client{ID: "c", Secret: "s", DefaultResource: "https://api.example"}, "default_resource", CodeInvalidClientMetadata},
		{"id token alg without key", Client{ID: "c", RedirectURIs: []string{"https://a.example/cb"}, IDTokenSignedResponseAlg: "ES384"}, "id_token_signed_response_alg", CodeInvalidClientMetadata},
		{"pairwise across hosts", Client{ID: "c", SubjectType: "pairwise", RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}}, "subject_type", CodeInvalidClientMetadata},
		{"logo over http", Client{ID: "c", LogoURI: "http://cdn.example/logo.png"}, "logo_uri", CodeInvalidClientMetadata},
		{"empty contact", Client{ID: "c", Contacts: []string{""}}, "contacts", CodeInvalidClientMetadata},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeClient(tc.c, env)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *spec.Error", err)
			}
			if e.Field != tc.field || e.Code != tc.code {
				t.Fatalf("err = %v (field %q code %q), want field %q code %q", err, e.Field, e.Code, tc.field, tc.code)
			}
			if e.Value != "" && strings.Contains(e.Description(), e.Value) {
				t.Errorf("Description %q quotes the value %q", e.Description(), e.Value)
			}
		})
	}
}

func TestNormalizeClientDefaults(t *testing.T) {
	cases := []struct {
		name       string
		c          Client
		method     string
		grant      string
		wantSector string
	}{
		{"secret means basic and client_credentials", Client{ID: "s", Secret: "x"}, AuthSecretBasic, "client_credentials", ""},
		{"keys mean private_key_jwt", Client{ID: "k", JWKS: goodJWKS}, AuthPrivateKey, "client_credentials", ""},
		{"nothing means a public code client", Client{ID: "p", RedirectURIs: []string{"https://app.example/cb"}}, AuthNone, "authorization_code", ""},
		{"pairwise sector from redirects", Client{ID: "w", SubjectType: "pairwise", RedirectURIs: []string{"https://app.example/cb"}}, AuthNone, "authorization_code", "app.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeClient(tc.c, Env{})
			if err != nil {
				t.Fatal(err)
			}
			if got.TokenEndpointAuthMethod != tc.method || len(got.GrantTypes) != 1 || got.GrantTypes[0] != tc.grant || got.SectorIdentifier != tc.wantSector {
				t.Fatalf("got method %s grants %v sector %q", got.TokenEndpointAuthMethod, got.GrantTypes, got.SectorIdentifier)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	m := ClientMetadata{ClientID: "app", ClientName: "App", RedirectURIs: []string{"https://app.example/cb"},
		ResponseTypes: []string{"code"}, Scope: "openid read", LogoURI: "https://app.example/logo.png",
		Contacts: []string{"ops@app.example"}, Resources: []string{"https://api.example"}}
	c, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	n, err := NormalizeClient(c, Env{EnforceLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ClientRecord(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	back := MetadataOf(rec, []LinkView{{Resource: "https://api.example", Tokens: true}})
	if back.ClientName != "App" || back.Scope != "openid read" || back.LogoURI != m.LogoURI || len(back.Contacts) != 1 ||
		len(back.Resources) != 1 || back.TokenEndpointAuthMethod != AuthNone || back.GrantTypes[0] != "authorization_code" ||
		len(back.ResponseTypes) != 1 {
		t.Fatalf("round trip = %+v", back)
	}
	if _, err := (ClientMetadata{ClientID: "x", ResponseTypes: []string{"token"}}).Client(); err == nil {
		t.Fatal("response_types token accepted")
	}
	if _, err := (ClientMetadata{ClientID: "x", ResponseTypes: []string{"code"}, GrantTypes: []string{"client_credentials"}}).Client(); err == nil {
		t.Fatal("response_types code without the authorization_code grant accepted")
	}
}

func TestValidateLinkAndResource(t *testing.T) {
	pub, _ := NormalizeClient(Client{ID: "p", RedirectURIs: []string{"https://a.example/cb"}}, Env{})
	if err := ValidateLink(pub, Link{ClientID: "p", Resource: "https://api.example", Introspect: true}); err == nil {
		t.Error("a public client may introspect")
	}
	if err := ValidateLink(pub, Link{ClientID: "p", Resource: "https://api.example"}); err == nil {
		t.Error("a link granting nothing was accepted")
	}
	if err := ValidateLink(pub, Link{ClientID: "p", Resource: "https://api.example", Tokens: true}); err != nil {
		t.Error(err)
	}
	if err := ValidateResource(Resource{Identifier: "https://api.example", SigningAlg: "ES384"}, Env{SigningAlgs: []string{"ES256"}}); err == nil {
		t.Error("a signing alg without a key was accepted")
	}
	if err := ValidateResource(Resource{Identifier: "api"}, Env{}); err == nil {
		t.Error("a relative identifier was accepted")
	}
	if err := ValidateServerIssuer("https://auth.example/"); err == nil {
		t.Error("own issuer with a trailing slash accepted")
	}
	if err := ValidateIssuer("https://tenant.example/"); err != nil {
		t.Errorf("another server's issuer with a trailing slash refused: %v", err)
	}
}

func TestSecurityFieldRules(t *testing.T) {
	const jwks = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	pkj := Client{ID: "c", TokenEndpointAuthMethod: AuthPrivateKey, JWKS: jwks}
	tests := []struct {
		name  string
		edit  func(*Client)
		field string
	}{
		{"symmetric request object alg", func(c *Client) { c.Security.RequestObjectSigningAlg = "HS256" }, "request_object_signing_alg"},
		{"none JARM alg", func(c *Client) { c.Security.AuthorizationSignedResponseAlg = "none" }, "authorization_signed_response_alg"},
		{"JARM alg without a server key", func(c *Client) { c.Security.AuthorizationSignedResponseAlg = "ES512" }, "authorization_signed_response_alg"},
		{"RSA1_5", func(c *Client) { c.Security.IntrospectionEncryptedResponseAlg = "RSA1_5" }, "introspection_encrypted_response_alg"},
		{"unknown enc", func(c *Client) {
			c.Security.AuthorizationEncryptedResponseAlg, c.Security.AuthorizationEncryptedResponseEnc = "RSA-OAEP-256", "A64GCM"
		}, "authorization_encrypted_response_enc"},
		{"enc without alg", func(c *Client) { c.Security.RequestObjectEncryptionEnc = "A256GCM" }, "request_object_encryption_enc"},
		{"encryption without client keys", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.Secret = AuthSecretBasic, "", "s3cret-s3cret-s3cret-s3cret-s3cret"
			c.Security.AuthorizationEncryptedResponseAlg = "ECDH-ES"
		}, "authorization_encrypted_response_alg"},
		{"tls_client_auth without a name", func(c *Client) { c.TokenEndpointAuthMethod, c.JWKS = AuthTLS, "" }, "token_endpoint_auth_method"},
		{"tls_client_auth with two names", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS = AuthTLS, ""
			c.Security.TLSClientAuthSANDNS, c.Security.TLSClientAuthSANEmail = "client.example", "a@client.example"
		}, "token_endpoint_auth_method"},
		{"bad SAN IP", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.Security.TLSClientAuthSANIP = AuthTLS, "", "300.1.1.1"
		}, "tls_client_auth_san_ip"},
		{"bad subject DN", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.Security.TLSClientAuthSubjectDN = AuthTLS, "", "CN"
		}, "tls_client_auth_subject_dn"},
		{"certificate name with another method", func(c *Client) { c.Security.TLSClientAuthSANDNS = "client.example" }, "tls_client_auth_san_dns"},
		{"self-signed without keys", func(c *Client) { c.TokenEndpointAuthMethod, c.JWKS = AuthSelfSignedTLS, "" }, "token_endpoint_auth_method"},
	}
	env := Env{SigningAlgs: []string{"RS256", "ES256"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pkj
			tt.edit(&c)
			_, err := NormalizeClient(c, env)
			var se *Error
			if !errors.As(err, &se) || se.Field != tt.field || se.Code != CodeInvalidClientMetadata {
				t.Fatalf("error = %v, want one about %s", err, tt.field)
			}
		})
	}
	ok := pkj
	ok.Security.AuthorizationEncryptedResponseAlg = "ECDH-ES"
	ok.Security.AuthorizationSignedResponseAlg = "ES256"
	if _, err := NormalizeClient(ok, env); err != nil {
		t.Fatalf("valid client refused: %v", err)
	}
	tls := Client{ID: "m", TokenEndpointAuthMethod: AuthTLS}
	tls.Security.TLSClientAuthSubjectDN = "CN=client,O=Example"
	if _, err := NormalizeClient(tls, env); err != nil {
		t.Fatalf("tls_client_auth client refused: %v", err)
	}
}
