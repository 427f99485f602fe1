package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestAdaptLogoutClientFields: the four logout fields of a Caddyfile client survive `caddy
// adapt` under their JSON names and reach the authorization server's client configuration.
func TestAdaptLogoutClientFields(t *testing.T) {
	cfg, err := adapt(`https://auth.example {
	oauth_server {
		issuer https://auth.example
		client web {
			secret_hash sha256$47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU
			grant_types authorization_code
			redirect_uris https://app.example/cb
			backchannel_logout_uri https://app.example/logout/back?tenant=1
			backchannel_logout_session_required
			frontchannel_logout_uri https://app.example/logout/front
			frontchannel_logout_session_required false
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_server")
	if len(handlers) != 1 {
		t.Fatalf("found %d oauth_server handlers, want 1:\n%s", len(handlers), cfg)
	}
	var raw struct {
		Clients []map[string]any `json:"clients"`
	}
	if err := json.Unmarshal(handlers[0], &raw); err != nil || len(raw.Clients) != 1 {
		t.Fatalf("clients in adapted JSON: %v %s", err, handlers[0])
	}
	client := raw.Clients[0]
	for k, want := range map[string]any{
		"backchannel_logout_uri":              "https://app.example/logout/back?tenant=1",
		"backchannel_logout_session_required": true,
		"frontchannel_logout_uri":             "https://app.example/logout/front",
	} {
		if client[k] != want {
			t.Errorf("adapted %s = %v, want %v", k, client[k], want)
		}
	}
	if _, ok := client["frontchannel_logout_session_required"]; ok {
		t.Errorf("frontchannel_logout_session_required false is written out: %v", client)
	}

	h := loadHandler(t, handlers[0])
	if err := h.Validate(); err != nil {
		t.Fatalf("adapted JSON does not validate: %v", err)
	}
	ac, err := h.authConfig(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	c := ac.Clients[0]
	if c.BackchannelLogoutURI != "https://app.example/logout/back?tenant=1" || !c.BackchannelLogoutSessionRequired ||
		c.FrontchannelLogoutURI != "https://app.example/logout/front" || c.FrontchannelLogoutSessionRequired {
		t.Errorf("server client config: %+v", c)
	}
}

// TestRegisterLogoutClientFields: a client registering itself at a real Caddy's /register
// (RFC 7591) with logout URIs has them stored: the admin API and the CLI read them back.
func TestRegisterLogoutClientFields(t *testing.T) {
	tc := newTestCaddy(t)
	const regToken = "logout-fields-registration-token-0123456789"
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), `registration {
			policy initial_access_token
			initial_access_token `+regToken+`
		}`)); err != nil {
		t.Fatal(err)
	}
	app := tc.issuer + "/app" // same origin as the redirect URI: front-channel logout needs it
	body, _ := json.Marshal(map[string]any{
		"redirect_uris":                        []string{app + "/cb"},
		"token_endpoint_auth_method":           "none",
		"backchannel_logout_uri":               app + "/logout/back",
		"backchannel_logout_session_required":  true,
		"frontchannel_logout_uri":              app + "/logout/front?x=1",
		"frontchannel_logout_session_required": true,
	})
	req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+regToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	id, _ := reg["client_id"].(string)
	if resp.StatusCode != http.StatusCreated || id == "" {
		t.Fatalf("registration: %d %v", resp.StatusCode, reg)
	}

	m := &manageCaddy{testCaddy: tc, t: t}
	status, stored := m.call(http.MethodGet, "/oauth/clients/"+url.PathEscape(id), "", "")
	if status != http.StatusOK {
		t.Fatalf("admin API GET: %d %v", status, stored)
	}
	out, err := runManage(t, clientCommands, tc.admin, "show", id)
	if err != nil {
		t.Fatalf("caddy oauth-client show: %v", err)
	}
	for k, want := range map[string]any{
		"backchannel_logout_uri": app + "/logout/back", "backchannel_logout_session_required": true,
		"frontchannel_logout_uri": app + "/logout/front?x=1", "frontchannel_logout_session_required": true,
	} {
		if stored[k] != want {
			t.Errorf("admin API %s = %v, want %v", k, stored[k], want)
		}
		if s, ok := want.(string); ok && !strings.Contains(out, s) {
			t.Errorf("caddy oauth-client show does not show %s:\n%s", k, out)
		}
	}
}
