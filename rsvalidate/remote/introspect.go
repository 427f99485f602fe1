package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

const (
	// maxTokenLen bounds what we send to the AS; longer strings are not access tokens.
	maxTokenLen           = 16 << 10
	maxIntrospectionBytes = 128 << 10
)

// ErrClientAuth: the introspection endpoint answered 401 — the gateway's client_id or
// client_secret is wrong. Returned errors wrap it together with rsvalidate.ErrUnavailable,
// so requests fail closed (503) while the log says what to fix.
var ErrClientAuth = errors.New("introspection endpoint rejected our client credentials")

// IntrospectorOptions tune an Introspector; zero values take the defaults.
type IntrospectorOptions struct {
	// MaxCacheTTL bounds how long an active answer is trusted without asking again
	// (default 5m); never beyond the token's exp.
	MaxCacheTTL time.Duration
	// NegativeTTL is how long an inactive answer is remembered (default 10s).
	NegativeTTL time.Duration
	// MaxStale is how long past MaxCacheTTL an active answer may still be served while the
	// AS is unreachable (default 30m; never beyond exp). Negative disables stale answers.
	MaxStale time.Duration
	// MaxEntries bounds the cache (default 100 000 answers).
	MaxEntries int64
	// Timeout bounds one introspection request (default 5s).
	Timeout time.Duration
	Logger  *zap.Logger
	// OnCache, when set, hears how each answer was had (metrics): "hit" (fresh in the cache),
	// "miss" (asked the AS) or "stale" (the AS failed; an unexpired cached answer served).
	OnCache func(result string)
	// Breaker fails introspections at once while the endpoint keeps failing or timing out
	// (shared by every Introspector of one endpoint); nil: one of its own, with the defaults.
	Breaker *Breaker
	// Now is the clock (tests).
	Now func() time.Time
	// keyToHash replaces the cache's hash (tests force collisions with it).
	keyToHash func(uint64) (uint64, uint64)
}

// Introspector asks an RFC 7662 endpoint about opaque tokens, authenticating with
// client_secret_basic, and caches the answers by the token's SHA-256.
type Introspector struct {
	client   *http.Client
	endpoint string
	authz    string // precomputed Authorization header
	opts     IntrospectorOptions
	log      *zap.Logger
	cache    *ristretto.Cache[uint64, *answer]
	flight   singleflight.Group
}

var _ rsvalidate.Introspector = (*Introspector)(nil)

// answer is one cached introspection result. The full digest is kept and compared on every
// hit: the cache key is only 64 bits of it, so a collision could otherwise hand one token
// another token's answer.
type answer struct {
	digest     [sha256.Size]byte
	info       *rsvalidate.TokenInfo // nil: inactive
	freshUntil time.Time             // served without asking
	staleUntil time.Time             // served only while the AS cannot be reached
}

// NewIntrospector returns a client for the introspection endpoint. Close releases its cache.
func NewIntrospector(client *http.Client, endpoint, clientID, clientSecret string, opts IntrospectorOptions) (*Introspector, error) {
	if _, err := checkHTTPURL("introspection_endpoint", endpoint); err != nil {
		return nil, err
	}
	if clientID == "" {
		return nil, errors.New("introspection needs a client_id")
	}
	if opts.MaxCacheTTL <= 0 {
		opts.MaxCacheTTL = 5 * time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.MaxStale == 0 {
		opts.MaxStale = 30 * time.Minute
	}
	opts.MaxStale = max(opts.MaxStale, 0)
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Breaker == nil {
		opts.Breaker = NewBreaker(BreakerOptions{Name: "introspection_endpoint " + endpoint, Logger: log})
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *answer]{
		NumCounters:        opts.MaxEntries * 10,
		MaxCost:            opts.MaxEntries,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost 1 per answer: MaxCost counts answers
		KeyToHash:          opts.keyToHash,
	})
	if err != nil {
		return nil, err
	}
	return &Introspector{
		client:   client,
		endpoint: endpoint,
		authz:    basicAuth(clientID, clientSecret),
		opts:     opts,
		log:      log.With(zap.String("introspection_endpoint", endpoint)),
		cache:    cache,
	}, nil
}

