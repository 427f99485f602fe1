package authserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// The security profiles (FAPI 2.0, package profile): the demands live in profile.Policy; this
// file applies those that belong to no other capability. PAR (par_wiring.go), request objects
// (jar_wiring.go) and JARM (jarm_wiring.go) read the same Policy themselves. The clause list,
// with where each clause is enforced and tested, is authserver/profile/CLAUSES.md.

// profileRules checks the server's own settings against its profile: a profile the server
// could not keep is a configuration error, not a silent downgrade.
func (c *Config) profileRules() error {
	p := profile.Resolve(c.Profile, "")
	if !p.Active() {
		return nil
	}
	switch {
	case c.AllowPlainPKCE:
		return fmt.Errorf("profile %s: allow_plain_pkce must be off (PKCE with S256 only)", p.Name)
	case c.ClientAssertionEndpointAudience:
		return fmt.Errorf("profile %s: client_assertion_endpoint_audience must be off (the issuer is the only aud of client assertions)", p.Name)
	case c.CodeTTL > p.MaxCodeTTL:
		return fmt.Errorf("profile %s: code_ttl %s is longer than %s", p.Name, c.CodeTTL, p.MaxCodeTTL)
	}
	if !slices.ContainsFunc(c.SigningAlgs, p.AllowsAlg) {
		return fmt.Errorf("profile %s: signing_algs needs one of %s", p.Name, strings.Join(p.SigningAlgs, ", "))
	}
	return nil
}

// checkProfileMethod refuses a client whose authentication method its profile forbids: one
// registered before the profile was switched on, say (spec refuses new ones).
func checkProfileMethod(r *http.Request, client *store.Client, p profile.Policy) error {
	if p.AllowsAuthMethod(client.TokenEndpointAuthMethod) {
		return nil
	}
	basic := strings.HasPrefix(r.Header.Get("Authorization"), "Basic ")
	e := oautherr.Client("client authentication failed", basic)
	e.Cause = fmt.Errorf("client %q authenticated with %s, which profile %s does not allow", client.ID, client.TokenEndpointAuthMethod, p.Name)
	return e
}

// assertionAlgAllowed narrows the algs of a client's assertions to its profile's.
func (s *Server) assertionAlgAllowed(client *store.Client, alg string) bool {
	return s.policy(client).AllowsAlg(alg)
}

// requireSenderConstraint refuses a token request that could only yield a bearer token when
// the client's profile wants every access token sender-constrained: it needs a DPoP proof,
// unless its tokens are bound to its TLS client certificate (checked by
// requireBindingCertificate).
func (s *Server) requireSenderConstraint(r *http.Request, client *store.Client) error {
	if !s.policy(client).SenderConstrained || certBound(client) || len(r.Header.Values("DPoP")) > 0 {
		return nil
	}
	return oautherr.Request("this client's access tokens must be sender-constrained: send a DPoP proof (RFC 9449) or use certificate-bound tokens over mutual TLS (RFC 8705)")
}

// codeTTL is the lifetime of client's authorization codes: the server's, capped by its profile.
func (s *Server) codeTTL(client *store.Client) time.Duration {
	if p := s.policy(client); p.MaxCodeTTL > 0 && p.MaxCodeTTL < s.cfg.CodeTTL {
		return p.MaxCodeTTL
	}
	return s.cfg.CodeTTL
}

// profileDiscovery narrows what discovery advertises to what the server's profile lets every
// client that inherits it use (clients that override the profile are the operator's exception).
func (s *Server) profileDiscovery(m *metadata) {
	p := profile.Resolve(s.cfg.Profile, "")
	if !p.Active() {
		return
	}
	allowed := func(list []string, ok func(string) bool) []string {
		return slices.DeleteFunc(slices.Clone(list), func(v string) bool { return !ok(v) })
	}
	m.TokenEndpointAuthMethodsSupported = allowed(m.TokenEndpointAuthMethodsSupported, p.AllowsAuthMethod)
	m.TokenEndpointAuthSigningAlgValues = allowed(m.TokenEndpointAuthSigningAlgValues, p.AllowsAlg)
	m.CodeChallengeMethodsSupported = []string{"S256"}
	m.RequirePushedAuthorizationRequests = m.RequirePushedAuthorizationRequests || p.RequirePAR
	m.RequireSignedRequestObject = m.RequireSignedRequestObject || p.RequireSignedRequestObject
	if p.RequireJWTResponse {
		m.ResponseModesSupported = allowed(m.ResponseModesSupported, func(mode string) bool { _, jwt := jwtModeBase(mode); return jwt || mode == modeJWT })
	}
}
