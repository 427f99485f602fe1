package authserver

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth/certtest"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// mtlsServer is a flow server with certificate clients: "mtls-pki" (tls_client_auth, SAN
// dns), "mtls-self" (self_signed_tls_client_auth), "bound-secret" (client_secret_basic with
// certificate-bound tokens) and the public "spa", all certificate-bound.
type mtlsServer struct {
	*testServer
	ca                 *certtest.Cert
	pkiCert, selfCert  *certtest.Cert
	otherCert, spaCert *certtest.Cert
}

func newMTLSServer(t *testing.T, edit func(*Config)) *mtlsServer {
	t.Helper()
	m := &mtlsServer{ca: certtest.NewCA(t, "client CA")}
	m.pkiCert = m.ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "pki"}, DNS: []string{"client.example.test"}})
	selfKey := certtest.NewKey(t)
	m.selfCert = certtest.SelfSigned(t, certtest.Options{Key: selfKey, Subject: pkix.Name{CommonName: "self"}})
	m.otherCert = certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "other"}})
	m.spaCert = certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "spa"}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, m.ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	m.testServer = newFlowServer(t, func(c *Config) {
		c.MTLS.TrustedCAFiles = []string{caFile}
		for _, id := range []string{"mtls-pki", "mtls-self", "bound-secret"} {
			c.Clients = append(c.Clients, ClientConfig{ID: id, Secret: svcSecret, Scopes: []string{"read"},
				GrantTypes: []string{"client_credentials"}, Resources: []string{jwtResource, opqResource}})
		}
		if edit != nil {
			edit(c)
		}
	})
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: selfKey.Public(), KeyID: "tls"}}})
	// The certificate methods are written to the store directly: the seeding rules for them
	// belong to the client metadata contract (package spec).
	m.editClient("mtls-pki", func(c *store.Client) {
		c.TokenEndpointAuthMethod, c.SecretHash = clientauth.MethodTLSClientAuth, ""
		c.Security.TLSClientAuthSANDNS = "client.example.test"
	})
	m.editClient("mtls-self", func(c *store.Client) {
		c.TokenEndpointAuthMethod, c.SecretHash, c.JWKS = clientauth.MethodSelfSignedTLSClientAuth, "", string(jwks)
	})
	m.editClient("bound-secret", func(*store.Client) {})
	m.editClient("spa", func(c *store.Client) { c.GrantTypes = []string{"authorization_code", "refresh_token"} })
	return m
}

// editClient changes a stored client and makes it certificate-bound.
func (m *mtlsServer) editClient(id string, edit func(*store.Client)) {
	m.t.Helper()
	ctx := m.t.Context()
	c, err := m.srv.st.GetClient(ctx, id)
	if err != nil {
		m.t.Fatal(err)
	}
	c.Security.TLSClientCertificateBoundAccessTokens = true
	edit(c)
	if err := m.srv.st.UpdateClient(ctx, c); err != nil {
		m.t.Fatal(err)
	}
	m.srv.lookups.invalidate()
}

// tlsRequest is a request made over a TLS connection with cert (nil: none); like Caddy's
// client_auth mode request, the chain is not verified by the handshake.
type tlsRequest struct {
	host   string // default: the issuer's
	path   string
	form   url.Values
	basic  [2]string
	cert   *certtest.Cert
	bearer string
	dpop   string
}

func (m *mtlsServer) send(req tlsRequest) response {
	m.t.Helper()
	method := http.MethodPost
	if req.form == nil {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, testIssuer+req.path, strings.NewReader(req.form.Encode()))
	if req.host != "" {
		r.Host = req.host
	}
	if req.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.basic[0] != "" {
		r.SetBasicAuth(req.basic[0], req.basic[1])
	}
	if req.bearer != "" {
		scheme := "Bearer "
		if req.dpop != "" {
			scheme = "DPoP "
		}
		r.Header.Set("Authorization", scheme+req.bearer)
	}
	if req.dpop != "" {
		r.Header.Set("DPoP", req.dpop)
	}
	r.TLS = &tls.ConnectionState{}
	if req.cert != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{req.cert.Cert}
	}
	return m.responseOf(serve(m.testServer, r))
}

