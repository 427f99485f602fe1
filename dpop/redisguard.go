package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds one Use call: a slow Redis must fail the request (closed), not queue
// it behind the gateway's other requests.
const redisTimeout = 200 * time.Millisecond

// RedisGuard is a ReplayGuard shared by every gateway instance using the same Redis: a proof
// used at one instance is a replay at all the others. Each key is a single
// `SET <prefix><sha256hex(key)> 1 NX PXAT <expiresAt ms>`, which Redis executes atomically,
// so exactness holds across instances without locks or scripts.
//
// Keys are hashed so that client-chosen jtis cannot make Redis keys of arbitrary length or
// content. The client should have ContextTimeoutEnabled set, so the per-call deadline also
// bounds socket reads and writes.
type RedisGuard struct {
	client redis.UniversalClient
	prefix string
}

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
	err := g.client.Do(ctx, "set", g.prefix+string(hexSum[:]), "1", "nx", "pxat", ms).Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return ErrReplay
	case isOOM(err):
		return fmt.Errorf("%w: redis: %v", ErrFull, err)
	default:
		return fmt.Errorf("dpop: redis replay guard: %w", err)
	}
}

// isOOM reports whether err is Redis's reply to a write beyond maxmemory.
func isOOM(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ")
}
