package authserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// reservedClaims may not be set by a resource's custom claims: they are the RFC 9068 / RFC 7519
// claims the server itself vouches for (plus cnf, which carries the sender constraint).
var reservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "auth_time", "acr", "amr", "cnf"}

// stripReservedClaims returns claims without reserved names and the names it dropped.
func stripReservedClaims(claims map[string]any) (map[string]any, []string) {
	var dropped []string
	for _, name := range reservedClaims {
		if _, ok := claims[name]; ok {
			dropped = append(dropped, name)
		}
	}
	if len(dropped) == 0 {
		return claims, nil
	}
	out := maps.Clone(claims)
	for _, name := range dropped {
		delete(out, name)
	}
	return out, dropped
}

// seedResources applies the configured resources to the store according to the seed mode.
func (s *Server) seedResources(ctx context.Context) error {
	for _, rc := range s.cfg.Resources {
		existing, err := s.st.GetResourceByIdentifier(ctx, rc.Identifier)
		switch {
		case errors.Is(err, store.ErrNotFound):
			r := &store.Resource{Identifier: rc.Identifier, PolicyVersion: 1}
			s.applyResourceConfig(r, rc, true)
			if err := s.st.CreateResource(ctx, r); err != nil && !errors.Is(err, store.ErrConflict) {
				// ErrConflict: another instance seeded it first, which is what we wanted.
				return fmt.Errorf("seeding resource %s: %w", rc.Identifier, err)
			}
		case err != nil:
			return fmt.Errorf("seeding resource %s: %w", rc.Identifier, err)
		case s.cfg.ResourceSeedMode == SeedInsertOnly:
			// Stored rows win: admin edits are never reverted by a restart.
		default:
			s.applyResourceConfig(existing, rc, s.cfg.ResourceSeedMode == SeedOverwrite)
			if err := s.st.UpdateResource(ctx, existing); err != nil {
				return fmt.Errorf("seeding resource %s: %w", rc.Identifier, err)
			}
		}
	}
	return nil
}

// applyResourceConfig writes rc into r. With replace, unset config fields reset the stored
// field to "inherit"; without it (merge), unset fields leave the stored value alone.
func (s *Server) applyResourceConfig(r *store.Resource, rc ResourceConfig, replace bool) {
	seconds := func(d *time.Duration) *int64 {
		if d == nil {
			return nil
		}
		v := int64(d.Seconds())
		return &v
	}
	if rc.Name != "" || replace {
		r.Name = rc.Name
		if r.Name == "" {
			r.Name = rc.Identifier
		}
	}
	if rc.AccessTokenTTL != nil || replace {
		r.AccessTokenTTL = seconds(rc.AccessTokenTTL)
	}
	if rc.RefreshTokenTTL != nil || replace {
		r.RefreshTokenTTL = seconds(rc.RefreshTokenTTL)
	}
	if rc.AccessTokenFormat != "" || replace {
		r.AccessTokenFormat = rc.AccessTokenFormat
	}
	if rc.SigningAlg != "" || replace {
		r.SigningAlg = rc.SigningAlg
	}
	if rc.SigningKeyID != "" || replace {
		r.SigningKeyID = rc.SigningKeyID
	}
	if rc.AllowedScopes != nil || replace {
		r.AllowedScopes = slices.Clone(rc.AllowedScopes)
	}
	if rc.CustomClaims != nil || replace {
		claims, dropped := stripReservedClaims(rc.CustomClaims)
		if len(dropped) > 0 {
			s.log.Warn("custom claims use reserved names and are dropped",
				zap.String("resource", rc.Identifier), zap.Strings("claims", dropped))
		}
		r.CustomClaims = claims
	}
	if rc.DPoPBoundAccessTokensRequired != nil || replace {
		r.DPoPBoundAccessTokensRequired = rc.DPoPBoundAccessTokensRequired != nil && *rc.DPoPBoundAccessTokensRequired
	}
	if rc.Disabled != nil || replace {
		r.Disabled = rc.Disabled != nil && *rc.Disabled
	}
	if rc.Metadata != nil || replace {
		r.Metadata = rc.Metadata
	}
}

// knownGrantTypes guards against typos in configured grant types.
var knownGrantTypes = []string{
	"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code", "urn:openid:params:grant-type:ciba",
	"urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer",
}

// seedClients writes the configured clients (the configuration is their source of truth) and
// links them to their resources: one link per resource, granting tokens for the client's
// resources and introspection for the ones it introspects.
func (s *Server) seedClients(ctx context.Context) error {
	for _, cc := range s.cfg.Clients {
		c, err := s.clientFromConfig(cc)
		if err != nil {
			return fmt.Errorf("client %s: %w", cc.ID, err)
		}
		if err := s.st.UpsertClient(ctx, c); err != nil {
			return fmt.Errorf("client %s: %w", cc.ID, err)
		}
		for _, link := range configuredLinks(cc) {
			r, err := s.st.GetResourceByIdentifier(ctx, link.identifier)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client %s: resource %s is not declared", cc.ID, link.identifier)
			} else if err != nil {
				return fmt.Errorf("client %s: %w", cc.ID, err)
			}
			err = s.st.LinkClientResource(ctx, &store.ClientResource{ClientID: c.ID, ResourceID: r.ID, Tokens: link.tokens, Introspect: link.introspect})
			if err != nil {
				return fmt.Errorf("client %s: linking %s: %w", cc.ID, link.identifier, err)
			}
		}
	}
	return nil
}

