package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"
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

// TestTokenEndpointRedisReplayGuard: oauth_server with dpop_replay_redis remembers token
// endpoint proofs in Redis (so every instance sharing it refuses a replay).
func TestTokenEndpointRedisReplayGuard(t *testing.T) {
	u := testRedisURL(t)
	tc := newTestCaddy(t)
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), "dpop_replay_redis "+u)); err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: &priv.PublicKey})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": "POST", "htu": tc.issuer + "/token", "iat": time.Now().Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := jws.CompactSerialize()

	send := func() (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {tc.issuer + "/api"}}
		req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth("demo-service", testSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	if status, body := send(); status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("first use: %d %v", status, body)
	}
	if status, body := send(); status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replay: %d %v", status, body)
	}

	// The proof's jti is in Redis, under the token endpoint's key space.
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	scope := sha256.Sum256([]byte(tc.issuer + "\x00" + tc.issuer + "/token"))
	prefix := "caddy-oauth:dpop:" + hex.EncodeToString(scope[:8]) + ":"
	keys, err := rc.Keys(context.Background(), prefix+"*").Result()
	// Beside the proof, the guard's epoch (how it notices that Redis lost its keys).
	if err != nil || len(keys) != 2 || !slices.Contains(keys, prefix+"epoch") {
		t.Fatalf("Redis keys of the token endpoint = %v, %v; want the one proof and the epoch", keys, err)
	}
}
