package logout

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const testIssuer = "https://as.example"

// memOutbox is an in-memory Store following the LogoutOutboxStore contract (one pending
// delivery per session and client, claims lease).
type memOutbox struct {
	mu       sync.Mutex
	pending  map[string]*store.LogoutDelivery
	sessions map[string][]string // sid → client IDs with a grant in it
	seq      int
}

func newMemOutbox() *memOutbox {
	return &memOutbox{pending: map[string]*store.LogoutDelivery{}, sessions: map[string][]string{}}
}

func (m *memOutbox) EnqueueLogoutDeliveries(_ context.Context, ds []*store.LogoutDelivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		dup := false
		for _, p := range m.pending {
			dup = dup || (p.SessionID == d.SessionID && p.ClientID == d.ClientID)
		}
		if dup {
			continue
		}
		m.seq++
		if d.ID == "" {
			d.ID = "d" + strings.Repeat("0", 6-len(itoa(m.seq))) + itoa(m.seq)
		}
		d.CreatedAt = time.Now()
		c := *d
		m.pending[d.ID] = &c
	}
	return nil
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (m *memOutbox) ClaimLogoutDeliveries(_ context.Context, now, leaseUntil time.Time, limit int) ([]*store.LogoutDelivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*store.LogoutDelivery
	for _, d := range m.pending {
		if !d.NextAttemptAt.After(now) {
			due = append(due, d)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].NextAttemptAt.Before(due[j].NextAttemptAt) })
	var out []*store.LogoutDelivery
	for _, d := range due[:min(limit, len(due))] {
		d.NextAttemptAt = leaseUntil
		d.Attempts++
		c := *d
		out = append(out, &c)
	}
	return out, nil
}

func (m *memOutbox) RetryLogoutDelivery(_ context.Context, id string, next time.Time, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.pending[id]
	if !ok {
		return store.ErrNotFound
	}
	d.NextAttemptAt, d.LastError = next, lastError
	return nil
}

func (m *memOutbox) DeleteLogoutDelivery(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pending[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.pending, id)
	return nil
}

func (m *memOutbox) CountLogoutDeliveries(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending), nil
}

func (m *memOutbox) SessionClientIDs(_ context.Context, sid string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(slices.Values(m.sessions[sid])), nil
}

func (m *memOutbox) addSession(sid string, clientIDs ...string) {
	m.mu.Lock()
	m.sessions[sid] = append(m.sessions[sid], clientIDs...)
	m.mu.Unlock()
}

// clients is a settable client lookup.
type clients struct {
	mu sync.Mutex
	m  map[string]*store.Client
}

func newClients(cs ...*store.Client) *clients {
	c := &clients{m: map[string]*store.Client{}}
	for _, cl := range cs {
		c.put(cl)
	}
	return c
}

func (c *clients) put(cl *store.Client) { c.mu.Lock(); c.m[cl.ID] = cl; c.mu.Unlock() }
func (c *clients) remove(id string)     { c.mu.Lock(); delete(c.m, id); c.mu.Unlock() }

func (c *clients) get(_ context.Context, id string) (*store.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *cl
	return &cp, nil
}

// publicSubject is the SubjectFunc of public subjects; pairwise ones are tested with a
// marker that shows the client's function was used.
func publicSubject(c *store.Client, local string) string {
	if c.SubjectType == "pairwise" {
		return "pairwise:" + c.SectorIdentifier + ":" + local
	}
	return local
}

// newSigner returns a key manager over a fresh SQLite store: the server's real signer.
func newSigner(t testing.TB) *keys.Manager {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", t.TempDir()+"/keys.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sl, err := sealer.New(bytes.Repeat([]byte{7}, sealer.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.NewManager(st, sl, keys.Options{Algs: []string{"RS256", "ES256"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// verify checks a logout token's signature against the manager's JWKS and returns its
// protected header and claims.
func verify(t testing.TB, m *keys.Manager, token string) (jose.Header, map[string]any) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	hdr := jws.Signatures[0].Header
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q is not in the JWKS", hdr.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return hdr, claims
}

// receiver is a back-channel logout endpoint on loopback that records the tokens it saw and
// answers with status(n) for the nth request (1-based).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	tokens   []string // every logout_token received, in order
	accepted []string // those answered with 2xx
	status   func(n int) int
}

func newReceiver(t testing.TB, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_ = req.ParseForm()
		tok := req.PostForm.Get("logout_token")
		r.mu.Lock()
		r.tokens = append(r.tokens, tok)
		code := r.status(len(r.tokens))
		if code/100 == 2 {
			r.accepted = append(r.accepted, tok)
		}
		r.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func always(code int) func(int) int { return func(int) int { return code } }

func (r *receiver) counts() (received, accepted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens), len(r.accepted)
}

func (r *receiver) acceptedTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastOptions make retries quick enough for tests.
func fastOptions(log *zap.Logger) Options {
	return Options{
		Timeout:      2 * time.Second,
		AllowPrivate: true,
		PollInterval: 20 * time.Millisecond,
		Backoff:      Backoff{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond},
		Logger:       log,
	}
}

func startDeliverer(t testing.TB, st Store, cl *clients, signer Signer, opts Options) *Deliverer {
	t.Helper()
	d, err := New(Deps{Store: st, Issuer: testIssuer, Signer: signer, Client: cl.get, Subject: publicSubject}, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Close)
	return d
}
