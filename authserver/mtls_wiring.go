package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Mutual-TLS client authentication and certificate-bound tokens (RFC 8705). Client
// authentication itself lives in package clientauth (tls_client_auth,
// self_signed_tls_client_auth); this file binds tokens to the certificate (cnf.x5t#S256),
// checks that binding where this server is the resource (userinfo) and for a public client's
// refresh tokens, and publishes the discovery fields.
//
// DPoP and mTLS together: RFC 8705 and RFC 9449 each define a confirmation member, and RFC
// 7800 lets cnf carry several. A certificate-bound client that also sends a DPoP proof gets a
// token bound to both (cnf has jkt and x5t#S256, token_type DPoP): a resource must then see
// the certificate and a proof by the key, which is what each of the two specifications asks
// of a token bound its way. Nothing is silently dropped.

// MTLSConfig configures mutual TLS.
type MTLSConfig struct {
	// EndpointAliases is the base URL (scheme, host, port and the issuer's path) where the
	// endpoints that accept client certificates are also served, when they live on another
	// host or port than the issuer (RFC 8705 §5, mtls_endpoint_aliases); empty: none.
	EndpointAliases string
	// TrustedCAFiles are PEM files of the CAs that tls_client_auth certificates may chain to
	// when the TLS handshake did not verify them: certificates forwarded by a trusted
	// TLS-terminating proxy, or connections where Caddy only requests a certificate. Without
	// them only certificates Caddy verified (client_auth trust_pool) pass tls_client_auth.
	TrustedCAFiles []string

	trustedCAs *x509.CertPool
}

// withDefaults checks the aliases against the issuer (same path: routes match on it) and
// loads the trusted CAs.
func (c *MTLSConfig) withDefaults(issuer string) error {
	if c.EndpointAliases != "" {
		c.EndpointAliases = strings.TrimSuffix(c.EndpointAliases, "/")
		if err := checkEndpointAliases(c.EndpointAliases, issuer); err != nil {
			return err
		}
	}
	c.trustedCAs = nil
	if len(c.TrustedCAFiles) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, file := range c.TrustedCAFiles {
		pem, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("mtls trusted_ca: %v", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("mtls trusted_ca %s: no PEM certificate in the file", file)
		}
	}
	c.trustedCAs = pool
	return nil
}

func checkEndpointAliases(alias, issuer string) error {
	if err := spec.ValidateServerIssuer(alias); err != nil {
		// The same rules as the issuer's URL, whose endpoints it serves.
		return fmt.Errorf("mtls endpoint_aliases: %v", err)
	}
	a, _ := url.Parse(alias)
	i, err := url.Parse(issuer)
	if err != nil {
		return nil // the issuer's own check reports it
	}
	if strings.TrimSuffix(a.EscapedPath(), "/") != strings.TrimSuffix(i.EscapedPath(), "/") {
		return fmt.Errorf("mtls endpoint_aliases %q: its path must be the issuer's (%q): the endpoints answer on the same paths", alias, i.EscapedPath())
	}
	if strings.EqualFold(a.Host, i.Host) {
		return fmt.Errorf("mtls endpoint_aliases %q: the issuer's own host needs no alias", alias)
	}
	return nil
}

