package authserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Extension points (package extension): grants of other modules at the token endpoint, and
// claims contributed to access tokens, the resource's account_claims among them.

// extensionDefaults checks the extension grants: each serves one absolute-URI grant type
// (RFC 6749 §4.5) that no built-in grant and no other extension serves.
func (c *Config) extensionDefaults() error {
	seen := map[string]bool{}
	for i, g := range c.ExtensionGrants {
		if g == nil {
			return fmt.Errorf("extension grant %d is nil", i)
		}
		t := g.GrantType()
		if u, err := url.Parse(t); err != nil || !u.IsAbs() {
			return fmt.Errorf("extension grant type %q: want an absolute URI (RFC 6749 §4.5)", t)
		}
		if slices.Contains(spec.GrantTypes, t) {
			return fmt.Errorf("extension grant type %q: a built-in grant serves it", t)
		}
		if seen[t] {
			return fmt.Errorf("extension grant type %q: served by two extensions", t)
		}
		seen[t] = true
	}
	for i, cc := range c.ClaimContributors {
		if cc == nil {
			return fmt.Errorf("claim contributor %d is nil", i)
		}
	}
	return nil
}

// extensionGrantTypes are the grant types the extension grants serve, which clients may
// then be given.
func (c Config) extensionGrantTypes() []string {
	out := make([]string, len(c.ExtensionGrants))
	for i, g := range c.ExtensionGrants {
		out[i] = g.GrantType()
	}
	return out
}

// addExtensionGrants serves the extension grants at the token endpoint.
func (s *Server) addExtensionGrants(grants map[string]grantHandler) {
	for _, g := range s.cfg.ExtensionGrants {
		grants[g.GrantType()] = s.extensionGrant(g)
	}
}

// clientCredentialParams are the token request parameters that authenticate the client: an
// extension never sees them.
var clientCredentialParams = []string{"grant_type", "client_secret", "client_assertion", "client_assertion_type"}

// extensionGrant serves g: g decides who the token is for, the resource and scopes go through
// the same checks as client_credentials, and the token is minted under the resource's policy.
func (s *Server) extensionGrant(g extension.Grant) grantHandler {
	return func(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
		params := url.Values{}
		for k, v := range r.PostForm {
			if !slices.Contains(clientCredentialParams, k) {
				params[k] = slices.Clone(v)
			}
		}
		dec, err := g.Token(ctx, &extension.GrantRequest{GrantType: g.GrantType(), Client: extensionClient(client),
			Params: params, Header: r.Header.Clone()})
		var refused *oautherr.Error
		switch {
		case errors.As(err, &refused):
			return nil, refused
		case err != nil:
			return nil, oautherr.Server(fmt.Errorf("extension grant %s: %w", g.GrantType(), err))
		case dec == nil:
			return nil, oautherr.Server(fmt.Errorf("extension grant %s returned no decision", g.GrantType()))
		}
		resources := r.PostForm["resource"]
		if dec.Resource != "" {
			resources = []string{dec.Resource}
		}
		res, err := s.resolveResource(ctx, client, resources)
		if err != nil {
			return nil, err
		}
		var scopes []string
		if dec.Scopes != nil {
			scopes, err = checkScopes(dec.Scopes, client, res)
		} else {
			scopes, err = grantScopes(formValue(r.PostForm, "scope"), client, res)
		}
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
		subject := dec.Subject
		if subject == "" {
			subject = client.ID
		}
		return s.issueAccessToken(ctx, accessTokenRequest{client: client, subject: subject, resource: res, scopes: scopes,
			jkt: proofJKT(proof), x5t: s.tokenCertBinding(r, client), grantType: g.GrantType(),
			claims: s.allowedClaims("extension grant "+g.GrantType(), dec.Claims)})
	}
}

// checkScopes checks scopes a grant decided on against the client's and the resource's
// allowlists, as grantScopes does for a requested scope.
func checkScopes(scopes []string, client *store.Client, res *store.Resource) ([]string, error) {
	for _, sc := range scopes {
		if !allowedBy(client.Scopes, sc) || !allowedBy(res.AllowedScopes, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "the grant decided on a scope the client or the resource does not allow")
		}
	}
	return scopes, nil
}

func extensionClient(c *store.Client) extension.Client {
	return extension.Client{ID: c.ID, Name: c.Name, Public: c.TokenEndpointAuthMethod == "none",
		Scopes: slices.Clone(c.Scopes), GrantTypes: slices.Clone(c.GrantTypes), Metadata: maps.Clone(c.Metadata)}
}

// allowedClaims drops the registered and reserved claims from claims an extension wants in a
// token (logged: it is a configuration mistake, not the client's).
func (s *Server) allowedClaims(from string, claims map[string]any) map[string]any {
	out, dropped := manage.StripReservedClaims(claims)
	if len(dropped) > 0 {
		s.log.Warn("dropped reserved claims an extension set", zap.String("from", from), zap.Strings("claims", dropped))
	}
	return out
}

// tokenClaims are the claims of one access token beyond the registered ones: the resource's
// custom claims, then its account_claims and every claim contributor's (a later one's claim
// replacing an earlier one's), then the grant's own (req.claims: an extension grant's, or
// token exchange's act). nil when there are none of the per-token kind, so the caller can
// use the resource's cached fragment.
func (s *Server) tokenClaims(ctx context.Context, req accessTokenRequest) (map[string]any, error) {
	accountClaims := req.accountSubject != "" && len(req.resource.AccountClaims) > 0
	if len(req.claims) == 0 && len(s.cfg.ClaimContributors) == 0 && !accountClaims {
		return nil, nil
	}
	out, _ := manage.StripReservedClaims(req.resource.CustomClaims)
	out = maps.Clone(out)
	if out == nil {
		out = map[string]any{}
	}
	var account map[string]any
	if req.accountSubject != "" && (accountClaims || len(s.cfg.ClaimContributors) > 0) {
		acc, err := s.accounts.Account(ctx, req.accountSubject)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if acc != nil {
			account = acc.Claims
		}
	}
	for _, name := range req.resource.AccountClaims {
		if v, ok := account[name]; ok {
			out[name] = v
		}
	}
	if len(s.cfg.ClaimContributors) > 0 {
		creq := extension.ClaimsRequest{ClientID: req.client.ID, GrantType: req.grantType, Subject: req.accountSubject,
			Account: maps.Clone(account), Resource: req.resource.Identifier, Scopes: slices.Clone(req.scopes)}
		if creq.Subject == "" {
			creq.Subject = req.subject
		}
		for i, c := range s.cfg.ClaimContributors {
			claims, err := c.AccessTokenClaims(ctx, creq)
			if err != nil {
				return nil, fmt.Errorf("claim contributor %d (%T): %w", i, c, err)
			}
			maps.Copy(out, s.allowedClaims(fmt.Sprintf("claim contributor %T", c), claims))
		}
	}
	maps.Copy(out, req.claims)
	return out, nil
}
