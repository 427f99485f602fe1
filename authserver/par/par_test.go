package par

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// The endpoint against the authorization server is tested in package authserver (par_test.go,
// par_instances_test.go). These tests pin what only this package decides: what is stored,
// and how store failures surface.

// fakeCore accepts every push from client "c" and resolves parameters unchanged.
type fakeCore struct{}

func (fakeCore) ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, oautherr.Request("bad form")
	}
	return r.PostForm, nil
}
func (fakeCore) AuthenticateClient(*http.Request) (*store.Client, error) {
	return &store.Client{ID: "c"}, nil
}
func (fakeCore) DPoPProof(*http.Request) (*dpop.Proof, error)       { return nil, nil }
func (fakeCore) RecordDPoPProof(context.Context, *dpop.Proof) error { return nil }
func (fakeCore) RequireRedirectURI(*store.Client) bool              { return false }
func (fakeCore) Resolve(_ context.Context, _ *store.Client, p url.Values) (url.Values, error) {
	return p, nil
}

// memStore is a PushedRequestStore in memory; err, when set, is what every call returns.
type memStore struct {
	mu   sync.Mutex
	rows map[string]*store.PushedRequest
	err  error
}

func (m *memStore) CreatePushedRequest(_ context.Context, r *store.PushedRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.rows[r.Hash] = r
	return nil
}

func (m *memStore) ConsumePushedRequest(_ context.Context, hash string, now time.Time) (*store.PushedRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	r, ok := m.rows[hash]
	delete(m.rows, hash)
	if !ok || !r.ExpiresAt.After(now) {
		return nil, store.ErrNotFound
	}
	return r, nil
}

func newEndpoint(st *memStore) *Endpoint {
	now := time.Unix(1_800_000_000, 0)
	return &Endpoint{Core: fakeCore{}, Store: st, TTL: time.Minute, Now: func() time.Time { return now }, Log: zap.NewNop()}
}

func post(e *Endpoint, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "https://as.example/par", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// TestStoredRowKeepsNoSecrets: the store gets the hash of the reference, never the reference,
// and the parameters without the client's credentials.
func TestStoredRowKeepsNoSecrets(t *testing.T) {
	st := &memStore{rows: map[string]*store.PushedRequest{}}
	e := newEndpoint(st)
	rec := post(e, url.Values{"client_id": {"c"}, "client_secret": {"s3cret"}, "client_assertion": {"a.b.c"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "scope": {"openid"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("push: %d %s", rec.Code, rec.Body)
	}
	var resp response
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	ref := strings.TrimPrefix(resp.RequestURI, URNPrefix)
	sum := sha256.Sum256([]byte(ref))
	row := st.rows[base64.RawURLEncoding.EncodeToString(sum[:])]
	if row == nil || len(st.rows) != 1 {
		t.Fatalf("no row under the reference's SHA-256 (%d rows)", len(st.rows))
	}
	if row.ClientID != "c" || !row.ExpiresAt.Equal(e.Now().Add(time.Minute)) {
		t.Errorf("row = %+v", row)
	}
	for _, secret := range []string{ref, "s3cret", "a.b.c", "client_assertion"} {
		if strings.Contains(string(row.Params)+row.Hash, secret) {
			t.Errorf("the stored row contains %q", secret)
		}
	}
	params, oerr := e.Consume(context.Background(), "c", resp.RequestURI)
	if oerr != nil || params.Get("scope") != "openid" || params.Get("client_id") != "c" {
		t.Fatalf("Consume: %v %v", params, oerr)
	}
}

// TestStoreFailures: a failing store is a server error at both ends, never a leak of the cause.
func TestStoreFailures(t *testing.T) {
	st := &memStore{rows: map[string]*store.PushedRequest{}, err: errors.New("disk on fire")}
	e := newEndpoint(st)
	rec := post(e, url.Values{"client_id": {"c"}})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"server_error"`) ||
		strings.Contains(rec.Body.String(), "disk") {
		t.Errorf("push: %d %s, want 500 server_error without the cause", rec.Code, rec.Body)
	}
	_, oerr := e.Consume(context.Background(), "c", URNPrefix+"abc")
	if oerr == nil || oerr.Code != oautherr.ServerError {
		t.Errorf("Consume: %v, want server_error", oerr)
	}
}

func TestConsumeRefusals(t *testing.T) {
	st := &memStore{rows: map[string]*store.PushedRequest{}}
	e := newEndpoint(st)
	push := func() string {
		var resp response
		_ = json.Unmarshal(post(e, url.Values{"client_id": {"c"}}).Body.Bytes(), &resp)
		return resp.RequestURI
	}
	used := push()
	if _, oerr := e.Consume(context.Background(), "c", used); oerr != nil {
		t.Fatal(oerr)
	}
	cases := map[string]struct{ client, uri string }{
		"used":         {"c", used},
		"unknown":      {"c", URNPrefix + "unknown"},
		"not a URN":    {"c", "https://as.example/r/1"},
		"empty":        {"c", ""},
		"bare prefix":  {"c", URNPrefix},
		"other client": {"d", push()},
	}
	for name, c := range cases {
		if _, oerr := e.Consume(context.Background(), c.client, c.uri); oerr == nil || oerr.Code != oautherr.InvalidRequestURI {
			t.Errorf("%s: %v, want invalid_request_uri", name, oerr)
		}
	}
}
