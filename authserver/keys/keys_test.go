package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// memStore is a minimal store.KeyStore for unit tests.
type memStore struct {
	mu   sync.Mutex
	keys map[string]store.SigningKey
}

func newMemStore() *memStore { return &memStore{keys: map[string]store.SigningKey{}} }

func (s *memStore) ListSigningKeys(context.Context) ([]*store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, &k)
	}
	return out, nil
}

func (s *memStore) CreateSigningKey(_ context.Context, k *store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return store.ErrConflict
	}
	s.keys[k.ID] = *k
	return nil
}

func (s *memStore) RetireSigningKey(_ context.Context, id string, retiredAt, purgeAfter time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.ErrNotFound
	}
	k.RetiredAt, k.PurgeAfter = &retiredAt, &purgeAfter
	s.keys[id] = k
	return nil
}

func (s *memStore) DeleteSigningKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.keys, id)
	return nil
}

func (s *memStore) get(id string) (store.SigningKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	return k, ok
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var testSealer = func() *sealer.Sealer {
	s, err := sealer.New(bytes.Repeat([]byte{42}, sealer.KeySize))
	if err != nil {
		panic(err)
	}
	return s
}()

func newManager(t testing.TB, st store.KeyStore, clk *clock, opts Options) *Manager {
	t.Helper()
	m, err := NewManager(st, testSealer, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		m.now = clk.now
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

type jwks struct {
	Keys []map[string]any `json:"keys"`
}

func parseJWKS(t *testing.T, m *Manager) map[string]map[string]any {
	t.Helper()
	var set jwks
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	out := map[string]map[string]any{}
	for _, k := range set.Keys {
		out[k["kid"].(string)] = k
	}
	return out
}

func currentKid(t *testing.T, m *Manager, alg string) string {
	t.Helper()
	e := m.snap.Load().current[alg]
	if e == nil {
		t.Fatalf("no current %s key", alg)
	}
	return e.kid
}

func TestNewManagerOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"all algs", Options{Algs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}}, true},
		{"none", Options{Algs: []string{"none"}}, false},
		{"hmac", Options{Algs: []string{"HS256"}}, false},
		{"unknown", Options{Algs: []string{"ES256K"}}, false},
		{"negative rotation", Options{RotationPeriod: -time.Second}, false},
		{"negative retain", Options{RetainFor: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewManager(newMemStore(), testSealer, tt.opts, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("NewManager err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := NewManager(nil, testSealer, Options{}, nil); err == nil {
		t.Fatal("nil store accepted")
	}
}

func TestLoadCreatesAndPublishes(t *testing.T) {
	st := newMemStore()
	m := newManager(t, st, nil, Options{})
	if got := m.Algs(); !slices.Equal(got, []string{"RS256", "ES256"}) {
		t.Fatalf("Algs = %v", got)
	}
	set := parseJWKS(t, m)
	if len(set) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set))
	}
	for kid, k := range set {
		if k["use"] != "sig" || k["alg"] == nil {
			t.Errorf("key %s lacks use/alg: %v", kid, k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %s publishes private member %q", kid, private)
			}
		}
		// kid is the RFC 7638 thumbprint of the published key.
		var jwk jose.JSONWebKey
		raw, _ := json.Marshal(k)
		if err := jwk.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
		tp, _ := jwk.Thumbprint(crypto.SHA256)
		if base64.RawURLEncoding.EncodeToString(tp) != kid {
			t.Errorf("kid %s is not the key's thumbprint", kid)
		}
		row, ok := st.get(kid)
		if !ok || row.Alg != k["alg"] {
			t.Errorf("key %s not stored with its alg", kid)
		}
	}
	if !strings.HasPrefix(string(m.JWKS()), `{"keys":[`) {
		t.Errorf("JWKS = %s", m.JWKS())
	}
}

func TestSealedPrivateKey(t *testing.T) {
	st := newMemStore()
	m := newManager(t, st, nil, Options{Algs: []string{"ES256", "RS256"}})
	for _, alg := range []string{"ES256", "RS256"} {
		kid := currentKid(t, m, alg)
		row, _ := st.get(kid)
		der, err := x509.MarshalPKCS8PrivateKey(m.snap.Load().keys[kid].priv)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.PrivateSealed, der) || bytes.Contains(row.PrivateSealed, der[len(der)-32:]) {
			t.Fatalf("%s: sealed bytes contain the private key", alg)
		}
		if strings.Contains(row.PublicJWK, `"d"`) {
			t.Fatalf("%s: stored public JWK holds private material", alg)
		}
		opened, err := testSealer.Open(row.PrivateSealed, []byte(kid))
		if err != nil || !bytes.Equal(opened, der) {
			t.Fatalf("%s: sealed value is not the PKCS#8 key under AD=kid (%v)", alg, err)
		}
	}
}

