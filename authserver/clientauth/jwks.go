package clientauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// jwks_uri cache policy.
const (
	// jwksTTL is how long a fetched document is used without asking again.
	jwksTTL = 5 * time.Minute
	// jwksMinInterval spaces fetches of one URI, whatever their outcome, so requests with
	// made-up kids (or a dead jwks_uri) cannot turn us into a request amplifier.
	jwksMinInterval = 10 * time.Second
	// jwksMaxStale is how long the last good keys keep serving while the URI fails.
	jwksMaxStale     = time.Hour
	jwksMaxEntries   = 1024
	jwksMaxBytes     = 256 << 10
	jwksFetchTimeout = 10 * time.Second
)

// NewJWKSFetcher returns the fetcher for client jwks_uri documents: the jwks_uri is chosen by
// the client (and, with dynamic registration, by anyone), so it gets the outbound guard;
// allowPrivate lifts the address rule (clients on a private network, development).
func NewJWKSFetcher(allowPrivate bool) *outbound.Fetcher {
	return outbound.New(outbound.Options{
		AllowPrivate: allowPrivate,
		Timeout:      jwksFetchTimeout,
		MaxBytes:     jwksMaxBytes,
		Redirects:    outbound.SameHostRedirects,
	})
}

// strictJWKSFetcher serves Authenticators without a Fetcher: public addresses only.
var strictJWKSFetcher = NewJWKSFetcher(false)

// jwksCache holds fetched jwks_uri documents by URI. Its zero value is ready to use.
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]*jwksEntry
	fetches singleflight.Group
}

type jwksEntry struct {
	keys        []jose.JSONWebKey // last good keys; nil until a fetch succeeded
	fetchedAt   time.Time         // of keys
	attemptedAt time.Time         // last fetch, successful or not
	lastErr     error
}

func (c *jwksCache) get(uri string) (jwksEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[uri]
	if !ok {
		return jwksEntry{}, false
	}
	return *e, true
}

// record stores the outcome of a fetch, keeping the previous keys when it failed.
func (c *jwksCache) record(uri string, keys []jose.JSONWebKey, err error, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*jwksEntry)
	}
	e, ok := c.entries[uri]
	if !ok {
		if len(c.entries) >= jwksMaxEntries {
			for victim := range c.entries { // any entry: losing one costs a refetch
				delete(c.entries, victim)
				break
			}
		}
		e = &jwksEntry{}
		c.entries[uri] = e
	}
	e.attemptedAt, e.lastErr = at, err
	if err == nil {
		e.keys, e.fetchedAt = keys, at
	}
}

// remoteKeys returns the keys published at uri. refresh asks for a fetch even if the cached
// document is fresh (an unknown kid); it is still rate-limited by jwksMinInterval.
func (a *Authenticator) remoteKeys(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	now := a.now()
	e, ok := a.jwks.get(uri)
	if ok && e.keys != nil && !refresh && now.Sub(e.fetchedAt) < jwksTTL {
		return e.keys, nil
	}
	if !ok || now.Sub(e.attemptedAt) >= jwksMinInterval {
		// Concurrent requests for one URI share a fetch; it must not die with the first
		// caller's request, hence WithoutCancel.
		fctx := context.WithoutCancel(ctx)
		_, _, _ = a.jwks.fetches.Do(uri, func() (any, error) {
			keys, err := a.fetchJWKS(fctx, uri)
			a.jwks.record(uri, keys, err, a.now())
			return nil, nil
		})
		e, _ = a.jwks.get(uri)
	}
	if e.keys != nil && a.now().Sub(e.fetchedAt) < jwksTTL+jwksMaxStale {
		return e.keys, nil
	}
	if e.lastErr != nil {
		return nil, e.lastErr
	}
	return nil, errors.New("no usable keys")
}

// fetchJWKS downloads and parses a JWK Set through the outbound guard (timeout, size limit,
// public addresses only unless allowed).
func (a *Authenticator) fetchJWKS(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	f := a.Fetcher
	if f == nil {
		f = strictJWKSFetcher
	}
	resp, err := f.Get(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	return parseJWKS(resp.Body)
}
