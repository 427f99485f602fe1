package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// documentHost serves client ID metadata documents over TLS (as the draft requires) and
// counts fetches.
type documentHost struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]string
	hits atomic.Int32
}

func newDocumentHost(t *testing.T) *documentHost {
	t.Helper()
	h := &documentHost{docs: map[string]string{}}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		h.mu.Lock()
		body, ok := h.docs[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(h.Close)
	return h
}

// publish serves the document made by build(clientID) at path and returns the client ID.
func (h *documentHost) publish(path string, build func(id string) map[string]any) string {
	id := h.URL + path
	b, _ := json.Marshal(build(id))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.docs[path] = string(b)
	return id
}

// mcpClient is a public client's document, as an MCP client would publish it.
func mcpClient(id string) map[string]any {
	return map[string]any{
		"client_id":     id,
		"client_name":   "MCP Inspector",
		"redirect_uris": []string{spaRedirect},
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scope":         "openid profile offline_access read",
	}
}

// documentsServer is a flow server that resolves client ID URLs on h, lets those clients get
// tokens for jwtResource, and trusts h's certificate and loopback address.
func documentsServer(t *testing.T, h *documentHost, edit func(*clientidmeta.Config)) *testServer {
	return newFlowServer(t, func(c *Config) {
		c.ClientIDMetadataDocuments = clientidmeta.Config{Enabled: true, AllowPrivate: true,
			RootCAs: h.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Resources: []string{jwtResource}}
		if edit != nil {
			edit(&c.ClientIDMetadataDocuments)
		}
	})
}

func documentAuthURL(clientID string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {spaRedirect}, "scope": {"openid profile offline_access read"}}
	for k, v := range extra {
		q[k] = v
	}
	return authURL(q)
}

func TestClientIDMetadataDocumentCodeFlow(t *testing.T) {
	h := newDocumentHost(t)
	ts := documentsServer(t, h, nil)
	clientID := h.publish("/mcp/client.json", mcpClient)

	if b := ts.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{}).body; b["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery: client_id_metadata_document_supported = %v", b["client_id_metadata_document_supported"])
	}

	b := ts.browser()
	consent := b.do(http.MethodGet, documentAuthURL(clientID, nil), nil)
	consent = b.follow(b.submit(consent, url.Values{"username": {"alice"}, "password": {alicePassword}}))
	if !strings.Contains(consent.body, "MCP Inspector") || !strings.Contains(html.UnescapeString(consent.body), clientID) {
		t.Fatalf("the consent page should name the client and show its client ID URL: %s", consent.body)
	}
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}}), spaRedirect)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {spaRedirect},
		"code_verifier": {testVerifier}, "client_id": {clientID}}
	res := ts.do(http.MethodPost, "/token", form, [2]string{})
	if res.status != http.StatusOK {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	if aud, _ := claims["aud"].([]any); claims["client_id"] != clientID || len(aud) == 0 || aud[0] != jwtResource {
		t.Errorf("access token claims = %v", claims)
	}
	if _, ok := res.body["refresh_token"].(string); !ok {
		t.Errorf("no refresh token: %v", res.body)
	}

	// Only the resources the configuration opens to such clients.
	b2 := ts.browser()
	p := b2.do(http.MethodGet, documentAuthURL(clientID, url.Values{"resource": {opqResource}}), nil)
	if p.status == http.StatusOK && strings.Contains(p.body, `name="password"`) {
		p = b2.follow(b2.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}}))
	}
	if q := callback(t, p, spaRedirect); q.Get("error") != "invalid_target" {
		t.Errorf("unlisted resource: %v", q)
	}
	if n := h.hits.Load(); n != 1 {
		t.Errorf("the document was fetched %d times, want 1 (cached per Cache-Control)", n)
	}
}

