package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestPARWithMTLS: a tls_client_auth client pushes with its certificate (RFC 8705 at the PAR
// endpoint), on the issuer's host or on the mTLS alias, where its DPoP proof names the alias
// URL; another certificate is invalid_client.
func TestPARWithMTLS(t *testing.T) {
	const alias = "https://mtls.example.test:8443"
	m := newMTLSServer(t, func(c *Config) { c.MTLS.EndpointAliases = alias })
	m.editClient("mtls-pki", func(c *store.Client) {
		c.GrantTypes, c.RedirectURIs, c.Scopes = []string{"authorization_code"}, []string{webRedirect}, []string{"openid"}
	})
	form := func() url.Values {
		return pushParams(url.Values{"client_id": {"mtls-pki"}, "scope": {"openid"}, "resource": nil})
	}
	key := newDPoPKey(t)
	cases := []struct {
		name       string
		req        tlsRequest
		wantStatus int
		wantError  string
	}{
		{"certificate", tlsRequest{path: "/par", form: form(), cert: m.pkiCert}, http.StatusCreated, ""},
		{"alias with DPoP", tlsRequest{host: "mtls.example.test:8443", path: "/par", form: form(), cert: m.pkiCert,
			dpop: key.proof(t, http.MethodPost, alias+"/par", "")}, http.StatusCreated, ""},
		{"alias with a proof for the issuer's URL", tlsRequest{host: "mtls.example.test:8443", path: "/par", form: form(), cert: m.pkiCert,
			dpop: key.proof(t, http.MethodPost, testIssuer+"/par", "")}, http.StatusBadRequest, "invalid_dpop_proof"},
		{"another certificate", tlsRequest{path: "/par", form: form(), cert: m.otherCert}, http.StatusUnauthorized, "invalid_client"},
		{"no certificate", tlsRequest{path: "/par", form: form()}, http.StatusUnauthorized, "invalid_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := m.send(c.req)
			if res.status != c.wantStatus || (c.wantError != "" && res.body["error"] != c.wantError) {
				t.Fatalf("got %d %s, want %d %s", res.status, res.raw, c.wantStatus, c.wantError)
			}
		})
	}
	meta := m.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{})
	if aliases, _ := meta.body["mtls_endpoint_aliases"].(map[string]any); aliases["pushed_authorization_request_endpoint"] != alias+"/par" {
		t.Errorf("mtls_endpoint_aliases = %v, want the PAR endpoint's alias", meta.body["mtls_endpoint_aliases"])
	}
}
