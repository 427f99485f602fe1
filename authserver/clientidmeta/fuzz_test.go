package clientidmeta

import (
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// FuzzParseDocument: whatever a client publishes, parsing never panics, and a document that
// is accepted yields a client with the URL as its ID, no secret and a public-key or no method.
func FuzzParseDocument(f *testing.F) {
	const id = "https://app.example/client.json"
	f.Add(id, `{"client_id":"https://app.example/client.json","redirect_uris":["https://app.example/cb"]}`)
	f.Add(id, `{"client_id":"https://app.example/client.json","token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks"}`)
	f.Add(id, `{"client_id":"https://app.example/client.json","client_secret":"x"}`)
	f.Add(id, `{"client_id":"https://app.example/client.json","grant_types":["client_credentials"],"jwks":{"keys":[]}}`)
	f.Add(id, `[1,2]`)
	f.Add("https://app.example/a/../b", `null`)
	r, err := New(Config{Enabled: true, Resources: []string{"https://api.example"}}, spec.Env{SigningAlgs: []string{"RS256", "ES256"}, EnforceLinks: true}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, clientID, body string) {
		_ = r.checkClientIDURL(clientID)
		c, err := r.parse(clientID, []byte(body))
		if err != nil {
			return
		}
		if c.ID != clientID || c.SecretHash != "" || c.SecretSealed != nil || c.Source != store.SourceMetadataDocument ||
			(c.TokenEndpointAuthMethod != spec.AuthNone && c.TokenEndpointAuthMethod != spec.AuthPrivateKey) ||
			c.SkipConsent || c.PKCEOptional {
			t.Fatalf("accepted %q as %+v", body, c)
		}
		for _, g := range c.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" {
				t.Fatalf("accepted grant %q", g)
			}
		}
	})
}
