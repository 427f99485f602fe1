package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// These tests show, through a real Caddy started from a Caddyfile, what three options do end
// to end: from the token endpoint to the gateway (oauth_resource) in front of an upstream.

// optionsCaddyfile is a site that is its own issuer, with a gateway for its /api resource.
// server holds extra oauth_server lines, resource extra lines of the /api resource block and
// clients whole client blocks.
func (tc *testCaddy) optionsCaddyfile(server, resource, clients string) string {
	return tc.globals() + fmt.Sprintf(`%[1]s {
	@api path /api/* /.well-known/oauth-protected-resource/api
	oauth_server {
		issuer %[1]s
		storage sqlite %[2]s/oauth.db
		master_key %[3]s
		%[4]s
		resource %[1]s/api {
			scopes read
			signing_alg ES256
			%[5]s
		}
		resource %[1]s/other
		client demo-service {
			secret %[6]s
			grant_types client_credentials
			resources %[1]s/api
		}
		%[7]s
	}
	oauth_resource @api {
		resource %[1]s/api
		issuer %[1]s
		header_up X-User {oauth.sub}
	}
	reverse_proxy %[8]s
}`, tc.issuer, tc.dir, testMasterKey, server, resource, testSecret, clients, tc.upstream.URL)
}

// tokenAnswer is a token endpoint response, success or error.
type tokenAnswer struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

func clientCredentials(t *testing.T, tc *testCaddy, clientID, resource string, header http.Header) tokenAnswer {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, testSecret)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := tokenAnswer{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return out
}

