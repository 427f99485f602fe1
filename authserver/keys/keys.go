// Package keys manages the authorization server's signing keys: generated on first start,
// persisted sealed in the store, rotated, published as a JWKS and used to sign and verify
// the server's own JWTs.
//
// Several instances may share one store. Each re-reads it periodically; per alg the newest
// unretired key is the current one, so instances converge on the same key after a race,
// and every other key stays published until its purge time.
package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Defaults for Options.
var (
	DefaultAlgs           = []string{"RS256", "ES256"}
	DefaultRetainFor      = 24 * time.Hour
	DefaultReloadInterval = time.Minute
)

// Options configure a Manager.
type Options struct {
	// Algs to keep a current key for; default RS256, ES256.
	Algs []string
	// EncAlgs are the JWE key-management algs (EncryptionAlgs) to keep a current encryption
	// key for, rotated and published (use "enc") like the signing keys; none by default.
	EncAlgs []string
	// RotationPeriod replaces a current key once it is this old; 0 disables scheduled
	// rotation.
	RotationPeriod time.Duration
	// RetainFor keeps a retired key in the JWKS this long (at least the longest token
	// TTL); default 24 h. The purge time adds one ReloadInterval, during which instances
	// that have not reloaded yet may still sign with the key.
	RetainFor time.Duration
	// ReloadInterval is how often the store is re-read, since other instances rotate
	// too; default 1 min.
	ReloadInterval time.Duration
	// OnRotate, when set, hears of each key that replaced a current one (scheduled or
	// asked for), for metrics and the audit log.
	OnRotate func(alg, kid string)
}

// Manager owns the signing keys. Sign, Verify, JWKS and Algs are lock-free reads of an
// immutable snapshot; Load, Run and Rotate serialise among themselves.
type Manager struct {
	st   store.KeyStore
	seal *sealer.Sealer
	opts Options
	log  *zap.Logger
	now  func() time.Time

	mu   sync.Mutex // serialises writers (Load, Rotate, Run's ticks)
	snap atomic.Pointer[snapshot]
}

// NewManager validates opts and returns a Manager with no keys; call Load before use.
func NewManager(st store.KeyStore, s *sealer.Sealer, opts Options, log *zap.Logger) (*Manager, error) {
	if st == nil || s == nil {
		return nil, errors.New("keys: store and sealer are required")
	}
	if len(opts.Algs) == 0 {
		opts.Algs = DefaultAlgs
	}
	algs := make([]string, 0, len(opts.Algs))
	for _, alg := range opts.Algs {
		if !Supported(alg) {
			return nil, fmt.Errorf("keys: unsupported signing alg %q", alg)
		}
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	for _, alg := range opts.EncAlgs {
		if !SupportedEncryption(alg) {
			return nil, fmt.Errorf("keys: unsupported encryption alg %q", alg)
		}
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg) // kept, rotated and published like the signing algs
		}
	}
	opts.Algs = algs
	if opts.RotationPeriod < 0 || opts.RetainFor < 0 || opts.ReloadInterval < 0 {
		return nil, errors.New("keys: durations must not be negative")
	}
	if opts.RetainFor == 0 {
		opts.RetainFor = DefaultRetainFor
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if log == nil {
		log = zap.NewNop()
	}
	m := &Manager{st: st, seal: s, opts: opts, log: log, now: time.Now}
	m.snap.Store(&snapshot{keys: map[string]*entry{}, current: map[string]*entry{}, jwks: []byte(`{"keys":[]}`)})
	return m, nil
}

// Load reads the store, opens every published key and creates a key for each configured
// alg that has no current one. It fails if a stored key cannot be opened (typically a
// different master key): silently replacing keys would hide that misconfiguration.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sync(ctx, false)
}

// Run (started after Load) reloads the store every ReloadInterval, rotates keys older than RotationPeriod and
// deletes keys past their purge time, until ctx is done. Errors are logged; the last good
// snapshot keeps serving.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.tick(ctx)
		}
	}
}

func (m *Manager) tick(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sync(ctx, true); err != nil && ctx.Err() == nil {
		m.log.Error("signing key maintenance failed", zap.Error(err))
	}
}

// Rotate makes a new current key for alg and retires the previous one, which stays
// published (so tokens it signed keep verifying) until RetainFor has elapsed.
func (m *Manager) Rotate(ctx context.Context, alg string) (string, error) {
	if !slices.Contains(m.opts.Algs, alg) {
		return "", fmt.Errorf("keys: alg %q is not configured", alg)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("keys: listing keys: %w", err)
	}
	kid, err := m.create(ctx, alg)
	if err != nil {
		return "", err
	}
	if _, err := m.retireOthers(ctx, rows, alg, kid); err != nil {
		return "", err
	}
	m.rotated(alg, kid)
	return kid, m.reload(ctx)
}

