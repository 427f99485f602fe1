// Package extension is how code outside this module adds to the authorization server without
// forking it: custom grant types at the token endpoint (Grant) and claims added to access
// tokens (ClaimContributor). Caddy users plug them in as guest modules (oauth.grants.* and
// oauth.claims.*, see caddymodule); Go users put them in authserver.Config.
//
// A grant decides; it never mints. The server authenticates the client, checks that the
// client may use the grant type, then asks the grant who the token is for, for which resource
// and scopes; it mints the token under that resource's policy (format, algorithm, lifetime,
// DPoP and certificate binding), as for every built-in grant.
package extension

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
)

// Client is what an extension sees of the client that made the request.
type Client struct {
	ID   string
	Name string
	// Public reports a client without credentials (token_endpoint_auth_method none).
	Public     bool
	Scopes     []string
	GrantTypes []string
	// Metadata is the client's free-form metadata (configuration, admin API).
	Metadata map[string]any
}

// GrantRequest is a token request of an extension grant type from an authenticated client.
type GrantRequest struct {
	GrantType string
	Client    Client
	// Params are the request's form parameters, without grant_type and the client's
	// credentials (client_secret, client_assertion, client_assertion_type).
	Params url.Values
	// Header holds the request's headers, for a grant that reads one of its own.
	Header http.Header
}

// Decision is what a grant decided about a token request.
type Decision struct {
	// Subject is the token's sub, as is; empty means the client itself (like
	// client_credentials).
	Subject string
	// Resource is the identifier of the resource the token is for; empty takes the request's
	// resource parameter, else the client's default resource. Either way the server checks
	// that the resource exists, is enabled and (when links are enforced) is linked to the
	// client: a grant cannot hand out tokens the client could not otherwise get.
	Resource string
	// Scopes are the token's scopes; nil takes the request's scope parameter. Either way every
	// scope must be allowed to the client and accepted by the resource (invalid_scope).
	Scopes []string
	// Claims are added to the access token. Registered and reserved claims (iss, sub, aud,
	// exp, client_id, scope, cnf, act …) cannot be set this way and are dropped (logged).
	Claims map[string]any
}

// Grant serves one extension grant type at the token endpoint (RFC 6749 §4.5).
type Grant interface {
	// GrantType is the grant_type value the grant serves: an absolute URI.
	GrantType() string
	// Token decides a token request. Return an error made by Error to answer the client with
	// an OAuth error; any other error answers server_error (500) and is logged.
	Token(ctx context.Context, req *GrantRequest) (*Decision, error)
}

// ClaimsRequest describes an access token about to be minted.
type ClaimsRequest struct {
	ClientID  string
	GrantType string
	// Subject is the token's subject as the server knows it: an account's own subject (before
	// any pairwise mapping), or the client's ID for a token the client holds for itself.
	Subject string
	// Account holds the account's claims when the token is a user's (nil otherwise).
	Account map[string]any
	// Resource is the identifier of the resource the token is for ("" for a token only the
	// userinfo endpoint accepts).
	Resource string
	Scopes   []string
}

// ClaimContributor adds claims to access tokens: user attributes a gateway's claim rules
// read (roles, groups, tenant), or facts from another system. Contributors run in order for
// every access token; a later one's claim replaces an earlier one's of the same name.
type ClaimContributor interface {
	// AccessTokenClaims returns the claims to add (nil for none). An error fails the token
	// request with server_error (500) and is logged: a token missing the claims a gateway
	// decides on must not be issued.
	AccessTokenClaims(ctx context.Context, req ClaimsRequest) (map[string]any, error)
}

// OAuth error codes a grant may answer with (RFC 6749 §5.2, RFC 8707 §2).
const (
	InvalidRequest = oautherr.InvalidRequest
	InvalidGrant   = oautherr.InvalidGrant
	InvalidScope   = oautherr.InvalidScope
	InvalidTarget  = oautherr.InvalidTarget
	AccessDenied   = oautherr.AccessDenied
)

// Error is the OAuth error answer code with description (a fixed text for developers: never
// put a request's values in it). It answers status 400.
func Error(code, description string) error {
	return oautherr.New(code, description)
}
