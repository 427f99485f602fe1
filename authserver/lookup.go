package authserver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// How the lookups stay fresh: writes through this server invalidate at once; every server polls
// the store's revision (which every client, resource and link write moves) each
// Config.CacheSyncInterval and drops its caches when it moved, so another instance's change is
// seen within that interval. lookupTTL is only the safety net for a poll that keeps failing.
const lookupTTL = 10 * time.Minute

// Cache bounds, in entries. A cached client costs about 0.8 KiB (BenchmarkClientLookupCache),
// so the client bound caps that cache near 200 MiB; the caches only grow with the clients
// actually used. They are this large so that token issuance does not slow down with the
// number of registered clients: an evicted client costs a database read on its next token.
const (
	maxCachedClients   = 1 << 18
	maxCachedResources = 1 << 14
	maxCachedLinks     = 1 << 20
)

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
	// revision is the store revision the caches were last synchronised with.
	revision atomic.Int64
	// guard keeps a read that straddles invalidate from caching what it made stale.
	guard fillGuard
}

func newLookups(st store.Store) (*lookups, error) {
	// NumCounters ~ 4× the entries expected in use (ristretto's guidance is 10× the entries
	// when full; the counters are allocated up front, ~2 bytes each).
	clients, err := ristretto.NewCache(&ristretto.Config[string, *store.Client]{NumCounters: 1 << 20, MaxCost: maxCachedClients, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	resources, err := ristretto.NewCache(&ristretto.Config[string, *store.Resource]{NumCounters: 1 << 17, MaxCost: maxCachedResources, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	links, err := ristretto.NewCache(&ristretto.Config[string, bool]{NumCounters: 1 << 22, MaxCost: maxCachedLinks, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	return &lookups{st: st, clients: clients, resources: resources, links: links}, nil
}

// GetClient returns the client with id: the stored row, else, for the URL of a client ID
// metadata document, the client the document describes. The value is shared and must not be
// modified.
func (l *lookups) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := l.storedClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return l.documents.Resolve(ctx, id)
	}
	return c, nil
}

// storedClient returns the stored row of id, cached. For a metadata-document ID without a row
// it returns (nil, nil) and caches that too, so a document client's requests skip the database
// read; a pre-registration moves the store revision, which clears it within
// cache_sync_interval (at once on this instance).
func (l *lookups) storedClient(ctx context.Context, id string) (*store.Client, error) {
	if c, ok := l.clients.Get(id); ok {
		return c, nil
	}
	epoch := l.guard.begin()
	c, err := l.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) && l.documents != nil && l.documents.Handles(id) {
		c, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	l.guard.fill(epoch, func() { l.clients.SetWithTTL(id, c, 1, lookupTTL) })
	return c, nil
}

// resourceByIdentifier returns the resource; the value is shared and must not be modified.
func (l *lookups) resourceByIdentifier(ctx context.Context, identifier string) (*store.Resource, error) {
	if r, ok := l.resources.Get(identifier); ok {
		return r, nil
	}
	epoch := l.guard.begin()
	r, err := l.st.GetResourceByIdentifier(ctx, identifier)
	if err != nil {
		return nil, err
	}
	l.guard.fill(epoch, func() { l.resources.SetWithTTL(identifier, r, 1, lookupTTL) })
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
	epoch := l.guard.begin()
	ok, err := read()
	if err != nil {
		return false, err
	}
	l.guard.fill(epoch, func() { l.links.SetWithTTL(key, ok, 1, lookupTTL) })
	return ok, nil
}

// sync drops everything cached when the store's revision moved since the last call: another
// instance (or this one) changed a client, resource or link. It reports whether it moved.
func (l *lookups) sync(ctx context.Context) (moved bool, err error) {
	rev, err := l.st.Revision(ctx)
	if err != nil {
		return false, err
	}
	if prev := l.revision.Swap(rev); prev != rev {
		l.invalidate()
		return true, nil
	}
	return false, nil
}

// invalidate drops everything cached; called after this server writes clients, resources or
// links (start-up seeding, admin changes, registration) and when the store's revision moves.
func (l *lookups) invalidate() {
	l.guard.clear(func() {
		l.clients.Clear()
		l.resources.Clear()
		l.links.Clear()
	})
}

func (l *lookups) close() {
	l.clients.Close()
	l.resources.Close()
	l.links.Close()
}
