package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
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
