package caddymodule

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth/certtest"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

// TestMTLSIntegration runs RFC 8705 end to end through a real Caddy: a TLS site (Caddy's
// internal CA) that only requests client certificates (client_auth mode request), served on
// two host names (the issuer's and its mtls_endpoint_aliases; one site block and port, so
// one oauth_server handler serves both), with a tls_client_auth client
// (its CA given as trusted_ca) and a self_signed_tls_client_auth client, both with
// certificate-bound tokens, and an oauth_resource of the same Caddy checking the binding.
func TestMTLSIntegration(t *testing.T) {
	tc := newTestCaddy(t)
	// Both names resolve to the loopback Caddy listens on (the clients' dialer sees to it).
	port := freePort(t)
	issuer := "https://as.mtls.test:" + port
	alias := "https://mtls.as.mtls.test:" + port
	api := issuer + "/api"

	ca := certtest.NewCA(t, "client CA")
	pkiCert := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "pki client", Organization: []string{"Example"}}})
	selfKey := certtest.NewKey(t)
	selfCert := certtest.SelfSigned(t, certtest.Options{Key: selfKey, Subject: pkix.Name{CommonName: "self client"}})
	otherCert := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "someone else"}})
	caFile := filepath.Join(tc.dir, "client-ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(tc.dir, "oauth.db")
	registerCertificateClients(t, dbFile, selfKey)

	caddyfile := fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	skip_install_trust
	auto_https disable_redirects
	http_port %[9]s
	storage file_system %[2]s
}
%[3]s, %[4]s {
	tls internal {
		client_auth {
			mode request
		}
	}
	oauth_server {
		issuer %[3]s
		storage sqlite %[5]s
		master_key %[6]s
		enforce_per_client_resources false
		mtls {
			endpoint_aliases %[4]s
			trusted_ca %[7]s
		}
		resource %[8]s {
			scopes read
		}
	}
	route /api* {
		oauth_resource {
			resource %[8]s
			issuer %[3]s
		}
		respond "protected ok"
	}
}`, tc.admin, filepath.Join(tc.dir, "caddy-data"), issuer, alias, dbFile, testMasterKey, caFile, api, freePort(t))
	if err := tc.load(t, caddyfile); err != nil {
		t.Fatalf("loading Caddy: %v", err)
	}
	roots := caddyRoots(t, tc.admin)
	clientWith := func(cert *certtest.Cert) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.TLS()}
		}
		loopback := func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DialContext: loopback}, Timeout: 10 * time.Second}
	}

	// Caddy obtains the sites' certificates from its internal CA in the background.
	waitForTLS(t, clientWith(nil), issuer+"/jwks")
	waitForTLS(t, clientWith(nil), alias+"/jwks")

	// Discovery tells the truth about mTLS.
	var meta struct {
		Bound   bool              `json:"tls_client_certificate_bound_access_tokens"`
		Aliases map[string]string `json:"mtls_endpoint_aliases"`
		Methods []string          `json:"token_endpoint_auth_methods_supported"`
	}
	getJSONWith(t, clientWith(nil), issuer+"/.well-known/oauth-authorization-server", &meta)
	if !meta.Bound || meta.Aliases["token_endpoint"] != alias+"/token" || meta.Aliases["userinfo_endpoint"] != alias+"/userinfo" {
		t.Fatalf("discovery: %+v", meta)
	}

	clients := []struct {
		name, id, tokenEndpoint string
		cert                    *certtest.Cert
	}{
		{"tls_client_auth at the alias endpoint", "pki", meta.Aliases["token_endpoint"], pkiCert},
		{"self_signed_tls_client_auth at the issuer's endpoint", "self", issuer + "/token", selfCert},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.id}, "resource": {api}, "scope": {"read"}}
			status, body := postFormWith(t, clientWith(nil), c.tokenEndpoint, form)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("token without a certificate: %d %v", status, body)
			}
			status, body = postFormWith(t, clientWith(otherCert), c.tokenEndpoint, form)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("token with another certificate: %d %v", status, body)
			}
			status, body = postFormWith(t, clientWith(c.cert), c.tokenEndpoint, form)
			if status != http.StatusOK {
				t.Fatalf("token: %d %v", status, body)
			}
			token, _ := body["access_token"].(string)
			if got := jwtCnf(t, token)["x5t#S256"]; got != c.cert.Thumbprint() {
				t.Fatalf("cnf.x5t#S256 = %v, want %s", got, c.cert.Thumbprint())
			}
			for _, use := range []struct {
				name   string
				cert   *certtest.Cert
				status int
			}{
				{"same certificate", c.cert, http.StatusOK},
				{"another certificate", otherCert, http.StatusUnauthorized},
				{"no certificate", nil, http.StatusUnauthorized},
			} {
				req, _ := http.NewRequest(http.MethodGet, api, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := clientWith(use.cert).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != use.status {
					t.Errorf("API with %s: %d %s, want %d", use.name, res.StatusCode, b, use.status)
				}
				if use.status == http.StatusOK && string(b) != "protected ok" {
					t.Errorf("API with %s: body %q", use.name, b)
				}
				if use.status == http.StatusUnauthorized && !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("API with %s: challenge %q", use.name, res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// registerCertificateClients writes the certificate clients into the database before Caddy
// opens it: "pki" (tls_client_auth, subject DN) and "self" (self_signed_tls_client_auth with
// selfKey in its JWKS), both with certificate-bound tokens.
func registerCertificateClients(t *testing.T, dbFile string, selfKey crypto.Signer) {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), "sqlite", dbFile)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: selfKey.Public(), KeyID: "tls"}}})
	if err != nil {
		t.Fatal(err)
	}
	base := func(id, method string) *store.Client {
		return &store.Client{ID: id, TokenEndpointAuthMethod: method, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read"}, Security: store.ClientSecurity{TLSClientCertificateBoundAccessTokens: true}}
	}
	pki := base("pki", clientauth.MethodTLSClientAuth)
	pki.Security.TLSClientAuthSubjectDN = "CN=pki client, O=Example"
	self := base("self", clientauth.MethodSelfSignedTLSClientAuth)
	self.JWKS = string(jwks)
	for _, c := range []*store.Client{pki, self} {
		if err := st.UpsertClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForTLS waits until the site answers over TLS: its certificate has been issued.
func waitForTLS(t *testing.T, c *http.Client, target string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Get(target)
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered over TLS: %v", target, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caddyRoots is the root of Caddy's internal CA, from the admin API.
func caddyRoots(t *testing.T, admin string) *x509.CertPool {
	t.Helper()
	var ca struct {
		Root string `json:"root_certificate"`
	}
	getJSONWith(t, http.DefaultClient, "http://"+admin+"/pki/ca/local", &ca)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		t.Fatalf("no root certificate from the admin API: %q", ca.Root)
	}
	return pool
}

func getJSONWith(t *testing.T, c *http.Client, target string, v any) {
	t.Helper()
	res, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", target, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func postFormWith(t *testing.T, c *http.Client, target string, form url.Values) (int, map[string]any) {
	t.Helper()
	res, err := c.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

// jwtCnf is the cnf claim of a JWT, read without verification (the gateway verifies it).
func jwtCnf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Cnf map[string]any `json:"cnf"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Cnf
}

