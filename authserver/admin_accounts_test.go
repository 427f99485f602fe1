package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

const (
	carolPassword = "carol's first password"
	carolNew      = "carol's second password"
)

// loginAs submits the login page of a fresh authorization request as user; the result is
// the redirect to resume on success, the login page with an error otherwise.
func (b *browser) loginAs(user, password string) page {
	b.ts.t.Helper()
	p := b.do(http.MethodGet, authURL(nil), nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		b.ts.t.Fatalf("want the login page, got %d %q: %s", p.status, p.location, p.body)
	}
	return b.submit(p, url.Values{"username": {user}, "password": {password}, "decision": {"approve"}})
}

// tokensAs signs user in through the pages, consents and redeems the code.
func (b *browser) tokensAs(user, password string) response {
	b.ts.t.Helper()
	p := b.loginAs(user, password)
	if p.status != http.StatusSeeOther {
		b.ts.t.Fatalf("sign-in as %s failed: %d %s", user, p.status, p.body)
	}
	p = b.follow(p)
	if p.status == http.StatusOK {
		p = b.submit(p, url.Values{"decision": {"approve"}})
	}
	res := b.ts.redeem(callback(b.ts.t, p, webRedirect).Get("code"), nil)
	if res.status != http.StatusOK {
		b.ts.t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	return res
}

func wantRefused(t *testing.T, p page) {
	t.Helper()
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, ui.Lang("en").Text(msgBadCredentials)) {
		t.Fatalf("sign-in: %d, want 401 with the generic message: %s", p.status, p.body)
	}
}

