package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate/remote"
)

// gatewayState holds what oauth_resource handlers share across config generations: the
// state of each remote issuer (discovered metadata, JWKS cache, introspection caches) and
// each resource's DPoP replay guard. A reload provisions the new handlers, taking
// references, before the old ones release theirs, so used jtis stay remembered and keys
// are not fetched again.
var gatewayState = caddy.NewUsagePool()

// Retry spacing for an issuer that cannot be discovered: requests in between fail at once
// (503) instead of each waiting for a timeout.
const (
	minDiscoveryBackoff = time.Second
	maxDiscoveryBackoff = time.Minute
	discoveryTimeout    = 10 * time.Second
)

// How calls to a remote issuer's endpoints fail fast: zero values take package remote's
// defaults (introspection timeout 5s; a breaker opens after 5 failures in a row, for 10s).
// Tests shorten them.
var (
	introspectionTimeout time.Duration
	issuerBreaker        remote.BreakerOptions // Failures and CoolDown
)

// remoteIssuer is an authorization server reached over HTTP. Nothing is fetched until a
// request needs it: an issuer served by this same Caddy never gets here, and a down issuer
// must not fail a config load.
type remoteIssuer struct {
	issuer string
	logger *zap.Logger

	mu            sync.Mutex
	meta          *remote.Metadata
	keys          *remote.JWKSCache
	introspectors map[string]*remote.Introspector // by client credentials digest
	breakers      map[string]*remote.Breaker      // by endpoint: "jwks", "introspection"
	removeGauges  []func()
	retryAt       time.Time
	backoff       time.Duration
	lastErr       error
}

// errDiscoveryBackoff says a retry is not due yet; lastErr holds the real cause.
var errDiscoveryBackoff = errors.New("waiting before retrying discovery")

// resolve discovers the issuer and loads its keys, once; after a failure it refuses to try
// again before the backoff has passed.
func (ri *remoteIssuer) resolve(ctx context.Context) (*remote.Metadata, *remote.JWKSCache, error) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.meta != nil {
		return ri.meta, ri.keys, nil
	}
	if time.Now().Before(ri.retryAt) {
		return nil, nil, fmt.Errorf("%w: %w", errDiscoveryBackoff, ri.lastErr)
	}
	// The result is shared by every request and config generation: the request that happens
	// to trigger it must not cancel it, but it must not hang either.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	meta, keys, err := ri.discover(ctx)
	if err != nil {
		ri.backoff = min(max(2*ri.backoff, minDiscoveryBackoff), maxDiscoveryBackoff)
		ri.retryAt = time.Now().Add(ri.backoff)
		ri.lastErr = err
		ri.logger.Error("authorization server unreachable; protected requests fail with 503 until it answers",
			zap.String("issuer", ri.issuer), zap.Duration("retry_in", ri.backoff), zap.Error(err))
		return nil, nil, err
	}
	ri.meta, ri.keys, ri.backoff, ri.lastErr = meta, keys, 0, nil
	ri.logger.Info("discovered authorization server", zap.String("issuer", ri.issuer), zap.String("jwks_uri", meta.JWKSURI))
	return meta, keys, nil
}

func (ri *remoteIssuer) discover(ctx context.Context) (*remote.Metadata, *remote.JWKSCache, error) {
	meta, err := remote.Discover(ctx, nil, ri.issuer)
	if err != nil {
		return nil, nil, err
	}
	onFetch, _ := bundleMetrics.RemoteIssuer(ri.issuer)
	keys, err := remote.NewJWKSCache(nil, meta.JWKSURI, remote.JWKSOptions{Logger: ri.logger, OnFetch: onFetch,
		Breaker: ri.breaker("jwks", "jwks_uri "+meta.JWKSURI)})
	if err != nil {
		return nil, nil, err
	}
	// Fetch once now so the first tokens verify; afterwards the cache refreshes itself and
	// keeps the last good keys through outages. Its lifetime is the pool entry's, not a
	// config generation's, hence the background context.
	if err := keys.Refresh(ctx); err != nil {
		_ = keys.Close()
		return nil, nil, err
	}
	keys.Start(context.Background())
	return meta, keys, nil
}

// introspector returns the introspection client for one set of credentials, so that its
// cache survives reloads too. Call it after a successful resolve.
func (ri *remoteIssuer) introspector(clientID, secret string) (*remote.Introspector, error) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	sum := sha256.Sum256([]byte(clientID + "\x00" + secret))
	key := hex.EncodeToString(sum[:])
	if in, ok := ri.introspectors[key]; ok {
		return in, nil
	}
	_, onCache := bundleMetrics.RemoteIssuer(ri.issuer)
	in, err := remote.NewIntrospector(nil, ri.meta.IntrospectionEndpoint, clientID, secret, remote.IntrospectorOptions{Logger: ri.logger, OnCache: onCache, Timeout: introspectionTimeout,
		Breaker: ri.breaker("introspection", "introspection_endpoint "+ri.meta.IntrospectionEndpoint)})
	if err != nil {
		return nil, err
	}
	if ri.introspectors == nil {
		ri.introspectors = make(map[string]*remote.Introspector)
	}
	ri.introspectors[key] = in
	return in, nil
}

