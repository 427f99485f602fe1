package registration_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// deleteAfterReplace is the management service with a deletion landing right after
// ReplaceClient: where a concurrent DELETE (RFC 7592 or the admin API) may be scheduled
// while an update is under way.
type deleteAfterReplace struct{ *manage.Service }

func (c deleteAfterReplace) ReplaceClient(ctx context.Context, cl spec.Client, source string) (*manage.Created, error) {
	out, err := c.Service.ReplaceClient(ctx, cl, source)
	if err == nil {
		err = c.Service.DeleteClient(ctx, cl.ID)
	}
	return out, err
}

// TestUpdateRacingDeleteKeepsTheClientDeleted: an update whose client is deleted while it
// runs answers 401 and does not bring the client back (it used to, with a fresh registration
// access token, its grants already revoked).
func TestUpdateRacingDeleteKeepsTheClientDeleted(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(confidentialClient())
	id := reg.str("client_id")
	h, err := registration.New(registration.Config{Policy: registration.PolicyOpen, AuthMethods: []string{"client_secret_basic"},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, Resources: []string{apiID}}, "",
		registration.Deps{Issuer: issuer, Clients: deleteAfterReplace{f.srv.Manage()}, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"client_id":"` + id + `","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"read","resources":["` + apiID + `"]}`
	req := httptest.NewRequest(http.MethodPut, issuer+"/register/"+id, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+reg.str("registration_access_token"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("update of a client deleted meanwhile: %d %s, want 401", rec.Code, rec.Body.String())
	}
	if _, err := f.st.GetClient(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the client deleted during the update exists again (err %v)", err)
	}
}

// TestConcurrentUpdatesWithOneToken: of concurrent updates (and a deletion) presenting one
// registration access token exactly one succeeds; the others get 401 and write nothing, so
// the token the winner answered is the one that works.
func TestConcurrentUpdatesWithOneToken(t *testing.T) {
	for _, withDelete := range []bool{false, true} {
		f := newFixture(t, nil)
		reg := f.mustRegister(confidentialClient())
		id, rat := reg.str("client_id"), reg.str("registration_access_token")
		const n = 8
		var (
			mu       sync.Mutex
			won      []reply
			deleted  bool
			statuses = map[int]int{}
			wg       sync.WaitGroup
		)
		for i := range n {
			wg.Go(func() {
				var r reply
				if withDelete && i == 0 {
					r = f.manage(http.MethodDelete, reg, rat, nil)
				} else {
					r = f.manage(http.MethodPut, reg, rat, with(confidentialClient(), "client_id", id, "client_name", "updater"))
				}
				mu.Lock()
				defer mu.Unlock()
				statuses[r.status]++
				switch r.status {
				case http.StatusOK:
					won = append(won, r)
				case http.StatusNoContent:
					deleted = true
				}
			})
		}
		wg.Wait()
		if statuses[http.StatusUnauthorized] != n-1 || len(won)+map[bool]int{true: 1}[deleted] != 1 {
			t.Fatalf("delete among them %v: statuses %v, want exactly one success and %d 401", withDelete, statuses, n-1)
		}
		stored, err := f.st.GetClient(context.Background(), id)
		if deleted {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the deletion won, but the client exists (err %v)", err)
			}
			continue
		}
		if err != nil || stored.Name != "updater" {
			t.Fatalf("after the winning update: %v %v", stored, err)
		}
		if r := f.manage(http.MethodGet, reg, won[0].str("registration_access_token"), nil); r.status != http.StatusOK {
			t.Errorf("the winner's new token: %d %s", r.status, r.raw)
		}
	}
}

// failingWrites is the management service with ReplaceClient and DeleteClient failing, as a
// database error would make them.
type failingWrites struct{ *manage.Service }

var errWrite = errors.New("the database is down")

func (failingWrites) ReplaceClient(context.Context, spec.Client, string) (*manage.Created, error) {
	return nil, errWrite
}
func (failingWrites) DeleteClient(context.Context, string) error { return errWrite }

// TestFailedWriteKeepsTheToken: an update or deletion that fails after it claimed the client
// gives the client its token back; it still reads and updates with it.
func TestFailedWriteKeepsTheToken(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(confidentialClient())
	id, rat := reg.str("client_id"), reg.str("registration_access_token")
	h, err := registration.New(registration.Config{Policy: registration.PolicyOpen, AuthMethods: []string{"client_secret_basic"},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, Resources: []string{apiID}}, "",
		registration.Deps{Issuer: issuer, Clients: failingWrites{f.srv.Manage()}, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(method, issuer+"/register/"+id, strings.NewReader(`{"client_id":"`+id+`","grant_types":["client_credentials"],"scope":"read"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rat)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s with a failing write: %d %s", method, rec.Code, rec.Body.String())
		}
		if r := f.manage(http.MethodGet, reg, rat, nil); r.status != http.StatusOK || r.str("client_name") != "Registered Service" {
			t.Errorf("after the failed %s: %d %s", method, r.status, r.raw)
		}
	}
	if r := f.manage(http.MethodPut, reg, rat, with(confidentialClient(), "client_id", id)); r.status != http.StatusOK {
		t.Errorf("update after the failures: %d %s", r.status, r.raw)
	}
}
