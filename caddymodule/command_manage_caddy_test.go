package caddymodule

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestManageCommandsThroughCaddy runs `caddy oauth-client`, `caddy oauth-resource` and
// `caddy oauth-registration-token` against a real Caddy's admin endpoint, in the order the
// README shows them, and checks what they print and what the server then does.
func TestManageCommandsThroughCaddy(t *testing.T) {
	m := newManageCaddy(t)
	client, resource, regtoken := clientCommands, resourceCommands, registrationTokenCommands
	secretLine := regexp.MustCompile(`(?m)^client_secret +(\S{43})$`)
	var reportsSecret string
	steps := []struct {
		commands func(*cobra.Command, adminSender)
		args     []string
		want     []string // substrings of the output, or of the error when wantErr
		wantErr  bool
		check    func(out string)
	}{
		{commands: resource, args: []string{"add", "--identifier", "https://api.example", "--name", "Example API", "--scope", "read write", "--access-token-ttl", "10m", "--claim", "tenant=acme"},
			want: []string{"identifier", "https://api.example", "access_token_ttl", "10m0s"}},
		{commands: client, args: []string{"add", "--id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb", "--grant-type", "authorization_code",
			"--grant-type", "refresh_token", "--scope", "openid profile read", "--resource", "https://api.example", "--auth-method", "none"},
			want: []string{"client_id", "web", "source", "admin"}},
		{commands: client, args: []string{"add", "--id", "reports", "--grant-type", "client_credentials", "--scope", "read", "--resource", "https://api.example"},
			check: func(out string) {
				if mm := secretLine.FindStringSubmatch(out); mm != nil {
					reportsSecret = mm[1]
				} else {
					t.Errorf("add reports printed no secret:\n%s", out)
				}
			}},
		{commands: client, args: []string{"list"},
			want: []string{"demo-service", "config", "reports", "client_secret_basic", "web", "none", "admin", "enabled"}},
		{commands: client, args: []string{"show", "web"}, want: []string{"redirect_uris", "https://app.example/cb", "resources", "https://api.example"}},
		{commands: client, args: []string{"update", "web", "--scope", "openid profile email read", "--unset", "logo_uri"}, want: []string{"openid profile email read"}},
		{commands: client, args: []string{"update", "demo-service", "--name", "x"}, wantErr: true, want: []string{"declared in the configuration"}},
		{commands: client, args: []string{"rotate-secret", "reports", "--overlap", "24h"}, want: []string{"client_secret", "previous_secret_expires_at"}},
		{commands: resource, args: []string{"link", "https://api.example", "--client", "reports", "--introspect"}, want: []string{"linked client reports to https://api.example (tokens, introspect)"}},
		{commands: client, args: []string{"links", "web"}, want: []string{"web", "https://api.example", "tokens"}},
		{commands: resource, args: []string{"links", "https://api.example"}, want: []string{"reports", "tokens, introspect"}},
		{commands: client, args: []string{"revoke-grants", "web"}, want: []string{"revoked 0 grants of client web"}},
		{commands: regtoken, args: []string{"create", "--uses", "1", "--expires-in", "24h", "--description", "CI pipeline"}, want: []string{"token", "uses_left", "1"}},
		{commands: regtoken, args: []string{"list"}, want: []string{"CI pipeline"}},
		{commands: resource, args: []string{"update", "https://api.example", "--access-token-format", "opaque"}, want: []string{"opaque"}},
		{commands: resource, args: []string{"list"}, want: []string{"https://api.example", "opaque", "admin", m.issuer + "/api", "config"}},
		{commands: client, args: []string{"delete", "web"}, want: []string{"deleted client web"}},
		{commands: client, args: []string{"show", "web"}, wantErr: true, want: []string{"not found"}},
	}
	for _, s := range steps {
		out, err := runManage(t, s.commands, m.admin, s.args...)
		text := out
		if s.wantErr {
			if err == nil {
				t.Errorf("%v: no error; printed\n%s", s.args, out)
				continue
			}
			text = err.Error()
		} else if err != nil {
			t.Errorf("%v: %v", s.args, err)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(text, w) {
				t.Errorf("%v: output lacks %q:\n%s", s.args, w, text)
			}
		}
		if s.check != nil {
			s.check(out)
		}
	}
	// The secret printed by add still works inside the rotation's overlap: the client is
	// real, linked and can get an (opaque, after the update) token.
	if status, body := m.token("reports", reportsSecret, "https://api.example"); status != http.StatusOK {
		t.Errorf("token with the secret add printed: %d %v", status, body)
	}
}
