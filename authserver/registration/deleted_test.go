package registration_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// pausingWrites holds the second write of one client (the registration token after the
// replacement, in an RFC 7592 update) until released.
type pausingWrites struct {
	store.Store
	mu      sync.Mutex
	id      string
	writes  int
	read    chan struct{} // closed when the held write is about to happen
	release chan struct{}
}

func (p *pausingWrites) arm(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.id, p.writes, p.read, p.release = id, 0, make(chan struct{}), make(chan struct{})
}

func (p *pausingWrites) hold(id string) {
	p.mu.Lock()
	hold := false
	if id == p.id {
		p.writes++
		hold = p.writes == 2
	}
	read, release := p.read, p.release
	p.mu.Unlock()
	if hold {
		close(read)
		<-release
	}
}

func (p *pausingWrites) UpsertClient(ctx context.Context, c *store.Client) error {
	p.hold(c.ID)
	return p.Store.UpsertClient(ctx, c)
}

func (p *pausingWrites) UpdateClient(ctx context.Context, c *store.Client) error {
	p.hold(c.ID)
	return p.Store.UpdateClient(ctx, c)
}

// TestUpdateDoesNotResurrectADeletedClient: an operator deletes a registered client while
// its RFC 7592 update is between the replacement and the new registration access token.
// The update fails as for a deleted client, and the client stays deleted (a resurrected
// client would hold a fresh registration access token and its secret again).
func TestUpdateDoesNotResurrectADeletedClient(t *testing.T) {
	pw := &pausingWrites{}
	f := newFixtureOver(t, nil, func(st store.Store) store.Store { pw.Store = st; return pw })
	reg := f.mustRegister(with(publicClient(), "scope", "read", "resources", []string{apiID}))
	id := reg.str("client_id")

	pw.arm(id)
	updated := make(chan reply, 1)
	go func() {
		updated <- f.manage(http.MethodPut, reg, reg.str("registration_access_token"),
			with(publicClient(), "client_id", id, "client_name", "Renamed", "scope", "read", "resources", []string{apiID}))
	}()
	<-pw.read
	if err := f.srv.Manage().DeleteClient(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	close(pw.release)
	if upd := <-updated; upd.status != http.StatusUnauthorized {
		t.Errorf("the update of the deleted client: %d %s, want 401", upd.status, upd.raw)
	}
	if c, err := f.st.GetClient(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted client is stored again: %+v %v", c, err)
	}
}