func clientCredentialsForm(client, resource string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if client != "" {
		f.Set("client_id", client)
	}
	return f
}

func cnfOf(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	cnf, _ := claims["cnf"].(map[string]any)
	return cnf
}

func TestCertificateBoundAccessTokens(t *testing.T) {
	m := newMTLSServer(t, nil)
	cases := []struct {
		name, client string
		basic        [2]string
		cert         *certtest.Cert
		resource     string
	}{
		{"tls_client_auth, JWT", "mtls-pki", [2]string{}, m.pkiCert, jwtResource},
		{"tls_client_auth, opaque", "mtls-pki", [2]string{}, m.pkiCert, opqResource},
		{"self_signed_tls_client_auth, JWT", "mtls-self", [2]string{}, m.selfCert, jwtResource},
		{"client_secret_basic over mTLS, opaque", "", [2]string{"bound-secret", svcSecret}, m.otherCert, opqResource},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := m.send(tlsRequest{path: "/token", form: clientCredentialsForm(c.client, c.resource), basic: c.basic, cert: c.cert})
			if res.status != http.StatusOK {
				t.Fatalf("token: %d %s", res.status, res.raw)
			}
			if res.body["token_type"] != "Bearer" {
				t.Errorf("token_type = %v, want Bearer (RFC 8705 keeps the type)", res.body["token_type"])
			}
			token := res.body["access_token"].(string)
			want := c.cert.Thumbprint()
			if c.resource == jwtResource {
				if got := cnfOf(t, jwtClaims(t, token))["x5t#S256"]; got != want {
					t.Errorf("JWT cnf.x5t#S256 = %v, want %s", got, want)
				}
			}
			intro := m.introspect("gateway", gwSecret, token)
			if got := cnfOf(t, intro)["x5t#S256"]; got != want || intro["token_type"] != "Bearer" {
				t.Errorf("introspection cnf = %v token_type %v, want x5t#S256 %s, Bearer", intro["cnf"], intro["token_type"], want)
			}
			info, err := m.srv.ActiveAccessToken(t.Context(), token)
			if err != nil || info == nil || info.X5TS256 != want {
				t.Errorf("in-process validation: %+v %v, want X5TS256 %s", info, err, want)
			}
		})
	}
}

// TestCertificateBoundTokenRefusals: one test per refusal of a token request of a
// certificate-bound client.
func TestCertificateBoundTokenRefusals(t *testing.T) {
	m := newMTLSServer(t, nil)
	cases := []struct {
		name   string
		req    tlsRequest
		status int
		code   string
	}{
		{"bound client authenticating by secret, no certificate",
			tlsRequest{path: "/token", form: clientCredentialsForm("", jwtResource), basic: [2]string{"bound-secret", svcSecret}},
			http.StatusBadRequest, "invalid_request"},
		{"tls_client_auth without a certificate",
			tlsRequest{path: "/token", form: clientCredentialsForm("mtls-pki", jwtResource)}, http.StatusUnauthorized, "invalid_client"},
		{"tls_client_auth with a certificate of no trusted CA",
			tlsRequest{path: "/token", form: clientCredentialsForm("mtls-pki", jwtResource), cert: m.otherCert}, http.StatusUnauthorized, "invalid_client"},
		{"self_signed_tls_client_auth with an unregistered key",
			tlsRequest{path: "/token", form: clientCredentialsForm("mtls-self", jwtResource), cert: m.otherCert}, http.StatusUnauthorized, "invalid_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := m.send(c.req)
			if res.status != c.status || res.body["error"] != c.code {
				t.Fatalf("got %d %s, want %d %s", res.status, res.raw, c.status, c.code)
			}
		})
	}
}

