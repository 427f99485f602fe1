package authserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/opaquetoken"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

// TestOpaqueTokensAreSealed: an opaque access token carries its facts sealed, so issuing it
// writes nothing, yet it is read by every instance sharing the database and the master key
// (also one started afterwards: a restart), and revoking it on one instance ends it on all.
func TestOpaqueTokensAreSealed(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			a := newTestServerOpts(t, serverOptions{driver: driver, dsn: dsn})
			tok := a.mustToken("svc", svcSecret, opqResource, "read")
			other := a.mustToken("svc", svcSecret, opqResource, "read")
			// A value leaks when it is in the decoded body of both tokens: a readable format
			// carries it in each, while the ~240 random bytes of one body hold the 3 bytes of
			// "svc" by chance about once in 70,000 tokens (its ~320 characters of text, about
			// once in 800: CI saw that once).
			bodies := [2][]byte{}
			for i, t1 := range []string{tok, other} {
				if !strings.HasPrefix(t1, opaquetoken.Prefix) || strings.Contains(t1, ".") {
					t.Fatalf("opaque token looks wrong: %q", t1)
				}
				raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(t1, opaquetoken.Prefix))
				if err != nil {
					t.Fatalf("the body of %q is not base64url: %v", t1, err)
				}
				bodies[i] = raw
			}
			for _, clear := range []string{"svc", "read", opqResource} {
				if bytes.Contains(bodies[0], []byte(clear)) && bytes.Contains(bodies[1], []byte(clear)) {
					t.Errorf("the tokens carry %q readably", clear)
				}
			}
			if _, err := a.srv.st.GetAccessToken(t.Context(), hashToken(tok)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a row was written for a sealed token: %v", err)
			}

			b := newTestServerOpts(t, serverOptions{driver: driver, dsn: dsn}) // another instance, or a restart
			got := b.introspect("svc", svcSecret, tok)
			if got["active"] != true || got["client_id"] != "svc" || got["scope"] != "read" || got["jti"] == nil {
				t.Fatalf("introspection on the other instance: %v", got)
			}
			if aud, _ := got["aud"].(string); aud != opqResource {
				t.Errorf("aud %v, want %s", got["aud"], opqResource)
			}

			// Tampered with: one character of the sealed body changed.
			i := len(opaquetoken.Prefix) + 10
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			flipped := tok[:i] + string(c) + tok[i+1:]
			if got := b.introspect("svc", svcSecret, flipped); got["active"] != false {
				t.Errorf("a tampered token introspects: %v", got)
			}

			if res := a.do(http.MethodPost, "/revoke", url.Values{"token": {tok}}, [2]string{"svc", svcSecret}); res.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", res.status, res.raw)
			}
			if got := b.introspect("svc", svcSecret, tok); got["active"] != false {
				t.Errorf("revoked on one instance, active on the other: %v", got)
			}
		})
	}
}

// TestRevokeClientGrantsCutsOffItsTokens: revoking every token of a client ends its
// client_credentials tokens, sealed opaque ones and JWTs alike (no grant, no row: only the
// client's cut-off covers them), at introspection and in-process, and publishes one client
// event for remote gateways. The test clock moves in whole seconds: a token of the next
// second passes (a sealed token's cut-off is to the millisecond, a JWT's iat to the second).
func TestRevokeClientGrantsCutsOffItsTokens(t *testing.T) {
	for name, resource := range map[string]string{"sealed opaque": opqResource, "JWT": jwtResource} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t)
			before := ts.mustToken("svc", svcSecret, resource, "read")
			if got := ts.introspect("svc", svcSecret, before); got["active"] != true {
				t.Fatalf("fresh token inactive: %v", got)
			}
			if _, err := ts.srv.Manage().RevokeClientGrants(t.Context(), "svc"); err != nil {
				t.Fatal(err)
			}
			if got := ts.introspect("svc", svcSecret, before); got["active"] != false {
				t.Errorf("a token from before the client's revocation still introspects: %v", got)
			}
			if info, err := ts.srv.ActiveAccessToken(t.Context(), before); err != nil || info != nil {
				t.Errorf("in-process validation of the cut-off token: %+v, %v", info, err)
			}
			evs, err := ts.srv.st.RevocationEventsAfter(t.Context(), 0, time.Unix(ts.now.Load(), 0), 100)
			if err != nil {
				t.Fatal(err)
			}
			var client []*store.RevocationEvent
			for _, e := range evs {
				if e.Kind == store.RevokedClient {
					client = append(client, e)
				}
			}
			if len(client) != 1 || client[0].Value != "svc" || client[0].CreatedAt.Unix() != ts.now.Load() {
				t.Fatalf("client events %+v, want one for svc at the cut-off", client)
			}
			ts.now.Add(1)
			after := ts.mustToken("svc", svcSecret, resource, "read")
			if got := ts.introspect("svc", svcSecret, after); got["active"] != true {
				t.Errorf("a token issued the second after the revocation is inactive: %v", got)
			}
		})
	}
}

