package clientidmeta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// page is what the document server answers on one path.
type page struct {
	status  int
	body    string
	ctype   string
	headers map[string]string
	delay   time.Duration
}

// docServer serves client ID metadata documents over TLS and counts fetches per path.
type docServer struct {
	*httptest.Server
	mu    sync.Mutex
	pages map[string]page
	hits  map[string]*atomic.Int32
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{pages: map[string]page{}, hits: map[string]*atomic.Int32{}}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *docServer) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	p, ok := d.pages[r.URL.Path]
	if c := d.hits[r.URL.Path]; c != nil {
		c.Add(1)
	}
	d.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range p.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", cmpOr(p.ctype, "application/json"))
	w.WriteHeader(cmpOr(p.status, http.StatusOK))
	_, _ = w.Write([]byte(p.body))
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// publish serves p at path and returns the document's URL (its client ID).
func (d *docServer) publish(path string, p page) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pages[path] = p
	if d.hits[path] == nil {
		d.hits[path] = new(atomic.Int32)
	}
	return d.URL + path
}

func (d *docServer) fetches(path string) int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.hits[path]; c != nil {
		return c.Load()
	}
	return 0
}

// doc is a valid public client's document for id, changed by edit.
func doc(id string, edit func(m map[string]any)) string {
	m := map[string]any{
		"client_id":     id,
		"client_name":   "Example MCP client",
		"redirect_uris": []string{"http://127.0.0.1:33418/callback", "https://app.example/cb"},
		"scope":         "openid profile",
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testEnv = spec.Env{SigningAlgs: []string{"RS256", "ES256"}, EnforceLinks: true}

// newResolver trusts srv's certificate and allows its loopback address.
func newResolver(t *testing.T, srv *docServer, edit func(*Config)) (*Resolver, *clock) {
	t.Helper()
	cfg := Config{Enabled: true, AllowPrivate: true, Timeout: 2 * time.Second,
		RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	if edit != nil {
		edit(&cfg)
	}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r, err := New(cfg, testEnv, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func publicJWKS(t *testing.T, private bool) json.RawMessage {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	return b
}

func TestResolveValidDocuments(t *testing.T) {
	srv := newDocServer(t)
	r, _ := newResolver(t, srv, func(c *Config) { c.Resources = []string{"https://mcp.example/api"} })

	public := srv.publish("/public.json", page{})
	srv.publish("/public.json", page{body: doc(public, func(m map[string]any) {
		// Privileges only the operator grants are ignored, like unknown members.
		m["skip_consent"] = true
		m["pkce_optional"] = true
		m["resources"] = []string{"https://admin.example/api"}
		m["introspects"] = []string{"https://admin.example/api"}
		m["sector_identifier"] = "victim.example"
		m["redirect_uri_any_loopback_port"] = true
	})})
	c, err := r.Resolve(context.Background(), public)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != public || c.Source != store.SourceMetadataDocument || c.TokenEndpointAuthMethod != spec.AuthNone ||
		c.SecretHash != "" || c.SecretSealed != nil || c.Name != "Example MCP client" ||
		strings.Join(c.GrantTypes, " ") != "authorization_code" || len(c.RedirectURIs) != 2 ||
		strings.Join(c.Scopes, " ") != "openid profile" {
		t.Errorf("public client = %+v", c)
	}
	if c.SkipConsent || c.PKCEOptional || c.SectorIdentifier != "" || c.RedirectURIAnyLoopbackPort {
		t.Errorf("the document granted itself a privilege: %+v", c)
	}
	if c.DefaultResource != "https://mcp.example/api" || !r.MayGetTokens("https://mcp.example/api") || r.MayGetTokens("https://admin.example/api") {
		t.Errorf("resources: default %q", c.DefaultResource)
	}

	pkjwt := srv.publish("/pkjwt.json", page{})
	srv.publish("/pkjwt.json", page{ctype: "application/client-metadata+json", body: doc(pkjwt, func(m map[string]any) {
		m["token_endpoint_auth_method"] = "private_key_jwt"
		m["jwks"] = publicJWKS(t, false)
		m["grant_types"] = []string{"authorization_code", "refresh_token"}
	})})
	c, err = r.Resolve(context.Background(), pkjwt)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != spec.AuthPrivateKey || c.JWKS == "" || len(c.GrantTypes) != 2 {
		t.Errorf("private_key_jwt client = %+v", c)
	}
}

func TestResolveRefusals(t *testing.T) {
	srv := newDocServer(t)
	cases := []struct {
		name string
		page func(id string) page
		want string // in the description
	}{
		{"client_id mismatch", func(id string) page { return page{body: doc(id+"x", nil)} }, "does not match its URL"},
		{"client_id differs only in letter case", func(id string) page {
			return page{body: doc(strings.Replace(id, "https://", "HTTPS://", 1), nil)}
		}, "does not match its URL"},
		{"client_secret", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["client_secret"] = "s3cret" })}
		}, "must not contain client_secret"},
		{"client_secret_expires_at", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["client_secret_expires_at"] = 0 })}
		}, "must not contain client_secret_expires_at"},
		{"shared-secret auth method", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic" })}
		}, "only none or private_key_jwt"},
		{"client_credentials", func(id string) page {
			return page{body: doc(id, func(m map[string]any) {
				m["token_endpoint_auth_method"] = "private_key_jwt"
				m["jwks"] = publicJWKS(t, false)
				m["grant_types"] = []string{"client_credentials"}
			})}
		}, "only authorization_code and refresh_token"},
		{"private key in jwks", func(id string) page {
			return page{body: doc(id, func(m map[string]any) {
				m["token_endpoint_auth_method"] = "private_key_jwt"
				m["jwks"] = publicJWKS(t, true)
			})}
		}, "jwks: must hold public keys only"},
		{"http redirect URI off loopback", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["redirect_uris"] = []string{"http://evil.example/cb"} })}
		}, "redirect_uris: http is allowed only on loopback"},
		{"too large", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["client_name"] = strings.Repeat("x", 6000) })}
		}, "larger than 5120 bytes"},
		{"slow", func(id string) page { return page{body: doc(id, nil), delay: 3 * time.Second} }, "timed out"},
		{"not found", func(id string) page { return page{status: http.StatusNotFound, body: "{}"} }, "HTTP status 404"},
		{"redirect", func(id string) page {
			return page{status: http.StatusFound, headers: map[string]string{"Location": "/public.json"}}
		}, "redirects are not followed"},
		{"not JSON media type", func(id string) page { return page{body: doc(id, nil), ctype: "text/html"} }, "not served as JSON"},
		{"not an object", func(id string) page { return page{body: `["client_id"]`} }, "not a JSON object"},
		{"wrong member type", func(id string) page {
			return page{body: doc(id, func(m map[string]any) { m["redirect_uris"] = "https://app.example/cb" })}
		}, "member of the wrong type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newResolver(t, srv, func(cfg *Config) {
				if c.name == "slow" { // the others keep the default 2 s: a loaded CI machine must not turn them into timeouts
					cfg.Timeout = 300 * time.Millisecond
				}
			})
			path := "/" + strings.ReplaceAll(c.name, " ", "-")
			id := srv.publish(path, page{})
			srv.publish(path, c.page(id))
			_, err := r.Resolve(context.Background(), id)
			var de *Error
			if !errors.As(err, &de) || !strings.Contains(de.Description, c.want) {
				t.Fatalf("Resolve = %v, want a description with %q", err, c.want)
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Error("a refusal must look like an unknown client to the rest of the server")
			}
			if strings.Contains(de.Description, srv.URL) || strings.Contains(de.Description, "s3cret") {
				t.Errorf("description quotes the request: %q", de.Description)
			}
			if _, ok := r.cached(id); ok {
				t.Error("a refused document was cached")
			}
		})
	}
}

