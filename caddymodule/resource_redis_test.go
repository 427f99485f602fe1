package caddymodule

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// testRedisURL is the server scripts/with-redis.sh started; without one the test skips, or
// fails when CADDY_OAUTH_REQUIRE_REDIS=1.
func testRedisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("CADDY_OAUTH_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CADDY_OAUTH_REQUIRE_REDIS") == "1" {
			t.Fatal("CADDY_OAUTH_REQUIRE_REDIS=1 but CADDY_OAUTH_TEST_REDIS_URL is empty")
		}
		t.Skip("no Redis: run under scripts/with-redis.sh")
	}
	return u
}

// TestRedisReplayGuardPool: handlers naming one Redis URL share one client, each resource
// has its own key space, and the client closes with the last reference.
func TestRedisReplayGuardPool(t *testing.T) {
	u := testRedisURL(t)
	a := &App{logger: zap.NewNop()}
	issuer := "https://auth.example/" + t.Name() + time.Now().Format(time.RFC3339Nano)
	g1, release1, err := a.redisReplayGuard(issuer, "https://api.example/one", u)
	if err != nil {
		t.Fatal(err)
	}
	g2, release2, err := a.redisReplayGuard(issuer, "https://api.example/two", u)
	if err != nil {
		t.Fatal(err)
	}
	g1again, release3, err := a.redisReplayGuard(issuer, "https://api.example/one", u)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	steps := []struct {
		name  string
		guard dpop.ReplayGuard
		want  error
	}{
		{"first use at resource one", g1, nil},
		{"same proof at resource two", g2, nil},
		{"replay at resource one, other handler", g1again, dpop.ErrReplay},
		{"replay at resource two", g2, dpop.ErrReplay},
	}
	for _, s := range steps {
		if err := s.guard.Use(ctx, "jkt:jti", exp); err != s.want {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}

	release1()
	release2()
	if err := g1again.Use(ctx, "jkt:other", exp); err != nil {
		t.Fatalf("client closed while still referenced: %v", err)
	}
	release3()
	err = g1again.Use(ctx, "jkt:third", exp)
	if err == nil || errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("Use after the last release = %v, want a closed-client error", err)
	}
}

func TestRedisReplayGuardBadURLHidesPassword(t *testing.T) {
	a := &App{logger: zap.NewNop()}
	_, _, err := a.redisReplayGuard("https://auth.example", "https://api.example", "redis://:hunter2secret@host:port/0")
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Fatalf("error = %v, want one that does not repeat the password", err)
	}
}
