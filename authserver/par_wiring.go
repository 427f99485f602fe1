package authserver

import (
	"context"
	"net/url"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Pushed authorization requests (RFC 9126). STUB: the par piece of issue 11 replaces this
// file's bodies (and adds the /par endpoint and its package).

// PARConfig configures pushed authorization requests.
type PARConfig struct {
	// Required makes every client push its authorization requests
	// (require_pushed_authorization_requests); clients and profiles may require it on their own.
	Required bool
	// TTL is how long a request_uri stays valid (expires_in; default 60 s, below 600 s).
	TTL time.Duration
}

func (c *PARConfig) withDefaults() error { return nil }

// parMetadata are PAR's discovery fields (RFC 9126 §5).
type parMetadata struct {
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
}

func (s *Server) parDiscovery() parMetadata { return parMetadata{} }

// parRequired reports whether client's authorization requests must be pushed.
func (s *Server) parRequired(client *store.Client) bool {
	return s.cfg.PAR.Required || client.Security.RequirePushedAuthorizationRequests || s.policy(client).RequirePAR
}

// pushedRequest returns the parameters of the pushed request that q's request_uri names, and
// spends it.
func (s *Server) pushedRequest(ctx context.Context, client *store.Client, q url.Values) (url.Values, *oautherr.Error) {
	return nil, oautherr.New(oautherr.RequestURINotSupported, "request_uri is not supported")
}
