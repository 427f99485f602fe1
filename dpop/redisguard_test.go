package dpop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis connects to the server named by CADDY_OAUTH_TEST_REDIS_URL (scripts/with-redis.sh
// starts one). Without it the test skips, or fails when CADDY_OAUTH_REQUIRE_REDIS=1.
func testRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("CADDY_OAUTH_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CADDY_OAUTH_REQUIRE_REDIS") == "1" {
			tb.Fatal("CADDY_OAUTH_REQUIRE_REDIS=1 but CADDY_OAUTH_TEST_REDIS_URL is empty")
		}
		tb.Skip("no Redis: run under scripts/with-redis.sh")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("CADDY_OAUTH_TEST_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis ping: %v", err)
	}
	return c
}

// testPrefix isolates one test's keys from every other run sharing the server.
func testPrefix(tb testing.TB) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

func TestRedisGuardUse(t *testing.T) {
	c := testRedis(t)
	g := NewRedisGuard(c, testPrefix(t))
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	steps := []struct {
		key  string
		want error
	}{
		{"jkt1:a", nil},
		{"jkt1:a", ErrReplay},
		{"jkt1:b", nil},
		{"jkt2:a", nil}, // the same jti under another key is another proof
		{"jkt1:b", ErrReplay},
		{"jkt1:a", ErrReplay},
	}
	for i, s := range steps {
		if err := g.Use(ctx, s.key, exp); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d: Use(%q) = %v, want %v", i, s.key, err, s.want)
		}
	}

	// The stored key is the prefixed SHA-256, never the client's jti, and carries the expiry;
	// beside them, only the epoch (without expiry).
	keys, err := c.Keys(ctx, g.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(keys, g.prefix+"epoch"); i < 0 {
		t.Fatalf("no epoch key among %v", keys)
	} else if ttl, err := c.PTTL(ctx, keys[i]).Result(); err != nil || ttl != -1 {
		t.Fatalf("epoch PTTL = %v, %v; want no expiry", ttl, err)
	} else {
		keys = slices.Delete(keys, i, i+1)
	}
	if len(keys) != 3 {
		t.Fatalf("stored %d keys (%v), want 3", len(keys), keys)
	}
	for _, k := range keys {
		if len(k) != len(g.prefix)+64 {
			t.Errorf("key %q: want prefix + 64 hex digits", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 50*time.Second || ttl > time.Minute {
			t.Errorf("key %q: PTTL = %v, %v; want about 1m", k, ttl, err)
		}
	}
}

func TestRedisGuardExpiry(t *testing.T) {
	g := NewRedisGuard(testRedis(t), testPrefix(t))
	ctx := context.Background()
	exp := time.Now().Add(time.Second) // both uses below must land before it, even on a loaded machine
	if err := g.Use(ctx, "k", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := g.Use(ctx, "k", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay before expiry: %v, want ErrReplay", err)
	}
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	if err := g.Use(ctx, "k", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("use after expiry: %v, want nil", err)
	}
	// An expiry already past is nothing to remember.
	past := time.Now().Add(-time.Second)
	for i := range 2 {
		if err := g.Use(ctx, "old", past); err != nil {
			t.Fatalf("expired key, use %d: %v", i, err)
		}
	}
}

// TestRedisGuardSharedAcrossInstances: two gateways (two clients) sharing one Redis see each
// other's proofs.
func TestRedisGuardSharedAcrossInstances(t *testing.T) {
	prefix := testPrefix(t)
	a, b := NewRedisGuard(testRedis(t), prefix), NewRedisGuard(testRedis(t), prefix)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	if err := a.Use(ctx, "jkt:1", exp); err != nil {
		t.Fatalf("instance a: %v", err)
	}
	if err := b.Use(ctx, "jkt:1", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("instance b replaying a's proof: %v, want ErrReplay", err)
	}
	if err := b.Use(ctx, "jkt:2", exp); err != nil {
		t.Fatalf("instance b: %v", err)
	}
	if err := a.Use(ctx, "jkt:2", exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("instance a replaying b's proof: %v, want ErrReplay", err)
	}
}

func TestRedisGuardConcurrent(t *testing.T) {
	prefix := testPrefix(t)
	guards := []*RedisGuard{NewRedisGuard(testRedis(t), prefix), NewRedisGuard(testRedis(t), prefix)}
	exp := time.Now().Add(time.Minute)
	// Each guard's first call adopts the epoch (a few more round trips, once): done before
	// the burst, which is about concurrent writes of one key.
	for i, g := range guards {
		if err := g.Use(context.Background(), fmt.Sprint("warm-up-", i), exp); err != nil {
			t.Fatal(err)
		}
	}
	const n = 64
	var ok, replay atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := guards[i%2].Use(context.Background(), "jkt:same", exp); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplay):
				replay.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if ok.Load() != 1 || replay.Load() != n-1 {
		t.Fatalf("%d successes, %d replays; want 1 and %d", ok.Load(), replay.Load(), n-1)
	}
}

// TestRedisGuardDown: an unreachable Redis is an error, neither success nor a replay, so the
// verifier fails closed with a server error (TestVerifyGuardFailureFailsClosed).
func TestRedisGuardDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now

	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	g := NewRedisGuard(c, "down:")
	begin := time.Now()
	err = g.Use(context.Background(), "k", time.Now().Add(time.Minute))
	if err == nil || errors.Is(err, ErrReplay) || errors.Is(err, ErrFull) {
		t.Fatalf("Use with Redis down = %v, want a plain error", err)
	}
	if d := time.Since(begin); d > 2*redisTimeout {
		t.Errorf("Use with Redis down took %v, want at most ~%v", d, redisTimeout)
	}

}

// TestRedisGuardTimeout: a Redis that accepts connections but never answers costs a request
// the guard's timeout, not the caller's whole deadline.
func TestRedisGuardTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // hold it open, silent
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	g := NewRedisGuard(c, "hang:")
	begin := time.Now()
	err = g.Use(context.Background(), "k", time.Now().Add(time.Minute))
	if err == nil || errors.Is(err, ErrReplay) {
		t.Fatalf("Use with a silent Redis = %v, want an error", err)
	}
	if d := time.Since(begin); d > redisTimeout+time.Second {
		t.Errorf("Use with a silent Redis took %v, want about %v", d, redisTimeout)
	}
}

