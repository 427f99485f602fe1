package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/internal/testport"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// These tests run a real Caddy (the whole process shares one instance, so they are not
// parallel) from a Caddyfile, the way users run it.

const (
	testSecret    = "q7Ry2mVx9LcT4wNbP0sKfJ8hUe3ZaGd6YiXo1Bn5MtW"
	testMasterKey = "test-master-key-with-at-least-32-characters"
)

type testCaddy struct {
	issuer, admin string
	dir           string
	upstream      *httptest.Server
}

// newTestCaddy picks free ports and a temp dir; start and reload load Caddyfiles built by
// caddyfile(extra), where extra goes inside oauth_server.
func newTestCaddy(t *testing.T) *testCaddy {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	tc := &testCaddy{
		issuer:   "http://127.0.0.1:" + freePort(t),
		admin:    "localhost:" + freePort(t),
		dir:      t.TempDir(),
		upstream: upstream,
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return tc
}

// globals is the global options block: the test's admin address, no autosaved config in
// the user's home, and logs only with -v.
func (tc *testCaddy) globals() string {
	logging := "log {\n output discard\n }"
	if testing.Verbose() {
		logging = ""
	}
	return fmt.Sprintf("{\n admin %s\n persist_config off\n %s\n}\n", tc.admin, logging)
}

func (tc *testCaddy) caddyfile(t *testing.T, storage, extra string) string {
	return tc.globals() + fmt.Sprintf(`%[1]s {
	reverse_proxy %[2]s
	oauth_server {
		issuer %[1]s
		%[3]s
		resource %[1]s/api {
			name "Example API"
			scopes read write
			signing_alg ES256
		}
		resource %[1]s/opaque-api {
			access_token_format opaque
		}
		client demo-service {
			secret %[4]s
			grant_types client_credentials
			scopes read write
			resources %[1]s/api %[1]s/opaque-api
		}
		%[5]s
	}
}`, tc.issuer, tc.upstream.URL, storage, testSecret, extra)
}

func (tc *testCaddy) storage() string {
	return fmt.Sprintf("storage sqlite %s\n master_key %s", filepath.Join(tc.dir, "oauth.db"), testMasterKey)
}

func (tc *testCaddy) load(t *testing.T, caddyfile string) error {
	t.Helper()
	cfg, err := adapt(caddyfile)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	return caddy.Load(cfg, false)
}

// freePort returns a loopback port for a site or admin endpoint the test names up front.
func freePort(t *testing.T) string { return testport.Free(t) }

func TestIntegration(t *testing.T) {
	tc := newTestCaddy(t)
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), "")); err != nil {
		t.Fatal(err)
	}
	storeKey := "sqlite\x00" + filepath.Join(tc.dir, "oauth.db")

	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
		Introspection string `json:"introspection_endpoint"`
	}
	getJSON(t, tc.issuer+"/.well-known/oauth-authorization-server", &meta)
	if meta.Issuer != tc.issuer || meta.TokenEndpoint != tc.issuer+"/token" || meta.JWKSURI == "" || meta.Introspection == "" {
		t.Fatalf("discovery = %+v", meta)
	}

	t.Run("other paths reach the next handler", func(t *testing.T) {
		for _, path := range []string{"/", "/api/things", "/.well-known/other"} {
			status, body := get(t, tc.issuer+path)
			if status != http.StatusOK || body != "upstream "+path {
				t.Errorf("GET %s = %d %q, want the upstream's answer", path, status, body)
			}
		}
	})

	jwtToken := requestToken(t, meta.TokenEndpoint, "demo-service", testSecret, tc.issuer+"/api", "read")
	opaqueToken := requestToken(t, meta.TokenEndpoint, "demo-service", testSecret, tc.issuer+"/opaque-api", "")

	t.Run("JWT verifies against the served JWKS", func(t *testing.T) {
		claims := verifyJWT(t, jwtToken, meta.JWKSURI)
		if claims.Issuer != tc.issuer || !claims.Audience.Contains(tc.issuer+"/api") {
			t.Errorf("claims = %+v", claims)
		}
		if strings.Count(opaqueToken, ".") == 2 {
			t.Errorf("opaque-api token looks like a JWT: %q", opaqueToken)
		}
	})

	t.Run("reload keeps tokens and keeps serving", func(t *testing.T) {
		// Hammer discovery while the configuration is replaced: every request must get the
		// full answer. A connection the old server generation accepted just as it shut down
		// can end in EOF (plain Caddy with only `respond` does the same); a client retries
		// that once, like net/http does for idempotent requests on reused connections.
		var failures, served atomic.Int64
		var firstFailure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := fetchDiscovery(tc.issuer)
				if err != nil && !isStatusError(err) {
					err = fetchDiscovery(tc.issuer)
				}
				if err != nil {
					firstFailure.CompareAndSwap(nil, err.Error())
					failures.Add(1)
				} else {
					served.Add(1)
				}
			}
		})
		extra := `client second-service {
			secret 9fK2pQ7vLx4mN8rT1wZc6bH3jY5dS0aGeUoViRnXtMk
			scopes read
			resources ` + tc.issuer + `/api
		}
		client opaque-gateway {
			secret Qp3Lr6Ns9Ot2Pu5Qv8Rw1Sx4Ty7Uz0Va3Wb6Xc9Yd2Z
			introspects ` + tc.issuer + `/opaque-api
		}`
		err := tc.load(t, tc.caddyfile(t, tc.storage(), extra))
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if failures.Load() > 0 {
			t.Errorf("%d of %d requests failed during reload, first: %v", failures.Load(), failures.Load()+served.Load(), firstFailure.Load())
		}
		if refs, _ := stores.References(storeKey); refs != 1 {
			t.Errorf("store references after reload = %d, want 1 (reused, old generation released)", refs)
		}
		for name, tok := range map[string]string{"jwt": jwtToken, "opaque": opaqueToken} {
			if !introspect(t, meta.Introspection, "demo-service", testSecret, tok) {
				t.Errorf("%s token issued before the reload is inactive after it", name)
			}
		}
		// The added clients work: second-service gets tokens for /api but learns nothing about
		// demo-service's; opaque-gateway introspects the opaque API's tokens and nothing else.
		requestToken(t, meta.TokenEndpoint, "second-service", "9fK2pQ7vLx4mN8rT1wZc6bH3jY5dS0aGeUoViRnXtMk", tc.issuer+"/api", "read")
		if introspect(t, meta.Introspection, "second-service", "9fK2pQ7vLx4mN8rT1wZc6bH3jY5dS0aGeUoViRnXtMk", jwtToken) {
			t.Error("a client with tokens for /api introspected another client's token for it")
		}
		const gwSecret = "Qp3Lr6Ns9Ot2Pu5Qv8Rw1Sx4Ty7Uz0Va3Wb6Xc9Yd2Z"
		if !introspect(t, meta.Introspection, "opaque-gateway", gwSecret, opaqueToken) {
			t.Error("introspects: the opaque API's gateway cannot introspect its tokens")
		}
		if introspect(t, meta.Introspection, "opaque-gateway", gwSecret, jwtToken) {
			t.Error("introspects: the opaque API's gateway introspected a token of another resource")
		}
	})

	t.Run("admin API rotates keys", func(t *testing.T) {
		adminURL := "http://" + tc.admin + "/oauth/keys/rotate"
		status, body := post(t, adminURL, `{"issuer": "`+tc.issuer+`", "alg": "ES256"}`)
		if status != http.StatusOK {
			t.Fatalf("rotate = %d %s", status, body)
		}
		var out struct {
			KID string `json:"kid"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || out.KID == "" {
			t.Fatalf("rotate response %q: %v", body, err)
		}
		var set jose.JSONWebKeySet
		getJSON(t, meta.JWKSURI, &set)
		if len(set.Key(out.KID)) != 1 {
			t.Errorf("new kid %s is not published in the JWKS", out.KID)
		}
		verifyJWT(t, jwtToken, meta.JWKSURI) // the retired key stays published
		fresh := requestToken(t, meta.TokenEndpoint, "demo-service", testSecret, tc.issuer+"/api", "read")
		if tok, err := jwt.ParseSigned(fresh, []jose.SignatureAlgorithm{jose.ES256}); err != nil || tok.Headers[0].KeyID != out.KID {
			t.Errorf("token after rotation is not signed with the new key %s (err %v)", out.KID, err)
		}

		for _, tt := range []struct{ body, want string }{
			{`{"issuer": "https://nope.example", "alg": "ES256"}`, "unknown issuer"},
			{`{"issuer": "` + tc.issuer + `"}`, "alg is required"},
			{`{"issuer": "` + tc.issuer + `", "alg": "none"}`, "unsupported value"},
			{`{"issuer": "` + tc.issuer + `", "alg": "ES256", "x": 1}`, "unknown field"},
		} {
			if status, body := post(t, adminURL, tt.body); status < 400 || !strings.Contains(body, tt.want) {
				t.Errorf("rotate %s = %d %s, want an error containing %q", tt.body, status, body, tt.want)
			}
		}
	})

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if refs, ok := stores.References(storeKey); ok {
		t.Errorf("store still referenced %d times after stop", refs)
	}
}

// TestDefaultStorage runs without storage or master_key: both land in Caddy's data dir.
func TestDefaultStorage(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	tc := newTestCaddy(t)
	if err := tc.load(t, tc.caddyfile(t, "", "")); err != nil {
		t.Fatal(err)
	}
	var meta struct{ Issuer string }
	getJSON(t, tc.issuer+"/.well-known/openid-configuration", &meta)
	if meta.Issuer != tc.issuer {
		t.Fatalf("issuer = %q", meta.Issuer)
	}
	dir := filepath.Join(data, "caddy", "oauth")
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("master key file: %v (mode %v), want a private file", err, fi.Mode())
	}
	if dbs, _ := filepath.Glob(filepath.Join(dir, "127.0.0.1_*-*.db")); len(dbs) != 1 {
		t.Errorf("databases in %s: %v, want one named after the issuer", dir, dbs)
	}
}

// TestDuplicateIssuerRejected checks that one issuer cannot be served twice and that the
// failed load releases the store it opened.
func TestDuplicateIssuerRejected(t *testing.T) {
	tc := newTestCaddy(t)
	port := strings.TrimPrefix(tc.issuer, "http://127.0.0.1:")
	cf := tc.globals() + fmt.Sprintf(`(as) {
	oauth_server {
		issuer %s
		%s
	}
}
http://127.0.0.1:%s {
	import as
}
http://localhost:%s {
	import as
}`, tc.issuer, tc.storage(), port, port)
	err := tc.load(t, cf)
	if err == nil || !strings.Contains(err.Error(), "declare it once") {
		t.Fatalf("load error = %v, want the duplicate issuer refused", err)
	}
	if refs, ok := stores.References("sqlite\x00" + filepath.Join(tc.dir, "oauth.db")); ok {
		t.Errorf("failed load left the store referenced %d times", refs)
	}
}

type statusError struct{ status string }

func (e statusError) Error() string { return "status " + e.status }

func isStatusError(err error) bool {
	_, ok := err.(statusError)
	return ok
}

// fetchDiscovery fetches the metadata document and checks it is complete.
func fetchDiscovery(issuer string) error {
	resp, err := client.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var meta struct{ Issuer string }
	if resp.StatusCode != http.StatusOK {
		return statusError{resp.Status}
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || meta.Issuer != issuer {
		return statusError{"200 with a bad body"}
	}
	return nil
}

// client opens a connection per request: a pooled keep-alive connection may be closed by
// the old server generation just as a reload finishes, and POSTs are not retried on that.
var client = &http.Client{Transport: resetRetrier{&http.Transport{DisableKeepAlives: true}}}

// resetRetrier sends a request again, a few times, when the connection is reset before any
// answer. caddy.Load returns while the previous configuration's server is still shutting
// down, and a connection it accepted in that instant is reset (seen under load in CI). The
// tests measure what the handlers answer, not Caddy's reload; an HTTP answer, whatever its
// status, is never retried, and neither is a request whose body cannot be sent again.
type resetRetrier struct{ next http.RoundTripper }

func (r resetRetrier) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := r.next.RoundTrip(req)
		if err == nil || attempt == 4 || !errors.Is(err, syscall.ECONNRESET) || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		if req.GetBody != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return resp, err
			}
			req.Body = body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := client.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	status, body := get(t, u)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func postForm(t *testing.T, endpoint, user, pass string, form url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func requestToken(t *testing.T, endpoint, client, secret, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body := postForm(t, endpoint, client, secret, form)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AccessToken == "" || !strings.EqualFold(out.TokenType, "Bearer") {
		t.Fatalf("token request for %s = %d %s", resource, status, body)
	}
	return out.AccessToken
}

func introspect(t *testing.T, endpoint, client, secret, token string) bool {
	t.Helper()
	status, body := postForm(t, endpoint, client, secret, url.Values{"token": {token}})
	var out struct {
		Active bool `json:"active"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("introspection = %d %s", status, body)
	}
	return out.Active
}

func verifyJWT(t *testing.T, token, jwksURI string) jwt.Claims {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parsing access token: %v", err)
	}
	if typ := tok.Headers[0].ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	var set jose.JSONWebKeySet
	getJSON(t, jwksURI, &set)
	var claims jwt.Claims
	if err := tok.Claims(set, &claims); err != nil {
		t.Fatalf("access token does not verify against %s: %v", jwksURI, err)
	}
	return claims
}