func TestKeysPersistAcrossManagers(t *testing.T) {
	st := newMemStore()
	m1 := newManager(t, st, nil, Options{})
	tok, err := m1.Sign("ES256", "", "at+jwt", []byte(`{"sub":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	m2 := newManager(t, st, nil, Options{})
	for _, alg := range []string{"RS256", "ES256"} {
		if currentKid(t, m1, alg) != currentKid(t, m2, alg) {
			t.Fatalf("%s: second manager made a new key instead of loading", alg)
		}
	}
	if n, _ := st.ListSigningKeys(context.Background()); len(n) != 2 {
		t.Fatalf("store holds %d keys, want 2", len(n))
	}
	if _, _, err := m2.Verify(tok, []string{"ES256"}); err != nil {
		t.Fatalf("token of the first manager does not verify with the second: %v", err)
	}
	if !bytes.Equal(m1.JWKS(), m2.JWKS()) {
		t.Fatal("managers over one store publish different JWKS")
	}
}

func TestLoadWithWrongMasterKeyFails(t *testing.T) {
	st := newMemStore()
	newManager(t, st, nil, Options{Algs: []string{"ES256"}})
	other, _ := sealer.New(bytes.Repeat([]byte{1}, sealer.KeySize))
	m, _ := NewManager(st, other, Options{Algs: []string{"ES256"}}, nil)
	if err := m.Load(context.Background()); err == nil {
		t.Fatal("Load succeeded with keys sealed under another master key")
	}
	if n, _ := st.ListSigningKeys(context.Background()); len(n) != 1 {
		t.Fatalf("failed Load changed the store: %d keys", len(n))
	}
}

func TestLoadRejectsSwappedKey(t *testing.T) {
	st := newMemStore()
	m := newManager(t, st, nil, Options{Algs: []string{"ES256", "ES384"}})
	a, _ := st.get(currentKid(t, m, "ES256"))
	b, _ := st.get(currentKid(t, m, "ES384"))
	a.PrivateSealed = b.PrivateSealed // sealed under b's kid as AD
	st.keys[a.ID] = a
	m2, _ := NewManager(st, testSealer, Options{Algs: []string{"ES256", "ES384"}}, nil)
	if err := m2.Load(context.Background()); err == nil {
		t.Fatal("Load accepted a private key stored under another kid")
	}
}

func TestSignHeader(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}})
	kid := currentKid(t, m, "ES256")
	for _, typ := range []string{"at+jwt", "JWT", ""} {
		tok, err := m.Sign("ES256", "", typ, []byte(`{"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var hdr map[string]any
		json.Unmarshal(raw, &hdr)
		want := map[string]any{"alg": "ES256", "kid": kid}
		if typ != "" {
			want["typ"] = typ
		}
		if len(hdr) != len(want) {
			t.Fatalf("header %v, want %v", hdr, want)
		}
		for k, v := range want {
			if hdr[k] != v {
				t.Fatalf("header %v, want %v", hdr, want)
			}
		}
		payload, h, err := m.Verify(tok, []string{"ES256"})
		if err != nil || string(payload) != `{"x":1}` || h.KeyID != kid {
			t.Fatalf("Verify = %s, %v, %v", payload, h.KeyID, err)
		}
		if got, _ := h.ExtraHeaders["typ"].(string); got != typ {
			t.Fatalf("verified typ %q, want %q", got, typ)
		}
	}
	if _, err := m.Sign("RS256", "", "JWT", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Sign with an unconfigured alg: %v", err)
	}
	if _, err := m.Sign("ES256", "nope", "JWT", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Sign with an unknown kid: %v", err)
	}
	if _, err := m.Sign("ES384", kid, "JWT", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Sign with a kid of another alg: %v", err)
	}
	if _, err := m.Sign("ES256", kid, "JWT", nil); err != nil {
		t.Fatalf("Sign with the explicit current kid: %v", err)
	}
}

func TestEveryAlgRoundTrips(t *testing.T) {
	algs := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	st := newMemStore()
	m1 := newManager(t, st, nil, Options{Algs: algs})
	m2 := newManager(t, st, nil, Options{Algs: algs}) // reopens every sealed key
	kids := map[string]bool{}
	for _, alg := range algs {
		tok, err := m1.Sign(alg, "", "JWT", []byte(`{}`))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		_, hdr, err := m2.Verify(tok, []string{alg})
		if err != nil || hdr.Algorithm != alg {
			t.Fatalf("%s: Verify = %v, %v", alg, hdr.Algorithm, err)
		}
		kids[hdr.KeyID] = true
	}
	if len(kids) != len(algs) {
		t.Fatal("two algs share a key")
	}
}

func TestRotateKeepsOldKeyUntilPurge(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := Options{Algs: []string{"ES256"}, RetainFor: time.Hour, ReloadInterval: time.Minute}
	m := newManager(t, st, clk, opts)
	oldKid := currentKid(t, m, "ES256")
	oldTok, _ := m.Sign("ES256", "", "at+jwt", []byte(`{"n":1}`))

	clk.add(time.Second)
	newKid, err := m.Rotate(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid || currentKid(t, m, "ES256") != newKid {
		t.Fatalf("Rotate: new %s old %s current %s", newKid, oldKid, currentKid(t, m, "ES256"))
	}
	set := parseJWKS(t, m)
	if set[oldKid] == nil || set[newKid] == nil {
		t.Fatal("JWKS lacks the old or the new key after rotation")
	}
	if _, _, err := m.Verify(oldTok, []string{"ES256"}); err != nil {
		t.Fatalf("token of the retired key no longer verifies: %v", err)
	}
	tok, _ := m.Sign("ES256", "", "at+jwt", nil)
	if _, hdr, _ := m.Verify(tok, []string{"ES256"}); hdr.KeyID != newKid {
		t.Fatalf("signed with %s, want the new key %s", hdr.KeyID, newKid)
	}
	if _, err := m.Sign("ES256", oldKid, "at+jwt", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("retired key still signs: %v", err)
	}
	row, _ := st.get(oldKid)
	if row.RetiredAt == nil || row.PurgeAfter == nil ||
		!row.PurgeAfter.Equal(row.RetiredAt.Add(opts.RetainFor+opts.ReloadInterval)) {
		t.Fatalf("retired row: %+v", row)
	}

	// Still there just before the purge time...
	clk.add(opts.RetainFor + opts.ReloadInterval - 2*time.Second)
	m.tick(ctx)
	if _, _, err := m.Verify(oldTok, []string{"ES256"}); err != nil {
		t.Fatalf("retired key gone before its purge time: %v", err)
	}
	// ...and gone after it.
	clk.add(2 * time.Second)
	m.tick(ctx)
	if _, ok := st.get(oldKid); ok {
		t.Fatal("key past its purge time is still stored")
	}
	if parseJWKS(t, m)[oldKid] != nil {
		t.Fatal("purged key still published")
	}
	if _, _, err := m.Verify(oldTok, []string{"ES256"}); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a purged key verifies: %v", err)
	}
	if _, ok := st.get(newKid); !ok {
		t.Fatal("current key was purged")
	}
}

func TestRotateUnconfiguredAlg(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}})
	if _, err := m.Rotate(context.Background(), "RS256"); err == nil {
		t.Fatal("Rotate made a key for an alg outside the configuration")
	}
}

