package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/caddy-oauth/caddy-oauth/jwa"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

const (
	maxJWKSBytes   = 256 << 10
	maxJWKSKeys    = 100
	minRSABits     = 2048
	jwksAccept     = "application/jwk-set+json, application/json"
	defaultRefresh = 5 * time.Minute
	minRefresh     = time.Minute
	maxRefresh     = time.Hour
)

// JWKSOptions tune a JWKSCache; zero values take the defaults.
type JWKSOptions struct {
	// MinRefetchInterval spaces fetches caused by unknown kids (default 10s), so tokens with
	// made-up kids cannot turn the gateway into a request amplifier against the issuer.
	MinRefetchInterval time.Duration
	// Timeout bounds one fetch (default 10s).
	Timeout time.Duration
	Logger  *zap.Logger
	// OnFetch, when set, hears every fetch's outcome (nil: the keys were replaced), for metrics.
	OnFetch func(err error)
	// Breaker stops fetches while the jwks_uri keeps failing or timing out; nil: one of its
	// own, with the defaults.
	Breaker *Breaker
	// Now is the clock (tests).
	Now func() time.Time
}

// JWKSCache serves an issuer's signing keys from its jwks_uri. Lookups read an immutable
// key set through an atomic pointer (no lock, no allocation); the set is replaced by a
// background refresh (interval from Cache-Control max-age, clamped to [1m, 1h]) or by a
// rate-limited refetch when a token names an unknown kid. A failed fetch keeps the last
// good set.
type JWKSCache struct {
	client *http.Client
	uri    string
	opts   JWKSOptions
	log    *zap.Logger

	set         atomic.Pointer[keySet]
	lastAttempt atomic.Int64 // unix nanoseconds of the last fetch start
	nextRefresh atomic.Int64 // duration until the background refresh
	lastErr     atomic.Pointer[error]
	fetches     singleflight.Group

	startOnce sync.Once
	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

var _ rsvalidate.KeySource = (*JWKSCache)(nil)

// keySet is one fetched JWK Set, never modified after it is published.
type keySet struct {
	byKID map[string][]*jose.JSONWebKey // usable verification keys only
}

// NewJWKSCache returns a cache for the JWK Set at jwksURI. Nothing is fetched until Start,
// Refresh or the first Key call.
func NewJWKSCache(client *http.Client, jwksURI string, opts JWKSOptions) (*JWKSCache, error) {
	if _, err := checkHTTPURL("jwks_uri", jwksURI); err != nil {
		return nil, err
	}
	if opts.MinRefetchInterval <= 0 {
		opts.MinRefetchInterval = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Breaker == nil {
		opts.Breaker = NewBreaker(BreakerOptions{Name: "jwks_uri " + jwksURI, Logger: log})
	}
	c := &JWKSCache{client: client, uri: jwksURI, opts: opts, log: log.With(zap.String("jwks_uri", jwksURI)), done: make(chan struct{})}
	c.nextRefresh.Store(int64(defaultRefresh))
	return c, nil
}

// Key returns the key with kid that can verify alg. On an unknown kid it refetches the set
// (at most once per MinRefetchInterval, concurrent misses sharing one fetch); while the
// Breaker is not closed it does not wait for the jwks_uri (see refetchUnlessFailing). It
// returns rsvalidate.ErrUnavailable only while no key set was ever fetched successfully.
func (c *JWKSCache) Key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	if !supportedAlg(alg) {
		return nil, fmt.Errorf("%w: algorithm %q is not accepted", rsvalidate.ErrUnknownKey, alg)
	}
	set := c.set.Load()
	if set != nil {
		if k, known := set.find(kid, alg); k != nil {
			return k, nil
		} else if known {
			// The kid is published for another key type: a refetch would not change that.
			return nil, rsvalidate.ErrUnknownKey
		}
	}
	err := c.refetchUnlessFailing(ctx)
	if set = c.set.Load(); set == nil {
		if p := c.lastErr.Load(); err == nil && p != nil {
			err = *p
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", rsvalidate.ErrUnavailable, err)
		}
		return nil, rsvalidate.ErrUnavailable
	}
	if k, _ := set.find(kid, alg); k != nil {
		return k, nil
	}
	return nil, rsvalidate.ErrUnknownKey
}

// Refresh fetches the key set now, whatever the rate limit. It is how a caller warms the
// cache; the background refresh and unknown-kid refetches also come here.
func (c *JWKSCache) Refresh(ctx context.Context) error {
	return c.do(ctx, false)
}

// refetch is Refresh for unknown kids: skipped when the last fetch started less than
// MinRefetchInterval ago.
func (c *JWKSCache) refetch(ctx context.Context) error {
	return c.do(ctx, true)
}

// refetchUnlessFailing is refetch while the jwks_uri answers. While its breaker is open the
// request fails at once instead of joining a fetch that would time out; once half-open, a
// fetch starts in the background as the breaker's probe (or is under way), and the request
// does not wait for it either.
func (c *JWKSCache) refetchUnlessFailing(ctx context.Context) error {
	b := c.opts.Breaker
	switch st := b.State(); st {
	case BreakerClosed:
		return c.refetch(ctx)
	case BreakerHalfOpen:
		// DoChan's channel is buffered: nobody has to read it.
		c.fetches.DoChan("", func() (any, error) { return nil, c.fetch(context.WithoutCancel(ctx)) })
		return b.failFast(st)
	default:
		return b.failFast(st)
	}
}

func (c *JWKSCache) do(ctx context.Context, rateLimited bool) error {
	// One key for both kinds: a refetch arriving during a refresh waits for it.
	ch := c.fetches.DoChan("", func() (any, error) {
		// Checked inside the shared call so that a miss arriving just after a fetch
		// finished does not start another one.
		if rateLimited && c.opts.Now().Sub(time.Unix(0, c.lastAttempt.Load())) < c.opts.MinRefetchInterval {
			return nil, nil
		}
		// The fetch is shared: it must not die with the first caller's request.
		return nil, c.fetch(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch downloads the set and publishes it; on failure the previous set stays. While the
// breaker is open it fails at once (not counted as a fetch).
func (c *JWKSCache) fetch(ctx context.Context) error {
	done, err := c.opts.Breaker.allow()
	if err != nil {
		return err
	}
	c.lastAttempt.Store(c.opts.Now().UnixNano())
	body, hdr, err := getJSON(ctx, c.client, c.uri, jwksAccept, maxJWKSBytes, c.opts.Timeout)
	var set *keySet
	if err == nil {
		set, err = parseKeySet(body, c.log)
	}
	done(err)
	if c.opts.OnFetch != nil {
		c.opts.OnFetch(err)
	}
	if err != nil {
		c.lastErr.Store(&err)
		c.nextRefresh.Store(int64(minRefresh))
		c.log.Warn("fetching JWKS failed; keeping the last good keys", zap.Error(err), zap.Bool("have_keys", c.set.Load() != nil))
		return err
	}
	c.set.Store(set)
	c.lastErr.Store(nil)
	c.nextRefresh.Store(int64(refreshInterval(hdr.Get("Cache-Control"))))
	c.log.Debug("fetched JWKS", zap.Int("kids", len(set.byKID)))
	return nil
}

// Start refreshes the key set in the background, at once and then at the interval the
// server's Cache-Control asks for, until ctx ends or Close. Calls after the first do nothing.
func (c *JWKSCache) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		ctx, c.stop = context.WithCancel(ctx)
		go c.loop(ctx)
	})
}

func (c *JWKSCache) loop(ctx context.Context) {
	defer close(c.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		_ = c.Refresh(ctx) // failures are logged by fetch
		timer.Reset(time.Duration(c.nextRefresh.Load()))
	}
}

// Close stops the background refresh and waits for it. Key keeps working on the last set.
func (c *JWKSCache) Close() error {
	c.startOnce.Do(func() { close(c.done) }) // never started: nothing to wait for
	c.closeOnce.Do(func() {
		if c.stop != nil {
			c.stop()
		}
	})
	<-c.done
	return nil
}

// refreshInterval reads max-age from a Cache-Control value, clamped to [1m, 1h]; 5m when
// absent or unreadable. no-cache/no-store mean "as often as allowed".
func refreshInterval(cacheControl string) time.Duration {
	d := defaultRefresh
	for dir := range strings.SplitSeq(cacheControl, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			return minRefresh
		case "max-age":
			secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
			if err != nil || secs < 0 {
				continue
			}
			d = time.Duration(min(secs, int64(maxRefresh/time.Second))) * time.Second
		}
	}
	return min(max(d, minRefresh), maxRefresh)
}

// parseKeySet keeps the keys that can verify signatures: public, use absent or "sig", a
// supported type, RSA of at least 2048 bits. A malformed or unusable key is skipped, not
// fatal; a set with no usable key is an error, so it never replaces a good one.
func parseKeySet(body []byte, log *zap.Logger) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("JWK Set: %w", err)
	}
	set := &keySet{byKID: make(map[string][]*jose.JSONWebKey, len(doc.Keys))}
	for i, raw := range doc.Keys {
		if i == maxJWKSKeys {
			log.Warn("JWK Set has too many keys; ignoring the rest", zap.Int("keys", len(doc.Keys)))
			break
		}
		k := new(jose.JSONWebKey)
		if err := k.UnmarshalJSON(raw); err != nil {
			log.Debug("skipping malformed JWK", zap.Int("index", i), zap.Error(err))
			continue
		}
		if reason := unusable(k); reason != "" {
			if !k.IsPublic() {
				log.Warn("the JWK Set publishes a private or symmetric key; it is ignored, and should be rotated", zap.String("kid", k.KeyID))
			} else {
				log.Debug("skipping JWK", zap.String("kid", k.KeyID), zap.String("reason", reason))
			}
			continue
		}
		set.byKID[k.KeyID] = append(set.byKID[k.KeyID], k)
	}
	if len(set.byKID) == 0 {
		return nil, errors.New("JWK Set has no usable signature verification key")
	}
	return set, nil
}

