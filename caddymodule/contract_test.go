package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

// contractCase is one invalid client, written the way each entry point takes it. Every entry
// point must refuse it with the words of the one rule in package spec (want).
type contractCase struct {
	name string
	// caddyfile is the body of a `client c { … }` block.
	caddyfile string
	// config is the client in the JSON config (caddymodule.Client names).
	config string
	// metadata is the client as the admin API and registration take it (RFC 7591 names).
	metadata string
	// The refusal: the field, the offending value (only operators see it) and what is wrong,
	// and the RFC 7591 error code registration answers with.
	field, value, msg, code string
}

// operatorText is the refusal as the operator's entry points show it (with the value).
func (c contractCase) operatorText() string {
	if c.value == "" {
		return c.field + ": " + c.msg
	}
	return fmt.Sprintf("%s %q: %s", c.field, c.value, c.msg)
}

// clientText is the refusal as an OAuth client sees it (error_description): no value.
func (c contractCase) clientText() string { return c.field + ": " + c.msg }

var contractCases = []contractCase{
	{
		name:      "http redirect URI off loopback",
		caddyfile: "redirect_uris http://example.com/cb",
		config:    `{"client_id":"c","redirect_uris":["http://example.com/cb"]}`,
		metadata:  `{"client_id":"c","redirect_uris":["http://example.com/cb"],"token_endpoint_auth_method":"none"}`,
		field:     "redirect_uris", value: "http://example.com/cb", msg: "http is allowed only on loopback; use https", code: "invalid_redirect_uri",
	},
	{
		name:      "redirect URI with a fragment",
		caddyfile: "redirect_uris https://app.example/cb#top",
		config:    `{"client_id":"c","redirect_uris":["https://app.example/cb#top"]}`,
		metadata:  `{"client_id":"c","redirect_uris":["https://app.example/cb#top"],"token_endpoint_auth_method":"none"}`,
		field:     "redirect_uris", value: "https://app.example/cb#top", msg: "must be an absolute URI without a fragment", code: "invalid_redirect_uri",
	},
	{
		name:      "public client with client_credentials",
		caddyfile: "auth_method none\n grant_types client_credentials",
		config:    `{"client_id":"c","auth_method":"none","grant_types":["client_credentials"]}`,
		metadata:  `{"client_id":"c","token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`,
		field:     "grant_types", msg: "a public client (token_endpoint_auth_method none) cannot use client_credentials", code: "invalid_client_metadata",
	},
	{
		name:      "private key published as a client key",
		caddyfile: "auth_method private_key_jwt\n jwks `" + contractPrivateJWKS + "`",
		config:    `{"client_id":"c","auth_method":"private_key_jwt","jwks":` + contractPrivateJWKS + `}`,
		metadata:  `{"client_id":"c","token_endpoint_auth_method":"private_key_jwt","jwks":` + contractPrivateJWKS + `}`,
		field:     "jwks", msg: "must hold public keys only", code: "invalid_client_metadata",
	},
	{
		name:      "ID token algorithm the server has no key for",
		caddyfile: "redirect_uris https://app.example/cb\n id_token_signed_response_alg PS512",
		config:    `{"client_id":"c","redirect_uris":["https://app.example/cb"],"id_token_signed_response_alg":"PS512"}`,
		metadata:  `{"client_id":"c","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","id_token_signed_response_alg":"PS512"}`,
		field:     "id_token_signed_response_alg", value: "PS512", msg: "the server has no signing key for it (add it to signing_algs)", code: "invalid_client_metadata",
	},
	{
		name:      "jwks_uri over plain http",
		caddyfile: "auth_method private_key_jwt\n jwks_uri http://keys.example/jwks",
		config:    `{"client_id":"c","auth_method":"private_key_jwt","jwks_uri":"http://keys.example/jwks"}`,
		metadata:  `{"client_id":"c","token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example/jwks"}`,
		field:     "jwks_uri", value: "http://keys.example/jwks", msg: "must be an absolute https URL", code: "invalid_client_metadata",
	},
	{
		name:      "back-channel logout URI over plain http",
		caddyfile: "redirect_uris https://app.example/cb\n backchannel_logout_uri http://app.example/bc",
		config:    `{"client_id":"c","redirect_uris":["https://app.example/cb"],"backchannel_logout_uri":"http://app.example/bc"}`,
		metadata:  `{"client_id":"c","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","backchannel_logout_uri":"http://app.example/bc"}`,
		field:     "backchannel_logout_uri", value: "http://app.example/bc", msg: "must be an absolute https URL", code: "invalid_client_metadata",
	},
	{
		name:      "front-channel session required without the URI",
		caddyfile: "redirect_uris https://app.example/cb\n frontchannel_logout_session_required",
		config:    `{"client_id":"c","redirect_uris":["https://app.example/cb"],"frontchannel_logout_session_required":true}`,
		metadata:  `{"client_id":"c","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","frontchannel_logout_session_required":true}`,
		field:     "frontchannel_logout_session_required", msg: "needs frontchannel_logout_uri", code: "invalid_client_metadata",
	},
}

const contractPrivateJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`

// TestOneContractCaddyfileJSONAndLibrary feeds every contract case through `caddy adapt`
// (the Caddyfile adapter), a JSON config's Validate (what `caddy validate` and `caddy run`
// call) and authserver.New (library users): each refuses with the same rule's words.
func TestOneContractCaddyfileJSONAndLibrary(t *testing.T) {
	const issuer = "https://auth.example"
	for _, tc := range contractCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt("https://auth.example {\n oauth_server {\n issuer " + issuer + "\n client c {\n " + tc.caddyfile + "\n }\n }\n}")
			expectContract(t, "caddy adapt", err, tc.operatorText())

			var h Handler
			if err := caddy.StrictUnmarshalJSON([]byte(`{"issuer":"`+issuer+`","clients":[`+tc.config+`]}`), &h); err != nil {
				t.Fatalf("JSON config does not load: %v", err)
			}
			expectContract(t, "JSON config", h.Validate(), tc.operatorText())

			var m spec.ClientMetadata
			if err := json.Unmarshal([]byte(tc.metadata), &m); err != nil {
				t.Fatal(err)
			}
			c, err := m.Client()
			if err != nil {
				t.Fatal(err)
			}
			expectContract(t, "authserver.New", newLibraryServer(t, issuer, c), tc.operatorText())
		})
	}
}

// newLibraryServer starts an authorization server as a Go library user would, with one client.
func newLibraryServer(t *testing.T, issuer string, c spec.Client) error {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(ctx, authserver.Config{Issuer: issuer, Clients: []authserver.ClientConfig{c}}, authserver.Deps{Store: st, Sealer: seal})
	if err == nil {
		srv.Close()
	}
	return err
}

func expectContract(t *testing.T, entry string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s accepted it", entry)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q, want the contract's words %q", entry, err, want)
	}
}

// TestOneContractAdminAPIRegistrationAndCLI feeds every contract case to a real Caddy through
// the admin API, dynamic registration (RFC 7591) and `caddy oauth-client add`: each refuses
// with the same rule's words (registration without the value, as error_description must not
// echo input), with the rule's RFC 7591 code at /register, and none stores anything.
func TestOneContractAdminAPIRegistrationAndCLI(t *testing.T) {
	tc := newTestCaddy(t)
	const regToken = "contract-test-registration-token-0123456789"
	registration := `registration {
			policy initial_access_token
			initial_access_token ` + regToken + `
			auth_methods none private_key_jwt client_secret_basic
			grant_types authorization_code refresh_token client_credentials
		}`
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), registration)); err != nil {
		t.Fatal(err)
	}
	m := &manageCaddy{testCaddy: tc, t: t}
	for _, c := range contractCases {
		t.Run(c.name, func(t *testing.T) {
			// The admin API.
			status, body := m.call(http.MethodPost, "/oauth/clients", "", c.metadata)
			msg, _ := body["error"].(string)
			if status != http.StatusBadRequest || !strings.Contains(msg, c.operatorText()) {
				t.Errorf("admin API: %d %q, want 400 with %q", status, msg, c.operatorText())
			}

			// The CLI, with the same document.
			doc := filepath.Join(t.TempDir(), "client.json")
			if err := os.WriteFile(doc, []byte(c.metadata), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runManage(t, clientCommands, tc.admin, "add", "--file", doc)
			expectContract(t, "caddy oauth-client add", err, c.operatorText())

			// Dynamic registration: the server chooses client IDs, so the document has none.
			var meta map[string]any
			if err := json.Unmarshal([]byte(c.metadata), &meta); err != nil {
				t.Fatal(err)
			}
			delete(meta, "client_id")
			raw, _ := json.Marshal(meta)
			req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/register", bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+regToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var oauthErr struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&oauthErr)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || oauthErr.Error != c.code || !strings.Contains(oauthErr.Description, c.clientText()) {
				t.Errorf("registration: %d %+v, want 400 %s with %q", resp.StatusCode, oauthErr, c.code, c.clientText())
			}
			if c.value != "" && strings.Contains(oauthErr.Description, c.value) {
				t.Errorf("registration error_description %q echoes the request's value", oauthErr.Description)
			}

			// Nothing was stored by any of them.
			if status, _ := m.call(http.MethodGet, "/oauth/clients/c", "", ""); status != http.StatusNotFound {
				t.Errorf("after the refusals, GET /oauth/clients/c = %d, want 404", status)
			}
			status, list := m.call(http.MethodGet, "/oauth/clients?source=registration", "", "")
			if clients, _ := list["clients"].([]any); status != http.StatusOK || len(clients) != 0 {
				t.Errorf("registration stored clients: %d %v", status, list)
			}
		})
	}
}
