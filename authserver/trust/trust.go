// Package trust verifies JWTs of external issuers this server is configured to trust: an
// identity provider whose tokens may be exchanged (RFC 8693) or presented as authorization
// grants (RFC 7523 §2.1). Each issuer has its keys (inline, or a jwks_uri fetched through
// package jwksource) and its algorithms; a token names its issuer and is checked against that
// issuer alone, so an unknown issuer costs no key lookup and no network call.
package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/jwksource"
	"github.com/caddy-oauth/caddy-oauth/jwa"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Issuer is one trusted external issuer.
type Issuer struct {
	// Issuer is its identifier, the iss of its tokens.
	Issuer string
	// JWKS is its key set (a JWK Set JSON document); JWKSURI is where it publishes one.
	// Exactly one is set.
	JWKS    string
	JWKSURI string
	// Algs are the signature algorithms accepted from it (default: every asymmetric one).
	Algs []string
}

// Validate checks one issuer's configuration.
func (c Issuer) Validate() error {
	u, err := url.Parse(c.Issuer)
	if c.Issuer == "" || err != nil || !u.IsAbs() {
		return fmt.Errorf("trusted_issuer %q: the issuer must be an absolute URI", c.Issuer)
	}
	if (c.JWKS == "") == (c.JWKSURI == "") {
		return fmt.Errorf("trusted_issuer %q: give exactly one of jwks and jwks_uri", c.Issuer)
	}
	if c.JWKS != "" {
		keys, err := jwksource.Parse([]byte(c.JWKS))
		if err != nil {
			return fmt.Errorf("trusted_issuer %q: jwks: %v", c.Issuer, err)
		}
		if len(keys) == 0 {
			return fmt.Errorf("trusted_issuer %q: jwks holds no usable public key", c.Issuer)
		}
	}
	if c.JWKSURI != "" {
		if u, err := url.Parse(c.JWKSURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("trusted_issuer %q: jwks_uri must be an http(s) URL", c.Issuer)
		}
	}
	for _, alg := range c.Algs {
		if !jwa.IsAsymmetric(alg) {
			return fmt.Errorf("trusted_issuer %q: algorithm %q is not an asymmetric JWS algorithm", c.Issuer, alg)
		}
	}
	return nil
}

// Set verifies tokens of its issuers.
type Set struct {
	issuers map[string]*issuer
	fetcher *outbound.Fetcher
	now     func() time.Time
	cache   jwksource.Cache
}

type issuer struct {
	Issuer
	keys []jose.JSONWebKey // inline keys
}

// Skew is the clock difference tolerated on exp, nbf and iat.
const Skew = time.Minute

// MaxTokenLen bounds a token before it is parsed.
const MaxTokenLen = 16 << 10

// New builds the set; allowPrivate lets jwks_uri fetches reach private addresses and plain
// http (development, an IdP on the internal network).
func New(issuers []Issuer, allowPrivate bool, now func() time.Time) (*Set, error) {
	if now == nil {
		now = time.Now
	}
	s := &Set{issuers: map[string]*issuer{}, fetcher: jwksource.NewFetcher(allowPrivate), now: now}
	for _, c := range issuers {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.issuers[c.Issuer]; dup {
			return nil, fmt.Errorf("trusted_issuer %q: declared twice", c.Issuer)
		}
		if len(c.Algs) == 0 {
			c.Algs = jwa.Asymmetric()
		}
		is := &issuer{Issuer: c}
		if c.JWKS != "" {
			is.keys, _ = jwksource.Parse([]byte(c.JWKS))
		}
		s.issuers[c.Issuer] = is
	}
	return s, nil
}

// Knows reports whether iss is a trusted issuer.
func (s *Set) Knows(iss string) bool {
	if s == nil {
		return false
	}
	_, ok := s.issuers[iss]
	return ok
}

// Token is a verified JWT of a trusted issuer.
type Token struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	JTI      string
	// Claims are all of the token's claims.
	Claims map[string]any
}

