package authserver

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

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

// applyResourceConfig writes rc into r (see manage.ApplyResource), logging the reserved
// custom claims it drops.
func (s *Server) applyResourceConfig(r *store.Resource, rc ResourceConfig, replace bool) {
	if dropped := manage.ApplyResource(r, rc, replace); len(dropped) > 0 {
		s.log.Warn("custom claims use reserved names and are dropped",
			zap.String("resource", rc.Identifier), zap.Strings("claims", dropped))
	}
}

// seedClients writes the configured clients (the configuration is their source of truth) and
// links them to their resources: one link per resource, granting tokens for the client's
// resources and introspection for the ones it introspects. Config.withDefaults normalized them.
func (s *Server) seedClients(ctx context.Context) error {
	for _, cc := range s.cfg.Clients {
		c, err := s.clientRecord(cc)
		if err != nil {
			return fmt.Errorf("client %q: %w", cc.ID, err)
		}
		if err := s.st.UpsertClient(ctx, c); err != nil {
			return fmt.Errorf("client %q: %w", cc.ID, err)
		}
		for _, link := range spec.Links(cc) {
			r, err := s.st.GetResourceByIdentifier(ctx, link.Resource)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client %q: resource %q is not declared", cc.ID, link.Resource)
			} else if err != nil {
				return fmt.Errorf("client %q: %w", cc.ID, err)
			}
			err = s.st.LinkClientResource(ctx, &store.ClientResource{ClientID: c.ID, ResourceID: r.ID, Tokens: link.Tokens, Introspect: link.Introspect})
			if err != nil {
				return fmt.Errorf("client %q: linking %s: %w", cc.ID, link.Resource, err)
			}
		}
	}
	return nil
}

// clientRecord is the stored row of a normalized client; it warns about a weak secret, which
// is stored with a slow hash and so limits the client's token throughput.
func (s *Server) clientRecord(c spec.Client) (*store.Client, error) {
	if c.Secret != "" && !clientsecret.IsHighEntropy(c.Secret) {
		s.log.Warn("client secret has low entropy: it is stored with a slow hash, which limits token throughput; use `caddy oauth-secret` to generate one",
			zap.String("client_id", c.ID))
	}
	return spec.ClientRecord(c, s.deps.Sealer.Seal)
}