// TestPublicClientRefreshBoundToCertificate is RFC 8705 §4: the public client's refresh token
// works only with the certificate its grant began with.
func TestPublicClientRefreshBoundToCertificate(t *testing.T) {
	m := newMTLSServer(t, nil)
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"read offline_access"}, "resource": nil, "nonce": nil}
	code := m.browser().signIn(authURL(q)).Get("code")
	form := spaCodeForm(code)
	form.Set("client_id", "spa")

	if res := m.send(tlsRequest{path: "/token", form: form}); res.status != http.StatusBadRequest || res.body["error"] != "invalid_request" {
		t.Fatalf("code redeemed without a certificate: %d %s", res.status, res.raw)
	}
	res := m.send(tlsRequest{path: "/token", form: form, cert: m.spaCert})
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	if got := cnfOf(t, jwtClaims(t, res.body["access_token"].(string)))["x5t#S256"]; got != m.spaCert.Thumbprint() {
		t.Fatalf("access token cnf.x5t#S256 = %v", got)
	}
	rt := res.body["refresh_token"].(string)
	refresh := refreshForm(rt)
	refresh.Set("client_id", "spa")

	refusals := []struct {
		name   string
		cert   *certtest.Cert
		status int
		code   string
	}{
		{"no certificate", nil, http.StatusBadRequest, "invalid_request"},
		{"another certificate", m.otherCert, http.StatusBadRequest, "invalid_grant"},
	}
	for _, c := range refusals {
		if res := m.send(tlsRequest{path: "/token", form: refresh, cert: c.cert}); res.status != c.status || res.body["error"] != c.code {
			t.Fatalf("%s: got %d %s, want %d %s", c.name, res.status, res.raw, c.status, c.code)
		}
	}
	// The refusals spent nothing: the same certificate still refreshes.
	res = m.send(tlsRequest{path: "/token", form: refresh, cert: m.spaCert})
	if res.status != http.StatusOK {
		t.Fatalf("refresh with the grant's certificate: %d %s", res.status, res.raw)
	}
	if got := cnfOf(t, jwtClaims(t, res.body["access_token"].(string)))["x5t#S256"]; got != m.spaCert.Thumbprint() {
		t.Fatalf("refreshed access token cnf.x5t#S256 = %v", got)
	}
}

// TestCertificateAndDPoPBinding: a certificate-bound client sending a DPoP proof gets a token
// bound to both (cnf carries jkt and x5t#S256, token_type DPoP).
func TestCertificateAndDPoPBinding(t *testing.T) {
	m := newMTLSServer(t, nil)
	key := newDPoPKey(t)
	res := m.send(tlsRequest{path: "/token", form: clientCredentialsForm("mtls-pki", jwtResource), cert: m.pkiCert,
		dpop: key.proof(t, http.MethodPost, testIssuer+"/token", "")})
	if res.status != http.StatusOK || res.body["token_type"] != "DPoP" {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	cnf := cnfOf(t, jwtClaims(t, res.body["access_token"].(string)))
	if cnf["jkt"] != key.jkt || cnf["x5t#S256"] != m.pkiCert.Thumbprint() {
		t.Fatalf("cnf = %v, want both bindings", cnf)
	}
}

func TestUserinfoChecksCertificateBinding(t *testing.T) {
	m := newMTLSServer(t, nil)
	q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "scope": {"openid read"}, "resource": nil}
	code := m.browser().signIn(authURL(q)).Get("code")
	form := spaCodeForm(code)
	form.Set("client_id", "spa")
	res := m.send(tlsRequest{path: "/token", form: form, cert: m.spaCert})
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	token := res.body["access_token"].(string)
	cases := []struct {
		name   string
		cert   *certtest.Cert
		status int
	}{
		{"the bound certificate", m.spaCert, http.StatusOK},
		{"another certificate", m.otherCert, http.StatusUnauthorized},
		{"no certificate", nil, http.StatusUnauthorized},
	}
	for _, c := range cases {
		res := m.send(tlsRequest{path: "/userinfo", bearer: token, cert: c.cert})
		if res.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, res.status, res.raw, c.status)
		}
		if c.status == http.StatusUnauthorized && !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: challenge %q lacks invalid_token", c.name, res.header.Get("WWW-Authenticate"))
		}
	}
}