func (m *Manager) rotated(alg, kid string) {
	if m.opts.OnRotate != nil {
		m.opts.OnRotate(alg, kid)
	}
}

// CurrentKeyTimes returns when the current key of each signing alg was made (key age metric).
func (m *Manager) CurrentKeyTimes() map[string]time.Time {
	snap := m.snap.Load()
	out := make(map[string]time.Time, len(snap.current))
	for alg, e := range snap.current {
		out[alg] = e.createdAt
	}
	return out
}

// Algs returns the configured algs that have a current key, in configuration order.
func (m *Manager) Algs() []string { return slices.Clone(m.snap.Load().algs) }

// JWKS returns the public JWK Set ({"keys":[...]}) of every published key, retired ones
// included. The slice is shared: callers must not modify it.
func (m *Manager) JWKS() []byte { return m.snap.Load().jwks }

// sync brings the store and the snapshot in line with the options: a current key per
// configured alg, and, when maintain is set, scheduled rotation and purging.
func (m *Manager) sync(ctx context.Context, maintain bool) error {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: listing keys: %w", err)
	}
	now := m.now()
	wrote := false
	newest := newestUnretired(rows)
	for alg, cur := range newest {
		configured := slices.Contains(m.opts.Algs, alg)
		stale := maintain && m.opts.RotationPeriod > 0 && now.Sub(cur.CreatedAt) >= m.opts.RotationPeriod
		keep := cur.ID
		switch {
		case configured && stale:
			if keep, err = m.create(ctx, alg); err != nil {
				return err
			}
			m.rotated(alg, keep)
			wrote = true
		case !configured && stale:
			// An alg dropped from the configuration: retire its keys, but only on the
			// rotation schedule, so instances with different configurations during a
			// rolling change do not undo each other's keys every reload.
			keep = ""
		}
		// Older unretired keys of the alg: the previous current key, or the loser of
		// two instances creating one at once.
		n, err := m.retireOthers(ctx, rows, alg, keep)
		if err != nil {
			return err
		}
		wrote = wrote || n > 0
	}
	for _, alg := range m.opts.Algs {
		if newest[alg] == nil {
			if _, err := m.create(ctx, alg); err != nil {
				return err
			}
			wrote = true
		}
	}
	if maintain {
		for _, r := range rows {
			if r.PurgeAfter != nil && !now.Before(*r.PurgeAfter) {
				if err := m.st.DeleteSigningKey(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("keys: purging %s: %w", r.ID, err)
				}
				m.log.Info("purged retired signing key", zap.String("kid", r.ID), zap.String("alg", r.Alg))
				wrote = true
			}
		}
	}
	if wrote {
		// Re-read rather than patch: other instances may have written meanwhile.
		return m.reload(ctx)
	}
	return m.publish(rows)
}

func (m *Manager) reload(ctx context.Context) error {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: listing keys: %w", err)
	}
	return m.publish(rows)
}

// create generates, seals and stores a new key for alg and returns its kid.
func (m *Manager) create(ctx context.Context, alg string) (string, error) {
	priv, err := algSpecs[alg].generate()
	if err != nil {
		return "", fmt.Errorf("keys: generating %s key: %w", alg, err)
	}
	pub, err := publicJWK(priv, alg)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keys: encoding %s key: %w", alg, err)
	}
	sealed, err := m.seal.Seal(der, []byte(pub.KeyID))
	clear(der)
	if err != nil {
		return "", fmt.Errorf("keys: sealing key: %w", err)
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return "", fmt.Errorf("keys: encoding public key: %w", err)
	}
	row := &store.SigningKey{
		ID: pub.KeyID, Alg: alg, PrivateSealed: sealed, PublicJWK: string(pubJSON),
		CreatedAt: m.now().UTC(),
	}
	if err := m.st.CreateSigningKey(ctx, row); err != nil {
		return "", fmt.Errorf("keys: storing key: %w", err)
	}
	m.log.Info("created signing key", zap.String("kid", pub.KeyID), zap.String("alg", alg))
	return pub.KeyID, nil
}

// retireOthers retires every unretired key of alg except keep. The purge time leaves
// RetainFor after the last token any instance may sign with the key, which is up to one
// ReloadInterval after now for instances that have not reloaded yet.
func (m *Manager) retireOthers(ctx context.Context, rows []*store.SigningKey, alg, keep string) (int, error) {
	now := m.now().UTC()
	purge := now.Add(m.opts.RetainFor + m.opts.ReloadInterval)
	n := 0
	for _, r := range rows {
		if r.Alg != alg || r.ID == keep || r.RetiredAt != nil {
			continue
		}
		if err := m.st.RetireSigningKey(ctx, r.ID, now, purge); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("keys: retiring %s: %w", r.ID, err)
		}
		m.log.Info("retired signing key", zap.String("kid", r.ID), zap.String("alg", alg),
			zap.Time("purge_after", purge))
		n++
	}
	return n, nil
}