// storeRowToken stores an opaque access token as a row, as the server issued them before
// they were sealed, and returns its value.
func storeRowToken(t *testing.T, ts *testServer, clientID, resource, scope string) string {
	t.Helper()
	res, err := ts.srv.st.GetResourceByIdentifier(t.Context(), resource)
	if err != nil {
		t.Fatal(err)
	}
	value := newTokenValue()
	now := time.Unix(ts.now.Load(), 0)
	if err := ts.srv.st.CreateAccessToken(t.Context(), &store.AccessToken{Hash: hashToken(value), ClientID: clientID,
		ResourceID: res.ID, Audience: []string{resource}, Scope: scope, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return value
}

// TestStoredOpaqueTokensStillWork: opaque tokens issued as rows before tokens were sealed
// introspect until they expire, and can be revoked, one by one or with their client's.
func TestStoredOpaqueTokensStillWork(t *testing.T) {
	ts := newTestServer(t)
	one, two := storeRowToken(t, ts, "svc", opqResource, "read"), storeRowToken(t, ts, "svc", opqResource, "read")
	for _, tok := range []string{one, two} {
		if got := ts.introspect("svc", svcSecret, tok); got["active"] != true || got["scope"] != "read" {
			t.Fatalf("stored token: %v", got)
		}
	}
	if res := ts.do(http.MethodPost, "/revoke", url.Values{"token": {one}}, [2]string{"svc", svcSecret}); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.raw)
	}
	if got := ts.introspect("svc", svcSecret, one); got["active"] != false {
		t.Errorf("revoked stored token: %v", got)
	}
	if _, err := ts.srv.Manage().RevokeClientGrants(t.Context(), "svc"); err != nil {
		t.Fatal(err)
	}
	if got := ts.introspect("svc", svcSecret, two); got["active"] != false {
		t.Errorf("stored token after its client's revocation: %v", got)
	}
}

// TestRevokedGrantEndsItsSealedTokens: a sealed opaque token issued under a user's grant ends
// when the grant is revoked (here by refresh-token reuse, RFC 9700 §4.14.2): there is no row
// to mark, so validation must look at the grant.
func TestRevokedGrantEndsItsSealedTokens(t *testing.T) {
	ts := newFlowServer(t, nil)
	first := ts.redeem(ts.browser().signIn(authURL(url.Values{"resource": {opqResource}})).Get("code"), nil)
	if first.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", first.status, first.raw)
	}
	tok := first.body["access_token"].(string)
	got := ts.introspect("web", webSecret, tok)
	if !strings.HasPrefix(tok, opaquetoken.Prefix) || got["active"] != true || got["grant_id"] == nil {
		t.Fatalf("a sealed token under a grant: %q %v", tok, got)
	}
	rt := first.body["refresh_token"].(string)
	if res := ts.refresh(rt, nil); res.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.status, res.raw)
	}
	if res := ts.refresh(rt, nil); res.status != http.StatusBadRequest {
		t.Fatalf("reuse: %d %s", res.status, res.raw)
	}
	if got := ts.introspect("web", webSecret, tok); got["active"] != false {
		t.Errorf("its grant was revoked, the token still introspects: %v", got)
	}
	if info, err := ts.srv.ActiveAccessToken(t.Context(), tok); err != nil || info != nil {
		t.Errorf("in-process validation after the grant's revocation: %+v, %v", info, err)
	}
}
