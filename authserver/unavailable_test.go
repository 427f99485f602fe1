package authserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// failingRotations makes refresh-token rotations (a write every refresh makes) fail once
// armed, and classifies errors the way the SQL store does for its own ("unavailable" = the
// database failing).
type failingRotations struct {
	store.Store
	err *error
}

func (f failingRotations) RotateRefreshToken(ctx context.Context, oldHash string, usedAt time.Time, response []byte, next *store.RefreshToken) error {
	if *f.err != nil {
		return *f.err
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, usedAt, response, next)
}

var errDatabaseFull = errors.New("database or disk is full (13)")

func (f failingRotations) Unavailable(err error) bool { return errors.Is(err, errDatabaseFull) }

// TestTokenEndpointStoreFailures: when the database fails (unreachable, full) the token
// endpoint answers 503 temporarily_unavailable with Retry-After, which clients retry; a failure
// the store cannot explain stays 500 server_error. Neither hands out a token, and the refresh
// token is not spent: it works once the database is back.
func TestTokenEndpointStoreFailures(t *testing.T) {
	var fail error
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { return failingRotations{Store: st, err: &fail} }})
	rt := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil).body["refresh_token"].(string)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"database unreachable", fmt.Errorf("sqlstore: rotate refresh token: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503, "temporarily_unavailable"},
		{"database full", fmt.Errorf("sqlstore: rotate refresh token: %w", errDatabaseFull), 503, "temporarily_unavailable"},
		{"a timeout", fmt.Errorf("sqlstore: %w", context.DeadlineExceeded), 503, "temporarily_unavailable"},
		{"unexplained", errors.New("sqlstore: something odd"), 500, "server_error"},
	} {
		fail = tc.err
		req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", webSecret)
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != tc.status || !strings.Contains(body, `"error":"`+tc.code+`"`) || strings.Contains(body, "access_token") {
			t.Errorf("%s: %d %s", tc.name, rec.Code, body)
		}
		if retry := rec.Header().Get("Retry-After"); (tc.status == 503) != (retry != "") {
			t.Errorf("%s: Retry-After %q", tc.name, retry)
		}
	}
	fail = nil
	if res := ts.refresh(rt, nil); res.status != http.StatusOK { // and it recovers by itself
		t.Fatalf("after the database came back: %d %s", res.status, res.raw)
	}
}

func TestThrottledLog(t *testing.T) {
	var l throttledLog
	now := time.Unix(1_800_000_000, 0)
	if ok, _ := l.allow(now); !ok {
		t.Fatal("the first line is held back")
	}
	for range 5 {
		if ok, _ := l.allow(now.Add(500 * time.Millisecond)); ok {
			t.Fatal("a second line within the second went through")
		}
	}
	if ok, quiet := l.allow(now.Add(time.Second)); !ok || quiet != 5 {
		t.Fatalf("next second: %v, %d held back; want true, 5", ok, quiet)
	}
}

// failingPushes makes pushed authorization requests fail to store, like a database that went
// away.
type failingPushes struct{ store.Store }

func (failingPushes) CreatePushedRequest(context.Context, *store.PushedRequest) error {
	return fmt.Errorf("sqlstore: create pushed request: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
}

// TestPushedRequestStoreFailure: the PAR endpoint, which writes its own errors, answers a
// failing database 503 temporarily_unavailable too (it answered 500).
func TestPushedRequestStoreFailure(t *testing.T) {
	ts := newFlowServerOpts(t, serverOptions{wrap: func(st store.Store) store.Store { return failingPushes{st} }})
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/par", strings.NewReader(pushParams(nil).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", webSecret)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req) // not serve(): it fails the test on any 5xx
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"temporarily_unavailable"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("push with the database down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