func TestClientIDMetadataDocumentPrivateKeyJWT(t *testing.T) {
	h := newDocumentHost(t)
	ts := documentsServer(t, h, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	clientID := h.publish("/confidential.json", func(id string) map[string]any {
		m := mcpClient(id)
		m["token_endpoint_auth_method"] = "private_key_jwt"
		m["jwks"] = json.RawMessage(set)
		return m
	})
	cb := ts.browser().signIn(documentAuthURL(clientID, nil))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {spaRedirect},
		"code_verifier": {testVerifier}, "client_id": {clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}

	// Without the assertion the confidential client is refused; with it, it gets its tokens.
	if res := ts.do(http.MethodPost, "/token", form, [2]string{}); res.status != http.StatusUnauthorized && res.status != http.StatusBadRequest {
		t.Fatalf("no assertion: %d %s", res.status, res.raw)
	}
	form.Set("client_assertion", signAssertion(t, key, "k1", clientID, time.Unix(ts.now.Load(), 0)))
	if res := ts.do(http.MethodPost, "/token", form, [2]string{}); res.status != http.StatusOK {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
}

// TestClientIDMetadataDocumentRefusals: a document that cannot be used ends the request on an
// error page naming the reason — never a redirect to its (unverified) redirect URIs.
func TestClientIDMetadataDocumentRefusals(t *testing.T) {
	h := newDocumentHost(t)
	withSecret := h.publish("/secret.json", func(id string) map[string]any {
		m := mcpClient(id)
		m["client_secret"] = "s3cret"
		return m
	})
	mismatch := h.publish("/mismatch.json", func(id string) map[string]any { return mcpClient(id + "?v=2") })
	huge := h.publish("/huge.json", func(id string) map[string]any {
		m := mcpClient(id)
		m["client_name"] = strings.Repeat("A", 6000)
		return m
	})
	basic := h.publish("/basic.json", func(id string) map[string]any {
		m := mcpClient(id)
		m["token_endpoint_auth_method"] = "client_secret_basic"
		return m
	})
	cases := []struct {
		name     string
		clientID string
		strict   bool // no AllowPrivate: the loopback document host is off limits
		want     string
	}{
		{"client_secret", withSecret, false, "must not contain client_secret"},
		{"client_id mismatch", mismatch, false, "does not match its URL"},
		{"too large", huge, false, "larger than 5120 bytes"},
		{"shared-secret method", basic, false, "only none or private_key_jwt"},
		{"missing document", h.URL + "/nothing.json", false, "HTTP status 404"},
		{"private address", h.publish("/ok.json", mcpClient), true, "private or reserved address"},
		{"no path", h.URL, false, "not a valid client ID URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := documentsServer(t, h, func(cfg *clientidmeta.Config) { cfg.AllowPrivate = !c.strict })
			p := ts.browser().do(http.MethodGet, documentAuthURL(c.clientID, nil), nil)
			if p.location != "" || p.status < 400 {
				t.Fatalf("want an error page, got %d (Location %q)", p.status, p.location)
			}
			body := html.UnescapeString(p.body)
			if !strings.Contains(body, "invalid_client") || !strings.Contains(body, c.want) {
				t.Errorf("error page lacks invalid_client / %q: %s", c.want, body)
			}
			if strings.Contains(body, "s3cret") {
				t.Error("the page quotes the document")
			}
			// The token endpoint treats it as an unknown client.
			res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {c.clientID}}, [2]string{})
			if res.status != http.StatusUnauthorized || res.body["error"] != "invalid_client" {
				t.Errorf("token endpoint: %d %s", res.status, res.raw)
			}
		})
	}
}

func TestClientIDMetadataDocumentsOffByDefault(t *testing.T) {
	h := newDocumentHost(t)
	clientID := h.publish("/client.json", mcpClient)
	ts := newFlowServer(t, nil)
	if b := ts.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, [2]string{}).body; b["client_id_metadata_document_supported"] != nil {
		t.Errorf("discovery advertises client_id_metadata_document_supported = %v while off", b["client_id_metadata_document_supported"])
	}
	p := ts.browser().do(http.MethodGet, documentAuthURL(clientID, nil), nil)
	if p.location != "" || !strings.Contains(p.body, "unknown or disabled") {
		t.Errorf("want the unknown-client page, got %d %q", p.status, p.location)
	}
	if n := h.hits.Load(); n != 0 {
		t.Errorf("the document was fetched %d times while the feature is off", n)
	}
}

// TestPreRegisteredClientIDURL: a stored client with a URL as its ID wins over the document
// (the draft's pre-registration), and is never fetched.
func TestPreRegisteredClientIDURL(t *testing.T) {
	h := newDocumentHost(t)
	clientID := h.publish("/pinned.json", mcpClient)
	ts := newFlowServer(t, func(c *Config) {
		c.ClientIDMetadataDocuments = clientidmeta.Config{Enabled: true, AllowPrivate: true,
			RootCAs: h.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		c.Clients = append(c.Clients, ClientConfig{ID: clientID, Name: "Pinned by the operator",
			GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{spaRedirect}})
	})
	b := ts.browser()
	p := b.follow(b.do(http.MethodGet, documentAuthURL(clientID, url.Values{"resource": nil, "scope": {"openid profile"}}), nil))
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) || h.hits.Load() != 0 {
		t.Errorf("pre-registered client: %d %q, %d fetches", p.status, p.location, h.hits.Load())
	}
}