// mtlsMetadata are RFC 8705's discovery fields (§3.3, §5).
type mtlsMetadata struct {
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

func (s *Server) mtlsDiscovery() mtlsMetadata {
	m := mtlsMetadata{TLSClientCertificateBoundAccessTokens: true}
	base := s.cfg.MTLS.EndpointAliases
	if base == "" {
		return m
	}
	// The endpoints a client authenticates at or presents a bound token to.
	m.MTLSEndpointAliases = map[string]string{
		"token_endpoint":         base + s.relativeEndpoint(s.endpoint(pathToken)),
		"revocation_endpoint":    base + s.relativeEndpoint(s.endpoint(pathRevoke)),
		"introspection_endpoint": base + s.relativeEndpoint(s.endpoint(pathIntrospect)),
		"userinfo_endpoint":      base + s.relativeEndpoint(s.endpoint(pathUserinfo)),
	}
	if par := s.parDiscovery().PushedAuthorizationRequestEndpoint; par != "" {
		m.MTLSEndpointAliases["pushed_authorization_request_endpoint"] = base + s.relativeEndpoint(par)
	}
	if device := s.deviceDiscovery().DeviceAuthorizationEndpoint; device != "" {
		m.MTLSEndpointAliases["device_authorization_endpoint"] = base + s.relativeEndpoint(device)
	}
	return m
}

// relativeEndpoint is an endpoint URL of this issuer without the issuer.
func (s *Server) relativeEndpoint(endpoint string) string {
	return strings.TrimPrefix(endpoint, s.cfg.Issuer)
}

// requestEndpoint is the URL of the endpoint at path as the request reached it: on the mTLS
// alias host, or the issuer's. DPoP proofs name it (htu), so a proof sent to an alias
// endpoint must be checked against the alias URL.
func (s *Server) requestEndpoint(r *http.Request, path string) string {
	if alias := s.cfg.MTLS.EndpointAliases; alias != "" {
		if a, err := url.Parse(alias); err == nil && strings.EqualFold(a.Host, r.Host) {
			return alias + path
		}
	}
	return s.endpoint(path)
}

// clientCertificate is the TLS client certificate of r, or nil.
func (s *Server) clientCertificate(r *http.Request) *x509.Certificate {
	if s.deps.ClientCertificate != nil {
		return s.deps.ClientCertificate(r)
	}
	return clientauth.ConnectionCertificate(r)
}

// certThumbprint is x5t#S256: base64url(SHA-256(DER)) (RFC 8705 §3.1); "" for no certificate.
func certThumbprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// certBound reports whether client's tokens are bound to its TLS certificate.
func certBound(client *store.Client) bool {
	return client.Security.TLSClientCertificateBoundAccessTokens
}

// requireBindingCertificate refuses, before any grant does work, a token request of a
// certificate-bound client that came without a certificate.
func (s *Server) requireBindingCertificate(r *http.Request, client *store.Client) error {
	if certBound(client) && s.clientCertificate(r) == nil {
		return oautherr.Request("this client's tokens are bound to its TLS client certificate (RFC 8705): make the request over mutual TLS with the certificate")
	}
	return nil
}

// tokenCertBinding is the x5t#S256 to bind the tokens of this request to: the request's
// certificate for a certificate-bound client, else "".
func (s *Server) tokenCertBinding(r *http.Request, client *store.Client) string {
	if !certBound(client) {
		return ""
	}
	return certThumbprint(s.clientCertificate(r))
}

// checkRefreshCertificate is RFC 8705 §4: a public client's refresh tokens are bound to the
// certificate the grant began with, so a refresh over another (or no) certificate fails.
func (s *Server) checkRefreshCertificate(r *http.Request, g *store.Grant) error {
	if g.X5TS256 == "" {
		return nil
	}
	got := certThumbprint(s.clientCertificate(r))
	if subtle.ConstantTimeCompare([]byte(got), []byte(g.X5TS256)) != 1 {
		return oautherr.New(oautherr.InvalidGrant, "the refresh token is bound to another TLS client certificate")
	}
	return nil
}

// userinfoCertificate enforces a certificate-bound token's binding at the userinfo endpoint,
// where this server is the resource (RFC 8705 §3).
func (s *Server) userinfoCertificate(r *http.Request, scheme string, info *tokenInfo) error {
	if info.x5t == "" {
		return nil
	}
	got := certThumbprint(s.clientCertificate(r))
	if got == "" {
		return s.tokenChallenge(scheme, oautherr.InvalidToken, "the access token is bound to a TLS client certificate: present it", http.StatusUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(info.x5t)) != 1 {
		return s.tokenChallenge(scheme, oautherr.InvalidToken, "the TLS client certificate is not the one the access token is bound to", http.StatusUnauthorized)
	}
	return nil
}

// confirmation is the cnf member of an introspection response (RFC 7800, RFC 8705 §3.2):
// nil for an unbound token.
func (info *tokenInfo) confirmation() map[string]string {
	if info.jkt == "" && info.x5t == "" {
		return nil
	}
	cnf := make(map[string]string, 2)
	if info.jkt != "" {
		cnf["jkt"] = info.jkt
	}
	if info.x5t != "" {
		cnf["x5t#S256"] = info.x5t
	}
	return cnf
}