// TestMTLSBehindProxy: behind a TLS-terminating proxy, the certificate comes from the header
// the proxy set — read only when the request came from one of the server's trusted_proxies.
// Here the test is the proxy (127.0.0.1): it forwards RFC 9440 Client-Cert to the token
// endpoint and nginx's escaped PEM to a gateway configured for X-SSL-Client-Cert.
func TestMTLSBehindProxy(t *testing.T) {
	tc := newTestCaddy(t)
	issuer := tc.issuer
	api := issuer + "/api"
	ca := certtest.NewCA(t, "client CA")
	pkiCert := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "pki client", Organization: []string{"Example"}}})
	otherCert := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "someone else"}})
	caFile := filepath.Join(tc.dir, "client-ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(tc.dir, "oauth.db")
	registerCertificateClients(t, dbFile, certtest.NewKey(t))
	config := func(trusted string) string {
		return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	servers {
		trusted_proxies static %[2]s
	}
}
%[3]s {
	oauth_server {
		issuer %[3]s
		storage sqlite %[4]s
		master_key %[5]s
		enforce_per_client_resources false
		mtls {
			trusted_ca %[6]s
		}
		resource %[7]s {
			scopes read
		}
	}
	route /api* {
		oauth_resource {
			resource %[7]s
			issuer %[3]s
			client_certificate_header X-SSL-Client-Cert
		}
		respond "protected ok"
	}
}`, tc.admin, trusted, issuer, dbFile, testMasterKey, caFile, api)
	}
	rfc9440 := func(c *certtest.Cert) string { return ":" + base64.StdEncoding.EncodeToString(c.Cert.Raw) + ":" }
	nginx := func(c *certtest.Cert) string { return url.PathEscape(string(c.PEM())) }
	tokenRequest := func(header string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"pki"}, "resource": {api}, "scope": {"read"}}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if header != "" {
			req.Header.Set("Client-Cert", header)
		}
		res, err := client.Do(req) // no keep-alive: a reload resets old connections
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}

	// A peer that is not a trusted proxy cannot claim a certificate with the header.
	if err := tc.load(t, config("192.0.2.0/24")); err != nil {
		t.Fatalf("loading Caddy: %v", err)
	}
	if status, body := tokenRequest(rfc9440(pkiCert)); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("header from an untrusted peer: %d %v", status, body)
	}

	if err := tc.load(t, config("127.0.0.1/32")); err != nil {
		t.Fatalf("reloading Caddy: %v", err)
	}
	status, body := tokenRequest(rfc9440(pkiCert))
	if status != http.StatusOK {
		t.Fatalf("token with a forwarded certificate: %d %v", status, body)
	}
	token, _ := body["access_token"].(string)
	if got := jwtCnf(t, token)["x5t#S256"]; got != pkiCert.Thumbprint() {
		t.Fatalf("cnf.x5t#S256 = %v, want %s", got, pkiCert.Thumbprint())
	}
	if status, body := tokenRequest(rfc9440(otherCert)); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("forwarded certificate with another subject: %d %v", status, body)
	}
	for _, use := range []struct {
		name, header string
		status       int
	}{
		{"same certificate", nginx(pkiCert), http.StatusOK},
		{"another certificate", nginx(otherCert), http.StatusUnauthorized},
		{"no certificate", "", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, api, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if use.header != "" {
			req.Header.Set("X-SSL-Client-Cert", use.header)
		}
		res, err := client.Do(req) // no keep-alive: a reload resets old connections
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != use.status {
			t.Errorf("API with %s: %d %s, want %d", use.name, res.StatusCode, b, use.status)
		}
	}
}