// configuredLink is what a client's configuration grants it on one resource.
type configuredLink struct {
	identifier         string
	tokens, introspect bool
}

// configuredLinks merges a client's resources and introspects into one link per resource, in
// the order they first appear.
func configuredLinks(cc ClientConfig) []configuredLink {
	var links []configuredLink
	index := map[string]int{}
	grant := func(identifier string) *configuredLink {
		i, ok := index[identifier]
		if !ok {
			i = len(links)
			index[identifier] = i
			links = append(links, configuredLink{identifier: identifier})
		}
		return &links[i]
	}
	for _, id := range cc.Resources {
		grant(id).tokens = true
	}
	for _, id := range cc.Introspects {
		grant(id).introspect = true
	}
	return links
}

func (s *Server) clientFromConfig(cc ClientConfig) (*store.Client, error) {
	c := &store.Client{
		ID:                          cc.ID,
		Name:                        cc.Name,
		TokenEndpointAuthMethod:     cc.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: cc.TokenEndpointAuthSigningAlg,
		GrantTypes:                  slices.Clone(cc.GrantTypes),
		RedirectURIs:                slices.Clone(cc.RedirectURIs),
		RedirectURIAnyLoopbackPort:  cc.RedirectURIAnyLoopbackPort,
		Scopes:                      slices.Clone(cc.Scopes),
		JWKS:                        cc.JWKS,
		JWKSURI:                     cc.JWKSURI,
		DPoPBoundAccessTokens:       cc.DPoPBoundAccessTokens,
		PostLogoutRedirectURIs:      slices.Clone(cc.PostLogoutRedirectURIs),
		SubjectType:                 cc.SubjectType,
		SectorIdentifier:            cc.SectorIdentifier,
		IDTokenSignedResponseAlg:    cc.IDTokenSignedResponseAlg,
		SkipConsent:                 cc.SkipConsent,
		PKCEOptional:                cc.PKCEOptional,
		RefreshWithoutOfflineAccess: cc.RefreshWithoutOfflineAccess,
		DefaultResource:             cc.DefaultResource,
	}
	hasSecret := cc.Secret != "" || cc.SecretHash != ""
	if cc.Secret != "" && cc.SecretHash != "" {
		return nil, errors.New("set secret or secret_hash, not both")
	}
	if c.TokenEndpointAuthMethod == "" {
		switch {
		case hasSecret:
			c.TokenEndpointAuthMethod = "client_secret_basic"
		case cc.JWKS != "" || cc.JWKSURI != "":
			c.TokenEndpointAuthMethod = "private_key_jwt"
		default:
			c.TokenEndpointAuthMethod = "none"
		}
	}
	switch c.TokenEndpointAuthMethod {
	case "client_secret_basic", "client_secret_post":
		if !hasSecret {
			return nil, fmt.Errorf("auth_method %s needs a secret", c.TokenEndpointAuthMethod)
		}
	case "client_secret_jwt":
		if cc.Secret == "" {
			return nil, errors.New("auth_method client_secret_jwt needs the secret itself (HMAC key), not secret_hash")
		}
		sealed, err := s.deps.Sealer.Seal([]byte(cc.Secret), []byte(cc.ID))
		if err != nil {
			return nil, err
		}
		c.SecretSealed = sealed
	case "private_key_jwt":
		if cc.JWKS == "" && cc.JWKSURI == "" {
			return nil, errors.New("auth_method private_key_jwt needs jwks or jwks_uri")
		}
		if hasSecret {
			return nil, errors.New("auth_method private_key_jwt takes no secret")
		}
	case "none":
		if hasSecret {
			return nil, errors.New("a public client (auth_method none) takes no secret")
		}
	default:
		return nil, fmt.Errorf("auth_method %q is not supported", c.TokenEndpointAuthMethod)
	}
	switch {
	case cc.SecretHash != "":
		if err := clientsecret.ValidateEncoded(cc.SecretHash); err != nil {
			return nil, fmt.Errorf("secret_hash: %w", err)
		}
		c.SecretHash = cc.SecretHash
	case cc.Secret != "":
		h, err := clientsecret.Hash(cc.Secret)
		if err != nil {
			return nil, err
		}
		c.SecretHash = h
		if !clientsecret.IsHighEntropy(cc.Secret) {
			s.log.Warn("client secret has low entropy: it is stored with a slow hash, which limits token throughput; use `caddy oauth-secret` to generate one",
				zap.String("client_id", cc.ID))
		}
	}
	if len(c.GrantTypes) == 0 {
		if c.TokenEndpointAuthMethod == "none" {
			c.GrantTypes = []string{"authorization_code"}
		} else {
			c.GrantTypes = []string{"client_credentials"}
		}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrantTypes, g) {
			return nil, fmt.Errorf("grant type %q is unknown", g)
		}
	}
	if c.TokenEndpointAuthMethod == "none" && slices.Contains(c.GrantTypes, "client_credentials") {
		return nil, errors.New("a public client (auth_method none) cannot use client_credentials")
	}
	if c.TokenEndpointAuthMethod == "none" && len(cc.Introspects) > 0 {
		return nil, errors.New("a public client (auth_method none) cannot introspect: introspects needs a confidential client")
	}
	for _, sc := range c.Scopes {
		if !validScopeToken(sc) {
			return nil, fmt.Errorf("scope %q is not a valid scope token", sc)
		}
	}
	return c, nil
}
