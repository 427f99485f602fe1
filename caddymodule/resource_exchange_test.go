package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
)

// payloadOf decodes a JWT's claims without verifying it (the tests check what the upstream got).
func payloadOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestIntegrationGatewayExchange: oauth_resource exchanges the edge token for the upstream's
// own, in-process (the issuer is this Caddy) and at a remote issuer's token endpoint; the
// upstream sees only the exchanged token, for its audience and narrower scope.
func TestIntegrationGatewayExchange(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	remoteAS := startRemoteAS(t)
	gateway := "http://127.0.0.1:" + freePort(t)
	const orders = "https://orders.internal"

	remoteAS.configure(t, authserver.Config{
		Resources: []authserver.ResourceConfig{
			{Identifier: gateway + "/api", AllowedScopes: []string{"read", "write"}},
			{Identifier: orders, AllowedScopes: []string{"read"}},
		},
		Clients: []authserver.ClientConfig{
			{ID: "remote-app", Secret: testSecret, GrantTypes: []string{"client_credentials"}, Scopes: []string{"read", "write"},
				Resources: []string{gateway + "/api"}},
			{ID: "gw", Secret: gatewaySecret, GrantTypes: []string{exchange.GrantType}, Scopes: []string{"read"}, Resources: []string{orders}},
		},
		TokenExchange: exchange.Policy{Rules: []exchange.Rule{{Clients: []string{"gw"}, Resources: []string{orders}, Scopes: []string{"read"}}}},
	})

	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	@api path /api/*
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api {
			scopes read write
		}
		resource %[5]s {
			scopes read
		}
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			scopes read write
			resources %[1]s/api
		}
		client gw {
			secret %[6]s
			grant_types urn:ietf:params:oauth:grant-type:token-exchange
			scopes read
			resources %[5]s
		}
		token_exchange {
			rule {
				clients gw
				resources %[5]s
				scopes read
			}
		}
	}
	oauth_resource @api {
		resource %[1]s/api
		issuer %[1]s
		exchange {
			resource %[5]s
			scopes read
			client_id gw
		}
		header_up X-User {oauth.sub}
	}
	reverse_proxy %[4]s
}
%[7]s {
	oauth_resource /api/* {
		resource %[7]s/api
		issuer %[8]s
		outbound_allow_private
		exchange {
			resource %[5]s
			client_id gw
			client_secret %[6]s
		}
	}
	reverse_proxy %[4]s
}`, tc.issuer, tc.storage(), testSecret, upstream.URL, orders, gatewaySecret, gateway, remoteAS.issuer)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}

	t.Run("in-process", func(t *testing.T) {
		edge := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "read write")
		resp, saw := callAPI(t, tc.issuer+"/api/orders/7", edge, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		auth := saw.Header.Get("Authorization")
		upstreamToken, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || upstreamToken == edge || strings.Contains(auth, edge) {
			t.Fatalf("the upstream got %q: the edge token must never reach it", auth)
		}
		claims := payloadOf(t, upstreamToken)
		if claims["aud"] != orders || claims["scope"] != "read" || claims["client_id"] != "gw" || claims["sub"] != "demo-service" {
			t.Fatalf("exchanged token claims: %v", claims)
		}
		if saw.Header.Get("X-User") != "demo-service" || saw.Header.Get("Dpop") != "" {
			t.Fatalf("identity headers: %v", saw.Header)
		}
		// The next request with the same edge token reuses the exchanged token.
		_, again := callAPI(t, tc.issuer+"/api/orders/8", edge, nil)
		if again.Header.Get("Authorization") != auth {
			t.Fatal("the exchanged token was not reused for the same edge token")
		}
		// A token without read cannot be exchanged for a read token: 403, nothing forwarded.
		writer := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "write")
		resp, _ = callAPI(t, tc.issuer+"/api/orders/7", writer, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("a token the policy will not exchange: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("remote issuer", func(t *testing.T) {
		edge := requestToken(t, remoteAS.issuer+"/token", "remote-app", testSecret, gateway+"/api", "read")
		resp, saw := callAPI(t, gateway+"/api/orders/7", edge, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		upstreamToken, _ := strings.CutPrefix(saw.Header.Get("Authorization"), "Bearer ")
		if upstreamToken == "" || upstreamToken == edge {
			t.Fatalf("the upstream got %q", saw.Header.Get("Authorization"))
		}
		if claims := payloadOf(t, upstreamToken); claims["aud"] != orders || claims["iss"] != remoteAS.issuer || claims["client_id"] != "gw" {
			t.Fatalf("exchanged token claims: %v", claims)
		}
	})
}

func TestCaddyfileResourceExchange(t *testing.T) {
	const head = "oauth_resource {\n resource https://api.example\n issuer https://as.example\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "every option", input: head + "exchange {\n resource https://orders.internal\n scopes read\n client_id gw\n client_secret {env.GW_SECRET}\n }\n}",
			want: `{"resource":"https://api.example","issuer":"https://as.example","exchange":{"resource":"https://orders.internal","scopes":["read"],"client_id":"gw","client_secret":"{env.GW_SECRET}"}}`},
		{name: "no client", input: head + "exchange {\n resource https://orders.internal\n }\n}", wantErr: "client_id is required"},
		{name: "relative resource", input: head + "exchange {\n resource /orders\n client_id gw\n }\n}", wantErr: "exchange resource"},
		{name: "unknown subdirective", input: head + "exchange {\n audience x\n }\n}", wantErr: `unknown exchange subdirective "audience"`},
		{name: "twice", input: head + "exchange {\n resource https://o.example\n client_id gw\n }\n exchange {\n }\n}", wantErr: "set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[ResourceHandler](t, tt.input, tt.want, tt.wantErr) })
	}
}
