package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// manageTests cover what runtime management of clients needs: creation without overwrite,
// paged listings, revocation by client, initial access tokens and the revision counter.
var manageTests = []contractTest{
	{"ClientCreate", testClientCreate},
	{"RaceCreateClient", testRaceCreateClient},
	{"UpdateRegisteredClient", testUpdateRegisteredClient},
	{"RaceUpdateRegisteredClient", testRaceUpdateRegisteredClient},
	{"ClientSourceDefaultsToConfig", testClientSourceDefault},
	{"ClientsPage", testClientsPage},
	{"ResourcesPage", testResourcesPage},
	{"ListLinks", testListLinks},
	{"DeleteClientDeletesLinksAndConsents", testDeleteClientCascade},
	{"ListConsents", testListConsents},
	{"ListGrants", testListGrants},
	{"RevokeClientGrants", testRevokeClientGrants},
	{"RevokeClientAccessTokens", testRevokeClientAccessTokens},
	{"ListSessions", testListSessions},
	{"InitialAccessTokenRoundTrip", testIATRoundTrip},
	{"InitialAccessTokenUse", testIATUse},
	{"RaceUseInitialAccessToken", testRaceUseIAT},
	{"RevisionGrowsOnWritesOnly", testRevision},
	{"ClientUpdateNeverInserts", testClientUpdate},
}

func testClientCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newClient("new")
	want := *c
	mustNil(t, s.CreateClient(ctx, c), "CreateClient")
	if c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreatedAt/UpdatedAt written back: %v / %v", c.CreatedAt, c.UpdatedAt)
	}
	got, err := s.GetClient(ctx, "new")
	mustNil(t, err, "GetClient")
	assertEqual(t, clientSansTimes(got), clientSansTimes(&want))
	if !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("stored CreatedAt %v, written back %v", got.CreatedAt, c.CreatedAt)
	}

	// A taken ID is refused, whoever stored it first, and the stored client is untouched.
	mustNil(t, s.UpsertClient(ctx, newClient("seeded")), "UpsertClient")
	for _, id := range []string{"new", "seeded"} {
		dup := &store.Client{ID: id, Name: "intruder", Source: store.SourceRegistration}
		mustBe(t, s.CreateClient(ctx, dup), store.ErrConflict, "CreateClient ("+id+" again)")
		got, err := s.GetClient(ctx, id)
		mustNil(t, err, "GetClient")
		assertEqual(t, clientSansTimes(got), clientSansTimes(newClient(id)))
	}

	// A CreatedAt given by the caller is kept (an import keeps its history).
	old := &store.Client{ID: "imported", CreatedAt: epoch}
	mustNil(t, s.CreateClient(ctx, old), "CreateClient (with CreatedAt)")
	got, err = s.GetClient(ctx, "imported")
	mustNil(t, err, "GetClient")
	if !got.CreatedAt.Equal(epoch) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, epoch)
	}
}

// testRaceCreateClient creates one ID from many goroutines at once: exactly one wins, every
// other gets ErrConflict, and the stored client is the winner's.
func testRaceCreateClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	for round := range 3 {
		id := fmt.Sprintf("contested-%d", round)
		errs := make([]error, n)
		start(n, func(i int) {
			errs[i] = s.CreateClient(ctx, &store.Client{ID: id, Name: fmt.Sprintf("creator %d", i), Source: store.SourceRegistration})
		})
		winner, conflicts := -1, 0
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("round %d: creators %d and %d both succeeded", round, winner, i)
				}
				winner = i
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("round %d: CreateClient: unexpected error %v", round, err)
			}
		}
		if winner < 0 || conflicts != n-1 {
			t.Fatalf("round %d: winner %d and %d conflicts, want one winner and %d conflicts", round, winner, conflicts, n-1)
		}
		got, err := s.GetClient(ctx, id)
		mustNil(t, err, "GetClient")
		if want := fmt.Sprintf("creator %d", winner); got.Name != want {
			t.Errorf("round %d: stored client is %q, want the winner's %q", round, got.Name, want)
		}
	}
}

// testUpdateRegisteredClient: the client is replaced only while it holds the expected
// registration token hash; otherwise, or when it is gone, ErrNotFound and nothing written
// (never an insert: a deleted client stays deleted).
func testUpdateRegisteredClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newClient("registered")
	c.Source, c.RegistrationTokenHash = store.SourceRegistration, "hash-0"
	mustNil(t, s.CreateClient(ctx, c), "CreateClient")
	created := c.CreatedAt

	next := newClient("registered")
	next.Name, next.Source, next.RegistrationTokenHash = "renamed", store.SourceRegistration, "hash-1"
	want := *next
	mustNil(t, s.UpdateRegisteredClient(ctx, next, "hash-0"), "UpdateRegisteredClient")
	if !next.CreatedAt.Equal(created) || next.UpdatedAt.IsZero() {
		t.Errorf("written back: CreatedAt %v (want the stored %v), UpdatedAt %v", next.CreatedAt, created, next.UpdatedAt)
	}
	got, err := s.GetClient(ctx, "registered")
	mustNil(t, err, "GetClient")
	assertEqual(t, clientSansTimes(got), clientSansTimes(&want))

	stale := newClient("registered")
	stale.Name, stale.RegistrationTokenHash = "stale", "hash-2"
	mustBe(t, s.UpdateRegisteredClient(ctx, stale, "hash-0"), store.ErrNotFound, "UpdateRegisteredClient (rotated-out hash)")
	got, err = s.GetClient(ctx, "registered")
	mustNil(t, err, "GetClient")
	assertEqual(t, clientSansTimes(got), clientSansTimes(&want))

	mustBe(t, s.UpdateRegisteredClient(ctx, newClient("ghost"), ""), store.ErrNotFound, "UpdateRegisteredClient (no such client)")
	_, err = s.GetClient(ctx, "ghost")
	mustBe(t, err, store.ErrNotFound, "GetClient (ghost)")
}

