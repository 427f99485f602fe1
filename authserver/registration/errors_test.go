package registration_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
)

// TestRegistrationErrors: every refused registration answers the RFC 7591 §3.2.2 (or RFC
// 6750 §3) error with Cache-Control: no-store, never quotes the request in its description,
// stores nothing and spends no use of the one-use initial access token, which still works
// after all of them.
func TestRegistrationErrors(t *testing.T) {
	const secretValue = "http://evil.example.test/cb"
	tests := []struct {
		name        string
		policy      func(*registration.Config)
		token       string // "" sends none; "IAT" the one-use token
		contentType string
		body        string
		metadata    map[string]any // used when body is ""
		valid       map[string]any // what the policy accepts (default publicClient())
		status      int
		code        string // "" for a bare 401 challenge
	}{
		{name: "no initial access token", status: 401, metadata: publicClient()},
		{name: "unknown initial access token", token: "not-a-token", status: 401, code: "invalid_token", metadata: publicClient()},
		{name: "wrong content type", token: "IAT", contentType: "text/plain", body: `{"redirect_uris":["https://app.example.test/cb"]}`, status: 400, code: "invalid_client_metadata"},
		{name: "form content type", token: "IAT", contentType: "application/x-www-form-urlencoded", body: "client_name=x", status: 400, code: "invalid_client_metadata"},
		{name: "malformed JSON", token: "IAT", body: `{"client_name": `, status: 400, code: "invalid_client_metadata"},
		{name: "JSON array", token: "IAT", body: `[{"client_name":"x"}]`, status: 400, code: "invalid_client_metadata"},
		{name: "two objects", token: "IAT", body: `{} {}`, status: 400, code: "invalid_client_metadata"},
		{name: "wrong member type", token: "IAT", body: `{"redirect_uris":"https://app.example.test/cb"}`, status: 400, code: "invalid_client_metadata"},
		{name: "body over the limit", token: "IAT", body: `{"client_name":"` + strings.Repeat("a", registration.MaxBodyBytes) + `"}`, status: 400, code: "invalid_client_metadata"},
		{name: "http redirect URI off loopback", token: "IAT", metadata: with(publicClient(), "redirect_uris", []string{secretValue}), status: 400, code: "invalid_redirect_uri"},
		{name: "fragment in redirect URI", token: "IAT", metadata: with(publicClient(), "redirect_uris", []string{redirectURI + "#frag"}), status: 400, code: "invalid_redirect_uri"},
		{name: "https only refuses loopback", policy: func(c *registration.Config) { c.RedirectURIsHTTPSOnly = true }, token: "IAT",
			metadata: with(publicClient(), "redirect_uris", []string{"http://127.0.0.1:8080/cb"}), status: 400, code: "invalid_redirect_uri"},
		{name: "redirect host not allowed", policy: func(c *registration.Config) { c.RedirectHosts = []string{"app.example.test"} }, token: "IAT",
			metadata: with(publicClient(), "redirect_uris", []string{"https://elsewhere.example.test/cb"}), status: 400, code: "invalid_redirect_uri"},
		{name: "back-channel logout over http off loopback", token: "IAT", metadata: with(publicClient(), "backchannel_logout_uri", secretValue), status: 400, code: "invalid_client_metadata"},
		{name: "back-channel session required without the URI", token: "IAT", metadata: with(publicClient(), "backchannel_logout_session_required", true), status: 400, code: "invalid_client_metadata"},
		{name: "back-channel logout host not allowed", policy: func(c *registration.Config) { c.RedirectHosts = []string{"app.example.test"} }, token: "IAT",
			metadata: with(publicClient(), "backchannel_logout_uri", "https://elsewhere.example.test/bc"), status: 400, code: "invalid_client_metadata"},
		{name: "https only refuses a loopback back-channel URI", policy: func(c *registration.Config) { c.RedirectURIsHTTPSOnly = true }, token: "IAT",
			metadata: with(publicClient(), "backchannel_logout_uri", "http://127.0.0.1:8080/bc"), status: 400, code: "invalid_client_metadata"},
		{name: "front-channel logout off the redirect origin", token: "IAT", metadata: with(publicClient(), "frontchannel_logout_uri", "https://elsewhere.example.test/fc"), status: 400, code: "invalid_client_metadata"},
		{name: "front-channel session required without the URI", token: "IAT", metadata: with(publicClient(), "frontchannel_logout_session_required", true), status: 400, code: "invalid_client_metadata"},
		{name: "grant type not allowed", token: "IAT", metadata: with(publicClient(), "grant_types", []string{"urn:ietf:params:oauth:grant-type:device_code"}), status: 400, code: "invalid_client_metadata"},
		{name: "unknown grant type", token: "IAT", metadata: with(publicClient(), "grant_types", []string{"password"}), status: 400, code: "invalid_client_metadata"},
		{name: "response type not supported", token: "IAT", metadata: with(publicClient(), "response_types", []string{"token"}), status: 400, code: "invalid_client_metadata"},
		{name: "scope not allowed", token: "IAT", metadata: with(confidentialClient(), "scope", "read write"), status: 400, code: "invalid_client_metadata"},
		{name: "resource not offered", token: "IAT", metadata: with(confidentialClient(), "resources", []string{otherAPI}), status: 400, code: "invalid_client_metadata"},
		{name: "resource offered but missing", policy: func(c *registration.Config) { c.Resources = append(c.Resources, "https://gone.example.test") }, token: "IAT",
			metadata: with(confidentialClient(), "resources", []string{"https://gone.example.test"}), status: 400, code: "invalid_client_metadata"},
		{name: "auth method not allowed", policy: func(c *registration.Config) { c.AuthMethods = []string{"none", "private_key_jwt"} }, token: "IAT",
			metadata: confidentialClient(), status: 400, code: "invalid_client_metadata"},
		{name: "public client with client_credentials", token: "IAT", metadata: with(publicClient(), "grant_types", []string{"client_credentials"}), status: 400, code: "invalid_client_metadata"},
		{name: "private_key_jwt without keys", token: "IAT", metadata: with(confidentialClient(), "token_endpoint_auth_method", "private_key_jwt"), status: 400, code: "invalid_client_metadata"},
		{name: "private key in jwks", token: "IAT", metadata: with(confidentialClient(), "token_endpoint_auth_method", "private_key_jwt",
			"jwks", map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}}}), status: 400, code: "invalid_client_metadata"},
		{name: "client chooses its secret", token: "IAT", metadata: with(confidentialClient(), "client_secret", "my-own-secret-0123456789abcdefghijkl"), status: 400, code: "invalid_client_metadata"},
		{name: "client brings a secret hash", token: "IAT", metadata: with(confidentialClient(), "client_secret_hash", "sha256$AAAA"), status: 400, code: "invalid_client_metadata"},
		{name: "introspects is operator-only", token: "IAT", metadata: with(confidentialClient(), "introspects", []string{apiID}), status: 400, code: "invalid_client_metadata"},
		{name: "skip_consent is operator-only", token: "IAT", metadata: with(publicClient(), "skip_consent", true), status: 400, code: "invalid_client_metadata"},
		{name: "pkce_optional is operator-only", token: "IAT", metadata: with(confidentialClient(), "pkce_optional", true), status: 400, code: "invalid_client_metadata"},
		{name: "any loopback port is operator-only", token: "IAT", metadata: with(confidentialClient(), "redirect_uri_any_loopback_port", true), status: 400, code: "invalid_client_metadata"},
		{name: "refresh without offline_access is operator-only", token: "IAT", metadata: with(publicClient(), "refresh_without_offline_access", true), status: 400, code: "invalid_client_metadata"},
		{name: "sector_identifier is operator-only", token: "IAT", metadata: with(publicClient(), "sector_identifier", "example.test"), status: 400, code: "invalid_client_metadata"},
		{name: "disabled is operator-only", token: "IAT", metadata: with(publicClient(), "disabled", true), status: 400, code: "invalid_client_metadata"},
		{name: "control characters in client_name", token: "IAT", metadata: with(publicClient(), "client_name", "a\nb"), status: 400, code: "invalid_client_metadata"},
		{name: "statement required", policy: requireStatements(t), token: "IAT", valid: withStatement(t), metadata: publicClient(), status: 400, code: "invalid_software_statement"},
		{name: "statement not a JWT", policy: requireStatements(t), token: "IAT", valid: withStatement(t), metadata: with(publicClient(), "software_statement", "not.a.jwt"), status: 400, code: "invalid_software_statement"},
		{name: "statement from an untrusted publisher", policy: requireStatements(t), token: "IAT", valid: withStatement(t),
			metadata: with(publicClient(), "software_statement", untrustedStatement(t)), status: 400, code: "unapproved_software_statement"},
		{name: "expired statement", policy: requireStatements(t), token: "IAT", valid: withStatement(t),
			metadata: with(publicClient(), "software_statement", expiredStatement(t)), status: 400, code: "invalid_software_statement"},
		{name: "statement without iss", policy: requireStatements(t), token: "IAT", valid: withStatement(t),
			metadata: with(publicClient(), "software_statement", signStatement(t, trustedKey, map[string]any{"software_id": "app", "_no_iss": true})), status: 400, code: "invalid_software_statement"},
		{name: "statement without iat or exp", policy: requireStatements(t), token: "IAT", valid: withStatement(t),
			metadata: with(publicClient(), "software_statement", unboundedStatement(t)), status: 400, code: "invalid_software_statement"},
		{name: "statement overriding into an invalid client", policy: requireStatements(t), token: "IAT", valid: withStatement(t),
			metadata: with(publicClient(), "software_statement", signStatement(t, trustedKey, map[string]any{"redirect_uris": []string{secretValue}})), status: 400, code: "invalid_redirect_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			iat := f.newInitialAccessToken(1, nil)
			token := tt.token
			if token == "IAT" {
				token = iat
			}
			var r reply
			if tt.body != "" || tt.contentType != "" {
				ct := tt.contentType
				if ct == "" {
					ct = "application/json"
				}
				r = f.call(http.MethodPost, "/register", token, ct, tt.body)
			} else {
				r = f.register(token, tt.metadata)
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
			}
			if tt.status == http.StatusUnauthorized {
				challenge := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(challenge, "Bearer") || (tt.code != "") != strings.Contains(challenge, `error="`+tt.code+`"`) {
					t.Errorf("WWW-Authenticate %q, want Bearer with error %q", challenge, tt.code)
				}
			} else if r.str("error") != tt.code || r.str("error_description") == "" {
				t.Errorf("error %q (%q), want %q with a description", r.str("error"), r.str("error_description"), tt.code)
			}
			if strings.Contains(r.raw, secretValue) || strings.Contains(r.raw, "my-own-secret") {
				t.Errorf("the error quotes the request: %s", r.raw)
			}
			if n := f.registeredClients(); n != 0 {
				t.Errorf("%d clients stored by a refused registration", n)
			}
			valid := tt.valid
			if valid == nil {
				valid = publicClient()
			}
			if ok := f.register(iat, valid); ok.status != http.StatusCreated {
				t.Errorf("the one-use initial access token after the refusal: %d %s (a use was spent)", ok.status, ok.raw)
			}
		})
	}
}

// TestMethodsAndPaths: wrong methods get 405 with Allow; paths below a client are not served.
func TestMethodsAndPaths(t *testing.T) {
	f := newFixture(t, nil)
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/register", 405, "POST"},
		{http.MethodPatch, "/register/abc", 405, "GET, PUT, DELETE"},
		{http.MethodGet, "/register/abc/extra", 404, ""},
		{http.MethodGet, "/register/", 404, ""},
		{http.MethodGet, "/registerx", 404, ""},
	} {
		r := f.call(tt.method, tt.path, staticToken, "", "")
		if r.status != tt.status || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tt.method, tt.path, r.status, r.header.Get("Allow"), tt.status, tt.allow)
		}
	}
}

func withStatement(t testing.TB) map[string]any {
	return with(publicClient(), "software_statement", signStatement(t, trustedKey, map[string]any{"software_id": "app"}))
}
