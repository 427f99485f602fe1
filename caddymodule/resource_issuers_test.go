package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// TestIntegrationSeveralIssuers: one oauth_resource trusts this Caddy's issuer and a remote
// one that knows the API by another audience; tokens are routed by iss, a token from an
// issuer it does not trust is refused without any request to that issuer, and the metadata
// names both issuers.
func TestIntegrationSeveralIssuers(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	partner := startRemoteAS(t)
	stranger := startRemoteAS(t)
	const partnerAudience = "urn:partner:orders"
	for _, as := range []*remoteAuthServer{partner, stranger} {
		as.configure(t, authserver.Config{
			Resources: []authserver.ResourceConfig{{Identifier: partnerAudience, AllowedScopes: []string{"read"}},
				{Identifier: tc.issuer + "/api", AllowedScopes: []string{"read"}}},
			Clients: []authserver.ClientConfig{{ID: "partner-app", Secret: testSecret, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"read"}, Resources: []string{partnerAudience, tc.issuer + "/api"}}},
		})
	}
	strangerToken := requestToken(t, stranger.issuer+"/token", "partner-app", testSecret, tc.issuer+"/api", "read")
	strangerRequests := stranger.requests.Load() // the gateway must add none

	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api {
			scopes read
		}
		client own-app {
			secret %[3]s
			grant_types client_credentials
			scopes read
			resources %[1]s/api
		}
	}
	@api path /api/* /.well-known/oauth-protected-resource/api
	oauth_resource @api {
		resource %[1]s/api
		issuer %[1]s
		issuer %[5]s {
			audience %[6]s
		}
		outbound_allow_private
		scopes read
		header_up X-Issuer {oauth.claim.iss}
		header_up X-Sub {oauth.sub}
	}
	reverse_proxy %[4]s
}`, tc.issuer, tc.storage(), testSecret, upstream.URL, partner.issuer, partnerAudience)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	own := requestToken(t, tc.issuer+"/token", "own-app", testSecret, tc.issuer+"/api", "read")
	partnerToken := requestToken(t, partner.issuer+"/token", "partner-app", testSecret, partnerAudience, "read")
	partnerWrongAudience := requestToken(t, partner.issuer+"/token", "partner-app", testSecret, tc.issuer+"/api", "read")

	for _, tt := range []struct {
		name, token string
		status      int
		issuer      string
		challenge   string
	}{
		{"this Caddy's token", own, 200, tc.issuer, ""},
		{"the partner's token, for its audience", partnerToken, 200, partner.issuer, ""},
		{"the partner's token for the resource identifier, not its audience", partnerWrongAudience, 401, "", `error="invalid_token"`},
		{"an untrusted issuer's token", strangerToken, 401, "", "not trusted"},
		{"no token", "", 401, "", "Bearer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, saw := callAPI(t, tc.issuer+"/api/orders", tt.token, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 200 && saw.Header.Get("X-Issuer") != tt.issuer {
				t.Errorf("upstream saw X-Issuer %q, want %q", saw.Header.Get("X-Issuer"), tt.issuer)
			}
			if tt.challenge != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.challenge) {
				t.Errorf("challenge %q lacks %q", resp.Header.Get("WWW-Authenticate"), tt.challenge)
			}
		})
	}
	if n := stranger.requests.Load() - strangerRequests; n != 0 {
		t.Errorf("the untrusted issuer got %d requests from the gateway", n)
	}

	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, tc.issuer+"/.well-known/oauth-protected-resource/api", &meta)
	if meta.Resource != tc.issuer+"/api" || strings.Join(meta.AuthorizationServers, " ") != tc.issuer+" "+partner.issuer {
		t.Errorf("metadata = %+v", meta)
	}
	if resp, _ := callAPI(t, tc.issuer+"/api/orders", own, http.Header{}); resp.StatusCode != 200 {
		t.Errorf("own token again: %d", resp.StatusCode)
	}
}