// newestUnretired returns, per alg, the unretired key with the latest CreatedAt (ties
// broken by kid so every instance picks the same one).
func newestUnretired(rows []*store.SigningKey) map[string]*store.SigningKey {
	out := map[string]*store.SigningKey{}
	for _, r := range rows {
		if r.RetiredAt != nil {
			continue
		}
		if cur := out[r.Alg]; cur == nil || newer(r, cur) {
			out[r.Alg] = r
		}
	}
	return out
}

func newer(a, b *store.SigningKey) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// snapshot is the immutable state the hot paths read.
type snapshot struct {
	keys    map[string]*entry // kid → published key
	current map[string]*entry // configured signing alg → key that signs by default
	algs    []string          // the signing algs with a current key
	// decrypting are the current encryption keys (a JWE naming no kid is tried with them).
	decrypting []*entry
	jwks       []byte
}

// sigSize is the length of a JWS signature by priv (RFC 7518 §3.3–3.5, RFC 8037 §3.1).
func sigSize(priv crypto.Signer) int {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return k.Size()
	case *ecdsa.PrivateKey:
		return 2 * ((k.Curve.Params().BitSize + 7) / 8)
	}
	return ed25519.SignatureSize
}

// entry is one published key. material is shared between snapshots while the key
// exists, so its cached signers survive reloads.
type entry struct {
	*material
	createdAt time.Time
	retired   bool
}

type material struct {
	kid, alg string
	priv     crypto.Signer
	pub      jose.JSONWebKey
	sigSize  int // bytes of a JWS signature

	headers  sync.Map // typ → base64url protected header
	nHeaders atomic.Int32
}

// publish opens rows (reusing keys already open) and swaps in a new snapshot.
func (m *Manager) publish(rows []*store.SigningKey) error {
	old := m.snap.Load()
	now := m.now()
	next := &snapshot{keys: map[string]*entry{}, current: map[string]*entry{}}
	for _, r := range rows {
		if r.PurgeAfter != nil && !now.Before(*r.PurgeAfter) {
			continue
		}
		mat, err := m.open(old, r)
		if err != nil {
			return err
		}
		next.keys[r.ID] = &entry{material: mat, createdAt: r.CreatedAt, retired: r.RetiredAt != nil}
	}
	newest := newestUnretired(rows)
	for _, alg := range m.opts.Algs {
		r := newest[alg]
		if r == nil || next.keys[r.ID] == nil {
			continue
		}
		if algSpecs[alg].enc {
			next.decrypting = append(next.decrypting, next.keys[r.ID])
			continue
		}
		next.current[alg] = next.keys[r.ID]
		next.algs = append(next.algs, alg)
	}
	jwks, err := buildJWKS(next)
	if err != nil {
		return err
	}
	next.jwks = jwks
	m.snap.Store(next)
	return nil
}

func (m *Manager) open(old *snapshot, r *store.SigningKey) (*material, error) {
	if e := old.keys[r.ID]; e != nil && e.alg == r.Alg {
		return e.material, nil
	}
	spec, ok := algSpecs[r.Alg]
	if !ok {
		return nil, fmt.Errorf("keys: stored key %s has unsupported alg %q", r.ID, r.Alg)
	}
	der, err := m.seal.Open(r.PrivateSealed, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: cannot open stored key %s (was it sealed with another master key?): %w", r.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("keys: stored key %s: %w", r.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !spec.fits(priv) {
		return nil, fmt.Errorf("keys: stored key %s does not fit alg %s", r.ID, r.Alg)
	}
	// The public key is derived from the private one rather than read from PublicJWK,
	// and must hash to the kid it is stored under.
	pub, err := publicJWK(priv, r.Alg)
	if err != nil {
		return nil, err
	}
	if pub.KeyID != r.ID {
		return nil, fmt.Errorf("keys: stored key %s has thumbprint %s", r.ID, pub.KeyID)
	}
	return &material{kid: r.ID, alg: r.Alg, priv: priv, pub: pub, sigSize: sigSize(priv)}, nil
}

// buildJWKS renders the published keys: current ones first, then by age, newest first.
func buildJWKS(s *snapshot) ([]byte, error) {
	entries := make([]*entry, 0, len(s.keys))
	for _, e := range s.keys {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *entry) int {
		if a.retired != b.retired {
			if a.retired {
				return 1
			}
			return -1
		}
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return cmp.Compare(a.kid, b.kid)
	})
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(entries))}
	for i, e := range entries {
		set.Keys[i] = e.pub
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding JWKS: %w", err)
	}
	return out, nil
}
