// Package profile names the security profiles a server, or one client, can run under, and says
// what each demands: the FAPI 2.0 Security Profile and FAPI 2.0 Message Signing. The demands
// are written here once; the endpoints ask a Policy instead of testing profile names.
package profile

import (
	"slices"
	"time"
)

// Profile names, as the Caddyfile, JSON and client metadata spell them.
const (
	// None is plain OAuth 2.0 / OpenID Connect under RFC 9700: the server default. A client
	// names it to opt out of the server's profile.
	None = "none"
	// FAPI2 is the FAPI 2.0 Security Profile (final, 2025).
	FAPI2 = "fapi2"
	// FAPI2MessageSigning is FAPI 2.0 Message Signing on top of FAPI2: signed requests (JAR),
	// signed responses (JARM) and signed introspection responses (RFC 9701).
	FAPI2MessageSigning = "fapi2_message_signing"
)

// Names lists the profiles, default first.
func Names() []string { return []string{None, FAPI2, FAPI2MessageSigning} }

// Valid reports whether name is a profile ("" is not: it means "inherit" where allowed).
func Valid(name string) bool { return slices.Contains(Names(), name) }

// FAPI2SigningAlgs are the only JWS algorithms FAPI 2.0 §5.4.1 allows.
var FAPI2SigningAlgs = []string{"PS256", "ES256", "EdDSA"}

// FAPI2MaxCodeTTL bounds the lifetime of authorization codes (FAPI 2.0 §5.3.2.1-14: 60 s at most).
const FAPI2MaxCodeTTL = 60 * time.Second

// FAPI2MaxRequestURITTL bounds a PAR request_uri's expires_in (FAPI 2.0 §5.3.2.2-13: under 600 s).
const FAPI2MaxRequestURITTL = 600 * time.Second

// Policy is what one client's requests must satisfy. The zero Policy demands nothing beyond
// the server's own rules.
type Policy struct {
	// Name is the profile in force (None when there is none).
	Name string
	// RequirePAR: authorization requests only through the PAR endpoint.
	RequirePAR bool
	// RequirePKCES256: every authorization request carries an S256 code_challenge.
	RequirePKCES256 bool
	// ConfidentialOnly: public clients are refused.
	ConfidentialOnly bool
	// AuthMethods are the only client authentication methods allowed; nil allows any.
	AuthMethods []string
	// SenderConstrained: access tokens only bound to a DPoP key or a client certificate.
	SenderConstrained bool
	// SigningAlgs are the only JWS algs for client assertions, request objects and whatever
	// the server signs for the client; nil allows any.
	SigningAlgs []string
	// MaxCodeTTL bounds authorization code lifetimes; 0 leaves the server's.
	MaxCodeTTL time.Duration
	// RequireRedirectURIInPAR: a pushed request names its redirect_uri.
	RequireRedirectURIInPAR bool
	// RequireHTTPSRedirects: redirect URIs are https (no loopback http, no custom schemes).
	RequireHTTPSRedirects bool
	// Message signing.
	RequireSignedRequestObject bool // JAR for every authorization request
	RequireJWTResponse         bool // JARM for every authorization response
}

// Resolve returns the policy of a client whose own profile is client ("" inherits) on a server
// whose profile is server ("" means None).
func Resolve(server, client string) Policy {
	name := client
	if name == "" {
		name = server
	}
	switch name {
	case FAPI2, FAPI2MessageSigning:
		p := Policy{
			Name:                    name,
			RequirePAR:              true,
			RequirePKCES256:         true,
			ConfidentialOnly:        true,
			AuthMethods:             []string{"private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"},
			SenderConstrained:       true,
			SigningAlgs:             FAPI2SigningAlgs,
			MaxCodeTTL:              FAPI2MaxCodeTTL,
			RequireRedirectURIInPAR: true,
			RequireHTTPSRedirects:   true,
		}
		if name == FAPI2MessageSigning {
			p.RequireSignedRequestObject, p.RequireJWTResponse = true, true
		}
		return p
	default:
		return Policy{Name: None}
	}
}

// Active reports whether any profile beyond None is in force.
func (p Policy) Active() bool { return p.Name != "" && p.Name != None }

// AllowsAlg reports whether the policy allows the JWS alg.
func (p Policy) AllowsAlg(alg string) bool {
	return p.SigningAlgs == nil || slices.Contains(p.SigningAlgs, alg)
}

// AllowsAuthMethod reports whether the policy allows the client authentication method.
func (p Policy) AllowsAuthMethod(method string) bool {
	return p.AuthMethods == nil || slices.Contains(p.AuthMethods, method)
}
