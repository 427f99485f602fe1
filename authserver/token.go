package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
	"github.com/caddy-oauth/caddy-oauth/authserver/device"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// grantHandler serves one grant type for an authenticated client. New grants (authorization
// code, refresh, device, token exchange) register here.
type grantHandler func(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error)

func (s *Server) grants() map[string]grantHandler {
	grants := map[string]grantHandler{
		"client_credentials": s.clientCredentials,
		"authorization_code": s.authorizationCodeGrant,
		"refresh_token":      s.refreshTokenGrant,
	}
	if s.devices != nil {
		grants[device.GrantType] = s.deviceCodeGrant
	}
	if s.ciba != nil {
		grants[ciba.GrantType] = s.cibaGrant
	}
	s.addTrustGrants(grants)
	s.addExtensionGrants(grants)
	return grants
}

// handleToken is the token endpoint (RFC 6749 §3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.token(r.Context(), w, r)
	if err != nil {
		grant := formValue(r.PostForm, "grant_type")
		if _, known := s.grantHandlers[grant]; !known {
			grant = "unsupported" // the label stays bounded whatever clients send
		}
		s.observer.TokenRefused(grant, oautherr.As(err).Code)
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	if err := parsePostForm(w, r); err != nil {
		return nil, err
	}
	grantType := formValue(r.PostForm, "grant_type")
	if grantType == "" {
		return nil, oautherr.Request("grant_type is required")
	}
	grant, ok := s.grantHandlers[grantType]
	if !ok {
		return nil, oautherr.New(oautherr.UnsupportedGrantType, "grant_type is not supported")
	}
	client, err := s.authenticateClient(r, pathToken)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, grantType) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client is not allowed to use this grant_type")
	}
	if err := s.requireBindingCertificate(r, client); err != nil {
		return nil, err
	}
	if err := s.requireSenderConstraint(r, client); err != nil {
		return nil, err
	}
	return grant(ctx, r, client)
}

// resolveResource picks the resource a token request is for (RFC 8707) and checks that the
// client may obtain tokens for it. Unknown, disabled and unlinked resources all answer
// invalid_target with distinct descriptions (the client already proved who it is).
func (s *Server) resolveResource(ctx context.Context, client *store.Client, requested []string) (*store.Resource, error) {
	switch len(requested) {
	case 0:
		return s.defaultResource(ctx, client)
	case 1:
	default:
		// Each resource has its own token policy (alg, format, TTL), so one access token
		// serves exactly one resource; ask once per resource.
		return nil, oautherr.New(oautherr.InvalidTarget, "request one resource per access token")
	}
	identifier := requested[0]
	if err := spec.ValidateResourceIdentifier("resource", identifier); err != nil {
		return nil, oautherr.New(oautherr.InvalidTarget, "resource must be an absolute URI without a fragment")
	}
	res, err := s.lookups.resourceByIdentifier(ctx, identifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oautherr.New(oautherr.InvalidTarget, "the resource is unknown")
	} else if err != nil {
		return nil, err
	}
	if res.Disabled {
		return nil, oautherr.New(oautherr.InvalidTarget, "the resource is disabled")
	}
	if *s.cfg.EnforcePerClientResources {
		linked, err := s.lookups.mayGetTokens(ctx, client, res)
		if err != nil {
			return nil, err
		}
		if !linked {
			return nil, oautherr.New(oautherr.InvalidTarget, "the client may not request tokens for this resource")
		}
	}
	return res, nil
}

// errNoDefaultResource answers a request without resource from a client that has no
// default resource (RFC 8707 §2 leaves the choice to the server; this one does not guess).
var errNoDefaultResource = oautherr.New(oautherr.InvalidTarget,
	"the resource parameter is required: send the resource parameter, or configure default_resource for the client")

// defaultResource is the resource of a request that names none: the client's
// default_resource, else the one resource it is linked to. A client linked to several (or
// none) without a default must say which it wants.
func (s *Server) defaultResource(ctx context.Context, client *store.Client) (*store.Resource, error) {
	if client.DefaultResource != "" {
		return s.resolveResource(ctx, client, []string{client.DefaultResource})
	}
	links, err := s.tokenLinks(ctx, client.ID)
	if err != nil {
		return nil, err
	}
	if len(links) != 1 {
		return nil, errNoDefaultResource
	}
	res, err := s.st.GetResource(ctx, links[0].ResourceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoDefaultResource
	} else if err != nil {
		return nil, err
	}
	if res.Disabled {
		return nil, oautherr.New(oautherr.InvalidTarget, "the resource is disabled")
	}
	return res, nil
}

// tokenLinks are the client's links that let it obtain tokens; links that only let it
// introspect a resource's tokens play no part in issuance.
func (s *Server) tokenLinks(ctx context.Context, clientID string) ([]*store.ClientResource, error) {
	links, err := s.st.ListClientResources(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(links, func(l *store.ClientResource) bool { return !l.Tokens }), nil
}

// grantScopes checks the requested scope against the client's and the resource's allowlists.
// Any scope outside them fails the request (RFC 6749 §5.2 invalid_scope) rather than being
// dropped silently.
func grantScopes(param string, client *store.Client, res *store.Resource) ([]string, error) {
	requested, ok := parseScope(param)
	if !ok {
		return nil, oautherr.New(oautherr.InvalidScope, "scope is malformed")
	}
	if len(requested) == 0 {
		return defaultScopes(client.Scopes, res.AllowedScopes), nil
	}
	for _, sc := range requested {
		if !allowedBy(client.Scopes, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the client may not request")
		}
		if !allowedBy(res.AllowedScopes, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the resource does not accept")
		}
	}
	return requested, nil
}

// clientCredentials is RFC 6749 §4.4: the client acts on its own behalf.
func (s *Server) clientCredentials(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	if client.TokenEndpointAuthMethod == "none" {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "public clients cannot use client_credentials")
	}
	res, err := s.resolveResource(ctx, client, r.PostForm["resource"])
	if err != nil {
		return nil, err
	}
	scopes, err := grantScopes(formValue(r.PostForm, "scope"), client, res)
	if err != nil {
		return nil, err
	}
	proof, err := s.tokenProof(r, res.DPoPBoundAccessTokensRequired || client.DPoPBoundAccessTokens)
	if err != nil {
		return nil, err
	}
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	return s.issueAccessToken(ctx, accessTokenRequest{client: client, subject: client.ID, resource: res, scopes: scopes,
		jkt: proofJKT(proof), x5t: s.tokenCertBinding(r, client), grantType: "client_credentials"})
}

// writeJSON sends v with the no-store headers every token-bearing response needs.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
