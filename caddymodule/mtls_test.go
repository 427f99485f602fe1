package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth/certtest"
)

func TestMTLSCaddyfile(t *testing.T) {
	ca := certtest.NewCA(t, "ca")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "oauth_server {\n issuer https://a.example\n"
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "full block", input: base + " mtls {\n endpoint_aliases https://mtls.a.example:8443\n client_certificate_header X-SSL-Client-Cert\n trusted_ca " + caFile + "\n }\n}",
			want: `{"issuer":"https://a.example","mtls":{"endpoint_aliases":"https://mtls.a.example:8443","client_certificate_header":"X-SSL-Client-Cert","trusted_ca":["` + caFile + `"]}}`},
		{name: "empty block", input: base + " mtls {\n }\n}", want: `{"issuer":"https://a.example","mtls":{}}`},
		{name: "argument", input: base + " mtls on\n}", wantErr: "wrong argument count"},
		{name: "twice", input: base + " mtls\n mtls\n}", wantErr: "declared twice"},
		{name: "unknown subdirective", input: base + " mtls {\n verify yes\n }\n}", wantErr: `unknown mtls subdirective "verify"`},
		{name: "alias with another path", input: base + " mtls {\n endpoint_aliases https://mtls.a.example/x\n }\n}", wantErr: "its path must be the issuer's"},
		{name: "alias over http", input: base + " mtls {\n endpoint_aliases http://mtls.a.example\n }\n}", wantErr: "endpoint_aliases"},
		{name: "bad header name", input: base + " mtls {\n client_certificate_header \"Client Cert\"\n }\n}", wantErr: "is not a header name"},
		{name: "missing CA file", input: base + " mtls {\n trusted_ca /nonexistent/ca.pem\n }\n}", wantErr: "trusted_ca"},
		{name: "trusted_ca without files", input: base + " mtls {\n trusted_ca\n }\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

// TestClientCertificateSource: the connection's certificate, or from a trusted proxy only the
// forwarded one (RFC 9440 or nginx's escaped PEM); a forwarded header from anyone else, and a
// proxy's own connection certificate, are never the client's.
func TestClientCertificateSource(t *testing.T) {
	client := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "client"}})
	proxy := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "proxy"}})
	rfc9440 := ":" + base64.StdEncoding.EncodeToString(client.Cert.Raw) + ":"
	nginx := url.PathEscape(string(client.PEM()))
	cases := []struct {
		name    string
		header  string // configured header name
		conn    *certtest.Cert
		trusted bool
		set     map[string][]string
		want    *certtest.Cert
	}{
		{name: "connection certificate", conn: client, want: client},
		{name: "no certificate", want: nil},
		{name: "header from an untrusted peer is ignored", conn: nil, set: map[string][]string{"Client-Cert": {rfc9440}}, want: nil},
		{name: "header from an untrusted peer does not replace the connection's", conn: proxy, set: map[string][]string{"Client-Cert": {rfc9440}}, want: proxy},
		{name: "trusted proxy, RFC 9440 header", conn: proxy, trusted: true, set: map[string][]string{"Client-Cert": {rfc9440}}, want: client},
		{name: "trusted proxy, nginx escaped PEM", header: "X-SSL-Client-Cert", trusted: true, set: map[string][]string{"X-SSL-Client-Cert": {nginx}}, want: client},
		{name: "trusted proxy, unescaped PEM with + kept", header: "X-SSL-Client-Cert", trusted: true, set: map[string][]string{"X-SSL-Client-Cert": {strings.ReplaceAll(nginx, "%2B", "+")}}, want: client},
		{name: "trusted proxy without the header: not its own certificate", conn: proxy, trusted: true, want: nil},
		{name: "trusted proxy, other header name than configured", header: "X-SSL-Client-Cert", trusted: true, set: map[string][]string{"Client-Cert": {rfc9440}}, want: nil},
		{name: "trusted proxy, repeated header", trusted: true, set: map[string][]string{"Client-Cert": {rfc9440, rfc9440}}, want: nil},
		{name: "trusted proxy, garbage", trusted: true, set: map[string][]string{"Client-Cert": {":not base64!:"}}, want: nil},
		{name: "trusted proxy, base64 of no certificate", trusted: true, set: map[string][]string{"Client-Cert": {":aGVsbG8=:"}}, want: nil},
		{name: "trusted proxy, oversized", trusted: true, set: map[string][]string{"Client-Cert": {":" + strings.Repeat("A", 20000) + ":"}}, want: nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			header := c.header
			if header == "" {
				header = DefaultClientCertificateHeader
			}
			r := httptest.NewRequest(http.MethodPost, "https://as.example/token", nil)
			for k, vs := range c.set {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if c.conn != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.conn.Cert}}
			}
			vars := map[string]any{caddyhttp.TrustedProxyVarKey: c.trusted}
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
			got := clientCertificateSource(header)(r)
			switch {
			case c.want == nil && got != nil:
				t.Fatalf("got certificate %q, want none", got.Subject.CommonName)
			case c.want != nil && (got == nil || !got.Equal(c.want.Cert)):
				t.Fatalf("got %v, want %q", got, c.want.Cert.Subject.CommonName)
			}
		})
	}
}

// FuzzForwardedCertificate: a forwarded header is attacker-shaped input for whatever sits
// behind the proxy; parsing it never panics.
func FuzzForwardedCertificate(f *testing.F) {
	cert := certtest.SelfSigned(f, certtest.Options{})
	f.Add(":" + base64.StdEncoding.EncodeToString(cert.Cert.Raw) + ":")
	f.Add(url.PathEscape(string(cert.PEM())))
	f.Add("::")
	f.Add("%ZZ")
	f.Fuzz(func(t *testing.T, v string) {
		_ = forwardedCertificate([]string{v})
	})
}