// unusable says why k cannot verify signatures, or "" when it can.
func unusable(k *jose.JSONWebKey) string {
	if k.Use != "" && k.Use != "sig" {
		return "use is " + k.Use
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return "RSA key shorter than 2048 bits"
		}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() && pub.Curve != elliptic.P521() {
			return "unsupported curve"
		}
	case ed25519.PublicKey:
	default:
		return fmt.Sprintf("unsupported or non-public key type %T", k.Key)
	}
	if k.Algorithm != "" && !supportedAlg(k.Algorithm) {
		return "unsupported alg " + k.Algorithm
	}
	return ""
}

// find returns the key for kid that fits alg; known says whether kid is in the set at all.
// With no kid, a single fitting key in the set is the answer.
func (s *keySet) find(kid, alg string) (key *jose.JSONWebKey, known bool) {
	if keys, ok := s.byKID[kid]; ok {
		for _, k := range keys {
			if fits(k, alg) {
				return k, true
			}
		}
		return nil, true
	}
	if kid != "" {
		return nil, false
	}
	for _, keys := range s.byKID {
		for _, k := range keys {
			if fits(k, alg) {
				if key != nil {
					return nil, true // ambiguous
				}
				key = k
			}
		}
	}
	return key, key != nil
}

func supportedAlg(alg string) bool {
	// Ed25519 is the name some issuers publish for EdDSA with that curve.
	return jwa.IsAsymmetric(alg) || alg == "Ed25519"
}

// fits says whether k can verify alg: the key type for the algorithm family, the curve for
// ECDSA, and the key's own alg when it names one.
func fits(k *jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg && !(alg == "Ed25519" && k.Algorithm == "EdDSA") {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" || alg == "Ed25519"
	}
	return false
}
