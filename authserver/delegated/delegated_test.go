package delegated

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const secret = "0123456789abcdef0123456789abcdef-test"

// memReplay is an in-memory ReplayStore.
type memReplay struct {
	mu   sync.Mutex
	used map[string]bool
}

func (m *memReplay) UseOnce(_ context.Context, key string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used[key] {
		return store.ErrConflict
	}
	m.used[key] = true
	return nil
}

func newAPI(t testing.TB, now *time.Time) *API {
	t.Helper()
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{LoginURL: "https://login.example/in?tenant=a", ConsentURL: "https://login.example/consent", APISecret: secret}
	if err := c.Validate(false); err != nil {
		t.Fatal(err)
	}
	return &API{Config: c, Issuer: "https://as.example", Base: "/oauth", CallbackURL: "https://as.example/oauth" + PathCallback,
		Sealer: seal, Replay: &memReplay{used: map[string]bool{}}, Now: func() time.Time { return *now }}
}

func call(a *API, method, target, body string) (*httptest.ResponseRecorder, map[string]any) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

// TestIssueAcceptOpen: a challenge keeps the app's URL's own query, carries its context, and
// its accept gives a verifier that opens to the interaction and the decision, once.
func TestIssueAcceptOpen(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := newAPI(t, &now)
	to, err := a.Issue(KindLogin, "binding", json.RawMessage(`{"id":"i1"}`), Context{Client: Client{ClientID: "web"}, RequestedScope: []string{"openid"}}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if u.Host != "login.example" || u.Query().Get("tenant") != "a" || u.Query().Get("login_challenge") == "" {
		t.Fatalf("redirect: %s", to)
	}
	ch := url.QueryEscape(u.Query().Get("login_challenge"))
	rec, ctx := call(a, http.MethodGet, "/oauth/delegated/login?login_challenge="+ch, "")
	if rec.Code != http.StatusOK || ctx["kind"] != "login" || ctx["expires_at"] != float64(now.Add(DefaultTTL).Unix()) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("context: %d %v", rec.Code, ctx)
	}
	rec, out := call(a, http.MethodPost, "/oauth/delegated/login/accept?login_challenge="+ch, `{"subject":"s1","amr":["pwd"]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("accept: %d %v", rec.Code, out)
	}
	ru, _ := url.Parse(out["redirect_to"].(string))
	v := a.Open(ru.Query().Get("verifier"))
	if v == nil || v.Kind != KindLogin || v.Binding != "binding" || string(v.Interaction) != `{"id":"i1"}` || v.Decision.Login.Subject != "s1" {
		t.Fatalf("verifier: %+v", v)
	}
	if err := a.Spend(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if err := a.Spend(context.Background(), v); err != store.ErrConflict {
		t.Fatalf("second spend: %v", err)
	}
	// Another issuer (same key) opens neither.
	b := *a
	b.Issuer = "https://other.example"
	if b.Open(ru.Query().Get("verifier")) != nil {
		t.Fatal("a verifier opened at another issuer")
	}
	now = now.Add(DefaultTTL + 2*time.Second)
	if a.Open(ru.Query().Get("verifier")) != nil {
		t.Fatal("an expired verifier opened")
	}
}

func TestOwns(t *testing.T) {
	now := time.Now()
	a := newAPI(t, &now)
	for path, want := range map[string]bool{
		"/oauth/delegated/login": true, "/oauth/delegated/consent/reject": true, "/oauth/delegated/login/x": false,
		"/delegated/login": false, "/oauth/delegated/callback": false, "/oauth/delegated/loginx": false,
	} {
		if a.Owns(path) != want {
			t.Errorf("Owns(%q) = %v", path, !want)
		}
	}
}

// FuzzAPI: whatever the challenge and body, the API answers a documented status with a JSON
// error or result, never a 500 or a panic.
func FuzzAPI(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	a := newAPI(f, &now)
	to, _ := a.Issue(KindConsent, "b", json.RawMessage(`{}`), Context{RequestedScope: []string{"openid", "email"}}, now.Add(time.Hour))
	u, _ := url.Parse(to)
	ch := u.Query().Get("consent_challenge")
	f.Add("consent/accept", ch, `{"grant_scope":["openid"],"remember":true,"id_token_claims":{"x":1}}`)
	f.Add("consent/reject", ch, `{"error":"access_denied","error_description":"no"}`)
	f.Add("login/accept", "x", `{"subject":"a","claims":{"address":{"country":1}}}`)
	f.Add("consent", ch, ``)
	f.Fuzz(func(t *testing.T, path, challenge, body string) {
		a.Replay = &memReplay{used: map[string]bool{}}
		method := http.MethodPut
		if !strings.Contains(path, "/") {
			method = http.MethodGet
		}
		kind, _, _ := strings.Cut(path, "/")
		target := "/oauth/delegated/" + url.PathEscape(path)
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL.Path = target
		req.URL.RawQuery = url.Values{kind + "_challenge": {challenge}}.Encode()
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusConflict, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("%s %s: status %d %s", method, target, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("not JSON: %s", rec.Body)
		}
	})
}