// testRaceUpdateRegisteredClient: of concurrent updates expecting one hash exactly one wins.
func testRaceUpdateRegisteredClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	mustNil(t, s.CreateClient(ctx, &store.Client{ID: "contested", Source: store.SourceRegistration, RegistrationTokenHash: "hash-0"}), "CreateClient")
	errs := make([]error, n)
	start(n, func(i int) {
		errs[i] = s.UpdateRegisteredClient(ctx, &store.Client{ID: "contested", Name: fmt.Sprintf("updater %d", i),
			Source: store.SourceRegistration, RegistrationTokenHash: fmt.Sprintf("hash-%d", i+1)}, "hash-0")
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("updaters %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("UpdateRegisteredClient: unexpected error %v", err)
		}
	}
	got, err := s.GetClient(ctx, "contested")
	mustNil(t, err, "GetClient")
	if winner < 0 || got.Name != fmt.Sprintf("updater %d", winner) || got.RegistrationTokenHash != fmt.Sprintf("hash-%d", winner+1) {
		t.Errorf("winner %d, stored %q with %q", winner, got.Name, got.RegistrationTokenHash)
	}
}

// testClientSourceDefault: a client stored without a Source is the configuration's, by
// either write, and the stored value is written back.
func testClientSourceDefault(t *testing.T, s store.Store) {
	ctx := t.Context()
	writes := map[string]func(*store.Client) error{
		"upsert": func(c *store.Client) error { return s.UpsertClient(ctx, c) },
		"create": func(c *store.Client) error { return s.CreateClient(ctx, c) },
	}
	for name, write := range writes {
		c := &store.Client{ID: "no-source-" + name}
		mustNil(t, write(c), name)
		got, err := s.GetClient(ctx, c.ID)
		mustNil(t, err, "GetClient")
		if got.Source != store.SourceConfig || c.Source != store.SourceConfig {
			t.Errorf("%s without Source: stored %q, written back %q; want %q", name, got.Source, c.Source, store.SourceConfig)
		}
	}
}

// pageThrough lists every page of size limit, following the cursor next gives for the last
// item of a page, and returns the keys of every item in order.
func pageThrough[T any](t *testing.T, limit int, list func(after string) ([]T, error), key, next func(T) string) []string {
	t.Helper()
	var keys []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page, err := list(after)
		mustNil(t, err, "list page")
		if len(page) > limit {
			t.Fatalf("page of %d items, limit %d", len(page), limit)
		}
		for _, v := range page {
			keys = append(keys, key(v))
		}
		if len(page) < limit {
			return keys
		}
		after = next(page[len(page)-1])
	}
}

func testClientsPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	sources := map[string]string{
		"e": store.SourceAdmin, "a": store.SourceConfig, "d": store.SourceRegistration,
		"b": store.SourceAdmin, "c": store.SourceConfig, "f": store.SourceAdmin,
	}
	for id, source := range sources {
		c := newClient(id)
		c.Source = source
		mustNil(t, s.UpsertClient(ctx, c), "UpsertClient")
	}
	clientID := func(c *store.Client) string { return c.ID }
	tests := []struct {
		name string
		q    store.ClientQuery
		want []string
	}{
		{"all", store.ClientQuery{}, []string{"a", "b", "c", "d", "e", "f"}},
		{"first page", store.ClientQuery{Limit: 2}, []string{"a", "b"}},
		{"after", store.ClientQuery{After: "b", Limit: 2}, []string{"c", "d"}},
		{"after, no limit", store.ClientQuery{After: "d"}, []string{"e", "f"}},
		// The cursor need not be a stored ID.
		{"after a gap", store.ClientQuery{After: "bb"}, []string{"c", "d", "e", "f"}},
		{"after the last", store.ClientQuery{After: "f"}, nil},
		{"source", store.ClientQuery{Source: store.SourceAdmin}, []string{"b", "e", "f"}},
		{"source, paged", store.ClientQuery{Source: store.SourceAdmin, After: "b", Limit: 1}, []string{"e"}},
		{"unknown source", store.ClientQuery{Source: "nobody"}, nil},
		{"negative limit", store.ClientQuery{Limit: -1}, []string{"a", "b", "c", "d", "e", "f"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListClientsPage(ctx, tc.q)
			mustNil(t, err, "ListClientsPage")
			if keys := keysOf(got, clientID); !slices.Equal(keys, tc.want) {
				t.Errorf("ListClientsPage(%+v) = %v, want %v", tc.q, keys, tc.want)
			}
			for _, c := range got { // whole rows, not just IDs
				want := newClient(c.ID)
				want.Source = sources[c.ID]
				assertEqual(t, clientSansTimes(c), clientSansTimes(want))
			}
		})
	}
	all := pageThrough(t, 4, func(after string) ([]*store.Client, error) {
		return s.ListClientsPage(ctx, store.ClientQuery{After: after, Limit: 4})
	}, clientID, clientID)
	assertEqual(t, all, []string{"a", "b", "c", "d", "e", "f"})
}

func testResourcesPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, id := range []string{"r3", "r1", "r5", "r2", "r4"} {
		r := newResource(fmt.Sprintf("https://page.example/%d", i))
		r.ID = id
		mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	}
	resourceID := func(r *store.Resource) string { return r.ID }
	tests := []struct {
		q    store.ResourceQuery
		want []string
	}{
		{store.ResourceQuery{}, []string{"r1", "r2", "r3", "r4", "r5"}},
		{store.ResourceQuery{Limit: 2}, []string{"r1", "r2"}},
		{store.ResourceQuery{After: "r2", Limit: 2}, []string{"r3", "r4"}},
		{store.ResourceQuery{After: "r4"}, []string{"r5"}},
		{store.ResourceQuery{After: "r5", Limit: 2}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListResourcesPage(ctx, tc.q)
		mustNil(t, err, "ListResourcesPage")
		if keys := keysOf(got, resourceID); !slices.Equal(keys, tc.want) {
			t.Errorf("ListResourcesPage(%+v) = %v, want %v", tc.q, keys, tc.want)
		}
	}
	got, err := s.ListResourcesPage(ctx, store.ResourceQuery{Limit: 1})
	mustNil(t, err, "ListResourcesPage")
	want := newResource("https://page.example/1")
	want.ID = "r1"
	assertEqual(t, resourceSansTimes(got[0]), resourceSansTimes(want))
	all := pageThrough(t, 2, func(after string) ([]*store.Resource, error) {
		return s.ListResourcesPage(ctx, store.ResourceQuery{After: after, Limit: 2})
	}, resourceID, resourceID)
	assertEqual(t, all, []string{"r1", "r2", "r3", "r4", "r5"})
}

func testListLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"c1", "c2"} {
		mustNil(t, s.UpsertClient(ctx, newClient(id)), "UpsertClient")
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		r := newResource("https://links.example/" + id)
		r.ID = id
		mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	}
	meta := map[string]any{"note": "gateway"}
	links := []*store.ClientResource{
		{ClientID: "c2", ResourceID: "r1", Tokens: true},
		{ClientID: "c1", ResourceID: "r2", Introspect: true, Metadata: meta},
		{ClientID: "c1", ResourceID: "r1", Tokens: true, Introspect: true},
		{ClientID: "c2", ResourceID: "r3"}, // grants nothing, listed all the same
	}
	for _, l := range links {
		mustNil(t, s.LinkClientResource(ctx, l), "LinkClientResource")
	}
	pair := func(l *store.ClientResource) string { return l.ClientID + "/" + l.ResourceID }
	tests := []struct {
		q    store.LinkQuery
		want []string
	}{
		{store.LinkQuery{}, []string{"c1/r1", "c1/r2", "c2/r1", "c2/r3"}},
		{store.LinkQuery{ClientID: "c1"}, []string{"c1/r1", "c1/r2"}},
		{store.LinkQuery{ResourceID: "r1"}, []string{"c1/r1", "c2/r1"}},
		{store.LinkQuery{ClientID: "c2", ResourceID: "r3"}, []string{"c2/r3"}},
		{store.LinkQuery{ClientID: "c2", ResourceID: "r2"}, nil},
		{store.LinkQuery{ClientID: "nobody"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListLinks(ctx, tc.q)
		mustNil(t, err, "ListLinks")
		if keys := keysOf(got, pair); !slices.Equal(keys, tc.want) {
			t.Errorf("ListLinks(%+v) = %v, want %v", tc.q, keys, tc.want)
		}
	}
	got, err := s.ListLinks(ctx, store.LinkQuery{ClientID: "c1", ResourceID: "r2"})
	mustNil(t, err, "ListLinks")
	if len(got) != 1 || got[0].Tokens || !got[0].Introspect || !reflect.DeepEqual(got[0].Metadata, meta) || got[0].CreatedAt.IsZero() {
		t.Errorf("link c1/r2 = %+v", got)
	}
}

func testDeleteClientCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"gone", "kept"} {
		mustNil(t, s.UpsertClient(ctx, newClient(id)), "UpsertClient")
	}
	r := newResource("https://cascade.example")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	for _, id := range []string{"gone", "kept"} {
		mustNil(t, s.LinkClientResource(ctx, &store.ClientResource{ClientID: id, ResourceID: r.ID, Tokens: true}), "LinkClientResource")
		for _, subject := range []string{"ann", "bob"} {
			mustNil(t, s.UpsertConsent(ctx, &store.Consent{Subject: subject, ClientID: id, Scopes: []string{"openid"}}), "UpsertConsent")
		}
	}
	grantFixture(t, s, "g-kept", "sid") // newGrant's client is "client": untouched by either delete

	mustNil(t, s.DeleteClient(ctx, "gone"), "DeleteClient")

	links, err := s.ListLinks(ctx, store.LinkQuery{})
	mustNil(t, err, "ListLinks")
	pair := func(l *store.ClientResource) string { return l.ClientID + "/" + l.ResourceID }
	assertEqual(t, keysOf(links, pair), []string{"kept/" + r.ID})
	for _, subject := range []string{"ann", "bob"} {
		_, err := s.GetConsent(ctx, subject, "gone")
		mustBe(t, err, store.ErrNotFound, "GetConsent of the deleted client")
		_, err = s.GetConsent(ctx, subject, "kept")
		mustNil(t, err, "GetConsent of the other client")
	}
	assertGrantRevoked(t, s, "g-kept", false)

	// A failed delete deletes nothing.
	mustNil(t, s.UpsertConsent(ctx, &store.Consent{Subject: "ann", ClientID: "never-stored"}), "UpsertConsent")
	mustBe(t, s.DeleteClient(ctx, "never-stored"), store.ErrNotFound, "DeleteClient (missing)")
	_, err = s.GetConsent(ctx, "ann", "never-stored")
	mustNil(t, err, "GetConsent after a failed DeleteClient")
}

func testListConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Subjects and client IDs with characters a naive cursor encoding would trip over.
	pairs := [][2]string{
		{"ann", "web"}, {"ann", "cli"}, {"bob", "web"}, {"bob smith", "web"},
		{"bob", "cli,x"}, {"carl", "web"}, {"ann", "z\"q"},
	}
	for _, p := range pairs {
		mustNil(t, s.UpsertConsent(ctx, &store.Consent{Subject: p[0], ClientID: p[1], Scopes: []string{"openid"},
			Resources: []string{"https://api.example"}}), "UpsertConsent")
	}
	key := func(c *store.Consent) string { return c.Subject + "|" + c.ClientID }
	// By subject, then client ID, as byte strings (what both databases do for ASCII).
	slices.SortFunc(pairs, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	var sorted []string
	for _, p := range pairs {
		sorted = append(sorted, p[0]+"|"+p[1])
	}

	tests := []struct {
		name string
		q    store.ConsentQuery
		want []string
	}{
		{"all", store.ConsentQuery{}, sorted},
		{"subject", store.ConsentQuery{Subject: "ann"}, []string{"ann|cli", "ann|web", "ann|z\"q"}},
		{"client", store.ConsentQuery{ClientID: "web"}, []string{"ann|web", "bob|web", "bob smith|web", "carl|web"}},
		{"both", store.ConsentQuery{Subject: "bob", ClientID: "web"}, []string{"bob|web"}},
		{"limit", store.ConsentQuery{ClientID: "web", Limit: 2}, []string{"ann|web", "bob|web"}},
		{"after", store.ConsentQuery{ClientID: "web", Limit: 2,
			After: store.ConsentCursor(&store.Consent{Subject: "bob", ClientID: "web"})}, []string{"bob smith|web", "carl|web"}},
		{"none", store.ConsentQuery{Subject: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListConsents(ctx, tc.q)
			mustNil(t, err, "ListConsents")
			if keys := keysOf(got, key); !slices.Equal(keys, tc.want) {
				t.Errorf("ListConsents(%+v) = %v, want %v", tc.q, keys, tc.want)
			}
		})
	}
	got, err := s.ListConsents(ctx, store.ConsentQuery{Subject: "carl"})
	mustNil(t, err, "ListConsents")
	if len(got) != 1 {
		t.Fatalf("carl has %d consents, want 1", len(got))
	}
	assertEqual(t, consentSansTimes(got[0]), store.Consent{Subject: "carl", ClientID: "web", Scopes: []string{"openid"},
		Resources: []string{"https://api.example"}})

	for _, filter := range []store.ConsentQuery{{}, {Subject: "bob"}, {ClientID: "web"}} {
		all := pageThrough(t, 2, func(after string) ([]*store.Consent, error) {
			q := filter
			q.After, q.Limit = after, 2
			return s.ListConsents(ctx, q)
		}, key, store.ConsentCursor)
		whole, err := s.ListConsents(ctx, filter)
		mustNil(t, err, "ListConsents")
		assertEqual(t, all, keysOf(whole, key))
	}

	// Garbage, JSON null, ["a"], ["a","b","c"], {"a":"b"}: none is a cursor.
	for _, bad := range []string{"not a cursor!", "bnVsbA", "WyJhIl0", "WyJhIiwiYiIsImMiXQ", "eyJhIjoiYiJ9"} {
		_, err := s.ListConsents(ctx, store.ConsentQuery{After: bad})
		mustBe(t, err, store.ErrInvalidCursor, "ListConsents (bad cursor "+bad+")")
	}
}

func testListGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	live := time.Now().Add(time.Hour)
	fixtures := []struct {
		id, client, subject string
		expires             time.Time
		revoked             bool
	}{
		{"g1", "web", "ann", live, false},
		{"g2", "web", "bob", live, false},
		{"g3", "cli", "ann", live, false},
		{"g4", "web", "ann", live, true},                        // revoked
		{"g5", "web", "ann", time.Now().Add(-time.Hour), false}, // expired
		{"g6", "web", "carl", live, false},
	}
	for _, f := range fixtures {
		g := newGrant(f.id, "sid", f.expires)
		g.ClientID, g.Subject, g.Revoked = f.client, f.subject, f.revoked
		mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
	}
	grantID := func(g *store.Grant) string { return g.ID }
	tests := []struct {
		q    store.GrantQuery
		want []string
	}{
		{store.GrantQuery{}, []string{"g1", "g2", "g3", "g6"}},
		{store.GrantQuery{ClientID: "web"}, []string{"g1", "g2", "g6"}},
		{store.GrantQuery{Subject: "ann"}, []string{"g1", "g3"}},
		{store.GrantQuery{Subject: "ann", ClientID: "web"}, []string{"g1"}},
		{store.GrantQuery{ClientID: "web", Limit: 2}, []string{"g1", "g2"}},
		{store.GrantQuery{ClientID: "web", After: "g2", Limit: 2}, []string{"g6"}},
		{store.GrantQuery{After: "g6"}, nil},
		{store.GrantQuery{Subject: "nobody"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListGrants(ctx, tc.q)
		mustNil(t, err, "ListGrants")
		if keys := keysOf(got, grantID); !slices.Equal(keys, tc.want) {
			t.Errorf("ListGrants(%+v) = %v, want %v", tc.q, keys, tc.want)
		}
	}
	got, err := s.ListGrants(ctx, store.GrantQuery{Subject: "carl"})
	mustNil(t, err, "ListGrants")
	want := newGrant("g6", "sid", live)
	want.ClientID, want.Subject = "web", "carl"
	want.ExpiresAt = fromStoreMillis(live)
	assertEqual(t, got, []*store.Grant{want})
	all := pageThrough(t, 1, func(after string) ([]*store.Grant, error) {
		return s.ListGrants(ctx, store.GrantQuery{After: after, Limit: 1})
	}, grantID, grantID)
	assertEqual(t, all, []string{"g1", "g2", "g3", "g6"})
}

// clientGrantFixture is grantFixture for the client with clientID.
func clientGrantFixture(t *testing.T, s store.Store, id, clientID string) {
	t.Helper()
	ctx := t.Context()
	exp := epoch.Add(time.Hour)
	g := newGrant(id, "sid", exp)
	g.ClientID = clientID
	mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
	tok := newAccessToken("at-"+id, exp)
	tok.ClientID, tok.GrantID = clientID, id
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	mustNil(t, s.RecordGrantJTI(ctx, id, "jti-"+id, exp), "RecordGrantJTI")
}

func testRevokeClientGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	clientGrantFixture(t, s, "w1", "web")
	clientGrantFixture(t, s, "w2", "web")
	clientGrantFixture(t, s, "c1", "cli")
	// A token of the client issued under no grant is RevokeClientAccessTokens' business.
	noGrant := newAccessToken("at-none", epoch.Add(time.Hour))
	noGrant.ClientID = "web"
	mustNil(t, s.CreateAccessToken(ctx, noGrant), "CreateAccessToken")

	n, err := s.RevokeClientGrants(ctx, "web")
	mustNil(t, err, "RevokeClientGrants")
	if n != 2 {
		t.Errorf("RevokeClientGrants revoked %d grants, want 2", n)
	}
	assertGrantRevoked(t, s, "w1", true)
	assertGrantRevoked(t, s, "w2", true)
	assertGrantRevoked(t, s, "c1", false)
	tok, err := s.GetAccessToken(ctx, "at-none")
	mustNil(t, err, "GetAccessToken")
	if tok.Revoked {
		t.Error("RevokeClientGrants revoked a token issued under no grant")
	}
	for clientID, want := range map[string]int{"web": 0, "nobody": 0, "": 0} {
		n, err := s.RevokeClientGrants(ctx, clientID)
		mustNil(t, err, "RevokeClientGrants")
		if n != want {
			t.Errorf("RevokeClientGrants(%q) revoked %d, want %d", clientID, n, want)
		}
	}
	assertGrantRevoked(t, s, "c1", false)

	// A JWT access token recorded under a revoked grant later is revoked at once.
	mustNil(t, s.RecordGrantJTI(ctx, "w1", "jti-late", epoch.Add(time.Hour)), "RecordGrantJTI")
	if revoked, err := s.IsJTIRevoked(ctx, "jti-late"); err != nil || !revoked {
		t.Errorf("jti recorded after RevokeClientGrants: revoked %v, %v; want true", revoked, err)
	}
}

func testRevokeClientAccessTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	clientGrantFixture(t, s, "w1", "web")
	clientGrantFixture(t, s, "c1", "cli")
	exp := epoch.Add(time.Hour)
	for hash, clientID := range map[string]string{"cc-web": "web", "cc-cli": "cli", "already": "web"} {
		tok := newAccessToken(hash, exp) // client_credentials: no grant, no subject
		tok.ClientID, tok.Subject = clientID, ""
		tok.Revoked = hash == "already"
		mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	}

	n, err := s.RevokeClientAccessTokens(ctx, "web")
	mustNil(t, err, "RevokeClientAccessTokens")
	if n != 2 { // at-w1 and cc-web; "already" was revoked
		t.Errorf("RevokeClientAccessTokens revoked %d tokens, want 2", n)
	}
	for hash, want := range map[string]bool{"at-w1": true, "cc-web": true, "already": true, "at-c1": false, "cc-cli": false} {
		tok, err := s.GetAccessToken(ctx, hash)
		mustNil(t, err, "GetAccessToken")
		if tok.Revoked != want {
			t.Errorf("token %s revoked = %v, want %v", hash, tok.Revoked, want)
		}
	}
	// The grant itself is RevokeClientGrants' business.
	g, err := s.GetGrant(ctx, "w1")
	mustNil(t, err, "GetGrant")
	if g.Revoked {
		t.Error("RevokeClientAccessTokens revoked the grant")
	}
	for _, clientID := range []string{"web", "nobody", ""} {
		n, err := s.RevokeClientAccessTokens(ctx, clientID)
		mustNil(t, err, "RevokeClientAccessTokens")
		if n != 0 {
			t.Errorf("RevokeClientAccessTokens(%q) revoked %d, want 0", clientID, n)
		}
	}
}

func testListSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	fixtures := []struct {
		id, subject string
		created     time.Time
		expires     time.Time
	}{
		{"s-new", "mary", epoch.Add(time.Minute), now.Add(time.Hour)},
		{"s-old", "mary", epoch, now.Add(time.Hour)},
		{"s-expired", "mary", epoch, now.Add(-time.Second)},
		{"s-other", "oscar", epoch, now.Add(time.Hour)},
	}
	for _, f := range fixtures {
		sess := newSession(f.id, f.expires)
		sess.Subject, sess.CreatedAt = f.subject, f.created
		mustNil(t, s.CreateSession(ctx, sess), "CreateSession")
	}
	if n, err := s.CountActiveSessions(ctx, now); err != nil || n != 3 {
		t.Errorf("CountActiveSessions = %d, %v; want 3 (s-expired has expired)", n, err)
	}
	if n, err := s.CountActiveSessions(ctx, now.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("CountActiveSessions two hours on = %d, %v; want 0", n, err)
	}
	got, err := s.ListSessions(ctx, "mary")
	mustNil(t, err, "ListSessions")
	want := newSession("s-old", fromStoreMillis(now.Add(time.Hour)))
	want.Subject = "mary"
	if keys := keysOf(got, func(s *store.Session) string { return s.ID }); !slices.Equal(keys, []string{"s-old", "s-new"}) {
		t.Fatalf("ListSessions(mary) = %v, want [s-old s-new] (oldest first, unexpired only)", keys)
	}
	assertEqual(t, got[0], want)
	for _, subject := range []string{"nobody", ""} {
		got, err := s.ListSessions(ctx, subject)
		mustNil(t, err, "ListSessions")
		if len(got) != 0 {
			t.Errorf("ListSessions(%q) = %d sessions, want none", subject, len(got))
		}
	}
}

func testIATRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Created before the one the store dates now, so the listing order is known.
	base := fromStoreMillis(time.Now().Add(-3 * time.Hour))
	tokens := []*store.InitialAccessToken{
		{ID: "limited", Hash: "hash-limited", Description: "CI pipeline", ExpiresAt: ptr(epoch), UsesLeft: ptr(3), CreatedAt: base},
		{ID: "unlimited", Hash: "hash-unlimited", CreatedAt: base.Add(time.Hour)},
		{ID: "zero", Hash: "hash-zero", UsesLeft: ptr(0), CreatedAt: base.Add(2 * time.Hour)},
	}
	for _, tok := range tokens {
		mustNil(t, s.CreateInitialAccessToken(ctx, tok), "CreateInitialAccessToken")
	}
	generated := &store.InitialAccessToken{Hash: "hash-generated"}
	mustNil(t, s.CreateInitialAccessToken(ctx, generated), "CreateInitialAccessToken (no ID)")
	if generated.ID == "" || generated.CreatedAt.IsZero() {
		t.Errorf("ID/CreatedAt not filled in: %+v", generated)
	}

	list, err := s.ListInitialAccessTokens(ctx)
	mustNil(t, err, "ListInitialAccessTokens")
	// Oldest first.
	assertEqual(t, list, append(slices.Clone(tokens), generated))

	mustBe(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: "limited", Hash: "other"}), store.ErrConflict, "CreateInitialAccessToken (taken ID)")
	mustBe(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: "other", Hash: "hash-limited"}), store.ErrConflict, "CreateInitialAccessToken (taken hash)")

	mustNil(t, s.DeleteInitialAccessToken(ctx, "limited"), "DeleteInitialAccessToken")
	mustBe(t, s.DeleteInitialAccessToken(ctx, "limited"), store.ErrNotFound, "DeleteInitialAccessToken (again)")
	_, err = s.UseInitialAccessToken(ctx, "hash-limited", epoch.Add(-time.Hour))
	mustBe(t, err, store.ErrNotFound, "UseInitialAccessToken (deleted)")
	list, err = s.ListInitialAccessTokens(ctx)
	mustNil(t, err, "ListInitialAccessTokens")
	assertEqual(t, keysOf(list, func(t *store.InitialAccessToken) string { return t.ID }), []string{"unlimited", "zero", generated.ID})

	// DeleteExpired removes expired tokens only; a used-up one stays listed until deleted.
	mustNil(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: "expired", Hash: "hash-expired", ExpiresAt: ptr(epoch.Add(-time.Second))}), "CreateInitialAccessToken")
	mustNil(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: "live", Hash: "hash-live", ExpiresAt: ptr(epoch.Add(time.Second))}), "CreateInitialAccessToken")
	n, err := s.DeleteExpired(ctx, epoch)
	mustNil(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired removed %d rows, want 1", n)
	}
	list, err = s.ListInitialAccessTokens(ctx)
	mustNil(t, err, "ListInitialAccessTokens")
	assertEqual(t, keysOf(list, func(t *store.InitialAccessToken) string { return t.ID }), []string{"unlimited", "zero", generated.ID, "live"})
}

func testIATUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tok := range []*store.InitialAccessToken{
		{ID: "two", Hash: "h-two", UsesLeft: ptr(2), ExpiresAt: ptr(epoch)},
		{ID: "any", Hash: "h-any"},
		{ID: "none", Hash: "h-none", UsesLeft: ptr(0)},
	} {
		mustNil(t, s.CreateInitialAccessToken(ctx, tok), "CreateInitialAccessToken")
	}
	before := epoch.Add(-time.Minute)
	for i, want := range []int{1, 0} {
		got, err := s.UseInitialAccessToken(ctx, "h-two", before)
		mustNil(t, err, fmt.Sprintf("UseInitialAccessToken #%d", i+1))
		if got.ID != "two" || got.UsesLeft == nil || *got.UsesLeft != want {
			t.Errorf("use #%d: %+v, want ID two with %d uses left", i+1, got, want)
		}
	}
	_, err := s.UseInitialAccessToken(ctx, "h-two", before)
	mustBe(t, err, store.ErrNotFound, "UseInitialAccessToken (used up)")
	_, err = s.UseInitialAccessToken(ctx, "h-none", before)
	mustBe(t, err, store.ErrNotFound, "UseInitialAccessToken (no uses)")
	_, err = s.UseInitialAccessToken(ctx, "h-unknown", before)
	mustBe(t, err, store.ErrNotFound, "UseInitialAccessToken (unknown)")

	for i := range 5 { // unlimited stays unlimited
		got, err := s.UseInitialAccessToken(ctx, "h-any", epoch.AddDate(100, 0, 0))
		mustNil(t, err, fmt.Sprintf("UseInitialAccessToken (unlimited) #%d", i+1))
		if got.UsesLeft != nil {
			t.Fatalf("unlimited token now has %d uses left", *got.UsesLeft)
		}
	}

	// Expiry: a token expiring at now is expired, and a failed use spends nothing.
	mustNil(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: "exp", Hash: "h-exp", UsesLeft: ptr(1), ExpiresAt: ptr(epoch)}), "CreateInitialAccessToken")
	for _, at := range []time.Time{epoch, epoch.Add(time.Millisecond)} {
		_, err := s.UseInitialAccessToken(ctx, "h-exp", at)
		mustBe(t, err, store.ErrNotFound, "UseInitialAccessToken (expired)")
	}
	got, err := s.UseInitialAccessToken(ctx, "h-exp", epoch.Add(-time.Millisecond))
	mustNil(t, err, "UseInitialAccessToken (just before expiry)")
	if *got.UsesLeft != 0 {
		t.Errorf("uses left = %d, want 0", *got.UsesLeft)
	}
}

// testRaceUseIAT spends tokens with k uses from many goroutines at once: exactly k succeed.
func testRaceUseIAT(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	for _, uses := range []int{1, 3} {
		id := fmt.Sprintf("race-%d", uses)
		mustNil(t, s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{ID: id, Hash: "h-" + id, UsesLeft: ptr(uses)}), "CreateInitialAccessToken")
		errs := make([]error, n)
		left := make([]int, n)
		start(n, func(i int) {
			tok, err := s.UseInitialAccessToken(ctx, "h-"+id, time.Now())
			errs[i] = err
			if err == nil {
				left[i] = *tok.UsesLeft
			}
		})
		var ok, notFound int
		var seen []int
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
				seen = append(seen, left[i])
			case errors.Is(err, store.ErrNotFound):
				notFound++
			default:
				t.Errorf("UseInitialAccessToken: unexpected error %v", err)
			}
		}
		if ok != uses || notFound != n-uses {
			t.Errorf("%d-use token: %d successes and %d refusals, want %d and %d", uses, ok, notFound, uses, n-uses)
		}
		// Every success saw its own count: the uses were spent one at a time.
		slices.Sort(seen)
		want := make([]int, 0, uses)
		for k := range uses {
			want = append(want, k)
		}
		assertEqual(t, seen, want)
	}
}

