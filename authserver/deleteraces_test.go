package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// pausingStore holds one read (a client by ID, or a resource by identifier) after it has
// its row, until released: the window in which a request has read what a concurrent change
// is about to delete.
type pausingStore struct {
	store.Store
	mu      sync.Mutex
	key     string        // the next read of this key pauses; "" for none
	read    chan struct{} // closed when the paused read has its row
	release chan struct{} // closed to let it go on
}

// pauseNext arms the pause for the next read of key: "client:" + ID or "resource:" +
// identifier.
func (p *pausingStore) pauseNext(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key, p.read, p.release = key, make(chan struct{}), make(chan struct{})
}

func (p *pausingStore) maybePause(key string) {
	p.mu.Lock()
	pause := key == p.key
	if pause {
		p.key = ""
	}
	read, release := p.read, p.release
	p.mu.Unlock()
	if pause {
		close(read)
		<-release
	}
}

func (p *pausingStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := p.Store.GetClient(ctx, id)
	p.maybePause("client:" + id)
	return c, err
}

func (p *pausingStore) GetResourceByIdentifier(ctx context.Context, identifier string) (*store.Resource, error) {
	r, err := p.Store.GetResourceByIdentifier(ctx, identifier)
	p.maybePause("resource:" + identifier)
	return r, err
}

// TestDeletedClientIsNotCachedByARequestInFlight: a token request that read a client just
// before the client was deleted must not put it back in the lookup cache after the deletion
// dropped the cache. Otherwise the deleted client authenticates (from the cache, with its
// old secret) until the entry expires, since nothing else drops it again.
func TestDeletedClientIsNotCachedByARequestInFlight(t *testing.T) {
	ps := &pausingStore{}
	ts := newTestServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { ps.Store = st; return ps }})
	ctx := context.Background()
	created, err := ts.srv.Manage().CreateClient(ctx, spec.Client{ID: "rt", Scopes: []string{"read"},
		Resources: []string{jwtResource}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	secret := created.Secret
	ts.mustToken("rt", secret, jwtResource, "read")

	ts.srv.lookups.invalidate()
	ps.pauseNext("client:rt")
	inFlight := make(chan response, 1)
	go func() { inFlight <- ts.token("rt", secret, url.Values{"resource": {jwtResource}}) }()
	<-ps.read
	if err := ts.srv.Manage().DeleteClient(ctx, "rt"); err != nil {
		t.Fatal(err)
	}
	close(ps.release)
	<-inFlight // it read the client before the deletion: whatever it answers is not the point
	ts.srv.lookups.clients.Wait()

	res := ts.token("rt", secret, url.Values{"resource": {jwtResource}})
	if res.status != http.StatusUnauthorized || res.body["error"] != "invalid_client" {
		t.Fatalf("the deleted client after the request in flight: %d %s, want 401 invalid_client", res.status, res.raw)
	}
}

// TestDeletedResourceIsNotCachedByAGatewayCheckInFlight: an in-process validation that
// checked a token's resource just before the resource was deleted must not cache the token
// as active after the deletion cleared the gateway cache: deletions through this server
// apply at once, not after gatewayTTL.
func TestDeletedResourceIsNotCachedByAGatewayCheckInFlight(t *testing.T) {
	ps := &pausingStore{}
	ts := newTestServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { ps.Store = st; return ps }})
	ctx := context.Background()
	token := ts.mustToken("svc", svcSecret, jwtResource, "read")

	ps.pauseNext("resource:" + jwtResource)
	type result struct {
		info *AccessTokenInfo
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		info, err := ts.srv.ActiveAccessToken(ctx, token)
		inFlight <- result{info, err}
	}()
	<-ps.read
	if err := ts.srv.DeleteResource(ctx, jwtResource); err != nil {
		t.Fatal(err)
	}
	close(ps.release)
	if r := <-inFlight; r.err != nil {
		t.Fatal(r.err)
	}
	ts.srv.gateway.Wait()

	if info, err := ts.srv.ActiveAccessToken(ctx, token); info != nil || err != nil {
		t.Fatalf("a token of the deleted resource validates in process: %+v %v", info, err)
	}
}

// TestADeletedClientStaysDeleted: a replacement or secret rotation that read the client just
// before an operator deleted it must not write it back: the deleted client (with its old
// secret, or its registration token) would be live again, its tokens already revoked.
func TestADeletedClientStaysDeleted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ctx context.Context, m *manage.Service) error
	}{
		{"replace", func(ctx context.Context, m *manage.Service) error {
			_, err := m.ReplaceClient(ctx, spec.Client{ID: "rt", Name: "renamed", Scopes: []string{"read"}}, store.SourceAdmin)
			return err
		}},
		{"rotate secret", func(ctx context.Context, m *manage.Service) error {
			_, err := m.RotateSecret(ctx, "rt", time.Hour)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := &pausingStore{}
			ts := newTestServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { ps.Store = st; return ps }})
			ctx := context.Background()
			m := ts.srv.Manage()
			created, err := m.CreateClient(ctx, spec.Client{ID: "rt", Scopes: []string{"read"}, Resources: []string{jwtResource}}, store.SourceAdmin)
			if err != nil {
				t.Fatal(err)
			}

			ps.pauseNext("client:rt")
			changed := make(chan error, 1)
			go func() { changed <- tc.change(ctx, m) }()
			<-ps.read
			if err := m.DeleteClient(ctx, "rt"); err != nil {
				t.Fatal(err)
			}
			close(ps.release)
			if err := <-changed; !errors.Is(err, manage.ErrNotFound) {
				t.Errorf("the change after the deletion: %v, want ErrNotFound", err)
			}
			if c, err := ps.Store.GetClient(ctx, "rt"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the deleted client is stored again: %+v %v", c, err)
			}
			if res := ts.token("rt", created.Secret, url.Values{"resource": {jwtResource}}); res.status != http.StatusUnauthorized {
				t.Fatalf("the deleted client's secret: %d %s", res.status, res.raw)
			}
		})
	}
}