// callGateway sends GET u with the given Authorization header (and DPoP proof) and returns the
// status.
func callGateway(t *testing.T, u, authorization, proof string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOptionEnforcePerClientResources(t *testing.T) {
	tc := newTestCaddy(t)
	// A client linked to no resource at all.
	unlinked := `client unlinked {
			secret ` + testSecret + `
			grant_types client_credentials
		}`
	api := tc.issuer + "/api"

	if err := tc.load(t, tc.optionsCaddyfile("", "", unlinked)); err != nil {
		t.Fatal(err)
	}
	if got := clientCredentials(t, tc, "unlinked", api, nil); got.status != http.StatusBadRequest || got.Error != "invalid_target" {
		t.Fatalf("default (enforced): unlinked client got %d %q, want 400 invalid_target", got.status, got.Error)
	}

	if err := tc.load(t, tc.optionsCaddyfile("enforce_per_client_resources false", "", unlinked)); err != nil {
		t.Fatal(err)
	}
	got := clientCredentials(t, tc, "unlinked", api, nil)
	if got.status != http.StatusOK || got.AccessToken == "" {
		t.Fatalf("enforce_per_client_resources false: unlinked client got %d %q, want a token", got.status, got.Error)
	}
	if claims := verifyJWT(t, got.AccessToken, tc.issuer+"/jwks"); !claims.Audience.Contains(api) || claims.Subject != "unlinked" {
		t.Errorf("token claims aud %v sub %q, want aud %s sub unlinked", claims.Audience, claims.Subject, api)
	}
	if status := callGateway(t, api+"/x", "Bearer "+got.AccessToken, ""); status != http.StatusOK {
		t.Errorf("gateway answered %d to the unlinked client's token, want 200", status)
	}
	// Everything else still holds: an unknown resource is still refused.
	if got := clientCredentials(t, tc, "unlinked", tc.issuer+"/nowhere", nil); got.Error != "invalid_target" {
		t.Errorf("unknown resource with enforcement off: %d %q, want invalid_target", got.status, got.Error)
	}
}

func TestOptionClientDPoPBoundAccessTokens(t *testing.T) {
	tc := newTestCaddy(t)
	bound := `client bound {
			secret ` + testSecret + `
			grant_types client_credentials
			resources ` + tc.issuer + `/api
			dpop_bound_access_tokens
		}`
	if err := tc.load(t, tc.optionsCaddyfile("", "", bound)); err != nil {
		t.Fatal(err)
	}
	api := tc.issuer + "/api"
	key := newDPoPProver(t)

	// Without a proof the client gets no token at all.
	if got := clientCredentials(t, tc, "bound", api, nil); got.status != http.StatusBadRequest || got.Error != "invalid_dpop_proof" {
		t.Fatalf("no proof: %d %q, want 400 invalid_dpop_proof", got.status, got.Error)
	}
	// Another client of the same resource still gets Bearer tokens without a proof.
	if got := clientCredentials(t, tc, "demo-service", api, nil); got.status != http.StatusOK || got.TokenType != "Bearer" {
		t.Fatalf("unbound client: %d %q %q, want a Bearer token", got.status, got.TokenType, got.Error)
	}

	got := clientCredentials(t, tc, "bound", api, http.Header{"Dpop": {key.proof(http.MethodPost, tc.issuer+"/token", "")}})
	if got.status != http.StatusOK || got.TokenType != "DPoP" {
		t.Fatalf("with proof: %d %q %q, want a DPoP token", got.status, got.TokenType, got.Error)
	}
	var claims struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	tok, err := jwt.ParseSigned(got.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil || claims.Cnf.JKT != key.JKT {
		t.Fatalf("cnf.jkt = %q (%v), want the proof key's thumbprint", claims.Cnf.JKT, err)
	}

	// At the gateway the token works only with a proof of the same key.
	resource := api + "/x"
	if status := callGateway(t, resource, "Bearer "+got.AccessToken, ""); status != http.StatusUnauthorized {
		t.Errorf("bound token as Bearer: %d, want 401", status)
	}
	other := newDPoPProver(t)
	if status := callGateway(t, resource, "DPoP "+got.AccessToken, other.proof(http.MethodGet, resource, got.AccessToken)); status != http.StatusUnauthorized {
		t.Errorf("bound token with another key's proof: %d, want 401", status)
	}
	if status := callGateway(t, resource, "DPoP "+got.AccessToken, key.proof(http.MethodGet, resource, got.AccessToken)); status != http.StatusOK {
		t.Errorf("bound token with its key's proof: %d, want 200", status)
	}
}

func TestOptionResourceSigningKeyID(t *testing.T) {
	tc := newTestCaddy(t)
	api := tc.issuer + "/api"
	// merge: the Caddyfile's fields are written to the stored resource on every load, so a
	// reload can pin the key (insert_only would keep the stored row as it is).
	if err := tc.load(t, tc.optionsCaddyfile("resource_seed_mode merge", "", "")); err != nil {
		t.Fatal(err)
	}
	kidOf := func(token string) string {
		t.Helper()
		verifyJWT(t, token, tc.issuer+"/jwks")
		tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Headers[0].KeyID
	}
	first := kidOf(requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read"))

	// Pin the current key, then rotate: unpinned resources move to the new key at once.
	if err := tc.load(t, tc.optionsCaddyfile("resource_seed_mode merge", "signing_key_id "+first, "")); err != nil {
		t.Fatal(err)
	}
	if kid := kidOf(requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")); kid != first {
		t.Fatalf("pinned resource signed with %q, want the pinned %q", kid, first)
	}
	status, body := post(t, "http://"+tc.admin+"/oauth/keys/rotate", fmt.Sprintf(`{"issuer":%q,"alg":"ES256"}`, tc.issuer))
	if status != http.StatusOK {
		t.Fatalf("rotate = %d %s", status, body)
	}
	var rotated struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal([]byte(body), &rotated); err != nil || rotated.KID == "" || rotated.KID == first {
		t.Fatalf("rotate answered %s, want a new kid", body)
	}
	// A retired key signs nothing more (its purge time assumes so): the pinned resource falls
	// back to the current key of its alg, and its tokens keep verifying at the gateway.
	token := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")
	if kid := kidOf(token); kid != rotated.KID {
		t.Errorf("after rotation the pinned resource signed with %q, want the current key %q", kid, rotated.KID)
	}
	if status := callGateway(t, api+"/x", "Bearer "+token, ""); status != http.StatusOK {
		t.Errorf("gateway answered %d, want 200", status)
	}

	// Pinning a key of the current generation again takes effect on reload.
	if err := tc.load(t, tc.optionsCaddyfile("resource_seed_mode merge", "signing_key_id "+rotated.KID, "")); err != nil {
		t.Fatal(err)
	}
	if kid := kidOf(requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")); kid != rotated.KID {
		t.Errorf("re-pinned resource signed with %q, want %q", kid, rotated.KID)
	}
}
