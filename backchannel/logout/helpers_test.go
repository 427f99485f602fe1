package logout

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
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

// testStore is a real store (SQLite by default) with a helper to make the sessions whose
// clients a logout goes to.
type testStore struct {
	*sqlstore.Store
	t testing.TB
}

// openSQLite opens a store on a fresh SQLite file.
func openSQLite(t testing.TB) *testStore {
	t.Helper()
	return openStore(t, sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "oauth.db"))
}

// openStore opens a store on driver and dsn; stores opened on one dsn share one database.
func openStore(t testing.TB, driver, dsn string) *testStore {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testStore{Store: st, t: t}
}

// addSession stores a grant in session sid for each client (what SessionClientIDs reads).
func (s *testStore) addSession(sid string, clientIDs ...string) {
	s.t.Helper()
	now := time.Now()
	for _, id := range clientIDs {
		g := &store.Grant{ClientID: id, Subject: "sub-1", SessionID: sid, Scopes: []string{"openid"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateGrant(context.Background(), g); err != nil {
			s.t.Fatal(err)
		}
	}
}

// pending returns the queued deliveries without changing them (a claim far in the past
// leases nothing; this one looks far ahead and is only used where no Deliverer runs).
func (s *testStore) pending() []*store.LogoutDelivery {
	s.t.Helper()
	far := time.Now().Add(1000 * time.Hour)
	ds, err := s.ClaimLogoutDeliveries(context.Background(), far, far, 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	return ds
}

func (s *testStore) count() int {
	s.t.Helper()
	n, err := s.CountLogoutDeliveries(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
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
