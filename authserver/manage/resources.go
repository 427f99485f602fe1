package manage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// ListResources returns one page of resources ordered by ID.
func (s *Service) ListResources(ctx context.Context, q store.ResourceQuery) ([]*store.Resource, error) {
	return s.d.Store.ListResourcesPage(ctx, q)
}

// GetResource returns the resource with identifier; ErrNotFound if there is none.
func (s *Service) GetResource(ctx context.Context, identifier string) (*store.Resource, error) {
	r, err := s.d.Store.GetResourceByIdentifier(ctx, identifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("resource %q: %w", identifier, ErrNotFound)
	}
	return r, err
}

// CreateResource validates rc and stores it as a new resource; ErrExists if the identifier
// is taken, ErrConfigured if the configuration declares it.
func (s *Service) CreateResource(ctx context.Context, rc spec.Resource) (*store.Resource, error) {
	if err := s.checkResource(rc); err != nil {
		return nil, err
	}
	r := &store.Resource{Identifier: rc.Identifier, PolicyVersion: 1}
	s.apply(r, rc)
	if err := s.d.Store.CreateResource(ctx, r); errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("resource %q: %w", rc.Identifier, ErrExists)
	} else if err != nil {
		return nil, err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.ResourceCreated, zap.String("resource", r.Identifier), zap.String("id", r.ID))
	return r, nil
}

// ReplaceResource replaces every policy field of the existing resource rc.Identifier (unset
// fields inherit the server defaults again) and moves its policy version on.
func (s *Service) ReplaceResource(ctx context.Context, rc spec.Resource) (*store.Resource, error) {
	if err := s.checkResource(rc); err != nil {
		return nil, err
	}
	existing, err := s.GetResource(ctx, rc.Identifier)
	if err != nil {
		return nil, err
	}
	r := *existing
	s.apply(&r, rc)
	r.PolicyVersion++
	if err := s.d.Store.UpdateResource(ctx, &r); err != nil {
		return nil, err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.ResourceReplaced, zap.String("resource", r.Identifier), zap.Int("policy_version", r.PolicyVersion), zap.Bool("disabled", r.Disabled))
	return &r, nil
}

// DeleteResource deletes the resource and its links: its tokens stop being active (the
// server checks the resource of every token it validates).
func (s *Service) DeleteResource(ctx context.Context, identifier string) error {
	if s.d.ConfiguredResource(identifier) {
		return configured("resource", identifier)
	}
	r, err := s.GetResource(ctx, identifier)
	if err != nil {
		return err
	}
	if err := s.d.Store.DeleteResource(ctx, r.ID); err != nil {
		return err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.ResourceDeleted, zap.String("resource", identifier), zap.String("id", r.ID))
	return nil
}

func (s *Service) checkResource(rc spec.Resource) error {
	if err := spec.ValidateResource(rc, s.d.Env); err != nil {
		return err
	}
	if s.d.ConfiguredResource(rc.Identifier) {
		return configured("resource", rc.Identifier)
	}
	return nil
}

// apply writes every field of rc into r, logging the custom claims it drops.
func (s *Service) apply(r *store.Resource, rc spec.Resource) {
	if dropped := ApplyResource(r, rc, true); len(dropped) > 0 {
		s.log.Warn("custom claims use reserved names and are dropped",
			zap.String("resource", rc.Identifier), zap.Strings("claims", dropped))
	}
}

// ReservedClaims may not be set by a resource's custom claims: they are the RFC 9068 / RFC
// 7519 claims the server itself vouches for (plus cnf, which carries the sender constraint).
var ReservedClaims = spec.ReservedClaims

// ApplyResource writes rc into the stored resource r and returns the reserved custom claims
// it dropped. With replace, unset fields reset the stored field to "inherit the server
// default"; without it (the merge seed mode), unset fields leave the stored value alone.
func ApplyResource(r *store.Resource, rc spec.Resource, replace bool) (dropped []string) {
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
	if rc.AccountClaims != nil || replace {
		r.AccountClaims = slices.Clone(rc.AccountClaims)
	}
	if rc.CustomClaims != nil || replace {
		r.CustomClaims, dropped = StripReservedClaims(rc.CustomClaims)
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
	return dropped
}

// StripReservedClaims returns claims without reserved names and the names it dropped.
func StripReservedClaims(claims map[string]any) (map[string]any, []string) {
	var dropped []string
	for _, name := range ReservedClaims {
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
