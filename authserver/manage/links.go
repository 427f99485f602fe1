package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// LinkView is a stored link with its resource named by identifier.
type LinkView struct {
	ClientID   string
	Resource   string // identifier
	ResourceID string
	Tokens     bool
	Introspect bool
	Metadata   map[string]any
}

// PutLink creates or replaces the link between a client and a resource. The links of a
// configured client belong to the configuration (ErrConfigured); a missing client or
// resource is ErrNotFound.
func (s *Service) PutLink(ctx context.Context, l spec.Link) (*LinkView, error) {
	if s.d.ConfiguredClient(l.ClientID) {
		return nil, configured("client", l.ClientID)
	}
	c, err := s.GetClient(ctx, l.ClientID)
	if err != nil {
		return nil, err
	}
	// The rules of a link need only what the stored client says about its credentials.
	if err := spec.ValidateLink(spec.Client{ID: c.ID, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod}, l); err != nil {
		return nil, err
	}
	r, err := s.GetResource(ctx, l.Resource)
	if err != nil {
		return nil, err
	}
	link := &store.ClientResource{ClientID: c.ID, ResourceID: r.ID, Tokens: l.Tokens, Introspect: l.Introspect, Metadata: l.Metadata}
	if err := s.d.Store.LinkClientResource(ctx, link); err != nil {
		return nil, err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.LinkStored, zap.String("client_id", c.ID), zap.String("resource", r.Identifier),
		zap.Bool("tokens", l.Tokens), zap.Bool("introspect", l.Introspect))
	return &LinkView{ClientID: c.ID, Resource: r.Identifier, ResourceID: r.ID, Tokens: l.Tokens, Introspect: l.Introspect, Metadata: l.Metadata}, nil
}

// DeleteLink removes the link between a client and a resource; ErrNotFound if there is none.
func (s *Service) DeleteLink(ctx context.Context, clientID, identifier string) error {
	if s.d.ConfiguredClient(clientID) {
		return configured("client", clientID)
	}
	r, err := s.GetResource(ctx, identifier)
	if err != nil {
		return err
	}
	links, err := s.d.Store.ListLinks(ctx, store.LinkQuery{ClientID: clientID, ResourceID: r.ID})
	if err != nil {
		return err
	}
	if len(links) == 0 {
		return fmt.Errorf("link of client %q to %q: %w", clientID, identifier, ErrNotFound)
	}
	if err := s.d.Store.UnlinkClientResource(ctx, clientID, r.ID); err != nil {
		return err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.LinkDeleted, zap.String("client_id", clientID), zap.String("resource", identifier))
	return nil
}

// ListLinks returns the links of a client, of a resource (by identifier), or of both; empty
// filters do not filter. An unknown resource has no links.
func (s *Service) ListLinks(ctx context.Context, clientID, identifier string) ([]LinkView, error) {
	q := store.LinkQuery{ClientID: clientID}
	if identifier != "" {
		r, err := s.d.Store.GetResourceByIdentifier(ctx, identifier)
		if errors.Is(err, store.ErrNotFound) {
			return []LinkView{}, nil
		} else if err != nil {
			return nil, err
		}
		q.ResourceID = r.ID
	}
	links, err := s.d.Store.ListLinks(ctx, q)
	if err != nil {
		return nil, err
	}
	identifiers := map[string]string{} // resource ID -> identifier
	views := make([]LinkView, 0, len(links))
	for _, l := range links {
		id, ok := identifiers[l.ResourceID]
		if !ok {
			r, err := s.d.Store.GetResource(ctx, l.ResourceID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since listed
			} else if err != nil {
				return nil, err
			}
			id = r.Identifier
			identifiers[l.ResourceID] = id
		}
		views = append(views, LinkView{ClientID: l.ClientID, Resource: id, ResourceID: l.ResourceID, Tokens: l.Tokens, Introspect: l.Introspect, Metadata: l.Metadata})
	}
	return views, nil
}
