// Package clientidmeta resolves OAuth client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document, which the Model Context Protocol's
// authorization spec relies on): a client_id that is an https URL names a JSON document the
// client publishes there, holding its metadata. The resolver fetches it through package
// outbound (size and time limits, no redirects, no private addresses), checks it with the
// same rules as every other client (package spec), and caches the result within bounds set by
// the document's cache headers and the configuration.
//
// A resolved client is never written to the clients table: the document is its source of
// truth and can change at any time, and anyone on the internet can make up client IDs, which
// must not grow the database. It is public (token_endpoint_auth_method none) or authenticates
// with private_key_jwt, and never has a secret.
package clientidmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/cachecontrol"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Resolver turns client ID URLs into clients. It is safe for concurrent use.
type Resolver struct {
	cfg   Config
	env   spec.Env
	fetch *outbound.Fetcher
	log   *zap.Logger
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]entry
	flight  singleflight.Group
}

// entry is one cached, valid document. Failures are never cached (the draft forbids caching
// error responses and invalid documents); concurrent lookups still share one fetch.
type entry struct {
	client  *store.Client
	expires time.Time
}

// New returns a Resolver for cfg (its defaults filled by New). env is the server's rule
// environment; log and now may be nil.
func New(cfg Config, env spec.Env, log *zap.Logger, now func() time.Time) (*Resolver, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if now == nil {
		now = time.Now
	}
	return &Resolver{
		cfg: cfg,
		env: env,
		fetch: outbound.New(outbound.Options{
			AllowPrivate: cfg.AllowPrivate,
			Timeout:      cfg.Timeout,
			MaxBytes:     cfg.MaxBytes,
			Redirects:    outbound.RefuseRedirects, // the draft: MUST NOT follow redirects
			RootCAs:      cfg.RootCAs,
		}),
		log:     log,
		now:     now,
		entries: make(map[string]entry),
	}, nil
}

