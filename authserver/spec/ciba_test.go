package spec

import (
	"errors"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestCIBAMetadata: the CIBA client metadata rules, one case per refusal, and what passes.
func TestCIBAMetadata(t *testing.T) {
	env := Env{SigningAlgs: []string{"RS256", "ES256"}}
	client := func(mode, endpoint string, grants ...string) Client {
		if grants == nil {
			grants = []string{CIBAGrantType}
		}
		return Client{ID: "bank", Secret: "s", GrantTypes: grants, Security: store.ClientSecurity{
			BackchannelTokenDeliveryMode: mode, BackchannelClientNotificationEndpoint: endpoint}}
	}
	refused := []struct {
		name, field string
		c           Client
	}{
		{"unknown mode", "backchannel_token_delivery_mode", client("pigeon", "")},
		{"mode without the grant", "backchannel_token_delivery_mode", client("poll", "", "client_credentials")},
		{"ping without endpoint", "backchannel_client_notification_endpoint", client("ping", "")},
		{"push without endpoint", "backchannel_client_notification_endpoint", client("push", "")},
		{"poll with endpoint", "backchannel_client_notification_endpoint", client("poll", "https://bank.example/cb")},
		{"endpoint without mode", "backchannel_client_notification_endpoint", client("", "https://bank.example/cb")},
		{"endpoint over http", "backchannel_client_notification_endpoint", client("ping", "http://bank.example/cb")},
		{"relative endpoint", "backchannel_client_notification_endpoint", client("push", "/cb")},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeClient(tc.c, env)
			var e *Error
			if !errors.As(err, &e) || e.Field != tc.field || e.Code != CodeInvalidClientMetadata {
				t.Fatalf("err = %v, want invalid_client_metadata on %s", err, tc.field)
			}
		})
	}
	for _, c := range []Client{client("", ""), client("poll", ""), client("ping", "https://bank.example/cb"),
		client("push", "http://127.0.0.1:8080/cb")} {
		if _, err := NormalizeClient(c, env); err != nil {
			t.Errorf("mode %q endpoint %q: %v", c.Security.BackchannelTokenDeliveryMode, c.Security.BackchannelClientNotificationEndpoint, err)
		}
	}
}