func TestClientIDURLRules(t *testing.T) {
	srv := newDocServer(t)
	good := srv.publish("/ok.json", page{})
	srv.publish("/ok.json", page{body: doc(good, nil)})
	cases := []struct {
		name   string
		id     string
		strict bool // AllowPrivate off
		hosts  []string
		want   string
	}{
		{"no path", srv.URL, false, nil, "not a valid client ID URL"},
		{"fragment", good + "#x", false, nil, "not a valid client ID URL"},
		{"user info", strings.Replace(good, "https://", "https://user@", 1), false, nil, "not a valid client ID URL"},
		{"dot segment", srv.URL + "/a/../ok.json", false, nil, "not a valid client ID URL"},
		{"single dot segment", srv.URL + "/./ok.json", false, nil, "not a valid client ID URL"},
		{"too long", srv.URL + "/" + strings.Repeat("a", spec.MaxClientIDLength), false, nil, "not a valid client ID URL"},
		{"http off loopback", "http://app.example/client.json", false, nil, "not a valid client ID URL"},
		{"http on loopback needs allow_private", strings.Replace(good, "https://", "http://", 1), true, nil, "not a valid client ID URL"},
		{"loopback refused by default", good, true, nil, "private or reserved address"},
		{"metadata service refused by default", "https://169.254.169.254/latest/meta-data", true, nil, "private or reserved address"},
		{"host not allowed", good, false, []string{"clients.example", "*.mcp.example"}, "not accepted here"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newResolver(t, srv, func(cfg *Config) {
				cfg.AllowPrivate = !c.strict
				cfg.AllowedHosts = c.hosts
			})
			_, err := r.Resolve(context.Background(), c.id)
			var de *Error
			if !errors.As(err, &de) || !strings.Contains(de.Description, c.want) {
				t.Fatalf("Resolve(%s) = %v, want %q", c.id, err, c.want)
			}
		})
	}
	if n := srv.fetches("/ok.json"); n != 0 {
		t.Errorf("refused client IDs were fetched %d times", n)
	}
	t.Run("allowed host", func(t *testing.T) {
		r, _ := newResolver(t, srv, func(cfg *Config) { cfg.AllowedHosts = []string{"other.example", "127.0.0.1"} })
		if _, err := r.Resolve(context.Background(), good); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCacheLifetime(t *testing.T) {
	srv := newDocServer(t)
	cases := []struct {
		name    string
		headers map[string]string
		fresh   time.Duration // still cached just before this
	}{
		{"max-age", map[string]string{"Cache-Control": "public, max-age=600"}, 600 * time.Second},
		{"max-age under the minimum", map[string]string{"Cache-Control": "max-age=5"}, DefaultCacheMin},
		{"max-age over the maximum", map[string]string{"Cache-Control": "max-age=31536000"}, 2 * time.Hour},
		{"no-store", map[string]string{"Cache-Control": "no-store"}, DefaultCacheMin},
		{"no headers", nil, DefaultCacheMin},
		{"Expires", map[string]string{"Expires": time.Now().Add(30 * time.Minute).UTC().Format(http.TimeFormat)}, 30*time.Minute - 5*time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, clk := newResolver(t, srv, func(cfg *Config) { cfg.CacheMax = 2 * time.Hour })
			path := "/" + strings.ReplaceAll(c.name, " ", "-")
			id := srv.publish(path, page{})
			srv.publish(path, page{body: doc(id, nil), headers: c.headers})
			resolve := func() {
				t.Helper()
				if _, err := r.Resolve(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			resolve()
			clk.Add(c.fresh - 2*time.Second)
			resolve()
			if n := srv.fetches(path); n != 1 {
				t.Fatalf("%d fetches within the lifetime, want 1", n)
			}
			clk.Add(15 * time.Second)
			resolve()
			if n := srv.fetches(path); n != 2 {
				t.Fatalf("%d fetches after the lifetime, want 2", n)
			}
		})
	}
}

// TestFailuresAreNotCached: the draft forbids caching error responses and invalid documents,
// so a fixed document is used at once.
func TestFailuresAreNotCached(t *testing.T) {
	srv := newDocServer(t)
	r, _ := newResolver(t, srv, nil)
	id := srv.publish("/flaky.json", page{status: http.StatusServiceUnavailable})
	for _, broken := range []page{{status: http.StatusServiceUnavailable}, {body: doc(id+"-other", nil)}} {
		srv.publish("/flaky.json", broken)
		if _, err := r.Resolve(context.Background(), id); err == nil {
			t.Fatal("a broken document resolved")
		}
	}
	srv.publish("/flaky.json", page{body: doc(id, nil)})
	if _, err := r.Resolve(context.Background(), id); err != nil {
		t.Fatalf("fixed document: %v", err)
	}
	if n := srv.fetches("/flaky.json"); n != 3 {
		t.Errorf("%d fetches, want 3 (one per lookup until one succeeded)", n)
	}
}

func TestConcurrentLookupsFetchOnce(t *testing.T) {
	srv := newDocServer(t)
	r, _ := newResolver(t, srv, nil)
	id := srv.publish("/busy.json", page{})
	srv.publish("/busy.json", page{body: doc(id, nil), delay: 200 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := r.Resolve(context.Background(), id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.fetches("/busy.json"); n != 1 {
		t.Errorf("%d fetches for 20 concurrent lookups, want 1", n)
	}
}

// TestCanceledCallerDoesNotFailOthers: the shared fetch outlives the request that started it.
func TestCanceledCallerDoesNotFailOthers(t *testing.T) {
	srv := newDocServer(t)
	r, _ := newResolver(t, srv, nil)
	id := srv.publish("/shared.json", page{})
	srv.publish("/shared.json", page{body: doc(id, nil), delay: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := r.Resolve(ctx, id); first <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if _, err := r.Resolve(context.Background(), id); err != nil {
		t.Fatalf("second caller: %v", err)
	}
	<-first
}

func TestCacheIsBounded(t *testing.T) {
	srv := newDocServer(t)
	r, _ := newResolver(t, srv, func(c *Config) { c.MaxEntries = 3 })
	for i := range 10 {
		path := "/c" + string(rune('a'+i)) + ".json"
		id := srv.publish(path, page{})
		srv.publish(path, page{body: doc(id, nil)})
		if _, err := r.Resolve(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.entries); n > 3 {
		t.Errorf("%d cached documents, limit 3", n)
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{Enabled: true}, ""},
		{"min over max", Config{CacheMin: time.Hour, CacheMax: time.Minute}, "cache_min must not exceed cache_max"},
		{"negative", Config{Timeout: -time.Second}, "must not be negative"},
		{"huge max size", Config{MaxBytes: 10 << 20}, "max_size"},
		{"bad host", Config{AllowedHosts: []string{"https://x.example"}}, "allowed_hosts"},
		{"upper-case host", Config{AllowedHosts: []string{"X.example"}}, "allowed_hosts"},
		{"relative resource", Config{Resources: []string{"/api"}}, "resources"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.WithDefaults()
			if c.want == "" {
				if err != nil || got.MaxBytes != DefaultMaxBytes || got.Timeout != DefaultTimeout || got.CacheMin != DefaultCacheMin || got.CacheMax != DefaultCacheMax {
					t.Fatalf("WithDefaults = %+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