// testRevision: every write of a client, resource or link makes the revision grow, reads and
// writes of anything else leave it alone.
func testRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	rev := func() int64 {
		t.Helper()
		r, err := s.Revision(ctx)
		mustNil(t, err, "Revision")
		return r
	}
	res := newResource("https://revision.example")
	res.ID = "res"
	steps := []struct {
		name  string
		do    func() error
		grows bool
	}{
		{"UpsertClient (insert)", func() error { return s.UpsertClient(ctx, newClient("c1")) }, true},
		{"UpsertClient (replace)", func() error { return s.UpsertClient(ctx, newClient("c1")) }, true},
		{"CreateClient", func() error { return s.CreateClient(ctx, newClient("c2")) }, true},
		{"UpdateRegisteredClient", func() error { return s.UpdateRegisteredClient(ctx, newClient("c2"), "rat-hash-of-c2") }, true},
		{"CreateResource", func() error { return s.CreateResource(ctx, res) }, true},
		{"UpdateResource", func() error { return s.UpdateResource(ctx, res) }, true},
		{"LinkClientResource", func() error {
			return s.LinkClientResource(ctx, &store.ClientResource{ClientID: "c1", ResourceID: "res", Tokens: true})
		}, true},
		{"LinkClientResource (relink)", func() error {
			return s.LinkClientResource(ctx, &store.ClientResource{ClientID: "c1", ResourceID: "res", Introspect: true})
		}, true},
		{"UpdateClient", func() error { return s.UpdateClient(ctx, newClient("c2")) }, true},
		{"reads", func() error { return reads(ctx, s) }, false},
		{"other writes", func() error { return otherWrites(ctx, s) }, false},
		{"UnlinkClientResource", func() error { return s.UnlinkClientResource(ctx, "c1", "res") }, true},
		{"DeleteClient", func() error { return s.DeleteClient(ctx, "c2") }, true},
		{"DeleteResource", func() error { return s.DeleteResource(ctx, "res") }, true},
		{"reads after deletes", func() error { return reads(ctx, s) }, false},
	}
	last := rev()
	for _, step := range steps {
		mustNil(t, step.do(), step.name)
		now := rev()
		switch {
		case step.grows && now <= last:
			t.Errorf("%s: revision %d -> %d, want it to grow", step.name, last, now)
		case !step.grows && now != last:
			t.Errorf("%s: revision %d -> %d, want it unchanged", step.name, last, now)
		case now < last:
			t.Errorf("%s: revision went back %d -> %d", step.name, last, now)
		}
		last = now
	}
}

// reads calls every read of clients, resources and links.
func reads(ctx context.Context, s store.Store) error {
	_, err1 := s.GetClient(ctx, "c1")
	_, err2 := s.ListClients(ctx)
	_, err3 := s.ListClientsPage(ctx, store.ClientQuery{Limit: 1})
	_, err4 := s.GetResource(ctx, "res")
	_, err5 := s.ListResources(ctx)
	_, err6 := s.ListResourcesPage(ctx, store.ResourceQuery{})
	_, err7 := s.ListLinks(ctx, store.LinkQuery{})
	_, err8 := s.IsClientLinked(ctx, "c1", "res")
	_, err9 := s.ListClientResources(ctx, "c1")
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9} {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// otherWrites writes what is not a client, resource or link: the hot path of the token
// endpoint must not invalidate client caches.
func otherWrites(ctx context.Context, s store.Store) error {
	exp := time.Now().Add(time.Hour)
	return errors.Join(
		s.CreateAccessToken(ctx, newAccessToken("rev-at", exp)),
		s.CreateGrant(ctx, newGrant("rev-g", "sid", exp)),
		s.UpsertConsent(ctx, &store.Consent{Subject: "u", ClientID: "c1"}),
		s.CreateSession(ctx, newSession("rev-s", exp)),
		s.CreateInitialAccessToken(ctx, &store.InitialAccessToken{Hash: "rev-iat"}),
		s.RevokeJTI(ctx, "rev-jti", exp),
	)
}

// keysOf returns key of every item, in the order given.
func keysOf[T any](list []T, key func(T) string) []string {
	var out []string
	for _, v := range list {
		out = append(out, key(v))
	}
	return out
}

// fromStoreMillis is t at the precision the store keeps, in UTC.
func fromStoreMillis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// testClientUpdate: UpdateClient replaces every field but CreatedAt, and never inserts: a
// missing or deleted client stays missing.
func testClientUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateClient(ctx, newClient("c1")), "CreateClient")
	first, err := s.GetClient(ctx, "c1")
	mustNil(t, err, "GetClient")

	replacement := &store.Client{
		ID: "c1", Name: "Renamed", TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes: []string{"client_credentials"}, JWKS: `{"keys":[{"kty":"EC"}]}`, Disabled: true,
		Source: store.SourceAdmin, PreviousSecretHash: "old", PreviousSecretExpiresAt: &epoch,
		CreatedAt: epoch, // ignored: CreatedAt is kept
	}
	want := *replacement
	mustNil(t, s.UpdateClient(ctx, replacement), "UpdateClient")
	got, err := s.GetClient(ctx, "c1")
	mustNil(t, err, "GetClient")
	assertEqual(t, clientSansTimes(got), clientSansTimes(&want))
	if !got.CreatedAt.Equal(first.CreatedAt) || !replacement.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("CreatedAt = %v (written back %v), want the original %v", got.CreatedAt, replacement.CreatedAt, first.CreatedAt)
	}

	mustBe(t, s.UpdateClient(ctx, newClient("missing")), store.ErrNotFound, "UpdateClient (missing)")
	mustNil(t, s.DeleteClient(ctx, "c1"), "DeleteClient")
	mustBe(t, s.UpdateClient(ctx, newClient("c1")), store.ErrNotFound, "UpdateClient (deleted)")
	for _, id := range []string{"missing", "c1"} {
		_, err := s.GetClient(ctx, id)
		mustBe(t, err, store.ErrNotFound, "GetClient "+id+" after UpdateClient")
	}
}
