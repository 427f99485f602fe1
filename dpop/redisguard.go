package dpop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds one Use call: a slow Redis must fail the request (closed), not queue
// it behind the gateway's other requests.
const redisTimeout = 200 * time.Millisecond

// RedisGuard is a ReplayGuard shared by every gateway instance using the same Redis: a proof
// used at one instance is a replay at all the others. Each key is one
// `SET <prefix><sha256hex(key)> 1 NX PXAT <expiresAt ms>`, which Redis executes atomically,
// so exactness holds across instances without locks.
//
// A Redis without persistence forgets every key when it restarts (so does FLUSHALL, or
// eviction under an allkeys-* policy), and a proof used before would pass again. So the SET
// runs in a script that first checks <prefix>epoch, a random value with no expiry that every
// gateway sharing the Redis agrees on: when it is missing or not the one this guard knows, the
// guard adopts the current one (writing a new one if there is none) and remembers the moment,
// and ForgottenBefore tells the verifier to refuse proofs issued before it.
//
// Keys are hashed so that client-chosen jtis cannot make Redis keys of arbitrary length or
// content. The client should have ContextTimeoutEnabled set, so the per-call deadline also
// bounds socket reads and writes.
type RedisGuard struct {
	client redis.UniversalClient
	prefix string

	// adopting is held while one call adopts a new epoch, so concurrent calls that met the
	// same change wait for it instead of each making the round trips.
	adopting  sync.Mutex
	mu        sync.Mutex
	epoch     string    // the epoch value this guard last saw; "" before the first call
	forgotten time.Time // when this guard last found Redis had lost its keys
}

// useScript: KEYS[1] the proof's key, KEYS[2] the epoch key; ARGV[1] the expiry (Unix ms),
// ARGV[2] the epoch the caller knows. -1: the epoch differs (nothing written); 1: recorded;
// 0: already there (a replay).
var useScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
if redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) then return 1 end
return 0`)

// NewRedisGuard returns a guard storing its keys in client under prefix (for example
// "caddy-oauth:dpop:"). The caller owns client and closes it.
func NewRedisGuard(client redis.UniversalClient, prefix string) *RedisGuard {
	return &RedisGuard{client: client, prefix: prefix}
}

// Use implements ReplayGuard. A Redis failure is returned as a plain error (neither
// ErrReplay nor ErrFull), so the verifier fails closed with a server error; Redis refusing
// writes for lack of memory (maxmemory-policy noeviction) is ErrFull.
func (g *RedisGuard) Use(ctx context.Context, key string, expiresAt time.Time) error {
	ms := expiresAt.UnixMilli()
	if ms <= time.Now().UnixMilli() {
		return nil // already expired: nothing to remember (as MemoryGuard)
	}
	sum := sha256.Sum256([]byte(key))
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])

	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	keys := []string{g.prefix + string(hexSum[:]), g.prefix + "epoch"}
	// Twice at most: a changed epoch is adopted, then the write is tried again.
	for range 2 {
		g.mu.Lock()
		epoch := g.epoch
		g.mu.Unlock()
		n, err := useScript.Run(ctx, g.client, keys, ms, epoch).Int()
		switch {
		case err != nil && isOOM(err):
			return fmt.Errorf("%w: redis: %v", ErrFull, err)
		case err != nil:
			return fmt.Errorf("dpop: redis replay guard: %w", err)
		case n == 1:
			return nil
		case n == 0:
			return ErrReplay
		}
		if err := g.adopt(ctx, keys[1], epoch); err != nil {
			return fmt.Errorf("dpop: redis replay guard: %w", err)
		}
	}
	return errors.New("dpop: redis replay guard: the epoch keeps changing")
}

// adopt takes the epoch now in Redis in place of seen, writing a new one if there is none.
// An epoch value is "<Unix ms since when Redis remembers>.<random>". The loss it records:
//   - this guard had an epoch and it changed or vanished: Redis lost its keys; proofs up to
//     now may have been used, whatever the new epoch says;
//   - first call, and an epoch is there: Redis has remembered since the time it carries;
//   - first call, and none is there: Redis has remembered since it started (INFO's uptime),
//     which catches a restart just before this gateway came up without refusing the first
//     proofs of every new deployment.
func (g *RedisGuard) adopt(ctx context.Context, key, seen string) error {
	g.adopting.Lock()
	defer g.adopting.Unlock()
	g.mu.Lock()
	done := g.epoch != seen // another call adopted meanwhile: try with that one
	g.mu.Unlock()
	if done {
		return nil
	}
	since := time.Now()
	if seen == "" {
		up, err := redisUptime(ctx, g.client)
		if err != nil {
			return err
		}
		since = since.Add(-up)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	if err := g.client.SetNX(ctx, key, strconv.FormatInt(since.UnixMilli(), 10)+"."+hex.EncodeToString(b[:]), 0).Err(); err != nil {
		return err
	}
	current, err := g.client.Get(ctx, key).Result()
	if err != nil {
		return err
	}
	ms, _, ok := strings.Cut(current, ".")
	remembered, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || perr != nil {
		return fmt.Errorf("malformed epoch %q", current)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if seen != "" {
		g.forgotten = time.Now()
	} else {
		g.forgotten = time.UnixMilli(remembered)
	}
	g.epoch = current
	return nil
}

// redisUptime reads how long the Redis server has been running.
func redisUptime(ctx context.Context, c redis.UniversalClient) (time.Duration, error) {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "uptime_in_seconds:"); ok {
			s, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO uptime_in_seconds %q: %w", v, err)
			}
			return time.Duration(s+1) * time.Second, nil // whole seconds: round the start down
		}
	}
	return 0, errors.New("INFO server has no uptime_in_seconds")
}

// ForgottenBefore implements ForgetfulGuard: proofs issued at or before the returned time may
// have been used before Redis lost its keys. Zero when no loss was seen.
func (g *RedisGuard) ForgottenBefore() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.forgotten
}

// isOOM reports whether err is Redis's reply to a write beyond maxmemory.
func isOOM(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ")
}