func TestPutAccountRefusals(t *testing.T) {
	ts := newFlowServer(t, nil)
	ctx := context.Background()
	if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Password: carolPassword}); err != nil {
		t.Fatal(err)
	}
	bcrypt := "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	tests := []struct {
		name string
		in   AccountInput
		want error
		text string // in the message
	}{
		{"no username", AccountInput{Username: "  ", Password: "pw"}, ErrInvalidAccount, "username"},
		{"overlong username", AccountInput{Username: strings.Repeat("u", account.MaxUsernameLen+1), Password: "pw"}, ErrInvalidAccount, "username"},
		{"configured account", AccountInput{Username: "alice", Password: "pw"}, ErrAccountConfigured, "alice"},
		{"configured, other case", AccountInput{Username: " ALICE ", Disabled: ptr(true)}, ErrAccountConfigured, "alice"},
		{"password and hash", AccountInput{Username: "dave", Password: "pw", PasswordHash: bcrypt}, ErrInvalidAccount, "not both"},
		{"malformed hash", AccountInput{Username: "dave", PasswordHash: "$argon2id$v=19$nope"}, ErrInvalidAccount, "malformed"},
		{"overlong password", AccountInput{Username: "dave", Password: strings.Repeat("p", account.MaxPasswordLen+1)}, ErrInvalidAccount, "password"},
		{"reserved claim", AccountInput{Username: "dave", Password: "pw", Claims: map[string]any{"sub": "x"}}, ErrInvalidAccount, `"sub"`},
		{"mistyped claim", AccountInput{Username: "dave", Password: "pw", Claims: map[string]any{"email_verified": "yes"}}, ErrInvalidAccount, "boolean"},
		{"new account without password", AccountInput{Username: "dave", Disabled: ptr(false)}, ErrInvalidAccount, "needs a password"},
		{"update-only, missing", AccountInput{Username: "dave", Password: "pw", Mode: UpdateOnly}, ErrAccountNotFound, "dave"},
		{"create-only, existing", AccountInput{Username: "Carol", Password: "pw", Mode: CreateOnly}, ErrAccountExists, "carol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ts.srv.PutAccount(ctx, tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
	// Nothing was written by the refused calls.
	views, err := ts.srv.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range views {
		names = append(names, v.Username)
	}
	if strings.Join(names, ",") != "alice,bob,carol" {
		t.Fatalf("accounts = %v", names)
	}

	for user, want := range map[string]error{"alice": ErrAccountConfigured, "dave": ErrAccountNotFound, "": ErrInvalidAccount} {
		if err := ts.srv.DeleteAccount(ctx, user); !errors.Is(err, want) {
			t.Errorf("DeleteAccount(%q) = %v, want %v", user, err, want)
		}
	}
}

func TestManagedAccountLifecycle(t *testing.T) {
	ts := newFlowServer(t, nil)
	ctx := context.Background()

	// Create: a random subject, the view has no hash, the account signs in.
	v, created, err := ts.srv.PutAccount(ctx, AccountInput{Username: " Carol ", Password: carolPassword,
		Claims: map[string]any{"name": "Carol", "email_verified": true}, Mode: CreateOnly})
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if v.Username != "carol" || len(v.Subject) < 16 || v.Configured || v.Disabled || v.CreatedAt.IsZero() {
		t.Fatalf("view = %+v", v)
	}
	sub := v.Subject
	res := ts.browser().tokensAs("carol", carolPassword)
	if ui := ts.userinfo(res.body["access_token"].(string)); ui.body["sub"] != sub || ui.body["name"] != "Carol" {
		t.Fatalf("userinfo = %d %s", ui.status, ui.raw)
	}

	// Change the password only: the claims and subject stay, the old password stops working,
	// and what was signed in with it (sessions, grants and their tokens) is ended.
	before := ts.browser()
	old := before.tokensAs("carol", carolPassword)
	v, created, err = ts.srv.PutAccount(ctx, AccountInput{Username: "CAROL", Password: carolNew, Mode: UpdateOnly})
	if err != nil || created || v.Subject != sub || v.Claims["name"] != "Carol" {
		t.Fatalf("passwd: %+v, created %v, %v", v, created, err)
	}
	wantRefused(t, ts.browser().loginAs("carol", carolPassword))
	if ts.introspect("web", webSecret, old.body["access_token"].(string))["active"] != false {
		t.Error("an access token from before the password change is active")
	}
	if p := before.do(http.MethodGet, authURL(nil), nil); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("a session from before the password change survived: %d %q", p.status, p.location)
	}
	res = ts.browser().tokensAs("carol", carolNew)
	rt := res.body["refresh_token"].(string)

	// A browser with a live session, to check that disabling ends it.
	signedIn := ts.browser()
	signedIn.tokensAs("carol", carolNew)

	// Disable: sign-in fails like a wrong password, the refresh token and the session die.
	if v, _, err = ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Disabled: ptr(true)}); err != nil || !v.Disabled {
		t.Fatalf("disable: %+v, %v", v, err)
	}
	wantRefused(t, ts.browser().loginAs("carol", carolNew))
	if r := ts.refresh(rt, nil); r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh of a disabled account: %d %s", r.status, r.raw)
	}
	if p := signedIn.do(http.MethodGet, authURL(nil), nil); !strings.Contains(p.body, `name="password"`) {
		// Errorf: the rest of the lifecycle does not depend on it.
		t.Errorf("the session of a disabled account does not lead back to the login page: %d %q", p.status, p.location)
	}

	// Enable again: the same account is back.
	if _, _, err = ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	res = ts.browser().tokensAs("carol", carolNew)
	if c := jwtClaims(t, res.body["id_token"].(string)); c["sub"] != sub {
		t.Fatalf("sub after enable = %v", c["sub"])
	}

	// Delete: gone from the list, sign-in and refresh fail.
	if err := ts.srv.DeleteAccount(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	views, err := ts.srv.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Username == "carol" {
			t.Fatal("deleted account still listed")
		}
		if v.Configured != (v.Username == "alice" || v.Username == "bob") {
			t.Errorf("%s: configured = %v", v.Username, v.Configured)
		}
	}
	wantRefused(t, ts.browser().loginAs("carol", carolNew))
	if r := ts.refresh(res.body["refresh_token"].(string), nil); r.body["error"] != "invalid_grant" {
		t.Fatalf("refresh of a deleted account: %s", r.raw)
	}

	// Re-created under the same name, it is a new user to the clients.
	v, created, err = ts.srv.PutAccount(ctx, AccountInput{Username: "carol", PasswordHash: mustHashPassword(t, carolPassword)})
	if err != nil || !created || v.Subject == sub || v.Claims != nil {
		t.Fatalf("re-create: %+v, created %v, %v", v, created, err)
	}
	ts.browser().tokensAs("carol", carolPassword)
}

func mustHashPassword(t *testing.T, pw string) string {
	t.Helper()
	h, err := account.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestEndAccessRevokesGrants: disabling or deleting an account revokes its access tokens too,
// not only its sessions and refresh tokens.
func TestEndAccessRevokesGrants(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(*Server) error
	}{
		{"disable", func(s *Server) error {
			_, _, err := s.PutAccount(context.Background(), AccountInput{Username: "carol", Disabled: ptr(true)})
			return err
		}},
		{"delete", func(s *Server) error { return s.DeleteAccount(context.Background(), "carol") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newFlowServer(t, nil)
			if _, _, err := ts.srv.PutAccount(context.Background(), AccountInput{Username: "carol", Password: carolPassword}); err != nil {
				t.Fatal(err)
			}
			at := ts.browser().tokensAs("carol", carolPassword).body["access_token"].(string)
			other := ts.browser().tokensAs("alice", alicePassword).body["access_token"].(string)
			if ts.introspect("web", webSecret, at)["active"] != true {
				t.Fatal("fresh token inactive")
			}
			if err := tt.end(ts.srv); err != nil {
				t.Fatal(err)
			}
			if ts.introspect("web", webSecret, at)["active"] != false {
				t.Error("access token of the account still active")
			}
			if ts.introspect("web", webSecret, other)["active"] != true {
				t.Error("another account's token was revoked")
			}
		})
	}
}
