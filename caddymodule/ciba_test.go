package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCaddyfileCIBA(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "every option", input: head + "ciba {\n delivery_modes poll ping\n expiry 2m\n max_expiry 10m\n interval 3s\n notifier https://push.example/ciba\n }\n}",
			want: `{"issuer":"https://a.example","ciba":{"delivery_modes":["poll","ping"],"expiry":120000000000,"max_expiry":600000000000,"interval":3000000000,"notifier":"https://push.example/ciba"}}`},
		{name: "on with defaults", input: head + "ciba\n}", want: `{"issuer":"https://a.example","ciba":{}}`},
		{name: "unknown mode", input: head + "ciba {\n delivery_modes poll carrier-pigeon\n }\n}", wantErr: "carrier-pigeon"},
		{name: "expiry above max", input: head + "ciba {\n expiry 1h\n max_expiry 10m\n }\n}", wantErr: "ciba expiry"},
		{name: "relative notifier", input: head + "ciba {\n notifier /hook\n }\n}", wantErr: "ciba notifier"},
		{name: "twice", input: head + "ciba\n ciba\n}", wantErr: "set twice"},
		{name: "client in push mode", input: head + "ciba\n client bank {\n secret s0123456789abcdef0123456789abcdef\n grant_types urn:openid:params:grant-type:ciba\n backchannel_token_delivery_mode push\n backchannel_client_notification_endpoint https://bank.example/cb\n }\n}",
			want: `{"issuer":"https://a.example","ciba":{},"clients":[{"client_id":"bank","secret":"s0123456789abcdef0123456789abcdef","grant_types":["urn:openid:params:grant-type:ciba"],"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"https://bank.example/cb"}]}`},
		{name: "push without an endpoint", input: head + "ciba\n client bank {\n secret s0123456789abcdef0123456789abcdef\n grant_types urn:openid:params:grant-type:ciba\n backchannel_token_delivery_mode push\n }\n}",
			wantErr: "backchannel_client_notification_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

// TestIntegrationCIBAAdminDecision: through a real Caddy, a bank starts a CIBA request for
// alice, the admin API approves it, and the bank's poll gets tokens.
func TestIntegrationCIBAAdminDecision(t *testing.T) {
	tc := newTestCaddy(t)
	// The notifier: the system that asks the user, told of every new request.
	notified := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		notified <- m
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	extra := `outbound_allow_private
		ciba {
			interval 1s
			notifier ` + hook.URL + `/ciba
		}
		client bank {
			secret ` + testSecret + `
			grant_types urn:openid:params:grant-type:ciba
			scopes openid
		}
		account alice {
			password alice-password-0123456789
		}`
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), extra)); err != nil {
		t.Fatalf("loading: %v", err)
	}
	var meta map[string]any
	getJSON(t, tc.issuer+"/.well-known/openid-configuration", &meta)
	if meta["backchannel_authentication_endpoint"] != tc.issuer+"/bc-authorize" {
		t.Fatalf("discovery: %v", meta["backchannel_authentication_endpoint"])
	}
	status, body := postForm(t, tc.issuer+"/bc-authorize", "bank", testSecret, url.Values{"scope": {"openid"}, "login_hint": {"alice"}})
	var started map[string]any
	if err := json.Unmarshal(body, &started); err != nil || status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %s", status, body)
	}
	poll := func() (int, string) {
		status, body := postForm(t, tc.issuer+"/token", "bank", testSecret, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"},
			"auth_req_id": {started["auth_req_id"].(string)}})
		return status, string(body)
	}
	if status, body := poll(); status != http.StatusBadRequest || !strings.Contains(body, "authorization_pending") {
		t.Fatalf("first poll: %d %s", status, body)
	}
	var note map[string]any
	select {
	case note = <-notified:
	case <-time.After(10 * time.Second):
		t.Fatal("the notifier was not called")
	}
	id, _ := note["request"].(string)
	if id == "" || note["username"] != "alice" || note["client_id"] != "bank" || note["auth_req_id"] != nil ||
		note["approval_uri"] != tc.issuer+"/ciba?request="+id {
		t.Fatalf("notifier body: %v", note)
	}
	admin := "http://" + tc.admin + "/oauth/ciba/" + id
	if status, body := post(t, admin+"/approve", ""); status != http.StatusNoContent {
		t.Fatalf("approve: %d %s", status, body)
	}
	if status, _ := post(t, admin+"/approve", ""); status != http.StatusNotFound {
		t.Fatalf("approving twice: %d", status)
	}
	if status, _ := post(t, admin+"/maybe", ""); status != http.StatusNotFound {
		t.Fatalf("an unknown action: %d", status)
	}
	if status, body := poll(); status != http.StatusOK || !strings.Contains(body, "id_token") {
		t.Fatalf("poll after approval: %d %s", status, body)
	}
}
