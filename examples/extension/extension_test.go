package oauthext_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/internal/testport"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-oauth/caddy-oauth/caddymodule"
	oauthext "github.com/caddy-oauth/caddy-oauth/examples/extension"
)

// TestExampleModulesInCaddy builds the example modules into a real Caddy configured from a
// Caddyfile: a service trades its API key for an access token at /token, and the gateway in
// front of the API lets the token through only with the claim the static contributor added.
func TestExampleModulesInCaddy(t *testing.T) {
	const apiKey = "ak_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	sum := sha256.Sum256([]byte(apiKey))
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s (%s)", r.Header.Get("X-Sub"), r.Header.Get("X-Key"))
	}))
	defer upstream.Close()
	issuer := "http://127.0.0.1:" + freePort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	log {
		output discard
	}
}
%[1]s {
	oauth_server {
		issuer %[1]s
		storage sqlite %[2]s
		master_key 0123456789abcdef0123456789abcdef
		resource %[1]s/api {
			scopes read write
			signing_alg ES256
		}
		grant api_key {
			key %[3]s ci-bot read
		}
		claims static {
			claim env production
			resources %[1]s/api
		}
		client ci {
			secret ci-secret-0123456789abcdef0123456789
			grant_types %[4]s
			scopes read write
			resources %[1]s/api
		}
	}
	handle /api/* {
		oauth_resource {
			resource %[1]s/api
			issuer %[1]s
			scopes read
			claim env production
			header_up X-Sub {oauth.sub}
			header_up X-Key {oauth.claim.api_key_id}
		}
		reverse_proxy %[5]s
	}
}`, issuer, filepath.Join(t.TempDir(), "oauth.db"), hex.EncodeToString(sum[:]), oauthext.APIKeyGrantType, upstream.URL)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })

	token := func(key string) (int, map[string]any) {
		form := url.Values{"grant_type": {oauthext.APIKeyGrantType}, "api_key": {key}}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("ci", "ci-secret-0123456789abcdef0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}

	status, body := token(apiKey)
	if status != http.StatusOK || body["scope"] != "read" {
		t.Fatalf("token: %d %v", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, issuer+"/api/things", nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("hello ci-bot (%s)", hex.EncodeToString(sum[:])[:8]); resp.StatusCode != http.StatusOK || string(got) != want {
		t.Fatalf("API: %d %q, want %q", resp.StatusCode, got, want)
	}

	status, body = token("ak_live_not-a-key")
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("a wrong key: %d %v", status, body)
	}
	status, body = token("")
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("no key: %d %v", status, body)
	}
	var meta map[string]any
	resp, err = http.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if !strings.Contains(fmt.Sprint(meta["grant_types_supported"]), oauthext.APIKeyGrantType) {
		t.Fatalf("discovery: %v", meta["grant_types_supported"])
	}
}

// TestExampleGrantRefusesBadConfiguration: Caddy refuses a malformed key hash at load time.
func TestExampleGrantRefusesBadConfiguration(t *testing.T) {
	issuer := "http://127.0.0.1:" + freePort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
}
%[1]s {
	oauth_server {
		issuer %[1]s
		storage sqlite %[2]s
		master_key 0123456789abcdef0123456789abcdef
		grant api_key {
			key not-a-hash ci-bot
		}
	}
}`, issuer, filepath.Join(t.TempDir(), "oauth.db"))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	err = caddy.Load(cfg, true)
	t.Cleanup(func() { _ = caddy.Stop() })
	if err == nil || !strings.Contains(err.Error(), "sha256 must be 64 hex digits") {
		t.Fatalf("loading a bad key hash: %v", err)
	}
}

func freePort(t *testing.T) string { return testport.Free(t) }
