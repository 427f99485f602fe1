package authserver

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// lookupTTL bounds how stale a cached client or resource may be when another instance changes
// it; writes through this server invalidate at once.
const lookupTTL = 30 * time.Second

// lookups caches the reads on the token endpoint's hot path: clients, resources by identifier
// and client↔resource links. A lost entry only costs one store read, so ristretto's
// best-effort admission is fine here.
type lookups struct {
	st        store.Store
	clients   *ristretto.Cache[string, *store.Client]
	resources *ristretto.Cache[string, *store.Resource]
	links     *ristretto.Cache[string, bool]
	// documents resolves client IDs that are URLs of client ID metadata documents; nil when
	// they are off.
	documents *clientidmeta.Resolver
}

func newLookups(st store.Store) (*lookups, error) {
	clients, err := ristretto.NewCache(&ristretto.Config[string, *store.Client]{NumCounters: 1e5, MaxCost: 1e4, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	resources, err := ristretto.NewCache(&ristretto.Config[string, *store.Resource]{NumCounters: 1e5, MaxCost: 1e4, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	links, err := ristretto.NewCache(&ristretto.Config[string, bool]{NumCounters: 1e6, MaxCost: 1e5, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	return &lookups{st: st, clients: clients, resources: resources, links: links}, nil
}

// GetClient returns the client with id; the returned value is shared and must not be modified.
// A stored client comes first, so an operator may pre-register a client ID URL (and pin its
// metadata); otherwise a URL is resolved as a client ID metadata document, whose resolver
// keeps its own cache (lifetimes from the document's cache headers).
func (l *lookups) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if c, ok := l.clients.Get(id); ok {
		return c, nil
	}
	c, err := l.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) && l.documents != nil && l.documents.Handles(id) {
		return l.documents.Resolve(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	l.clients.SetWithTTL(id, c, 1, lookupTTL)
	return c, nil
}

// resourceByIdentifier returns the resource; the value is shared and must not be modified.
func (l *lookups) resourceByIdentifier(ctx context.Context, identifier string) (*store.Resource, error) {
	if r, ok := l.resources.Get(identifier); ok {
		return r, nil
	}
	r, err := l.st.GetResourceByIdentifier(ctx, identifier)
	if err != nil {
		return nil, err
	}
	l.resources.SetWithTTL(identifier, r, 1, lookupTTL)
	return r, nil
}

// isLinked reports whether the client may obtain tokens for the resource.
func (l *lookups) isLinked(ctx context.Context, clientID, resourceID string) (bool, error) {
	return l.link("tokens\x00"+clientID+"\x00"+resourceID, func() (bool, error) {
		return l.st.IsClientLinked(ctx, clientID, resourceID)
	})
}

// mayGetTokens reports whether the client may obtain tokens for the resource when links are
// enforced: its link, or for a metadata-document client (which has no links) the resources
// the configuration opens to such clients.
func (l *lookups) mayGetTokens(ctx context.Context, client *store.Client, res *store.Resource) (bool, error) {
	if client.Source == store.SourceMetadataDocument && l.documents != nil {
		return l.documents.MayGetTokens(res.Identifier), nil
	}
	return l.isLinked(ctx, client.ID, res.ID)
}

// isIntrospector reports whether the client may introspect the resource's tokens.
func (l *lookups) isIntrospector(ctx context.Context, clientID, resourceID string) (bool, error) {
	return l.link("introspect\x00"+clientID+"\x00"+resourceID, func() (bool, error) {
		return l.st.IsClientIntrospector(ctx, clientID, resourceID)
	})
}

// link caches one yes/no answer about a client–resource link under key.
func (l *lookups) link(key string, read func() (bool, error)) (bool, error) {
	if ok, hit := l.links.Get(key); hit {
		return ok, nil
	}
	ok, err := read()
	if err != nil {
		return false, err
	}
	l.links.SetWithTTL(key, ok, 1, lookupTTL)
	return ok, nil
}

// invalidate drops everything cached; called after this server writes clients, resources or
// links (rare: start-up seeding and admin changes).
func (l *lookups) invalidate() {
	l.clients.Clear()
	l.resources.Clear()
	l.links.Clear()
}

func (l *lookups) close() {
	l.clients.Close()
	l.resources.Close()
	l.links.Close()
}