// breaker returns the circuit breaker of one of the issuer's endpoints, shared by every
// client of it (introspectors with different credentials), with its metrics. The caller
// holds ri.mu.
func (ri *remoteIssuer) breaker(endpoint, name string) *remote.Breaker {
	if b, ok := ri.breakers[endpoint]; ok {
		return b
	}
	b := remote.NewBreaker(remote.BreakerOptions{Failures: issuerBreaker.Failures, CoolDown: issuerBreaker.CoolDown,
		Name: name, Logger: ri.logger.With(zap.String("issuer", ri.issuer)), OnReject: bundleMetrics.FastFailure(ri.issuer, endpoint)})
	remove := bundleMetrics.AddBreaker(ri.issuer, endpoint, func() int { return int(b.State()) })
	if ri.breakers == nil {
		ri.breakers = make(map[string]*remote.Breaker)
	}
	ri.breakers[endpoint] = b
	ri.removeGauges = append(ri.removeGauges, remove)
	return b
}

// Destruct stops the background key refresh when no config uses the issuer any more.
func (ri *remoteIssuer) Destruct() error {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	for _, remove := range ri.removeGauges {
		remove()
	}
	for _, in := range ri.introspectors {
		_ = in.Close()
	}
	if ri.keys != nil {
		return ri.keys.Close()
	}
	return nil
}

// remoteIssuer returns the shared state of issuer and the function that drops this
// caller's reference to it.
func (a *App) remoteIssuer(issuer string) (*remoteIssuer, func(), error) {
	key := "issuer\x00" + issuer
	val, _, err := gatewayState.LoadOrNew(key, func() (caddy.Destructor, error) {
		return &remoteIssuer{issuer: issuer, logger: a.logger}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return val.(*remoteIssuer), a.releaser(key), nil
}

type pooledGuard struct{ *dpop.MemoryGuard }

func (g pooledGuard) Destruct() error {
	g.Close()
	return nil
}

// replayGuard returns the DPoP replay guard of one resource of one issuer. Proofs are
// bound to the request URL, so resources never share jtis; the capacity is part of the
// key so that changing it takes effect on reload.
func (a *App) replayGuard(issuer, resource string, capacity int) (dpop.ReplayGuard, func(), error) {
	key := "replay\x00" + issuer + "\x00" + resource + "\x00" + strconv.Itoa(capacity)
	val, _, err := gatewayState.LoadOrNew(key, func() (caddy.Destructor, error) {
		// maxTTL 0: the guard's default covers the verifier's default proof age and skew.
		return pooledGuard{dpop.NewMemoryGuard(capacity, 0)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return val.(pooledGuard).MemoryGuard, a.releaser(key), nil
}

func (a *App) releaser(key string) func() {
	return func() {
		if _, err := gatewayState.Delete(key); err != nil {
			a.logger.Error("releasing gateway state", zap.Error(err))
		}
	}
}

// redisTimeouts bound connecting and each command: the replay check sits on the request
// path, and a Redis that does not answer quickly fails requests (closed) instead of
// holding them.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
)

// parseRedisURL parses a dpop_replay_redis URL. Its errors never repeat the URL, which may
// hold a password.
func parseRedisURL(rawURL string) (*redis.Options, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("dpop_replay_redis: invalid Redis URL: %v", err)
	}
	return opt, nil
}

type pooledRedis struct{ *redis.Client }

func (c pooledRedis) Destruct() error { return c.Close() }

// redisReplayGuard returns a DPoP replay guard stored in the Redis at rawURL. All handlers
// using one URL share one client (one connection pool), closed when the last releases it.
// Keys are prefixed per issuer and resource, as the memory guards are separate per resource.
func (a *App) redisReplayGuard(issuer, resource, rawURL string) (dpop.ReplayGuard, func(), error) {
	sum := sha256.Sum256([]byte(rawURL)) // the pool key outlives this config; keep no password in it
	key := "redis\x00" + hex.EncodeToString(sum[:])
	val, _, err := gatewayState.LoadOrNew(key, func() (caddy.Destructor, error) {
		opt, err := parseRedisURL(rawURL)
		if err != nil {
			return nil, err
		}
		opt.ContextTimeoutEnabled = true
		opt.DialTimeout = redisDialTimeout
		opt.ReadTimeout = redisIOTimeout
		opt.WriteTimeout = redisIOTimeout
		return pooledRedis{redis.NewClient(opt)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	scope := sha256.Sum256([]byte(issuer + "\x00" + resource))
	prefix := "caddy-oauth:dpop:" + hex.EncodeToString(scope[:8]) + ":"
	return dpop.NewRedisGuard(val.(pooledRedis).Client, prefix), a.releaser(key), nil
}

// dpopReplayGuard picks the replay guard of one proof scope (a resource, or an issuer's token
// endpoint): Redis when redisURL is set (placeholders resolved here), else a memory guard of
// the given capacity, both shared across config reloads.
func (a *App) dpopReplayGuard(repl *caddy.Replacer, issuer, scope, redisURL string, capacity int) (dpop.ReplayGuard, func(), error) {
	if redisURL == "" {
		return a.replayGuard(issuer, scope, capacity)
	}
	resolved, err := repl.ReplaceOrErr(redisURL, true, true)
	if err != nil {
		return nil, nil, errors.New("dpop_replay_redis: unresolved or empty placeholder")
	}
	return a.redisReplayGuard(issuer, scope, resolved)
}
