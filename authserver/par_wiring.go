package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/par"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// Pushed authorization requests (RFC 9126): the endpoint and the request_uri's lifecycle live
// in package par; this file gives it the server's rules (parCore) and lets the authorization
// endpoint spend request_uris.

// pathPAR is the pushed authorization request endpoint.
const pathPAR = "/par"

// defaultPARTTL is a request_uri's lifetime when the configuration names none: long enough to
// reach the authorization endpoint, short enough that a leaked one is soon useless.
const defaultPARTTL = 60 * time.Second

// PARConfig configures pushed authorization requests.
type PARConfig struct {
	// Required makes every client push its authorization requests
	// (require_pushed_authorization_requests); clients and profiles may require it on their own.
	Required bool
	// TTL is how long a request_uri stays valid (expires_in; default 60 s, below 600 s).
	TTL time.Duration
}

// withDefaults fills in the TTL and bounds it. The bound is FAPI 2.0's (§5.3.2.2: expires_in
// under 600 s), so one limit serves every profile a client may name.
func (c *PARConfig) withDefaults() error {
	if c.TTL == 0 {
		c.TTL = defaultPARTTL
	}
	if c.TTL < time.Second || c.TTL >= profile.FAPI2MaxRequestURITTL {
		return fmt.Errorf("pushed_authorization_requests ttl %s: want at least 1s and below %s", c.TTL, profile.FAPI2MaxRequestURITTL)
	}
	return nil
}

// parMetadata are PAR's discovery fields (RFC 9126 §5).
type parMetadata struct {
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
}

func (s *Server) parDiscovery() parMetadata {
	return parMetadata{
		PushedAuthorizationRequestEndpoint: s.endpoint(pathPAR),
		RequirePushedAuthorizationRequests: s.cfg.PAR.Required,
	}
}

// parRoutes adds the PAR endpoint to routes. Browser apps push too, so it answers CORS like
// the token endpoint.
func (s *Server) parRoutes(routes map[string]http.HandlerFunc, base string) {
	routes[base+pathPAR] = corsMethods("POST", s.pushEndpoint().ServeHTTP)
}

// pushEndpoint is the PAR endpoint over this server's store and rules (a few words, made per
// use so the Server keeps no state for it).
func (s *Server) pushEndpoint() *par.Endpoint {
	return &par.Endpoint{Core: parCore{s}, Store: s.st, TTL: s.cfg.PAR.TTL, Now: s.now, Log: s.log, Unavailable: s.unavailable}
}

// parRequired reports whether client's authorization requests must be pushed.
func (s *Server) parRequired(client *store.Client) bool {
	return s.cfg.PAR.Required || client.Security.RequirePushedAuthorizationRequests || s.policy(client).RequirePAR
}

// pushedRequest returns the parameters of the pushed request that q's request_uri names, and
// spends it. Only the stored parameters count: any others in q are ignored (RFC 9126 §4).
func (s *Server) pushedRequest(ctx context.Context, client *store.Client, q url.Values) (url.Values, *oautherr.Error) {
	return s.pushEndpoint().Consume(ctx, client.ID, q.Get("request_uri"))
}

// parCore is the authorization server as package par sees it.
type parCore struct{ s *Server }

func (c parCore) ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if err := parsePostForm(w, r); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// AuthenticateClient accepts every method the token endpoint accepts (RFC 9126 §2:
// clientAuthMethods gives /par the token endpoint's list).
func (c parCore) AuthenticateClient(r *http.Request) (*store.Client, error) {
	return c.s.authenticateClient(r, pathPAR)
}

func (c parCore) DPoPProof(r *http.Request) (*dpop.Proof, error) {
	return c.s.endpointProof(r, pathPAR, false)
}

func (c parCore) RecordDPoPProof(ctx context.Context, proof *dpop.Proof) error {
	return c.s.recordTokenProof(ctx, proof)
}

// Resolve runs the authorization endpoint's own steps: the request object (with every rule
// on signed requests), then parseAuthRequest. A pushed request is checked in full here, so
// that the client learns of a mistake before it sends the user anywhere.
func (c parCore) Resolve(ctx context.Context, client *store.Client, params url.Values) (url.Values, error) {
	resolved, e := c.s.resolveRequestObject(ctx, client, params)
	if e != nil {
		return nil, e
	}
	if resolved.Get("client_id") != client.ID {
		return nil, oautherr.New(oautherr.InvalidRequestObject, "the request object's client_id does not match the authenticated client")
	}
	if _, _, aerr := c.s.parseAuthRequest(ctx, resolved); aerr != nil {
		return nil, aerr.err
	}
	return resolved, nil
}

func (c parCore) RequireRedirectURI(client *store.Client) bool {
	return c.s.policy(client).RequireRedirectURIInPAR
}
