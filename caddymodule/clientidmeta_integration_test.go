package caddymodule

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestClientIDMetadataDocumentsThroughCaddy: a client ID URL resolves only when the
// client_id_metadata_documents block is there, discovery says so, and a bad document ends on an
// error page, never at its redirect URI. The document host is loopback http, the development
// case that allow_private permits (TLS is covered by authserver/clientidmeta's tests).
func TestClientIDMetadataDocumentsThroughCaddy(t *testing.T) {
	var fetches atomic.Int32
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		id := "http://" + r.Host + r.URL.Path
		m := map[string]any{"client_id": id, "client_name": "Caddy test MCP client", "redirect_uris": []string{"http://127.0.0.1:9/cb"}}
		if r.URL.Path == "/secret.json" {
			m["client_secret"] = "do-not-show"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	}))
	t.Cleanup(docs.Close)
	good, withSecret := docs.URL+"/client.json", docs.URL+"/secret.json"

	tc := newTestCaddy(t)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(clientID string) (int, string, string) {
		t.Helper()
		q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9/cb"},
			"scope": {"read"}, "state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		resp, err := noRedirects.Get(tc.issuer + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), html.UnescapeString(string(body))
	}
	supported := func() any {
		var meta map[string]any
		getJSON(t, tc.issuer+"/.well-known/oauth-authorization-server", &meta)
		return meta["client_id_metadata_document_supported"]
	}

	// Off by default: the URL is an unknown client, and nothing is fetched.
	if err := tc.load(t, tc.optionsCaddyfile("", "", "")); err != nil {
		t.Fatal(err)
	}
	if v := supported(); v != nil {
		t.Errorf("discovery advertises client_id_metadata_document_supported = %v while off", v)
	}
	if status, loc, body := authorize(good); loc != "" || !strings.Contains(body, "unknown or disabled") {
		t.Errorf("off: %d %q", status, loc)
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("%d fetches while off", n)
	}

	// On, without allow_private: the loopback document host is refused.
	if err := tc.load(t, tc.optionsCaddyfile("client_id_metadata_documents", "", "")); err != nil {
		t.Fatal(err)
	}
	if v := supported(); v != true {
		t.Errorf("discovery: client_id_metadata_document_supported = %v", v)
	}
	if status, loc, body := authorize(good); loc != "" || status < 400 || !strings.Contains(body, "not a valid client ID URL") {
		t.Errorf("http client ID without allow_private: %d %q %s", status, loc, body)
	}

	// With allow_private (development), the document is used and the user asked to sign in.
	if err := tc.load(t, tc.optionsCaddyfile("client_id_metadata_documents {\n allow_private\n resources "+tc.issuer+"/api\n }", "", "")); err != nil {
		t.Fatal(err)
	}
	status, loc, body := authorize(good)
	if status != http.StatusOK || loc != "" || !strings.Contains(body, `name="password"`) || !strings.Contains(body, "Caddy test MCP client") {
		t.Fatalf("good document: %d %q, want the sign-in page for the client: %s", status, loc, body)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	status, loc, body = authorize(withSecret)
	if loc != "" || status < 400 || !strings.Contains(body, "invalid_client") || !strings.Contains(body, "must not contain client_secret") || strings.Contains(body, "do-not-show") {
		t.Errorf("document with a secret: %d %q %s", status, loc, body)
	}
}
