package manage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestRevokeGrantsAndSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now()
	exp := now.Add(time.Hour)
	for _, se := range []string{"s1", "s2"} {
		if err := f.st.CreateSession(ctx, &store.Session{ID: se, SecretHash: "h" + se, Subject: "alice", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	grants := []store.Grant{
		{ID: "g1", ClientID: "a", Subject: "alice", SessionID: "s1"},
		{ID: "g2", ClientID: "b", Subject: "alice", SessionID: "s2"},
		{ID: "g3", ClientID: "a", Subject: "bob"},
		{ID: "g4", ClientID: "b", Subject: "bob"},
	}
	for _, g := range grants {
		g.CreatedAt, g.ExpiresAt = now, exp
		if err := f.st.CreateGrant(ctx, &g); err != nil {
			t.Fatal(err)
		}
	}
	var specErr *spec.Error
	for _, bad := range []GrantFilter{{}, {Subject: "alice", ClientID: "a"}} {
		if _, err := f.svc.RevokeGrants(ctx, bad); !errors.As(err, &specErr) {
			t.Errorf("filter %+v: %v", bad, err)
		}
	}
	if _, err := f.svc.RevokeGrants(ctx, GrantFilter{GrantID: "ghost"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}
	if n, err := f.svc.RevokeGrants(ctx, GrantFilter{GrantID: "g4"}); n != 1 || err != nil {
		t.Errorf("by grant: %d %v", n, err)
	}
	if n, err := f.svc.RevokeGrants(ctx, GrantFilter{ClientID: "a"}); n != 2 || err != nil {
		t.Errorf("by client: %d %v", n, err)
	}
	live, _ := f.svc.ListGrants(ctx, store.GrantQuery{})
	if len(live) != 1 || live[0].ID != "g2" {
		t.Fatalf("live grants %v", live)
	}
	// Ending alice's session s2 revokes the grant made in it.
	if n, err := f.svc.RevokeSessions(ctx, "", "s2"); n != 1 || err != nil {
		t.Fatalf("by session: %d %v", n, err)
	}
	if g, _ := f.st.GetGrant(ctx, "g2"); !g.Revoked {
		t.Fatal("grant of the ended session is live")
	}
	if _, err := f.svc.RevokeSessions(ctx, "", "s2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ended session again: %v", err)
	}
	if n, err := f.svc.RevokeSessions(ctx, "alice", ""); n != 1 || err != nil {
		t.Errorf("by subject: %d %v", n, err)
	}
	if left, _ := f.svc.ListSessions(ctx, "alice"); len(left) != 0 {
		t.Errorf("sessions left: %v", left)
	}
}

func TestRevokeConsents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, c := range []store.Consent{{Subject: "alice", ClientID: "a"}, {Subject: "alice", ClientID: "b"}, {Subject: "bob", ClientID: "a"}} {
		c.Scopes = []string{"openid"}
		if err := f.st.UpsertConsent(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.svc.RevokeConsents(ctx, "", "a"); n != 2 || err != nil {
		t.Fatalf("by client: %d %v", n, err)
	}
	left, _ := f.svc.ListConsents(ctx, store.ConsentQuery{})
	if len(left) != 1 || left[0].ClientID != "b" {
		t.Fatalf("left %v", left)
	}
	var specErr *spec.Error
	if _, err := f.svc.RevokeConsents(ctx, "", ""); !errors.As(err, &specErr) {
		t.Errorf("no filter: %v", err)
	}
}

func TestInitialAccessTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	token, rec, err := f.svc.CreateInitialAccessToken(ctx, InitialAccessTokenInput{Description: "CI"})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) < 43 || rec.Hash == token || *rec.UsesLeft != 1 || !rec.ExpiresAt.Equal(f.now.Add(24*time.Hour)) {
		t.Fatalf("token %q rec %+v", token, rec)
	}
	if _, err := f.st.UseInitialAccessToken(ctx, InitialAccessTokenHash(token), f.now); err != nil {
		t.Fatalf("the token does not work: %v", err)
	}
	var specErr *spec.Error
	for _, bad := range []InitialAccessTokenInput{{Uses: -1}, {ExpiresIn: -time.Second}, {Description: "a\nb"}} {
		if _, _, err := f.svc.CreateInitialAccessToken(ctx, bad); !errors.As(err, &specErr) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := f.svc.DeleteInitialAccessToken(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteInitialAccessToken(ctx, rec.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}
