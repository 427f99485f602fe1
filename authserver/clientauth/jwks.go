package clientauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
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

var defaultHTTPClient = &http.Client{Timeout: jwksFetchTimeout}

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

// fetchJWKS downloads and parses a JWK Set with a timeout and a size limit.
func (a *Authenticator) fetchJWKS(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	client := a.HTTPClient
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", uri, jwksMaxBytes)
	}
	return parseJWKS(body)
}
