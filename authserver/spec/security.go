package spec

import (
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Client authentication with a TLS client certificate (RFC 8705 §2).
const (
	AuthTLS           = "tls_client_auth"
	AuthSelfSignedTLS = "self_signed_tls_client_auth"
)

// checkSecurity applies the rules of store.ClientSecurity's fields: secured requests and
// responses (RFC 9101, JARM, RFC 9701) and mutual TLS (RFC 8705). The profile's rules are in
// profile.go.
func (c Client) checkSecurity(env Env) error {
	s := c.Security
	if s.RequestObjectSigningAlg != "" && !jwa.IsAsymmetric(s.RequestObjectSigningAlg) {
		return errorf(CodeInvalidClientMetadata, "request_object_signing_alg", s.RequestObjectSigningAlg, "must be one of %s", strings.Join(jwa.Asymmetric(), ", "))
	}
	for _, f := range []struct{ field, alg string }{
		{"authorization_signed_response_alg", s.AuthorizationSignedResponseAlg},
		{"introspection_signed_response_alg", s.IntrospectionSignedResponseAlg},
	} {
		if f.alg == "" {
			continue
		}
		if !jwa.IsAsymmetric(f.alg) {
			return errorf(CodeInvalidClientMetadata, f.field, f.alg, "must be one of %s", strings.Join(jwa.Asymmetric(), ", "))
		}
		if env.SigningAlgs != nil && !slices.Contains(env.SigningAlgs, f.alg) {
			return errorf(CodeInvalidClientMetadata, f.field, f.alg, "the server has no signing key for it (signing_algs)")
		}
	}
	for _, f := range []struct {
		prefix, alg, enc string
		toClient         bool // the server encrypts to the client's keys
	}{
		{"request_object_encryption", s.RequestObjectEncryptionAlg, s.RequestObjectEncryptionEnc, false},
		{"authorization_encrypted_response", s.AuthorizationEncryptedResponseAlg, s.AuthorizationEncryptedResponseEnc, true},
		{"introspection_encrypted_response", s.IntrospectionEncryptedResponseAlg, s.IntrospectionEncryptedResponseEnc, true},
	} {
		switch {
		case f.alg != "" && !jwa.IsKeyManagement(f.alg):
			return errorf(CodeInvalidClientMetadata, f.prefix+"_alg", f.alg, "must be one of %s", strings.Join(jwa.KeyManagement(), ", "))
		case f.enc != "" && !jwa.IsContentEncryption(f.enc):
			return errorf(CodeInvalidClientMetadata, f.prefix+"_enc", f.enc, "must be one of %s", strings.Join(jwa.ContentEncryption(), ", "))
		case f.enc != "" && f.alg == "":
			return errorf(CodeInvalidClientMetadata, f.prefix+"_enc", f.enc, "needs %s_alg", f.prefix)
		case f.toClient && f.alg != "" && c.JWKS == "" && c.JWKSURI == "":
			return errorf(CodeInvalidClientMetadata, f.prefix+"_alg", f.alg, "needs the client's encryption key in jwks or jwks_uri")
		}
	}
	if err := c.checkCIBA(); err != nil {
		return err
	}
	return c.checkTLSAuth()
}

// CIBAGrantType is CIBA's grant type (package ciba's GrantType; spec cannot import it).
const CIBAGrantType = "urn:openid:params:grant-type:ciba"

// checkCIBA: the delivery mode is poll, ping or push (CIBA Core §4); ping and push need the
// https endpoint the server notifies, which poll has no use for.
func (c Client) checkCIBA() error {
	s := c.Security
	if s.BackchannelTokenDeliveryMode != "" && !slices.Contains(c.GrantTypes, CIBAGrantType) {
		return errorf(CodeInvalidClientMetadata, "backchannel_token_delivery_mode", s.BackchannelTokenDeliveryMode,
			"needs the grant type %s", CIBAGrantType)
	}
	switch s.BackchannelTokenDeliveryMode {
	case "", "poll":
		if s.BackchannelClientNotificationEndpoint != "" {
			return errorf(CodeInvalidClientMetadata, "backchannel_client_notification_endpoint", "", "is only for the ping and push delivery modes")
		}
		return nil
	case "ping", "push":
	default:
		return errorf(CodeInvalidClientMetadata, "backchannel_token_delivery_mode", s.BackchannelTokenDeliveryMode, "must be poll, ping or push")
	}
	if s.BackchannelClientNotificationEndpoint == "" {
		return errorf(CodeInvalidClientMetadata, "backchannel_client_notification_endpoint", "", "is required for the ping and push delivery modes")
	}
	if len(s.BackchannelClientNotificationEndpoint) > maxURILength {
		return errorf(CodeInvalidClientMetadata, "backchannel_client_notification_endpoint", "", "is longer than %d bytes", maxURILength)
	}
	return validateWebURL("backchannel_client_notification_endpoint", s.BackchannelClientNotificationEndpoint)
}

// checkTLSAuth: tls_client_auth names exactly one certificate subject DN or SAN (RFC 8705
// §2.1.2); self_signed_tls_client_auth finds the certificate in the client's keys (§2.2.2);
// the names mean nothing with other methods, so they are refused there.
func (c Client) checkTLSAuth() error {
	s := c.Security
	names := []struct{ field, value string }{
		{"tls_client_auth_subject_dn", s.TLSClientAuthSubjectDN}, {"tls_client_auth_san_dns", s.TLSClientAuthSANDNS},
		{"tls_client_auth_san_uri", s.TLSClientAuthSANURI}, {"tls_client_auth_san_ip", s.TLSClientAuthSANIP},
		{"tls_client_auth_san_email", s.TLSClientAuthSANEmail},
	}
	set := 0
	for _, n := range names {
		if n.value == "" {
			continue
		}
		set++
		if c.TokenEndpointAuthMethod != AuthTLS {
			return errorf(CodeInvalidClientMetadata, n.field, n.value, "applies only to token_endpoint_auth_method tls_client_auth")
		}
		if err := checkCertificateName(n.field, n.value); err != nil {
			return err
		}
	}
	switch c.TokenEndpointAuthMethod {
	case AuthTLS:
		if set != 1 {
			return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method", AuthTLS,
				"needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email")
		}
	case AuthSelfSignedTLS:
		if c.JWKS == "" && c.JWKSURI == "" {
			return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method", AuthSelfSignedTLS, "needs the certificate's key in jwks or jwks_uri")
		}
	}
	if (c.TokenEndpointAuthMethod == AuthTLS || c.TokenEndpointAuthMethod == AuthSelfSignedTLS) && c.HasSecret() {
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method", c.TokenEndpointAuthMethod, "takes no client secret")
	}
	return nil
}

func checkCertificateName(field, v string) error {
	ok := true
	switch field {
	case "tls_client_auth_subject_dn":
		_, err := clientauth.ParseSubjectDN(v)
		ok = err == nil
	case "tls_client_auth_san_uri":
		u, err := url.Parse(v)
		ok = err == nil && u.IsAbs()
	case "tls_client_auth_san_ip":
		_, err := netip.ParseAddr(v)
		ok = err == nil
	case "tls_client_auth_san_email":
		a, err := mail.ParseAddress(v)
		ok = err == nil && a.Address == v
	case "tls_client_auth_san_dns":
		ok = !strings.ContainsAny(v, " /:@")
	}
	if !ok || len(v) > maxURILength {
		return errorf(CodeInvalidClientMetadata, field, v, "is not a valid certificate name for this field")
	}
	return nil
}