func TestMTLSDiscovery(t *testing.T) {
	plain := newTestServer(t)
	res := plain.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{})
	if res.body["tls_client_certificate_bound_access_tokens"] != true {
		t.Errorf("tls_client_certificate_bound_access_tokens = %v", res.body["tls_client_certificate_bound_access_tokens"])
	}
	if _, ok := res.body["mtls_endpoint_aliases"]; ok {
		t.Error("mtls_endpoint_aliases advertised without endpoint_aliases configured")
	}
	for _, field := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		methods, _ := res.body[field].([]any)
		for _, m := range []string{clientauth.MethodTLSClientAuth, clientauth.MethodSelfSignedTLSClientAuth} {
			if !containsAny(methods, m) {
				t.Errorf("%s lacks %s", field, m)
			}
		}
	}

	const alias = "https://mtls.example.test:8443"
	m := newMTLSServer(t, func(c *Config) { c.MTLS.EndpointAliases = alias })
	res = m.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{})
	aliases, _ := res.body["mtls_endpoint_aliases"].(map[string]any)
	want := map[string]string{"token_endpoint": "/token", "revocation_endpoint": "/revoke",
		"introspection_endpoint": "/introspect", "userinfo_endpoint": "/userinfo",
		"pushed_authorization_request_endpoint": "/par", "device_authorization_endpoint": "/device_authorization"}
	for name, path := range want {
		if aliases[name] != alias+path {
			t.Errorf("mtls_endpoint_aliases[%s] = %v, want %s", name, aliases[name], alias+path)
		}
	}
	// The token endpoint answers on the alias host, and a DPoP proof names the alias URL.
	key := newDPoPKey(t)
	res = m.send(tlsRequest{host: "mtls.example.test:8443", path: "/token", form: clientCredentialsForm("mtls-pki", jwtResource),
		cert: m.pkiCert, dpop: key.proof(t, http.MethodPost, alias+"/token", "")})
	if res.status != http.StatusOK {
		t.Fatalf("token at the alias: %d %s", res.status, res.raw)
	}
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestMTLSConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  MTLSConfig
		want string
	}{
		{"alias not https", MTLSConfig{EndpointAliases: "http://mtls.example.test"}, "endpoint_aliases"},
		{"alias with another path", MTLSConfig{EndpointAliases: "https://mtls.example.test/other"}, "path"},
		{"alias on the issuer's host", MTLSConfig{EndpointAliases: "https://as.example.test"}, "needs no alias"},
		{"alias with a query", MTLSConfig{EndpointAliases: "https://mtls.example.test?x=1"}, "endpoint_aliases"},
		{"missing CA file", MTLSConfig{TrustedCAFiles: []string{filepath.Join(dir, "missing.pem")}}, "trusted_ca"},
		{"CA file without a certificate", MTLSConfig{TrustedCAFiles: []string{notPEM}}, "no PEM certificate"},
	}
	for _, c := range cases {
		err := c.cfg.withDefaults("https://as.example.test")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
	ok := MTLSConfig{EndpointAliases: "https://mtls.example.test:8443/"}
	if err := ok.withDefaults("https://as.example.test"); err != nil {
		t.Errorf("valid alias refused: %v", err)
	}
}

// TestConfidentialClientRenewsItsCertificate: a confidential client's refresh tokens are bound
// to its authentication, not to one certificate (RFC 8705 §4), so after it renews its
// certificate the next access token is bound to the new one.
func TestConfidentialClientRenewsItsCertificate(t *testing.T) {
	m := newMTLSServer(t, nil)
	m.editClient("web", func(*store.Client) {})
	code := m.browser().signIn(authURL(nil)).Get("code")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {testVerifier}}
	res := m.send(tlsRequest{path: "/token", form: form, basic: [2]string{"web", webSecret}, cert: m.selfCert})
	if res.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	if got := cnfOf(t, jwtClaims(t, res.body["access_token"].(string)))["x5t#S256"]; got != m.selfCert.Thumbprint() {
		t.Fatalf("cnf.x5t#S256 = %v", got)
	}
	res = m.send(tlsRequest{path: "/token", form: refreshForm(res.body["refresh_token"].(string)), basic: [2]string{"web", webSecret}, cert: m.otherCert})
	if res.status != http.StatusOK {
		t.Fatalf("refresh with the renewed certificate: %d %s", res.status, res.raw)
	}
	if got := cnfOf(t, jwtClaims(t, res.body["access_token"].(string)))["x5t#S256"]; got != m.otherCert.Thumbprint() {
		t.Fatalf("refreshed cnf.x5t#S256 = %v, want the renewed certificate's", got)
	}
}
