package remote

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

const (
	testClientID     = "gateway"
	testClientSecret = "s3cret"
)

// asServer is an introspection endpoint: answers per token, request counting and failure
// modes. It checks the request shape on every call.
type asServer struct {
	*httptest.Server
	t        testing.TB
	mu       sync.Mutex
	answers  map[string]string // token → JSON body
	status   atomic.Int32      // forced status when non-zero
	delay    atomic.Int64
	release  chan struct{} // when set, requests wait for it
	requests atomic.Int32
}

func newASServer(t testing.TB) *asServer {
	s := &asServer{t: t, answers: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *asServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.release != nil {
		<-s.release
	}
	_ = r.ParseForm() // read the body, so that the server notices a client hanging up
	select {          // a hanging AS, which lets go when the client gives up
	case <-time.After(time.Duration(s.delay.Load())):
	case <-r.Context().Done():
		return
	}
	if st := s.status.Load(); st != 0 {
		http.Error(w, "forced", int(st))
		return
	}
	id, secret, ok := r.BasicAuth()
	if r.Method != http.MethodPost || !ok || id != testClientID || secret != testClientSecret ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		r.PostFormValue("token_type_hint") != "access_token" {
		s.t.Errorf("unexpected request: %s basic=%v %q %q", r.Method, ok, id, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	body, known := s.answers[r.PostFormValue("token")]
	s.mu.Unlock()
	if !known {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func (s *asServer) answer(token string, body any) {
	b, ok := body.(string)
	if !ok {
		j, _ := json.Marshal(body)
		b = string(j)
	}
	s.mu.Lock()
	s.answers[token] = b
	s.mu.Unlock()
}

func newTestIntrospector(t testing.TB, s *asServer, clock *fakeClock, opts IntrospectorOptions) *Introspector {
	opts.Now = clock.Now
	in, err := NewIntrospector(s.Client(), s.URL+"/introspect", testClientID, testClientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in
}

func TestIntrospectParsesAnswers(t *testing.T) {
	clock := newClock()
	now := clock.Now().Unix()
	tests := []struct {
		name    string
		body    any
		want    *rsvalidate.TokenInfo // nil with wantErr false: inactive
		wantErr bool
	}{
		{name: "inactive", body: map[string]any{"active": false}},
		{
			name: "active with every member",
			body: map[string]any{
				"active": true, "scope": "read write", "client_id": "app", "sub": "alice", "iss": "https://as",
				"aud": []string{"https://api", "https://other"}, "exp": now + 60, "iat": now - 10, "nbf": now - 10,
				"jti": "j1", "cnf": map[string]any{"jkt": "thumb", "x5t#S256": "cert"}, "tenant": "t1",
			},
			want: &rsvalidate.TokenInfo{
				Issuer: "https://as", Subject: "alice", ClientID: "app", Scope: "read write",
				Audience: []string{"https://api", "https://other"}, ExpiresAt: time.Unix(now+60, 0),
				IssuedAt: time.Unix(now-10, 0), NotBefore: time.Unix(now-10, 0), JTI: "j1", JKT: "thumb", X5TS256: "cert",
			},
		},
		{name: "aud as a string", body: `{"active":true,"aud":"https://api"}`, want: &rsvalidate.TokenInfo{Audience: []string{"https://api"}}},
		{name: "fractional exp", body: fmt.Sprintf(`{"active":true,"exp":%d.5}`, now+1), want: &rsvalidate.TokenInfo{ExpiresAt: time.Unix(now+1, 5e8)}},
		{name: "active but expired", body: map[string]any{"active": true, "exp": now}},
		{name: "malformed JSON", body: `{"active":tr`, wantErr: true},
		{name: "trailing data", body: `{"active":true}{"active":false}`, wantErr: true},
		{name: "active missing", body: `{"sub":"alice"}`, wantErr: true},
		{name: "active as a string", body: `{"active":"true"}`, wantErr: true},
		{name: "aud as a number", body: `{"active":true,"aud":7}`, wantErr: true},
		{name: "aud array with a number", body: `{"active":true,"aud":["a",7]}`, wantErr: true},
		{name: "aud null", body: `{"active":true,"aud":null}`, wantErr: true},
		{name: "exp as a string", body: `{"active":true,"exp":"soon"}`, wantErr: true},
		{name: "exp absurd", body: `{"active":true,"exp":1e300}`, wantErr: true},
		{name: "cnf not an object", body: `{"active":true,"cnf":"x"}`, wantErr: true},
		{name: "cnf.jkt not a string", body: `{"active":true,"cnf":{"jkt":1}}`, wantErr: true},
		{name: "not an object", body: `[true]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newASServer(t)
			s.answer("tok", tt.body)
			in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
			got, err := in.Introspect(context.Background(), "tok")
			if tt.wantErr {
				if !errors.Is(err, rsvalidate.ErrUnavailable) || got != nil {
					t.Fatalf("Introspect = %v, %v; want ErrUnavailable", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("Introspect = %+v, want %+v", got, tt.want)
			}
			if got == nil {
				return
			}
			if got.Claims["active"] != true {
				t.Errorf("Claims lack the response members: %v", got.Claims)
			}
			got.Claims = nil
			if fmt.Sprint(*got) != fmt.Sprint(*tt.want) {
				t.Errorf("info = %+v\nwant   %+v", *got, *tt.want)
			}
		})
	}
}

func TestIntrospectExtraClaimsKept(t *testing.T) {
	s := newASServer(t)
	s.answer("tok", `{"active":true,"tenant":"t1","roles":["a"],"n":12345678901234567890}`)
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{})
	info, err := in.Introspect(context.Background(), "tok")
	if err != nil || info == nil {
		t.Fatal(info, err)
	}
	if info.Claims["tenant"] != "t1" || fmt.Sprint(info.Claims["roles"]) != "[a]" || fmt.Sprint(info.Claims["n"]) != "12345678901234567890" {
		t.Errorf("claims = %v", info.Claims)
	}
}

func TestIntrospectCachesActiveUntilExpOrMaxTTL(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	now := clock.Now().Unix()
	s.answer("short", map[string]any{"active": true, "exp": now + 120})
	s.answer("long", map[string]any{"active": true, "exp": now + 3600})
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
	ctx := context.Background()
	call := func(token string, wantActive bool, wantRequests int32) {
		t.Helper()
		info, err := in.Introspect(ctx, token)
		if err != nil || (info != nil) != wantActive {
			t.Fatalf("Introspect(%s) = %v, %v; want active=%v", token, info, err, wantActive)
		}
		if n := s.requests.Load(); n != wantRequests {
			t.Fatalf("requests = %d, want %d", n, wantRequests)
		}
	}
	call("short", true, 1)
	call("long", true, 2)
	clock.Advance(time.Minute)
	call("short", true, 2) // cached
	call("long", true, 2)
	s.answer("short", map[string]any{"active": false}) // the AS would say so too
	clock.Advance(61 * time.Second)                    // past short's exp
	call("short", false, 3)
	call("long", true, 3)
	clock.Advance(3 * time.Minute) // past MaxCacheTTL (5m) for long
	call("long", true, 4)
}

func TestIntrospectNegativeCache(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
	for i := range 3 {
		if info, err := in.Introspect(context.Background(), "unknown"); info != nil || err != nil {
			t.Fatalf("call %d = %v, %v", i, info, err)
		}
	}
	if n := s.requests.Load(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	s.answer("unknown", map[string]any{"active": true})
	clock.Advance(11 * time.Second)
	if info, err := in.Introspect(context.Background(), "unknown"); info == nil || err != nil {
		t.Fatalf("after the negative TTL = %v, %v; want active", info, err)
	}
}

// A cache-hash collision must never return another token's answer: force every key onto
// one hash and check that each token still gets its own.
func TestIntrospectCacheCollisionSafe(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	s.answer("token-a", map[string]any{"active": true, "sub": "alice"})
	s.answer("token-b", map[string]any{"active": true, "sub": "bob"})
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{keyToHash: func(uint64) (uint64, uint64) { return 42, 0 }})
	ctx := context.Background()
	for i, want := range []struct{ token, sub string }{
		{"token-a", "alice"}, {"token-b", "bob"}, {"token-a", "alice"}, {"token-c", ""}, {"token-b", "bob"},
	} {
		info, err := in.Introspect(ctx, want.token)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if info != nil {
			got = info.Subject
		}
		if got != want.sub {
			t.Fatalf("step %d: %s answered as sub %q, want %q", i, want.token, got, want.sub)
		}
	}
	if n := s.requests.Load(); n != 5 {
		t.Errorf("requests = %d, want 5 (each collision is a miss)", n)
	}
}

func TestIntrospectConcurrentCallsShareOneRequest(t *testing.T) {
	s := newASServer(t)
	s.release = make(chan struct{})
	s.answer("tok", map[string]any{"active": true, "sub": "alice"})
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{})
	var wg sync.WaitGroup
	var active atomic.Int32
	for range 50 {
		wg.Go(func() {
			if info, err := in.Introspect(context.Background(), "tok"); err == nil && info != nil && info.Subject == "alice" {
				active.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the callers pile up behind the first request
	close(s.release)
	wg.Wait()
	if n := s.requests.Load(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if active.Load() != 50 {
		t.Errorf("%d of 50 callers got the answer", active.Load())
	}
}

func TestIntrospectWhenTheASFails(t *testing.T) {
	type failure struct {
		name  string
		apply func(s *asServer)
	}
	failures := []failure{
		{"5xx", func(s *asServer) { s.status.Store(http.StatusServiceUnavailable) }},
		{"429", func(s *asServer) { s.status.Store(http.StatusTooManyRequests) }},
		{"timeout", func(s *asServer) { s.delay.Store(int64(5 * time.Second)) }}, // the handler lets go when the client gives up
		{"unreachable", func(s *asServer) { s.Close() }},
		{"malformed", func(s *asServer) { s.answer("tok", `{"active":`) }},
	}
	for _, f := range failures {
		t.Run(f.name+"/nothing cached", func(t *testing.T) {
			s := newASServer(t)
			s.answer("tok", map[string]any{"active": true})
			f.apply(s)
			in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{Timeout: time.Second})
			if info, err := in.Introspect(context.Background(), "tok"); !errors.Is(err, rsvalidate.ErrUnavailable) || info != nil {
				t.Fatalf("Introspect = %v, %v; want ErrUnavailable", info, err)
			}
		})
		t.Run(f.name+"/stale answer served until exp", func(t *testing.T) {
			clock := newClock()
			s := newASServer(t)
			s.answer("tok", map[string]any{"active": true, "sub": "alice", "exp": clock.Now().Unix() + 600})
			in := newTestIntrospector(t, s, clock, IntrospectorOptions{Timeout: time.Second})
			if info, err := in.Introspect(context.Background(), "tok"); info == nil || err != nil {
				t.Fatal(info, err)
			}
			f.apply(s)
			clock.Advance(6 * time.Minute) // past MaxCacheTTL, before exp
			if info, err := in.Introspect(context.Background(), "tok"); err != nil || info == nil || info.Subject != "alice" {
				t.Fatalf("stale = %v, %v; want the cached answer", info, err)
			}
			clock.Advance(5 * time.Minute) // past exp
			if info, err := in.Introspect(context.Background(), "tok"); !errors.Is(err, rsvalidate.ErrUnavailable) || info != nil {
				t.Fatalf("after exp = %v, %v; want ErrUnavailable", info, err)
			}
		})
	}
}

func TestIntrospectStaleNeverBeyondMaxStale(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	s.answer("tok", map[string]any{"active": true}) // no exp
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{MaxStale: time.Minute})
	if info, _ := in.Introspect(context.Background(), "tok"); info == nil {
		t.Fatal("not active")
	}
	s.status.Store(http.StatusBadGateway)
	clock.Advance(5*time.Minute + 30*time.Second)
	if info, err := in.Introspect(context.Background(), "tok"); info == nil || err != nil {
		t.Fatalf("within MaxStale = %v, %v", info, err)
	}
	clock.Advance(time.Minute)
	if _, err := in.Introspect(context.Background(), "tok"); !errors.Is(err, rsvalidate.ErrUnavailable) {
		t.Fatalf("beyond MaxStale = %v, want ErrUnavailable", err)
	}
}

func TestIntrospectInactiveAnswerIsNotServedStale(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
	if info, err := in.Introspect(context.Background(), "tok"); info != nil || err != nil {
		t.Fatal(info, err)
	}
	s.status.Store(http.StatusInternalServerError)
	clock.Advance(11 * time.Second)
	if _, err := in.Introspect(context.Background(), "tok"); !errors.Is(err, rsvalidate.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestIntrospect401IsAConfigurationError(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	s.answer("tok", map[string]any{"active": true})
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
	if info, _ := in.Introspect(context.Background(), "tok"); info == nil {
		t.Fatal("not active")
	}
	s.status.Store(http.StatusUnauthorized)
	for _, token := range []string{"other", "tok"} {
		clock.Advance(6 * time.Minute)
		info, err := in.Introspect(context.Background(), token)
		if info != nil || !errors.Is(err, ErrClientAuth) || !errors.Is(err, rsvalidate.ErrUnavailable) {
			t.Errorf("Introspect(%s) = %v, %v; want ErrClientAuth wrapping ErrUnavailable", token, info, err)
		}
	}
}

func TestIntrospectIgnoresEmptyAndHugeTokens(t *testing.T) {
	s := newASServer(t)
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{})
	for _, token := range []string{"", strings.Repeat("a", maxTokenLen+1)} {
		if info, err := in.Introspect(context.Background(), token); info != nil || err != nil {
			t.Errorf("Introspect(len %d) = %v, %v", len(token), info, err)
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestIntrospectCallerCancellation(t *testing.T) {
	s := newASServer(t)
	s.release = make(chan struct{})
	s.answer("tok", map[string]any{"active": true})
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := in.Introspect(ctx, "tok"); !errors.Is(err, rsvalidate.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	close(s.release) // the shared request goes on and fills the cache for the next caller
	deadline := time.Now().Add(2 * time.Second)
	for in.cached(sha256Of("tok")) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if info, err := in.Introspect(context.Background(), "tok"); info == nil || err != nil || s.requests.Load() != 1 {
		t.Fatalf("after cancellation = %v, %v, %d requests", info, err, s.requests.Load())
	}
}

func TestBasicAuthFormEncodesCredentials(t *testing.T) {
	const id, secret = "my:client%id", "p:a%s s+/="
	var gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":false}`))
	}))
	defer srv.Close()
	in, err := NewIntrospector(srv.Client(), srv.URL, id, secret, IntrospectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Introspect(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(gotHeader, "Basic "))
	if err != nil {
		t.Fatal(err)
	}
	if want := "my%3Aclient%25id:p%3Aa%25s+s%2B%2F%3D"; string(raw) != want {
		t.Errorf("credentials = %q, want %q", raw, want)
	}
	encID, encSecret, _ := strings.Cut(string(raw), ":")
	if gotID, _ := url.QueryUnescape(encID); gotID != id {
		t.Errorf("id round trip = %q", gotID)
	}
	if gotSecret, _ := url.QueryUnescape(encSecret); gotSecret != secret {
		t.Errorf("secret round trip = %q", gotSecret)
	}
}

func TestNewIntrospectorValidates(t *testing.T) {
	if _, err := NewIntrospector(nil, "https://as.example/introspect", "", "x", IntrospectorOptions{}); err == nil {
		t.Error("empty client_id accepted")
	}
	if _, err := NewIntrospector(nil, "/introspect", "id", "x", IntrospectorOptions{}); err == nil {
		t.Error("relative endpoint accepted")
	}
}

// TestIntrospectForget: a forgotten answer is asked again (the revocation stream said the
// token was revoked), and another token's cached answer stays.
func TestIntrospectForget(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	exp := clock.Now().Unix() + 3600
	s.answer("revoked", map[string]any{"active": true, "exp": exp})
	s.answer("kept", map[string]any{"active": true, "exp": exp})
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{})
	ctx := context.Background()
	for _, tok := range []string{"revoked", "kept"} {
		if info, err := in.Introspect(ctx, tok); err != nil || info == nil {
			t.Fatalf("%s: %v %v", tok, info, err)
		}
	}
	in.cache.Wait()
	s.answer("revoked", map[string]any{"active": false})
	in.Forget(sha256.Sum256([]byte("revoked")))
	in.Forget(sha256.Sum256([]byte("never-seen")))
	if info, err := in.Introspect(ctx, "revoked"); err != nil || info != nil {
		t.Fatalf("after Forget: %v %v, want the AS's inactive answer", info, err)
	}
	before := s.requests.Load()
	if info, err := in.Introspect(ctx, "kept"); err != nil || info == nil || s.requests.Load() != before {
		t.Fatalf("the other token's answer was not kept cached: %v %v", info, err)
	}
}
