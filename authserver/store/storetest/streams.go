package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func newStream(clientID string) *store.EventStream {
	return &store.EventStream{
		ClientID:        clientID,
		Description:     "gateway of " + clientID,
		Audience:        []string{clientID},
		EventsRequested: []string{"https://schemas.openid.net/secevent/caep/event-type/session-revoked"},
		DeliveryMethod:  "urn:ietf:rfc:8936",
		EndpointURL:     "https://as.example/ssf/poll/x",
	}
}

func testStreamRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	es := newStream("gw")
	mustNil(t, s.CreateEventStream(ctx, es), "CreateEventStream")
	if len(es.ID) < 22 || es.CreatedAt.IsZero() || !es.UpdatedAt.Equal(es.CreatedAt) || !es.LastPolledAt.Equal(es.CreatedAt) {
		t.Fatalf("create wrote back %+v; want a random ID and CreatedAt = UpdatedAt = LastPolledAt", es)
	}
	got, err := s.GetEventStream(ctx, es.ID)
	mustNil(t, err, "GetEventStream")
	assertEqual(t, *got, *es)

	// Given values are kept; nil and empty lists differ.
	given := &store.EventStream{ID: "fixed", ClientID: "gw", Audience: []string{}, AckedSeq: 7,
		DeliveryMethod: "urn:ietf:rfc:8936", CreatedAt: epoch, UpdatedAt: epoch.Add(time.Second), LastPolledAt: epoch.Add(time.Minute)}
	mustNil(t, s.CreateEventStream(ctx, given), "CreateEventStream")
	got, err = s.GetEventStream(ctx, "fixed")
	mustNil(t, err, "GetEventStream")
	assertEqual(t, *got, *given)
	mustBe(t, s.CreateEventStream(ctx, &store.EventStream{ID: "fixed", ClientID: "other"}), store.ErrConflict, "CreateEventStream (taken ID)")

	_, err = s.GetEventStream(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetEventStream (missing)")

	// Listing: the client's streams only, oldest first.
	mustNil(t, s.CreateEventStream(ctx, newStream("other")), "CreateEventStream")
	list, err := s.ListEventStreams(ctx, "gw")
	mustNil(t, err, "ListEventStreams")
	assertEqual(t, keysOf(list, func(e *store.EventStream) string { return e.ID }), []string{es.ID, "fixed"}) // es was created now, before epoch
	list, err = s.ListEventStreams(ctx, "nobody")
	if err != nil || len(list) != 0 {
		t.Errorf("ListEventStreams(nobody) = %v, %v; want nothing", list, err)
	}
}

func testStreamUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	es := newStream("gw")
	es.CreatedAt, es.LastPolledAt = epoch, epoch.Add(time.Minute)
	mustNil(t, s.CreateEventStream(ctx, es), "CreateEventStream")
	mustNil(t, s.AckEventStream(ctx, es.ID, 5, epoch.Add(time.Hour)), "AckEventStream")

	change := &store.EventStream{ID: es.ID, ClientID: "gw", Description: "new", Audience: []string{"a", "b"},
		EventsRequested: nil, DeliveryMethod: "urn:ietf:rfc:8935", EndpointURL: "https://gw.example/push",
		AckedSeq: 99, CreatedAt: epoch.AddDate(1, 0, 0), LastPolledAt: epoch.AddDate(1, 0, 0)}
	before := time.Now().Add(-time.Second)
	mustNil(t, s.UpdateEventStream(ctx, change), "UpdateEventStream")
	if change.UpdatedAt.Before(before) || change.AckedSeq != 5 || !change.CreatedAt.Equal(epoch) || !change.LastPolledAt.Equal(epoch.Add(time.Hour)) {
		t.Errorf("update wrote back %+v; want UpdatedAt now and the stored AckedSeq, CreatedAt, LastPolledAt", change)
	}
	got, err := s.GetEventStream(ctx, es.ID)
	mustNil(t, err, "GetEventStream")
	assertEqual(t, *got, *change)

	// Another client's stream, or a missing one, is not found, and stays unchanged.
	stolen := *change
	stolen.ClientID, stolen.Description = "thief", "stolen"
	mustBe(t, s.UpdateEventStream(ctx, &stolen), store.ErrNotFound, "UpdateEventStream (other client)")
	got, err = s.GetEventStream(ctx, es.ID)
	mustNil(t, err, "GetEventStream")
	if got.Description != "new" || got.ClientID != "gw" {
		t.Errorf("a refused update changed the stream: %+v", got)
	}
	missing := *change
	missing.ID = "missing"
	mustBe(t, s.UpdateEventStream(ctx, &missing), store.ErrNotFound, "UpdateEventStream (missing)")
}

func testStreamAck(t *testing.T, s store.Store) {
	ctx := t.Context()
	es := newStream("gw")
	es.CreatedAt = epoch
	mustNil(t, s.CreateEventStream(ctx, es), "CreateEventStream")
	steps := []struct {
		seq, want int64
		at        time.Time
	}{
		{10, 10, epoch.Add(1 * time.Second)},
		{4, 10, epoch.Add(2 * time.Second)}, // never lowered, but the poll still counts
		{10, 10, epoch.Add(3 * time.Second)},
		{11, 11, epoch.Add(4 * time.Second)},
		{0, 11, epoch.Add(5 * time.Second)},
	}
	for _, st := range steps {
		mustNil(t, s.AckEventStream(ctx, es.ID, st.seq, st.at), "AckEventStream")
		got, err := s.GetEventStream(ctx, es.ID)
		mustNil(t, err, "GetEventStream")
		if got.AckedSeq != st.want || !got.LastPolledAt.Equal(st.at) {
			t.Errorf("after ack %d: AckedSeq %d, LastPolledAt %v; want %d, %v", st.seq, got.AckedSeq, got.LastPolledAt, st.want, st.at)
		}
	}
	mustBe(t, s.AckEventStream(ctx, "missing", 1, epoch), store.ErrNotFound, "AckEventStream (missing)")
}

func testStreamDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	polled := map[string]time.Time{"idle-long": epoch.Add(-time.Hour), "idle-just": epoch.Add(-time.Millisecond),
		"at-limit": epoch, "fresh": epoch.Add(time.Hour)}
	for id, at := range polled {
		es := newStream("gw")
		es.ID, es.CreatedAt, es.LastPolledAt = id, epoch.Add(-2*time.Hour), at
		mustNil(t, s.CreateEventStream(ctx, es), "CreateEventStream")
	}
	// Acking is polling: it keeps a stream from going idle.
	mustNil(t, s.AckEventStream(ctx, "idle-long", 0, epoch.Add(time.Minute)), "AckEventStream")
	n, err := s.DeleteIdleEventStreams(ctx, epoch)
	mustNil(t, err, "DeleteIdleEventStreams")
	if n != 1 {
		t.Errorf("DeleteIdleEventStreams removed %d, want 1", n)
	}
	list, err := s.ListEventStreams(ctx, "gw")
	mustNil(t, err, "ListEventStreams")
	assertEqual(t, ids(list, func(e *store.EventStream) string { return e.ID }), []string{"at-limit", "fresh", "idle-long"})

	mustNil(t, s.DeleteEventStream(ctx, "fresh"), "DeleteEventStream")
	_, err = s.GetEventStream(ctx, "fresh")
	mustBe(t, err, store.ErrNotFound, "GetEventStream (deleted)")
	mustBe(t, s.DeleteEventStream(ctx, "fresh"), store.ErrNotFound, "DeleteEventStream (again)")
}

func testSessionClientIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, g := range []struct{ id, sid, client string }{
		{"g1", "sid-1", "c2"}, {"g2", "sid-1", "c1"}, {"g3", "sid-1", "c1"}, {"g4", "sid-2", "c3"}, {"g5", "", "c4"},
	} {
		grant := newGrant(g.id, g.sid, epoch.Add(time.Hour))
		grant.ClientID = g.client
		mustNil(t, s.CreateGrant(ctx, grant), "CreateGrant")
	}
	// A revoked grant's client was told about the session too: it still gets the logout.
	mustNil(t, s.RevokeGrant(ctx, "g1"), "RevokeGrant")
	for sid, want := range map[string][]string{"sid-1": {"c1", "c2"}, "sid-2": {"c3"}, "": nil, "sid-none": nil} {
		got, err := s.SessionClientIDs(ctx, sid)
		mustNil(t, err, "SessionClientIDs")
		if len(want) == 0 {
			if len(got) != 0 {
				t.Errorf("SessionClientIDs(%q) = %v, want none", sid, got)
			}
			continue
		}
		assertEqual(t, got, want)
	}
}

func testListEndedSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := epoch
	idleBefore := now.Add(-30 * time.Minute)
	for i, sess := range []struct {
		id                string
		lastSeen, expires time.Time
	}{
		{"expired", now.Add(-time.Minute), now.Add(-time.Second)},
		{"expires-now", now, now},
		{"idle", idleBefore.Add(-time.Millisecond), now.Add(time.Hour)},
		{"idle-limit", idleBefore, now.Add(time.Hour)},
		{"active", now, now.Add(time.Hour)},
	} {
		ss := newSession(sess.id, sess.expires)
		// Created in the order listed, so oldest first is the order above.
		ss.CreatedAt, ss.LastSeenAt = epoch.Add(-time.Hour+time.Duration(i)*time.Second), sess.lastSeen
		mustNil(t, s.CreateSession(ctx, ss), "CreateSession")
	}
	id := func(s *store.Session) string { return s.ID }
	tests := []struct {
		name  string
		idle  time.Time
		limit int
		want  []string
	}{
		{"expired only", time.Time{}, 0, []string{"expired", "expires-now"}},
		{"expired or idle", idleBefore, 0, []string{"expired", "expires-now", "idle"}},
		{"limit", idleBefore, 2, []string{"expired", "expires-now"}},
	}
	for _, tc := range tests {
		got, err := s.ListEndedSessions(ctx, now, tc.idle, tc.limit)
		mustNil(t, err, "ListEndedSessions")
		if keys := keysOf(got, id); !slices.Equal(keys, tc.want) {
			t.Errorf("%s: ListEndedSessions = %v, want %v", tc.name, keys, tc.want)
		}
	}
	// The sessions come back whole.
	got, err := s.ListEndedSessions(ctx, now, time.Time{}, 1)
	mustNil(t, err, "ListEndedSessions")
	want, err := s.GetSession(ctx, "expired")
	mustNil(t, err, "GetSession")
	if len(got) != 1 {
		t.Fatalf("ListEndedSessions returned %d sessions, want 1", len(got))
	}
	assertEqual(t, *got[0], *want)
}