// Handles reports whether id looks like a URL, so that a lookup should go to the resolver
// rather than end as an unknown client: Resolve then checks it fully, and an http URL is
// refused with a reason rather than as an unknown client.
func (r *Resolver) Handles(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// MayGetTokens reports whether resolved clients may get tokens for the resource with this
// identifier when per-client links are enforced (Config.Resources: they have no links).
func (r *Resolver) MayGetTokens(identifier string) bool {
	return slices.Contains(r.cfg.Resources, identifier)
}

// Resolve returns the client whose ID is the URL clientID. Every failure is an *Error, which
// matches store.ErrNotFound: for the rest of the server the client does not exist. The
// returned client is shared and must not be modified.
func (r *Resolver) Resolve(ctx context.Context, clientID string) (*store.Client, error) {
	if c, ok := r.cached(clientID); ok {
		return c, nil
	}
	if err := r.checkClientIDURL(clientID); err != nil {
		return nil, r.refused(clientID, err)
	}
	// Concurrent lookups of one URL share a fetch; it must not die with the first caller's
	// request, hence WithoutCancel (the fetch has its own timeout).
	fctx := context.WithoutCancel(ctx)
	v, err, _ := r.flight.Do(clientID, func() (any, error) {
		if c, ok := r.cached(clientID); ok { // a flight that ended just before this one began
			return c, nil
		}
		c, ttl, err := r.load(fctx, clientID)
		if err != nil {
			return nil, err
		}
		r.remember(clientID, c, ttl)
		return c, nil
	})
	if err != nil {
		return nil, r.refused(clientID, err)
	}
	return v.(*store.Client), nil
}

// refused logs why a client ID was not resolved (with the URL, for the operator) and returns
// the error to show (without it).
func (r *Resolver) refused(clientID string, err error) error {
	r.log.Info("client ID metadata document refused", zap.String("client_id", clientID), zap.Error(err))
	return err
}

// load fetches and validates the document at clientID and says how long it may be cached.
func (r *Resolver) load(ctx context.Context, clientID string) (*store.Client, time.Duration, error) {
	resp, err := r.fetch.Get(ctx, clientID, "application/json")
	if err != nil {
		return nil, 0, fetchError(err, r.cfg.MaxBytes)
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, 0, refuse("the client's metadata document is not served as JSON", nil)
	}
	c, err := r.parse(clientID, resp.Body)
	if err != nil {
		return nil, 0, err
	}
	return c, r.lifetime(resp.Header), nil
}

// lifetime is how long a document may be used: what its Cache-Control / Expires headers say
// (RFC 9111, as a private cache: only this server reads it), clamped to the configured bounds.
// A document that may not be cached at all (no-store) is still kept for CacheMin, so one
// client cannot make every request a fetch.
func (r *Resolver) lifetime(h http.Header) time.Duration {
	req := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	reasons, expires, err := cachecontrol.CachableResponse(req, &http.Response{StatusCode: http.StatusOK, Header: h}, cachecontrol.Options{PrivateCache: true})
	var ttl time.Duration
	if err == nil && len(reasons) == 0 && !expires.IsZero() {
		ttl = time.Until(expires) // cachecontrol computes expires from the wall clock
	}
	return min(max(ttl, r.cfg.CacheMin), r.cfg.CacheMax)
}

func (r *Resolver) cached(clientID string) (*store.Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[clientID]
	if !ok || !r.now().Before(e.expires) {
		return nil, false
	}
	return e.client, true
}

// remember caches a valid document. When full, expired entries go first, then any one
// (losing an entry only costs a fetch).
func (r *Resolver) remember(clientID string, c *store.Client, ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if len(r.entries) >= r.cfg.MaxEntries {
		for id, e := range r.entries {
			if !now.Before(e.expires) {
				delete(r.entries, id)
			}
		}
		for id := range r.entries {
			if len(r.entries) < r.cfg.MaxEntries {
				break
			}
			delete(r.entries, id)
		}
	}
	r.entries[clientID] = entry{client: c, expires: now.Add(ttl)}
}

// checkClientIDURL applies the draft's rules for a client identifier URL (§3): https, a path,
// no user info, no fragment, no "." or ".." segments; and the configured host allowlist.
// With AllowPrivate, http on a loopback host is accepted too, for development.
func (r *Resolver) checkClientIDURL(clientID string) error {
	const bad = "the client_id is not a valid client ID URL (https, with a path; no user info, fragment or dot segments)"
	if len(clientID) > spec.MaxClientIDLength {
		return refuse(bad, errors.New("too long"))
	}
	u, err := url.Parse(clientID)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || strings.Contains(clientID, "#") {
		return refuse(bad, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && r.cfg.AllowPrivate && spec.IsLoopbackHost(u.Hostname()):
	default:
		return refuse(bad, errors.New("scheme"))
	}
	if u.Path == "" {
		return refuse(bad, errors.New("no path"))
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return refuse(bad, errors.New("dot segment"))
		}
	}
	if !r.cfg.hostAllowed(strings.ToLower(u.Hostname())) {
		return refuse("client ID metadata documents from this host are not accepted here", nil)
	}
	return nil
}

// Members a metadata document must not have: there is no way to agree on a shared secret
// with a client that publishes its metadata (the draft's credential restrictions).
var secretMembers = []string{"client_secret", "client_secret_expires_at", "client_secret_hash"}

// parse validates a fetched document and builds the client it describes.
func (r *Resolver) parse(clientID string, body []byte) (*store.Client, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, refuse("the client's metadata document is not a JSON object", err)
	}
	for _, name := range secretMembers {
		if _, ok := members[name]; ok {
			return nil, refuse("a client metadata document must not contain "+name, nil)
		}
	}
	var m spec.ClientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, refuse("the client's metadata document has a member of the wrong type", err)
	}
	if m.ClientID != clientID { // simple string comparison (RFC 3986 §6.2.1), as the draft says
		return nil, refuse("the client_id in the metadata document does not match its URL", nil)
	}
	c, err := m.Client()
	if err != nil {
		return nil, specError(err)
	}
	if c, err = r.withServerPolicy(c); err != nil {
		return nil, err
	}
	n, err := spec.NormalizeClient(c, r.env)
	if err != nil {
		return nil, specError(err)
	}
	rec, err := spec.ClientRecord(n, noSealing)
	if err != nil {
		return nil, specError(err)
	}
	rec.Source = store.SourceMetadataDocument
	return rec, nil
}