type fakeRedisError string

func (e fakeRedisError) Error() string { return string(e) }
func (fakeRedisError) RedisError()     {}

func TestIsOOM(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fakeRedisError("OOM command not allowed when used memory > 'maxmemory'."), true},
		{fmt.Errorf("wrapped: %w", fakeRedisError("OOM command not allowed")), true},
		{fakeRedisError("ERR syntax error"), false},
		{errors.New("OOM but not from Redis"), false},
	} {
		if got := isOOM(tc.err); got != tc.want {
			t.Errorf("isOOM(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func BenchmarkRedisGuardUse(b *testing.B) {
	g := NewRedisGuard(testRedis(b), testPrefix(b))
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	key := []byte("0123456789012345678901234567890123456789012:")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var buf [16]byte
		_, _ = rand.Read(buf[:])
		k := string(key) + hex.EncodeToString(buf[:]) + ":"
		for i := 0; pb.Next(); i++ {
			if err := g.Use(ctx, k+strconv.Itoa(i), exp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRedisGuardRestartRefusesOldProofs: a Redis without persistence that restarts (or evicts
// the guard's keys) forgets every proof it saw. A proof used before must not pass again; the
// guard notices the loss on its next call, and from then on only proofs issued after it are
// accepted.
func TestRedisGuardRestartRefusesOldProofs(t *testing.T) {
	loadKeys(t)
	c := testRedis(t)
	prefix := testPrefix(t)
	a, b := NewRedisGuard(c, prefix), NewRedisGuard(c, prefix) // two gateways sharing Redis
	va, vb := &Verifier{Replay: a}, &Verifier{Replay: b}
	ctx := context.Background()
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	proofAt := func(iat time.Time) string {
		s := newSpec(t, "ES256", keyP256)
		s.claims["iat"] = iat.Unix()
		return s.sign(t)
	}
	// The guards' first calls find no epoch and date it from Redis's start.
	for _, g := range []*RedisGuard{a, b} {
		if err := g.Use(ctx, "warm-up", time.Now().Add(time.Minute)); err != nil && !errors.Is(err, ErrReplay) {
			t.Fatal(err)
		}
	}
	// A proof from before this Redis started is refused: it may have been used at a gateway
	// before a restart.
	// (A verifier whose MaxAge reaches back that far: a test Redis may have run for long.)
	if up, err := redisUptime(ctx, c); err != nil {
		t.Fatal(err)
	} else if _, err := (&Verifier{Replay: a, MaxAge: up + time.Minute}).Verify(ctx, proofAt(time.Now().Add(-up-2*time.Second)), req); !errors.Is(err, ErrForgotten) {
		t.Fatalf("a proof from before Redis started: %v, want ErrForgotten", err)
	}
	time.Sleep(1100 * time.Millisecond)
	used := proofAt(time.Now())
	if _, err := va.Verify(ctx, used, req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	usedAtB := proofAt(time.Now())
	if _, err := vb.Verify(ctx, usedAtB, req); err != nil {
		t.Fatalf("first use at b: %v", err)
	}

	// Redis loses everything under the prefix, as a restart without persistence does.
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		v     *Verifier
		proof string
	}{"a replays its own": {va, used}, "a replays b's": {va, usedAtB}, "b replays its own": {vb, usedAtB}, "b replays a's": {vb, used}} {
		_, err := tc.v.Verify(ctx, tc.proof, req)
		var e *Error
		if err == nil {
			t.Errorf("%s after the restart: accepted", name)
		} else if !errors.As(err, &e) || e.Code != CodeInvalidProof {
			t.Errorf("%s after the restart: %v, want an invalid_dpop_proof refusal", name, err)
		}
	}
	// A proof made after the restart is accepted once, at either gateway.
	fresh := proofAt(time.Now().Add(2 * time.Second))
	if _, err := va.Verify(ctx, fresh, req); err != nil {
		t.Fatalf("fresh proof after the restart: %v", err)
	}
	if _, err := vb.Verify(ctx, fresh, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("fresh proof replayed at b: %v, want ErrReplay", err)
	}
}