func TestScheduledRotation(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(t, st, clk, Options{Algs: []string{"ES256"}, RotationPeriod: 24 * time.Hour})
	first := currentKid(t, m, "ES256")

	clk.add(23 * time.Hour)
	m.tick(ctx)
	if currentKid(t, m, "ES256") != first {
		t.Fatal("rotated before the period elapsed")
	}
	// Load alone never rotates.
	clk.add(2 * time.Hour)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if currentKid(t, m, "ES256") != first {
		t.Fatal("Load rotated")
	}
	m.tick(ctx)
	second := currentKid(t, m, "ES256")
	if second == first {
		t.Fatal("no rotation after the period elapsed")
	}
	if row, _ := st.get(first); row.RetiredAt == nil {
		t.Fatal("previous key not retired")
	}
	if parseJWKS(t, m)[first] == nil {
		t.Fatal("previous key no longer published")
	}
}

func TestInstancesConverge(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := Options{Algs: []string{"ES256"}}
	a := newManager(t, st, clk, opts)
	b, _ := NewManager(st, testSealer, opts, nil)
	b.now = clk.now
	// b raced a on the empty store and created its own key a moment later.
	clk.add(time.Millisecond)
	bKid, err := b.create(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	aKid := currentKid(t, a, "ES256")
	aTok, _ := a.Sign("ES256", "", "JWT", nil)

	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	a.tick(ctx)
	for name, m := range map[string]*Manager{"a": a, "b": b} {
		if currentKid(t, m, "ES256") != bKid {
			t.Fatalf("%s: current key is not the newest", name)
		}
		if _, _, err := m.Verify(aTok, []string{"ES256"}); err != nil {
			t.Fatalf("%s: token of the losing key does not verify: %v", name, err)
		}
	}
	if row, _ := st.get(aKid); row.RetiredAt == nil {
		t.Fatal("losing key not retired")
	}
	if n, _ := st.ListSigningKeys(ctx); len(n) != 2 {
		t.Fatalf("store holds %d keys, want 2", len(n))
	}
}

func TestUnconfiguredAlgStaysPublished(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	old := newManager(t, st, clk, Options{Algs: []string{"ES256", "EdDSA"}})
	edKid := currentKid(t, old, "EdDSA")
	edTok, _ := old.Sign("EdDSA", "", "JWT", nil)

	m := newManager(t, st, clk, Options{Algs: []string{"ES256"}, RotationPeriod: time.Hour})
	if !slices.Equal(m.Algs(), []string{"ES256"}) {
		t.Fatalf("Algs = %v", m.Algs())
	}
	if _, err := m.Sign("EdDSA", "", "JWT", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("signs with an unconfigured alg: %v", err)
	}
	if _, _, err := m.Verify(edTok, []string{"EdDSA"}); err != nil {
		t.Fatalf("token of an unconfigured alg's key: %v", err)
	}
	m.tick(ctx)
	if row, _ := st.get(edKid); row.RetiredAt != nil {
		t.Fatal("young key of an unconfigured alg retired at once")
	}
	clk.add(2 * time.Hour)
	m.tick(ctx)
	if row, _ := st.get(edKid); row.RetiredAt == nil {
		t.Fatal("stale key of an unconfigured alg not retired on schedule")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}, ReloadInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRejects(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256", "RS256", "PS256"}})
	esKid, rsKid := currentKid(t, m, "ES256"), currentKid(t, m, "RS256")
	good, err := m.Sign("ES256", "", "at+jwt", []byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")

	hs256 := func(kid string) string {
		// Classic alg confusion: HMAC keyed with the published public key.
		pub, _ := x509.MarshalPKIXPublicKey(m.snap.Load().keys[kid].pub.Key)
		in := b64(`{"alg":"HS256","kid":"`+kid+`"}`) + "." + parts[1]
		mac := hmac.New(sha256.New, pub)
		mac.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	foreign := func(kid string) string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, nil)
		jws, _ := s.Sign([]byte(`{"sub":"alice"}`))
		out, _ := jws.CompactSerialize()
		return out
	}
	// A valid PS256 signature made with the RS256 key: each key serves only its own alg.
	psSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256,
		Key: jose.JSONWebKey{Key: m.snap.Load().keys[rsKid].priv, KeyID: rsKid}}, nil)
	psJWS, _ := psSigner.Sign([]byte(`{}`))
	psOnRSKey, _ := psJWS.CompactSerialize()
	jsonSerialized := `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
	crit := b64(`{"alg":"ES256","kid":"`+esKid+`","crit":["b64"],"b64":false}`) + "." + parts[1] + "." + parts[2]

	tests := []struct {
		name  string
		token string
		algs  []string
	}{
		{"alg none", b64(`{"alg":"none","kid":"`+esKid+`"}`) + "." + parts[1] + ".", []string{"ES256", "none"}},
		{"alg none no kid", b64(`{"alg":"none"}`) + "." + parts[1] + ".", []string{"none"}},
		{"HS256 with public key", hs256(esKid), []string{"ES256", "HS256"}},
		{"HS256 with RSA public key", hs256(rsKid), []string{"RS256", "HS256"}},
		{"unknown kid", foreign("not-a-kid"), []string{"ES256"}},
		{"no kid", foreign(""), []string{"ES256"}},
		{"foreign key under our kid", foreign(esKid), []string{"ES256"}},
		{"tampered payload", parts[0] + "." + b64(`{"sub":"mallory"}`) + "." + parts[2], []string{"ES256"}},
		{"tampered header", b64(`{"alg":"ES256","kid":"`+esKid+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], []string{"ES256"}},
		{"tampered signature", parts[0] + "." + parts[1] + "." + b64("x"+parts[2][1:]), []string{"ES256"}},
		{"alg outside allowlist", good, []string{"RS256"}},
		{"empty allowlist", good, nil},
		{"PS256 signature by the RS256 key", psOnRSKey, []string{"RS256", "PS256"}},
		{"JSON serialization", jsonSerialized, []string{"ES256"}},
		{"crit header", crit, []string{"ES256"}},
		{"two parts", parts[0] + "." + parts[1], []string{"ES256"}},
		{"garbage", "not.a.jwt", []string{"ES256"}},
		{"empty", "", []string{"ES256"}},
		{"oversized", good + strings.Repeat("A", MaxTokenLen), []string{"ES256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, _, err := m.Verify(tt.token, tt.algs)
			if !errors.Is(err, ErrInvalidToken) || payload != nil {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", payload, err)
			}
		})
	}
	if _, _, err := m.Verify(good, []string{"RS256", "ES256"}); err != nil {
		t.Fatalf("the untampered token: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign("ES256", "", "at+jwt", []byte(`{}`))
				if err == nil {
					_, _, err = m.Verify(tok, []string{"ES256"})
				}
				if err != nil {
					errs <- err
					return
				}
				_ = m.JWKS()
			}
		})
	}
	for range 5 {
		if _, err := m.Rotate(ctx, "ES256"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(parseJWKS(t, m)); n != 6 {
		t.Fatalf("JWKS has %d keys after 5 rotations, want 6", n)
	}
}

func benchManager(b *testing.B, alg string) *Manager {
	return newManager(b, newMemStore(), nil, Options{Algs: []string{alg}})
}

var benchPayload = []byte(`{"iss":"https://as.example","sub":"user-1234","aud":"https://api.example","client_id":"client-1","scope":"read write","iat":1900000000,"exp":1900000600,"jti":"5f2b8c9e-0a1d-4c3b-9e7f-2a6d8b1c4e0f"}`)

func benchSign(b *testing.B, alg string) {
	m := benchManager(b, alg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Sign(alg, "", "at+jwt", benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignES256(b *testing.B) { benchSign(b, "ES256") }
func BenchmarkSignRS256(b *testing.B) { benchSign(b, "RS256") }
func BenchmarkSignEdDSA(b *testing.B) { benchSign(b, "EdDSA") }

func BenchmarkVerifyES256(b *testing.B) {
	m := benchManager(b, "ES256")
	tok, _ := m.Sign("ES256", "", "at+jwt", benchPayload)
	algs := []string{"ES256"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Verify(tok, algs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWKS(b *testing.B) {
	m := newManager(b, newMemStore(), nil, Options{})
	b.ReportAllocs()
	for b.Loop() {
		_ = m.JWKS()
	}
}

// Roughly one ECDSA signature in 128 has an R or S shorter than the curve size; signing
// many covers the left-padding path, checked by go-jose's independent verifier.
func TestECDSASignaturePadding(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}})
	for i := range 1500 {
		tok, err := m.Sign("ES256", "", "", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Verify(tok, []string{"ES256"}); err != nil {
			t.Fatalf("signature %d does not verify: %v", i, err)
		}
	}
}

func TestECDSARaw(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want []byte
	}{
		// SEQUENCE { INTEGER 0x00 0x80, INTEGER 0x01 } → 0x80 padded, 0x01 padded.
		{"sign byte stripped", []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01}, []byte{0, 0x80, 0, 1}},
		{"too large", []byte{0x30, 0x08, 0x02, 0x03, 0x01, 0x02, 0x03, 0x02, 0x01, 0x01}, nil},
		{"trailing data", []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00}, nil},
		{"not a sequence", []byte{0x02, 0x01, 0x01}, nil},
	}
	for _, tt := range tests {
		got, err := ecdsaRaw(tt.der, 2)
		if (err == nil) != (tt.want != nil) || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: ecdsaRaw = %x, %v; want %x", tt.name, got, err, tt.want)
		}
	}
}

// Every algorithm of the project's one list can have a signing key, and nothing else can.
func TestSupportedFollowsTheOneAlgorithmList(t *testing.T) {
	for _, alg := range jwa.Asymmetric() {
		if !Supported(alg) {
			t.Errorf("%s is in jwa.Asymmetric but has no key spec", alg)
		}
	}
	for alg, spec := range algSpecs {
		if spec.enc != !jwa.IsAsymmetric(alg) {
			t.Errorf("%s has a key spec but is neither in jwa.Asymmetric nor an encryption alg", alg)
		}
		if spec.enc && (!jwa.IsKeyManagement(alg) || Supported(alg)) {
			t.Errorf("encryption alg %s must be in jwa.KeyManagement and never sign", alg)
		}
	}
	for _, alg := range []string{"none", "HS256", ""} {
		if Supported(alg) {
			t.Errorf("Supported(%q) = true", alg)
		}
	}
}
