package authserver

import (
	"context"
	"fmt"
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Secured authorization requests and responses: the authorization endpoint's parameters may
// arrive pushed (RFC 9126, par_wiring.go) or inside a request object (RFC 9101,
// jar_wiring.go); the response may leave as a JWT (JARM, jarm_wiring.go); clients may
// authenticate with a TLS certificate and receive certificate-bound tokens (RFC 8705,
// mtls_wiring.go); a security profile (FAPI 2.0, fapi_wiring.go) may demand all of it.
// This file is where the authorization endpoint meets them.

// securedDefaults applies the defaults and rules of the secured-request settings.
func (c *Config) securedDefaults() error {
	if c.Profile != "" && !profile.Valid(c.Profile) {
		return fmt.Errorf("profile %q: want none, fapi2 or fapi2_message_signing", c.Profile)
	}
	if err := c.PAR.withDefaults(); err != nil {
		return err
	}
	if err := c.RequestObjects.withDefaults(); err != nil {
		return err
	}
	return c.MTLS.withDefaults(c.Issuer)
}

// policy is the security profile's demands on client (its own profile, else the server's).
func (s *Server) policy(client *store.Client) profile.Policy {
	return profile.Resolve(s.cfg.Profile, client.Security.Profile)
}

// securedParams resolves the parameters an authorization request really carries: those of the
// pushed request its request_uri names (RFC 9126 §4), or those of its request object (RFC 9101
// §6.3: only the object's parameters count), or its own. It enforces the requirements of the
// client, the server and the profile on how a request must arrive. An unknown or disabled
// client passes unchanged: parseAuthRequest says why it is refused. Errors go to the page,
// unless the request itself names a redirect URI registered for the client (outerTarget).
func (s *Server) securedParams(ctx context.Context, q url.Values) (url.Values, *authError) {
	client, err := s.lookups.GetClient(ctx, q.Get("client_id"))
	if err != nil || client.Disabled {
		return q, nil
	}
	var (
		params url.Values
		e      *oautherr.Error
	)
	switch {
	case q.Has("request_uri"):
		// Pushed requests were resolved and checked when they were pushed.
		params, e = s.pushedRequest(ctx, client, q)
	case s.parRequired(client):
		e = oautherr.Request("this client must push its authorization requests to the pushed authorization request endpoint (RFC 9126)")
	default:
		params, e = s.resolveRequestObject(ctx, client, q)
	}
	if e != nil {
		return nil, &authError{err: e, to: outerTarget(client, q)}
	}
	return params, nil
}

// outerTarget is where an error about how the request arrived may go: the redirect_uri of the
// request's own query when it is registered for the client (in the query mode, since nothing
// else of the request is verified), else nowhere (nil: the page shows it).
func outerTarget(client *store.Client, q url.Values) *responseTarget {
	uri := q.Get("redirect_uri")
	if uri == "" || !redirectURIMatches(client, uri) {
		return nil
	}
	return &responseTarget{RedirectURI: uri, Mode: modeQuery, State: q.Get("state"), ClientID: client.ID}
}

// resolveRequestObject replaces q by its request object's parameters when it has one, and
// refuses a request without one when the client, server or profile requires signed requests.
// Both the authorization endpoint and the PAR endpoint call it.
func (s *Server) resolveRequestObject(ctx context.Context, client *store.Client, q url.Values) (url.Values, *oautherr.Error) {
	if q.Has("request") {
		return s.requestObject(ctx, client, q)
	}
	if s.signedRequestRequired(client) {
		return nil, oautherr.Request("this client must send its authorization requests as signed request objects (RFC 9101)")
	}
	return q, nil
}