// TestDocumentClientTokenValidatesWithoutFetching: checking that a token's client is still
// live never fetches a metadata document, so a document host that is down does not make the
// client's tokens inactive at a gateway or at introspection.
func TestDocumentClientTokenValidatesWithoutFetching(t *testing.T) {
	h := newDocumentHost(t)
	// The resolver forgets the document after a minute; the token lives five.
	ts := documentsServer(t, h, func(c *clientidmeta.Config) { c.CacheMin, c.CacheMax = time.Second, time.Minute })
	clientID := h.publish("/mcp/client.json", mcpClient)
	b := ts.browser()
	consent := b.follow(b.submit(b.do(http.MethodGet, documentAuthURL(clientID, nil), nil), url.Values{"username": {"alice"}, "password": {alicePassword}}))
	cb := callback(t, b.submit(consent, url.Values{"decision": {"approve"}}), spaRedirect)
	res := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {spaRedirect}, "code_verifier": {testVerifier}, "client_id": {clientID}}, [2]string{})
	access, _ := res.body["access_token"].(string)
	if res.status != http.StatusOK || access == "" {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	fetched := h.hits.Load()
	h.Close()
	ts.now.Add(61)
	ts.srv.lookups.invalidate()
	if info, err := ts.srv.ActiveAccessToken(context.Background(), access); err != nil || info == nil {
		t.Fatalf("the token of a document client is inactive while its host is down: %v", err)
	}
	if ts.introspect("gateway", gwSecret, access)["active"] != true {
		t.Fatal("introspection: the token of a document client is inactive while its host is down")
	}
	if n := h.hits.Load(); n != fetched {
		t.Errorf("validating the token fetched the document %d times", n-fetched)
	}
}

// countingClients counts the store reads of each client ID.
type countingClients struct {
	store.Store
	reads sync.Map // id → *atomic.Int64
}

func (c *countingClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	n, _ := c.reads.LoadOrStore(id, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	return c.Store.GetClient(ctx, id)
}

// TestDocumentClientSkipsTheStoreWhenCached: that a metadata-document client ID has no stored
// row is cached like a stored client, so its requests after the first read neither the
// database nor the document host; a change to the store (a pre-registration) clears it.
func TestDocumentClientSkipsTheStoreWhenCached(t *testing.T) {
	h := newDocumentHost(t)
	counter := &countingClients{}
	ts := newFlowServerOpts(t, serverOptions{
		wrap: func(st store.Store) store.Store { counter.Store = st; return counter },
		edit: func(c *Config) {
			c.ClientIDMetadataDocuments = clientidmeta.Config{Enabled: true, AllowPrivate: true,
				RootCAs: h.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Resources: []string{jwtResource}}
		},
	})
	clientID := h.publish("/cached/client.json", mcpClient)
	reads := func() int64 {
		n, ok := counter.reads.Load(clientID)
		if !ok {
			return 0
		}
		return n.(*atomic.Int64).Load()
	}
	ctx := context.Background()
	for i := range 3 {
		c, err := ts.srv.lookups.GetClient(ctx, clientID)
		if err != nil || c.Source != store.SourceMetadataDocument {
			t.Fatalf("lookup %d: %+v %v", i, c, err)
		}
		ts.srv.lookups.clients.Wait()
	}
	if reads() != 1 || h.hits.Load() != 1 {
		t.Fatalf("3 lookups: %d store reads and %d fetches, want 1 and 1", reads(), h.hits.Load())
	}
	if live, err := ts.srv.clientIsLive(ctx, clientID); err != nil || !live || reads() != 1 {
		t.Fatalf("liveness: %v %v after %d store reads, want live from the cache", live, err, reads())
	}
	ts.srv.lookups.invalidate()
	if _, err := ts.srv.lookups.GetClient(ctx, clientID); err != nil || reads() != 2 {
		t.Fatalf("after a change: %v, %d store reads, want 2", err, reads())
	}
}
