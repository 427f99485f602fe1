package authserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Sign-in throttling through the real login handler: /authorize → login page → POST /login
// with the page's CSRF token, from chosen client addresses. The test server's clock only moves
// when a test moves it or when the limiter makes a sign-in wait, so time spent waiting is
// measured exactly and no test sleeps.

// attempt signs in from b's address with password and reports the page and the seconds the
// sign-in took on the server's clock.
func (b *browser) attempt(user, password string) (page, int64) {
	b.ts.t.Helper()
	start := b.ts.now.Load()
	p := b.loginAs(user, password)
	return p, b.ts.now.Load() - start
}

func TestLoginBruteForceFromOneAddressIsStopped(t *testing.T) {
	tests := []struct {
		name string
		// attacker guesses from attacker; sameNetwork is another address of its network
		// (IPv6: the same /64); owner is the account's owner elsewhere.
		attacker, sameNetwork, owner string
	}{
		{"IPv4", "203.0.113.7:40000", "203.0.113.7:40001", "198.51.100.20:50000"},
		{"IPv6 /64", "[2001:db8:1:2::7]:40000", "[2001:db8:1:2:ffff::9]:1234", "[2001:db8:1:3::5]:50000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newFlowServer(t, nil)
			attacker := ts.browserAt(tt.attacker)
			for i := range account.DefaultFailuresPerAccount {
				if p, _ := attacker.attempt("alice", fmt.Sprint("guess-", i)); p.status != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d, want 401", i, p.status)
				}
			}
			// Stopped: no more guesses from this network, not even the right password.
			for _, b := range []*browser{attacker, ts.browserAt(tt.sameNetwork)} {
				p, _ := b.attempt("alice", alicePassword)
				retry, err := strconv.Atoi(p.header.Get("Retry-After"))
				if p.status != http.StatusTooManyRequests || err != nil || retry < 1 || !strings.Contains(p.body, "Too many failed sign-in attempts") {
					t.Fatalf("from %s after %d failures: %d, Retry-After %q", b.addr, account.DefaultFailuresPerAccount, p.status, p.header.Get("Retry-After"))
				}
				if retry > int(account.DefaultLoginWindow/time.Second) {
					t.Errorf("Retry-After %d exceeds the window", retry)
				}
			}
			// The owner, elsewhere, signs in during the attack and gets tokens.
			owner := ts.browserAt(tt.owner)
			start := ts.now.Load()
			cb := owner.signIn(authURL(nil))
			if waited := ts.now.Load() - start; waited > int64(account.DefaultDelayMax/time.Second) {
				t.Errorf("the owner waited %ds, more than the %s cap", waited, account.DefaultDelayMax)
			}
			if res := ts.redeem(cb.Get("code"), nil); res.status != http.StatusOK {
				t.Fatalf("owner's code: %d %s", res.status, res.raw)
			}
			// The owner's sign-in does not reopen the attacker's network.
			if p, _ := attacker.attempt("alice", "one more"); p.status != http.StatusTooManyRequests {
				t.Fatalf("attacker after the owner's sign-in: %d, want 429", p.status)
			}
		})
	}
}

// An attacker who knows the username sends one wrong password every three minutes, each
// from a new address, for an hour (four windows): no address reaches its limit, so only the per-account
// delay acts. It slows the attacker and never keeps the owner out.
func TestLoginRotatingAttackerDoesNotLockOutOwner(t *testing.T) {
	ts := newFlowServer(t, nil)
	maxWait := int64(account.DefaultDelayMax / time.Second)
	for i := range 20 {
		ts.now.Add(180)
		attacker := ts.browserAt(fmt.Sprintf("203.0.113.%d:4000", i+1))
		p, took := attacker.attempt("alice", fmt.Sprint("guess-", i))
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, ui.Lang("en").Text(msgBadCredentials)) {
			t.Fatalf("guess %d from a fresh address: %d, want 401", i, p.status)
		}
		if i >= account.DefaultDelayAfter && took < 1 {
			t.Errorf("guess %d (%d earlier failures in the window) was not slowed", i, min(i, 4))
		}
		if took > maxWait {
			t.Errorf("guess %d waited %ds, more than the cap", i, took)
		}
		if i%5 == 4 {
			ts.now.Add(60)
			owner := ts.browserAt("198.51.100.20:50000")
			start := ts.now.Load()
			owner.signIn(authURL(nil)) // fails the test unless the owner gets a code
			if waited := ts.now.Load() - start; waited > maxWait {
				t.Errorf("after guess %d the owner waited %ds, more than the cap", i, waited)
			}
		}
	}
}

// The delay is kept per submitted username, existing or not: an unknown username under the
// same guessing answers with the same pages after the same waits as a real account.
func TestLoginDelayDoesNotRevealAccounts(t *testing.T) {
	ts := newFlowServer(t, nil)
	type outcome struct {
		status int
		msg    string
		waited int64
	}
	run := func(user string, net int) []outcome {
		var got []outcome
		for i := range 6 {
			b := ts.browserAt(fmt.Sprintf("10.%d.0.%d:1000", net, i+1))
			p, took := b.attempt(user, fmt.Sprint("guess-", i))
			msg := ui.Lang("en").Text(msgBadCredentials)
			if !strings.Contains(p.body, msg) {
				msg = "other"
			}
			got = append(got, outcome{p.status, msg, took})
		}
		return got
	}
	real, ghost := run("alice", 1), run("no-such-user", 2)
	if fmt.Sprint(real) != fmt.Sprint(ghost) {
		t.Fatalf("an existing account and an unknown username differ:\n alice: %v\n ghost: %v", real, ghost)
	}
	if real[len(real)-1].waited == 0 {
		t.Fatalf("no delay after %d failures: %v", len(real)-1, real)
	}
}