// basicAuth builds client_secret_basic: id and secret are form-encoded before they are
// joined and base64-encoded (RFC 6749 §2.3.1), so ':' or '%' in them survive.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// Close releases the cache.
func (in *Introspector) Close() error {
	in.cache.Close()
	return nil
}

// Introspect returns the token's info when the AS says it is active, (nil, nil) when it is
// not, and an error wrapping rsvalidate.ErrUnavailable when no answer can be had: the AS is
// unreachable, slow, failing or misconfigured and nothing valid is cached (while the Breaker
// is open, at once and wrapping ErrCircuitOpen). An empty or
// over-long (16 KiB) token is inactive without asking. The returned TokenInfo is shared
// with the cache and must not be modified.
func (in *Introspector) Introspect(ctx context.Context, token string) (*rsvalidate.TokenInfo, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, nil
	}
	digest := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token))) // read-only view: no copy
	if a := in.cached(digest); a != nil && in.opts.Now().Before(a.freshUntil) {
		in.observe("hit")
		return a.info, nil
	}
	return in.miss(ctx, token, digest)
}

// miss waits for the shared refresh of one token. It is apart from Introspect so that the
// closure's captures do not move the hit path's digest to the heap.
func (in *Introspector) miss(ctx context.Context, token string, digest [sha256.Size]byte) (*rsvalidate.TokenInfo, error) {
	ch := in.flight.DoChan(string(digest[:]), func() (any, error) {
		return in.refresh(context.WithoutCancel(ctx), token, digest)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*answer).info, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", rsvalidate.ErrUnavailable, ctx.Err())
	}
}

func (in *Introspector) cached(digest [sha256.Size]byte) *answer {
	a, ok := in.cache.Get(binary.LittleEndian.Uint64(digest[:8]))
	if !ok || a.digest != digest {
		return nil
	}
	return a
}

// refresh asks the AS (once for all concurrent callers with this token) and caches the
// answer; when the AS cannot be reached it falls back to a cached active answer whose token
// has not expired.
func (in *Introspector) refresh(ctx context.Context, token string, digest [sha256.Size]byte) (*answer, error) {
	prev := in.cached(digest)
	if prev != nil && in.opts.Now().Before(prev.freshUntil) {
		return prev, nil // answered by a call that finished while we queued
	}
	// While the endpoint keeps failing, the breaker answers at once instead of letting every
	// request wait for the timeout; the breaker logs that, so these calls do not.
	done, err := in.opts.Breaker.allow()
	var info *rsvalidate.TokenInfo
	if err == nil {
		info, err = in.ask(ctx, token)
		done(err)
		in.observe("miss")
	}
	now := in.opts.Now()
	if err != nil {
		if errors.Is(err, ErrClientAuth) {
			in.log.Error("introspection endpoint answered 401: the gateway's client_id/client_secret are wrong; failing closed", zap.Error(err))
			return nil, err
		}
		asked := !errors.Is(err, ErrCircuitOpen)
		if prev != nil && prev.info != nil && now.Before(prev.staleUntil) {
			in.observe("stale")
			if asked {
				in.log.Warn("introspection failed; serving a cached answer", zap.Error(err), zap.Time("token_exp", prev.info.ExpiresAt))
			}
			return prev, nil
		}
		if asked {
			in.log.Warn("introspection failed and nothing valid is cached; failing closed", zap.Error(err))
		}
		return nil, fmt.Errorf("%w: %w", rsvalidate.ErrUnavailable, err)
	}
	a := &answer{digest: digest, info: info, freshUntil: now.Add(in.opts.NegativeTTL)}
	a.staleUntil = a.freshUntil
	if info != nil {
		a.freshUntil = now.Add(in.opts.MaxCacheTTL)
		a.staleUntil = a.freshUntil.Add(in.opts.MaxStale)
		if !info.ExpiresAt.IsZero() {
			a.freshUntil = minTime(a.freshUntil, info.ExpiresAt)
			a.staleUntil = minTime(a.staleUntil, info.ExpiresAt)
		}
	}
	if ttl := a.staleUntil.Sub(now); ttl > 0 {
		in.cache.SetWithTTL(binary.LittleEndian.Uint64(digest[:8]), a, 1, ttl)
		// Make the answer visible before the shared call ends, so callers that missed the
		// cache a moment ago do not start a second request.
		in.cache.Wait()
	}
	return a, nil
}

