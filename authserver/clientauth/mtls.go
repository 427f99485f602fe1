package clientauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Mutual-TLS client authentication (RFC 8705 §2). The request carries client_id and no other
// credential; the TLS client certificate it was made with is the credential.
const (
	// MethodTLSClientAuth: a certificate issued by a trusted CA, with the registered subject
	// DN or SAN (RFC 8705 §2.1).
	MethodTLSClientAuth = "tls_client_auth"
	// MethodSelfSignedTLSClientAuth: a certificate whose public key is one of the client's
	// registered keys (jwks or jwks_uri), no chain verified (RFC 8705 §2.2).
	MethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// certificateMethods are the methods a certificate authenticates.
var certificateMethods = []string{MethodTLSClientAuth, MethodSelfSignedTLSClientAuth}

// IsCertificateMethod reports whether method authenticates the client with its TLS certificate.
func IsCertificateMethod(method string) bool { return slices.Contains(certificateMethods, method) }

// certificate is the TLS client certificate of r, or nil.
func (a *Authenticator) certificate(r *http.Request) *x509.Certificate {
	if a.ClientCertificate != nil {
		return a.ClientCertificate(r)
	}
	return ConnectionCertificate(r)
}

// ConnectionCertificate is the certificate the client presented on r's own TLS connection.
func ConnectionCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// authenticateCertificate authenticates a request that presented a certificate and only a
// client_id: with the certificate when the client is registered for a certificate method, or
// as a public client (whose certificate then only binds tokens, RFC 8705 §4).
func (a *Authenticator) authenticateCertificate(r *http.Request, cred credentials, cert *x509.Certificate, methods []string) (*store.Client, error) {
	client, err := a.lookup(r.Context(), cred.clientID, false)
	if err != nil {
		return nil, err
	}
	method := registeredMethod(client)
	if !IsCertificateMethod(method) && method != MethodNone {
		return nil, failed(false, fmt.Sprintf("client %q is registered for %s, request used a certificate", client.ID, method))
	}
	if !slices.Contains(methods, method) {
		// After the lookup, so the same answer as an unknown client: a certificate must not
		// turn the endpoint into a way to tell public clients from unknown ones.
		return nil, failed(false, fmt.Sprintf("this endpoint does not accept %s (client %q)", method, client.ID))
	}
	switch method {
	case MethodTLSClientAuth:
		err = a.checkPKICertificate(r, client, cert)
	case MethodSelfSignedTLSClientAuth:
		err = a.checkSelfSignedCertificate(r.Context(), client, cert)
	}
	if err != nil {
		return nil, err
	}
	return client, nil
}

// checkPKICertificate is tls_client_auth (RFC 8705 §2.1): the certificate chains to a trusted
// CA and carries the one subject DN or SAN the client registered.
func (a *Authenticator) checkPKICertificate(r *http.Request, client *store.Client, cert *x509.Certificate) error {
	if !a.chainVerified(r, cert) {
		return failed(false, fmt.Sprintf("certificate of client %q does not chain to a trusted CA", client.ID))
	}
	if !certificateMatches(client.Security, cert) {
		return failed(false, fmt.Sprintf("certificate of client %q lacks its registered subject DN or SAN", client.ID))
	}
	return nil
}

// chainVerified reports whether cert was verified by the TLS handshake of r (Caddy's
// client_auth with a trust pool), or verifies against the server's trusted CAs: a
// certificate forwarded by a TLS-terminating proxy, or one on a connection that only
// requested a certificate.
func (a *Authenticator) chainVerified(r *http.Request, cert *x509.Certificate) bool {
	if r.TLS != nil {
		for _, chain := range r.TLS.VerifiedChains {
			if len(chain) > 0 && chain[0].Equal(cert) {
				return true
			}
		}
	}
	if a.TrustedCAs == nil {
		return false
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       a.TrustedCAs,
		CurrentTime: a.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// certificateMatches compares the certificate with the client's one registered subject DN or
// SAN. SANs compare exactly (an IP by value, so 2001:db8::1 matches its long spellings);
// the subject DN compares as a DN (see SubjectDNMatches).
func certificateMatches(sec store.ClientSecurity, cert *x509.Certificate) bool {
	switch {
	case sec.TLSClientAuthSubjectDN != "":
		return SubjectDNMatches(sec.TLSClientAuthSubjectDN, cert)
	case sec.TLSClientAuthSANDNS != "":
		return slices.Contains(cert.DNSNames, sec.TLSClientAuthSANDNS)
	case sec.TLSClientAuthSANURI != "":
		return slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == sec.TLSClientAuthSANURI })
	case sec.TLSClientAuthSANIP != "":
		want := net.ParseIP(sec.TLSClientAuthSANIP)
		return want != nil && slices.ContainsFunc(cert.IPAddresses, want.Equal)
	case sec.TLSClientAuthSANEmail != "":
		return slices.Contains(cert.EmailAddresses, sec.TLSClientAuthSANEmail)
	default:
		return false // nothing registered: no certificate can be the client's
	}
}

// checkSelfSignedCertificate is self_signed_tls_client_auth (RFC 8705 §2.2): the
// certificate's public key is one of the client's registered keys and the certificate is
// within its validity period. The chain is not verified: the registration is the trust.
func (a *Authenticator) checkSelfSignedCertificate(ctx context.Context, client *store.Client, cert *x509.Certificate) error {
	now := a.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return failed(false, fmt.Sprintf("certificate of client %q is outside its validity period", client.ID))
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return failed(false, fmt.Sprintf("certificate of client %q has an unsupported key type", client.ID))
	}
	// A key missing from a cached jwks_uri document may have been added since: ask again
	// once (the cache spaces refetches).
	for _, refresh := range []bool{false, true} {
		if refresh && client.JWKSURI == "" {
			break
		}
		keys, err := a.clientKeys(ctx, client, refresh)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if pub.Equal(k.Public().Key) {
				return nil
			}
		}
	}
	return failed(false, fmt.Sprintf("certificate key of client %q is not in its registered keys", client.ID))
}