// Errors of Verify. Both mean the token is not acceptable; callers answer with their own
// OAuth error and never the detail.
var (
	ErrUnknownIssuer = errors.New("trust: the token's issuer is not trusted")
	ErrInvalid       = errors.New("trust: invalid token")
)

// Verify checks token: a compact JWS from a trusted issuer, signed with one of that issuer's
// keys and algorithms, with exp (required, not passed), nbf and iat (not in the future).
// The audience is the caller's rule to check.
func (s *Set) Verify(ctx context.Context, token string) (*Token, error) {
	if s == nil || len(token) > MaxTokenLen {
		return nil, ErrInvalid
	}
	jws, err := jose.ParseSignedCompact(token, jwa.Jose(jwa.Asymmetric()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	hdr := jws.Signatures[0].Protected
	if _, crit := hdr.ExtraHeaders["crit"]; crit {
		return nil, fmt.Errorf("%w: crit header", ErrInvalid)
	}
	var peek struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrInvalid)
	}
	is, ok := s.issuers[peek.Issuer]
	if !ok {
		return nil, ErrUnknownIssuer
	}
	if !slices.Contains(is.Algs, hdr.Algorithm) {
		return nil, fmt.Errorf("%w: algorithm %s is not accepted from %s", ErrInvalid, hdr.Algorithm, is.Issuer.Issuer)
	}
	payload, err := s.verifySignature(ctx, is, jws, hdr)
	if err != nil {
		return nil, err
	}
	return s.claims(payload)
}

// verifySignature tries the issuer's keys with the token's kid (every key of its algorithm's
// type when there is no kid); an unknown kid refreshes a fetched key set once (rotation).
func (s *Set) verifySignature(ctx context.Context, is *issuer, jws *jose.JSONWebSignature, hdr jose.Header) ([]byte, error) {
	for attempt := range 2 {
		keys := is.keys
		if is.JWKSURI != "" {
			var err error
			if keys, err = s.cache.Keys(ctx, s.fetcher, s.now, is.JWKSURI, attempt == 1); err != nil {
				return nil, fmt.Errorf("%w: keys of %s: %v", ErrInvalid, is.Issuer.Issuer, err)
			}
		}
		found := false
		for _, k := range keys {
			if hdr.KeyID != "" && k.KeyID != hdr.KeyID || k.Algorithm != "" && k.Algorithm != hdr.Algorithm || k.Use == "enc" {
				continue
			}
			found = true
			if payload, err := jws.Verify(k.Key); err == nil {
				return payload, nil
			}
		}
		if found || is.JWKSURI == "" {
			break
		}
	}
	return nil, fmt.Errorf("%w: no key of %s verifies the signature", ErrInvalid, is.Issuer.Issuer)
}

func (s *Set) claims(payload []byte) (*Token, error) {
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	t := &Token{Claims: c}
	t.Issuer, _ = c["iss"].(string)
	t.Subject, _ = c["sub"].(string)
	t.JTI, _ = c["jti"].(string)
	switch aud := c["aud"].(type) {
	case string:
		t.Audience = []string{aud}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				t.Audience = append(t.Audience, s)
			}
		}
	}
	now := s.now()
	exp, ok := numericDate(c["exp"])
	if !ok {
		return nil, fmt.Errorf("%w: exp is required", ErrInvalid)
	}
	t.Expiry = exp
	if !now.Before(exp.Add(Skew)) {
		return nil, fmt.Errorf("%w: expired", ErrInvalid)
	}
	for _, name := range []string{"nbf", "iat"} {
		if v, present := c[name]; present {
			at, ok := numericDate(v)
			if !ok || at.After(now.Add(Skew)) {
				return nil, fmt.Errorf("%w: %s is in the future or malformed", ErrInvalid, name)
			}
		}
	}
	if t.Subject == "" {
		return nil, fmt.Errorf("%w: sub is required", ErrInvalid)
	}
	return t, nil
}

// numericDate reads a JWT NumericDate (RFC 7519 §2).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// HasAudience reports whether the token names aud among its audiences.
func (t *Token) HasAudience(aud string) bool { return slices.Contains(t.Audience, aud) }