func (in *Introspector) observe(result string) {
	if in.opts.OnCache != nil {
		in.opts.OnCache(result)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// ask performs one RFC 7662 request; it returns (nil, nil) for an inactive token.
func (in *Introspector) ask(ctx context.Context, token string) (*rsvalidate.TokenInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, in.opts.Timeout)
	defer cancel()
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", in.authz)
	resp, err := clientOr(in.client).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("%w: %w (HTTP 401)", rsvalidate.ErrUnavailable, ErrClientAuth)
	}
	body, err := readBody(resp, maxIntrospectionBytes)
	if err != nil {
		return nil, err
	}
	return parseIntrospection(body, in.opts.Now())
}

// parseIntrospection reads an RFC 7662 §2.2 response. Registered members of the wrong type
// make it malformed (an error, so it fails closed rather than as inactive); an active answer
// whose exp has passed is inactive.
func parseIntrospection(body []byte, now time.Time) (*rsvalidate.TokenInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed introspection response: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed introspection response: trailing data")
	}
	active, ok := m["active"].(bool)
	if !ok {
		return nil, errors.New("malformed introspection response: active is missing or not a boolean")
	}
	if !active {
		return nil, nil
	}
	p := memberParser{m: m}
	info := &rsvalidate.TokenInfo{
		Issuer:    p.str("iss"),
		Subject:   p.str("sub"),
		ClientID:  p.str("client_id"),
		Scope:     p.str("scope"),
		JTI:       p.str("jti"),
		Audience:  p.audience(),
		ExpiresAt: p.time("exp"),
		IssuedAt:  p.time("iat"),
		NotBefore: p.time("nbf"),
		Claims:    m,
	}
	if cnf, ok := m["cnf"]; ok {
		c, isObj := cnf.(map[string]any)
		if !isObj {
			p.fail("cnf")
		}
		q := memberParser{m: c}
		info.JKT, info.X5TS256 = q.str("jkt"), q.str("x5t#S256")
		p.err = errors.Join(p.err, q.err)
	}
	if p.err != nil {
		return nil, fmt.Errorf("malformed introspection response: %w", p.err)
	}
	if !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt) {
		return nil, nil
	}
	return info, nil
}

// memberParser reads typed members of a JSON object, remembering the first type error.
type memberParser struct {
	m   map[string]any
	err error
}

func (p *memberParser) fail(name string) {
	if p.err == nil {
		p.err = fmt.Errorf("member %q has the wrong type", name)
	}
}

func (p *memberParser) str(name string) string {
	v, ok := p.m[name]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.fail(name)
	}
	return s
}

// time reads a NumericDate (seconds, possibly fractional); zero when absent.
func (p *memberParser) time(name string) time.Time {
	v, ok := p.m[name]
	if !ok {
		return time.Time{}
	}
	n, ok := v.(json.Number)
	if !ok {
		p.fail(name)
		return time.Time{}
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<33 { // past year 2242: garbage, and keeps the conversion exact
		p.fail(name)
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// audience reads aud as a string or an array of strings.
func (p *memberParser) audience() []string {
	switch v := p.m["aud"].(type) {
	case nil:
		if _, present := p.m["aud"]; present {
			p.fail("aud")
		}
		return nil
	case string:
		return []string{v}
	case []any:
		aud := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				p.fail("aud")
				return nil
			}
			aud = append(aud, s)
		}
		return aud
	default:
		p.fail("aud")
		return nil
	}
}

// Forget drops the cached answer of the token whose SHA-256 is digest, so a token the
// authorization server revoked is not vouched for by a stale answer (the revocation stream
// calls it; a cache entry of another token under the same 64-bit key is left alone).
func (in *Introspector) Forget(digest [sha256.Size]byte) {
	if in.cached(digest) != nil {
		in.cache.Del(binary.LittleEndian.Uint64(digest[:8]))
	}
}
