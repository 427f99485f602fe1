package spec

import (
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
)

// A security profile's rules about a client (FAPI 2.0 Security Profile §5.3.2 and §5.4, see
// authserver/profile/CLAUSES.md). They apply to a client whose own profile, or else the
// server's (env.Profile), demands them; a client opts out with profile "none".

// policy is the profile policy the client will run under.
func (c Client) policy(env Env) profile.Policy {
	return profile.Resolve(env.Profile, c.Security.Profile)
}

// profileDefaults fills what the profile decides when the client said nothing: ID tokens signed
// with an algorithm the profile allows (OIDC's default RS256 is not one of FAPI 2.0's).
func (c Client) profileDefaults(env Env) Client {
	p := c.policy(env)
	if !p.Active() || c.IDTokenSignedResponseAlg != "" || p.AllowsAlg(DefaultIDTokenSigningAlg) {
		return c
	}
	for _, alg := range p.SigningAlgs {
		if env.SigningAlgs == nil || slices.Contains(env.SigningAlgs, alg) {
			c.IDTokenSignedResponseAlg = alg
			break
		}
	}
	return c
}

func (c Client) checkProfile(env Env) error {
	if c.Security.Profile != "" && !profile.Valid(c.Security.Profile) {
		return errorf(CodeInvalidClientMetadata, "profile", c.Security.Profile, "is unknown (want %s)", strings.Join(profile.Names(), ", "))
	}
	p := c.policy(env)
	if !p.Active() {
		return nil
	}
	if p.ConfidentialOnly && c.IsPublic() {
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method", AuthNone, "profile %s allows confidential clients only", p.Name)
	}
	if !p.AllowsAuthMethod(c.TokenEndpointAuthMethod) {
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method", c.TokenEndpointAuthMethod,
			"profile %s allows only %s", p.Name, strings.Join(p.AuthMethods, ", "))
	}
	if p.RequireHTTPSRedirects {
		for _, uri := range c.RedirectURIs {
			if !httpsOrLoopback(uri) {
				return errorf(CodeInvalidRedirectURI, "redirect_uris", uri, "profile %s allows only https redirect URIs (or http on a loopback address for native apps)", p.Name)
			}
		}
	}
	for _, f := range []struct{ field, alg string }{
		{"token_endpoint_auth_signing_alg", c.TokenEndpointAuthSigningAlg},
		{"id_token_signed_response_alg", c.IDTokenSignedResponseAlg},
		{"request_object_signing_alg", c.Security.RequestObjectSigningAlg},
		{"authorization_signed_response_alg", c.Security.AuthorizationSignedResponseAlg},
		{"introspection_signed_response_alg", c.Security.IntrospectionSignedResponseAlg},
	} {
		if f.alg != "" && !p.AllowsAlg(f.alg) {
			return errorf(CodeInvalidClientMetadata, f.field, f.alg, "profile %s allows only %s", p.Name, strings.Join(p.SigningAlgs, ", "))
		}
	}
	return nil
}

// httpsOrLoopback: FAPI 2.0 §5.3.2.2-8 keeps authorization responses off plain http, except for
// native apps on a loopback address (RFC 8252 §7.3).
func httpsOrLoopback(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && u.Hostname() != "localhost" && IsLoopbackHost(u.Hostname()))
}
