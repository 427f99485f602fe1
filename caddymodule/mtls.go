package caddymodule

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// DefaultClientCertificateHeader is the header a TLS-terminating proxy forwards the client
// certificate in (RFC 9440 §2.2: Client-Cert, the DER as a structured-field byte sequence).
const DefaultClientCertificateHeader = "Client-Cert"

// maxClientCertificateHeader bounds the forwarded certificate; real ones are a few kB.
const maxClientCertificateHeader = 16 << 10

// MTLS configures mutual-TLS client authentication and certificate-bound tokens (RFC 8705).
type MTLS struct {
	// EndpointAliases is the base URL (same path as the issuer) of a site where the token,
	// revocation, introspection, userinfo and PAR endpoints are also served with client
	// certificates requested (mtls_endpoint_aliases).
	EndpointAliases string `json:"endpoint_aliases,omitempty"`
	// ClientCertificateHeader is the header a trusted proxy (the server's trusted_proxies)
	// forwards the client certificate in: RFC 9440 `:base64 DER:` or nginx's URL-escaped PEM
	// ($ssl_client_escaped_cert). Default Client-Cert. Requests from other peers never have
	// it read.
	ClientCertificateHeader string `json:"client_certificate_header,omitempty"`
	// TrustedCA are PEM files of the CAs tls_client_auth certificates may chain to when Caddy
	// did not verify the chain itself (forwarded certificates, client_auth mode request).
	TrustedCA []string `json:"trusted_ca,omitempty"`
}

// config is the authserver form.
func (m *MTLS) config() authserver.MTLSConfig {
	if m == nil {
		return authserver.MTLSConfig{}
	}
	return authserver.MTLSConfig{EndpointAliases: m.EndpointAliases, TrustedCAFiles: m.TrustedCA}
}

// header is the configured forwarding header.
func (m *MTLS) header() string {
	if m == nil || m.ClientCertificateHeader == "" {
		return DefaultClientCertificateHeader
	}
	return m.ClientCertificateHeader
}

// parseMTLS reads
//
//	mtls {
//	    endpoint_aliases <url>
//	    client_certificate_header <name>
//	    trusted_ca <pem file...>
//	}
func parseMTLS(d *caddyfile.Dispenser) (*MTLS, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	m := &MTLS{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "endpoint_aliases":
			m.EndpointAliases, err = oneArg(d)
		case "client_certificate_header":
			m.ClientCertificateHeader, err = oneArg(d)
		case "trusted_ca":
			var files []string
			files, err = atLeastOneArg(d)
			m.TrustedCA = append(m.TrustedCA, files...)
		default:
			return nil, d.Errf("unknown mtls subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// validate checks what can be checked without the issuer (authserver checks the rest).
func (m *MTLS) validate() error {
	if m == nil || m.ClientCertificateHeader == "" {
		return nil
	}
	return checkHeaderName("mtls client_certificate_header", m.ClientCertificateHeader)
}

// checkHeaderName refuses what cannot be an HTTP header name (RFC 9110 §5.1 token).
func checkHeaderName(field, name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("%s %q is not a header name", field, name)
	}
	return nil
}

// clientCertificateHeader is the gateway's forwarding header.
func (h *ResourceHandler) clientCertificateHeader() string {
	if h.ClientCertificateHeader == "" {
		return DefaultClientCertificateHeader
	}
	return h.ClientCertificateHeader
}

// clientCertificateSource returns where a request's TLS client certificate comes from: the
// TLS connection Caddy terminated, or — only for requests from one of the server's
// trusted_proxies — the header the proxy set. A proxy's own connection certificate is never
// taken for its client's, and nobody else can set the header.
func clientCertificateSource(header string) func(*http.Request) *x509.Certificate {
	return func(r *http.Request) *x509.Certificate {
		if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
			return forwardedCertificate(r.Header.Values(header))
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return nil
		}
		return r.TLS.PeerCertificates[0]
	}
}

// forwardedCertificate parses a forwarded certificate: RFC 9440 (`:base64:`) or a
// URL-escaped PEM (nginx). Anything else, or a repeated header, is no certificate.
func forwardedCertificate(values []string) *x509.Certificate {
	if len(values) != 1 || len(values[0]) > maxClientCertificateHeader {
		return nil
	}
	v := strings.TrimSpace(values[0])
	var der []byte
	if strings.HasPrefix(v, ":") && strings.HasSuffix(v, ":") && len(v) > 2 {
		b, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil {
			return nil
		}
		der = b
	} else {
		// PathUnescape, not QueryUnescape: a '+' of the base64 body stays a '+'.
		text, err := url.PathUnescape(v)
		if err != nil {
			return nil
		}
		block, _ := pem.Decode([]byte(text))
		if block == nil || block.Type != "CERTIFICATE" {
			return nil
		}
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	return cert
}