// grantTypes are what a client that anyone can publish may use: a user's authorization (with
// consent) and its refresh. Never client_credentials: that would hand machine tokens to
// whoever publishes a document.
var grantTypes = []string{"authorization_code", "refresh_token"}

// withServerPolicy decides what the document may not: its authentication method (public or
// private_key_jwt; absent means public), its grant types, and every privilege only the
// operator grants. This server's extension members (resources, introspects, skip_consent,
// pkce_optional, sector_identifier, …) are ignored, as unknown members are; the resources
// come from the configuration.
func (r *Resolver) withServerPolicy(c spec.Client) (spec.Client, error) {
	switch c.TokenEndpointAuthMethod {
	case "":
		c.TokenEndpointAuthMethod = spec.AuthNone
	case spec.AuthNone, spec.AuthPrivateKey:
	default:
		return c, refuse("token_endpoint_auth_method: a client metadata document may use only none or private_key_jwt", nil)
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			return c, refuse("grant_types: a client metadata document may use only authorization_code and refresh_token", nil)
		}
	}
	c.Resources = slices.Clone(r.cfg.Resources)
	c.DefaultResource = ""
	if len(c.Resources) == 1 {
		c.DefaultResource = c.Resources[0]
	}
	c.Introspects = nil
	c.SkipConsent = false
	c.PKCEOptional = false
	c.RefreshWithoutOfflineAccess = false
	c.RedirectURIAnyLoopbackPort = false
	c.SectorIdentifier = "" // else a client could claim another's pairwise subjects
	c.Disabled = false
	return c, nil
}

// noSealing is ClientRecord's sealer: a metadata-document client has no secret to seal.
func noSealing([]byte, []byte) ([]byte, error) {
	return nil, errors.New("a client metadata document has no secret")
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// Error is why a client ID URL did not resolve. It matches store.ErrNotFound, so every
// caller treats the client as unknown; Description says why, without quoting the document
// or the URL, and may be shown to the user (the authorization endpoint's error page).
type Error struct {
	Description string
	// Cause is the underlying failure, for the log.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return "client ID metadata document: " + e.Description
	}
	return fmt.Sprintf("client ID metadata document: %s: %v", e.Description, e.Cause)
}

// Is makes errors.Is(err, store.ErrNotFound) true.
func (e *Error) Is(target error) bool { return target == store.ErrNotFound }

func (e *Error) Unwrap() error { return e.Cause }

func refuse(description string, cause error) *Error {
	return &Error{Description: description, Cause: cause}
}

// specError words a rule of the contract for the user: the field and what is wrong.
func specError(err error) *Error {
	var se *spec.Error
	if errors.As(err, &se) {
		return refuse("the client's metadata document is invalid: "+se.Description(), err)
	}
	return refuse("the client's metadata document is invalid", err)
}

// fetchError words a failed fetch; the URL stays in the cause (logged), not the description.
func fetchError(err error, maxBytes int64) *Error {
	var status *outbound.StatusError
	switch {
	case errors.As(err, &status):
		return refuse(fmt.Sprintf("the client's metadata document URL answered HTTP status %d, not 200", status.Code), err)
	case errors.Is(err, outbound.ErrForbiddenAddress):
		return refuse("the client's metadata document is on a private or reserved address, which this server does not fetch from", err)
	case errors.Is(err, outbound.ErrRedirect):
		return refuse("the client's metadata document URL redirects, and redirects are not followed", err)
	case errors.Is(err, outbound.ErrTooLarge):
		return refuse(fmt.Sprintf("the client's metadata document is larger than %d bytes", maxBytes), err)
	case errors.Is(err, outbound.ErrTimeout):
		return refuse("fetching the client's metadata document timed out", err)
	case errors.Is(err, outbound.ErrScheme):
		return refuse("the client's metadata document URL does not use https", err)
	}
	return refuse("the client's metadata document could not be fetched", err)
}
