// Package jwksource fetches and caches JWK Sets published at URIs someone else chose (a
// client's jwks_uri, a trusted issuer's), through package outbound: time and size limits,
// private addresses refused unless allowed, fetches rate-limited per URI so made-up key IDs
// cannot turn the server into a request amplifier, and the last good keys kept serving for a
// while when the URI fails.
package jwksource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Cache policy.
const (
	// TTL is how long a fetched document is used without asking again.
	TTL = 5 * time.Minute
	// MinInterval spaces fetches of one URI, whatever their outcome.
	MinInterval = 10 * time.Second
	// MaxStale is how long the last good keys keep serving while the URI fails.
	MaxStale     = time.Hour
	MaxEntries   = 1024
	MaxBytes     = 256 << 10
	FetchTimeout = 10 * time.Second
	// MaxKeys bounds the work one verification can cause.
	MaxKeys = 64
)

// NewFetcher returns a fetcher for JWK Sets; allowPrivate lifts the address rule (publishers
// on a private network, development).
func NewFetcher(allowPrivate bool) *outbound.Fetcher {
	return outbound.New(outbound.Options{
		AllowPrivate: allowPrivate,
		Timeout:      FetchTimeout,
		MaxBytes:     MaxBytes,
		Redirects:    outbound.SameHostRedirects,
	})
}

// strictFetcher serves callers without a Fetcher: public addresses only.
var strictFetcher = NewFetcher(false)

// Cache holds fetched JWK Sets by URI. Its zero value is ready to use.
type Cache struct {
	mu      sync.Mutex
	entries map[string]*entry
	fetches singleflight.Group
}

type entry struct {
	keys        []jose.JSONWebKey // last good keys; nil until a fetch succeeded
	fetchedAt   time.Time         // of keys
	attemptedAt time.Time         // last fetch, successful or not
	lastErr     error
}

func (c *Cache) get(uri string) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[uri]
	if !ok {
		return entry{}, false
	}
	return *e, true
}

// record stores the outcome of a fetch, keeping the previous keys when it failed.
func (c *Cache) record(uri string, keys []jose.JSONWebKey, err error, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*entry)
	}
	e, ok := c.entries[uri]
	if !ok {
		if len(c.entries) >= MaxEntries {
			for victim := range c.entries { // any entry: losing one costs a refetch
				delete(c.entries, victim)
				break
			}
		}
		e = &entry{}
		c.entries[uri] = e
	}
	e.attemptedAt, e.lastErr = at, err
	if err == nil {
		e.keys, e.fetchedAt = keys, at
	}
}

// Keys returns the keys published at uri, fetched with f (nil: public addresses only) on the
// clock now. refresh asks for a fetch even if the cached document is fresh (an unknown kid);
// it is still rate-limited by MinInterval.
func (c *Cache) Keys(ctx context.Context, f *outbound.Fetcher, now func() time.Time, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	if f == nil {
		f = strictFetcher
	}
	t := now()
	e, ok := c.get(uri)
	if ok && e.keys != nil && !refresh && t.Sub(e.fetchedAt) < TTL {
		return e.keys, nil
	}
	if !ok || t.Sub(e.attemptedAt) >= MinInterval {
		// Concurrent requests for one URI share a fetch; it must not die with the first
		// caller's request, hence WithoutCancel.
		fctx := context.WithoutCancel(ctx)
		_, _, _ = c.fetches.Do(uri, func() (any, error) {
			keys, err := fetch(fctx, f, uri)
			c.record(uri, keys, err, now())
			return nil, nil
		})
		e, _ = c.get(uri)
	}
	if e.keys != nil && now().Sub(e.fetchedAt) < TTL+MaxStale {
		return e.keys, nil
	}
	if e.lastErr != nil {
		return nil, e.lastErr
	}
	return nil, errors.New("no usable keys")
}

func fetch(ctx context.Context, f *outbound.Fetcher, uri string) ([]jose.JSONWebKey, error) {
	resp, err := f.Get(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	return Parse(resp.Body)
}

// Parse decodes a JWK Set key by key, skipping keys it cannot use (RFC 7517 §5: unknown key
// types are ignored) and keys carrying private material, which nobody should publish.
func Parse(data []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(raw.Keys) > MaxKeys {
		return nil, fmt.Errorf("more than %d keys", MaxKeys)
	}
	keys := make([]jose.JSONWebKey, 0, len(raw.Keys))
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil || !k.IsPublic() || !k.Valid() {
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}
