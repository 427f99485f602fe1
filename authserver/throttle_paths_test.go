package authserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPasswordThrottlingIsShared: every path that checks a password (the login page, the
// account pages' sign-in, the current password of a password change) counts against one
// limit, so failures on one path throttle the others.
func TestPasswordThrottlingIsShared(t *testing.T) {
	const limit = 3
	ts := newAccountServer(t, func(c *Config) { c.LoginFailuresPerAccount = limit })

	// Wrong current passwords on the password page, then the login page: throttled.
	here := ts.browserAt("203.0.113.7:4000")
	here.accountSignIn("carol", carolOwnPassword)
	form := here.do(http.MethodGet, accountURL+"/password", nil)
	for i := range limit {
		p := here.submit(form, url.Values{"current_password": {fmt.Sprint("guess-", i)}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("wrong current password %d: %d", i, p.status)
		}
	}
	if p := ts.browserAt("203.0.113.7:4001").loginAs("carol", carolOwnPassword); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("login page after %d failures on the password page: %d %q", limit, p.status, p.header.Get("Retry-After"))
	}
	p := here.submit(form, url.Values{"current_password": {carolOwnPassword}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("password page after %d failures: %d", limit, p.status)
	}

	// Wrong passwords on the login page, then the account pages' sign-in: throttled.
	for i := range limit {
		if p := ts.browserAt("198.51.100.9:4000").loginAs("carol", fmt.Sprint("guess-", i)); p.status != http.StatusUnauthorized {
			t.Fatalf("login page guess %d: %d", i, p.status)
		}
	}
	b := ts.browserAt("198.51.100.9:4001")
	p = b.do(http.MethodGet, accountURL+"/login", nil)
	p = b.submit(p, url.Values{"username": {"carol"}, "password": {carolOwnPassword}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed sign-in attempts") {
		t.Fatalf("account sign-in after %d failures on the login page: %d %s", limit, p.status, p.body)
	}
	if sessionOf(b) != "" {
		t.Fatal("a throttled sign-in started a session")
	}
}
