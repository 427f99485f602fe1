package registration_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestUpdateRules: RFC 7592 §2.2 refusals leave the client and its token as they were.
func TestUpdateRules(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(confidentialClient())
	id, rat, secret := reg.str("client_id"), reg.str("registration_access_token"), reg.str("client_secret")
	tests := []struct {
		name     string
		metadata map[string]any
		status   int
		code     string
	}{
		{"without client_id", confidentialClient(), 400, "invalid_client_metadata"},
		{"another client_id", with(confidentialClient(), "client_id", "someone-else"), 400, "invalid_client_metadata"},
		{"wrong client_secret", with(confidentialClient(), "client_id", id, "client_secret", "guessed-0123456789abcdefghijklmnopqrstu"), 400, "invalid_client_metadata"},
		{"scope beyond the policy", with(confidentialClient(), "client_id", id, "scope", "read write"), 400, "invalid_client_metadata"},
		{"gains introspection", with(confidentialClient(), "client_id", id, "introspects", []string{apiID}), 400, "invalid_client_metadata"},
		{"bad redirect URI", with(confidentialClient(), "client_id", id, "grant_types", []string{"authorization_code"}, "redirect_uris", []string{"http://evil.example.test/cb"}), 400, "invalid_redirect_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.manage(http.MethodPut, reg, rat, tt.metadata)
			if r.status != tt.status || r.str("error") != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if read := f.manage(http.MethodGet, reg, rat, nil); read.status != http.StatusOK || read.str("client_name") != "Registered Service" {
				t.Errorf("after the refused update: %d %s", read.status, read.raw)
			}
		})
	}
	if tok := f.token(id, secret); tok.status != http.StatusOK {
		t.Errorf("the secret after refused updates: %d %s", tok.status, tok.raw)
	}
}

// TestUpdateKeepsOperatorSettings: what an operator gave a registered client (here through
// the management service, as the admin API does) survives the client's own update, which
// may send it back as read but not drop or change it; other registrations' tokens and
// clients created elsewhere are out of reach.
func TestUpdateKeepsOperatorSettings(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	reg := f.mustRegister(with(publicClient(), "scope", "openid"))
	id, rat := reg.str("client_id"), reg.str("registration_access_token")

	current, err := f.srv.Manage().GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m := spec.MetadataOf(current, nil)
	m.SkipConsent, m.Scope = true, "openid read write" // beyond the registration policy
	c, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Manage().ReplaceClient(ctx, c, store.SourceAdmin); err != nil {
		t.Fatal(err)
	}

	read := f.manage(http.MethodGet, reg, rat, nil)
	if read.body["skip_consent"] != true || read.str("scope") != "openid read write" {
		t.Fatalf("read after the operator's change: %s", read.raw)
	}
	// Sent back as read: accepted, and the operator's scopes stay allowed.
	echo := with(read.body, "registration_access_token", nil, "registration_client_uri", nil, "client_id_issued_at", nil)
	upd := f.manage(http.MethodPut, reg, rat, echo)
	if upd.status != http.StatusOK {
		t.Fatalf("update echoing the read: %d %s", upd.status, upd.raw)
	}
	rat = upd.str("registration_access_token")
	// Left out: kept anyway, registration cannot remove it.
	upd = f.manage(http.MethodPut, reg, rat, with(publicClient(), "client_id", id, "client_name", "Renamed"))
	if upd.status != http.StatusOK || upd.body["skip_consent"] != true || upd.str("client_name") != "Renamed" {
		t.Fatalf("update leaving skip_consent out: %d %s", upd.status, upd.raw)
	}
	rat = upd.str("registration_access_token")
	// Changed: refused.
	if r := f.manage(http.MethodPut, reg, rat, with(publicClient(), "client_id", id, "skip_consent", false, "disabled", true)); r.status != http.StatusBadRequest {
		t.Errorf("update changing operator settings: %d %s", r.status, r.raw)
	}
	stored, err := f.st.GetClient(ctx, id)
	if err != nil || !stored.SkipConsent || stored.Source != store.SourceRegistration {
		t.Errorf("stored after updates: skip_consent %v source %q (err %v)", stored.SkipConsent, stored.Source, err)
	}

	// Another registration's token does not open this client; nor does any token open a
	// client that was not registered.
	other := f.mustRegister(publicClient())
	if r := f.manage(http.MethodGet, reg, other.str("registration_access_token"), nil); r.status != http.StatusUnauthorized {
		t.Errorf("another client's token: %d", r.status)
	}
	for _, path := range []string{"/register/configured", "/register/nobody"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			if r := f.call(method, path, rat, "application/json", `{}`); r.status != http.StatusUnauthorized {
				t.Errorf("%s %s: %d, want 401", method, path, r.status)
			}
		}
	}
	if r := f.call(http.MethodGet, "/register/"+id, "", "", ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="registration"` {
		t.Errorf("read without a token: %d %q, want a bare Bearer challenge", r.status, r.header.Get("WWW-Authenticate"))
	}
	if _, err := f.st.GetClient(ctx, "configured"); err != nil {
		t.Errorf("the configured client after DELETE attempts: %v", err)
	}
}

// TestUpdateToSecretIssuesOne: a public client that switches to a secret method gets a new
// secret in the update response, once.
func TestUpdateToSecretIssuesOne(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(with(publicClient(), "scope", "read", "resources", []string{apiID}))
	upd := f.manage(http.MethodPut, reg, reg.str("registration_access_token"), with(publicClient(), "client_id", reg.str("client_id"),
		"token_endpoint_auth_method", "client_secret_basic", "grant_types", []string{"authorization_code", "client_credentials"},
		"scope", "read", "resources", []string{apiID}))
	if upd.status != http.StatusOK || upd.str("client_secret") == "" {
		t.Fatalf("update to client_secret_basic: %d %s", upd.status, upd.raw)
	}
	if !slices.Contains(anyStrings(upd.body["grant_types"]), "client_credentials") {
		t.Errorf("grant_types %v", upd.body["grant_types"])
	}
	if tok := f.token(reg.str("client_id"), upd.str("client_secret")); tok.status != http.StatusOK {
		t.Errorf("token with the issued secret: %d %s", tok.status, tok.raw)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
