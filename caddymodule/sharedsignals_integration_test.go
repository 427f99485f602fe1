package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// ssfRequest sends a JSON request with the gateway client's Basic credentials.
func ssfRequest(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("gateway", testSecret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSharedSignalsThroughCaddy: a real Caddy serves the transmitter from the Caddyfile: a
// resource-server client creates a stream, a revocation at /revoke reaches its poll as a SET
// verifiable with the JWKS, a waiting poll is answered (empty) when a reload replaces the
// server rather than hanging on, and `shared_signals off` hands the paths to the next handler.
func TestSharedSignalsThroughCaddy(t *testing.T) {
	tc := newTestCaddy(t)
	gateway := "client gateway {\n secret " + testSecret + "\n introspects " + tc.issuer + "/api\n }\n"
	on := tc.caddyfile(t, tc.storage(), "shared_signals {\n long_poll 1m\n }\n"+gateway)
	if err := tc.load(t, on); err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Issuer                string `json:"issuer"`
		ConfigurationEndpoint string `json:"configuration_endpoint"`
	}
	getJSON(t, tc.issuer+"/.well-known/ssf-configuration", &meta)
	if meta.Issuer != tc.issuer || meta.ConfigurationEndpoint != tc.issuer+"/ssf/streams" {
		t.Fatalf("metadata: %+v", meta)
	}
	status, body := ssfRequest(t, http.MethodPost, meta.ConfigurationEndpoint, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	var stream struct {
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &stream) != nil {
		t.Fatalf("create stream: %d %s", status, body)
	}
	pollURL := stream.Delivery.EndpointURL

	token := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "read")
	if status, body := postForm(t, tc.issuer+"/revoke", "demo-service", testSecret, url.Values{"token": {token}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	status, body = ssfRequest(t, http.MethodPost, pollURL, `{"returnImmediately":true}`)
	var resp struct {
		Sets map[string]string `json:"sets"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil || len(resp.Sets) != 1 {
		t.Fatalf("poll: %d %s", status, body)
	}
	var jwks jose.JSONWebKeySet
	getJSON(t, tc.issuer+"/jwks", &jwks)
	var acks []string
	for jti, compact := range resp.Sets {
		jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		keys := jwks.Key(jws.Signatures[0].Protected.KeyID)
		if len(keys) != 1 {
			t.Fatal("the SET's kid is not in the JWKS")
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			t.Fatal(err)
		}
		set, err := secevent.Decode(payload)
		if err != nil || set.Revocation == nil || set.Revocation.Kind != secevent.KindJTI || set.Audience[0] != "gateway" {
			t.Fatalf("SET: %+v %v", set, err)
		}
		acks = append(acks, jti)
	}

	// A long poll waiting when the config is reloaded is answered at once, empty.
	ackBody, _ := json.Marshal(map[string]any{"ack": acks})
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		s, b := ssfRequest(t, http.MethodPost, pollURL, string(ackBody))
		done <- result{s, b}
	}()
	time.Sleep(300 * time.Millisecond) // let the poll start waiting; the test holds either way
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), "shared_signals {\n long_poll 2m\n }\n"+gateway)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.status != http.StatusOK || r.body != `{"sets":{},"moreAvailable":false}` {
			t.Errorf("poll across reload: %d %s", r.status, r.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting poll outlived the reload")
	}

	// Off: the paths are the next handler's (the upstream here).
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), "shared_signals off\n"+gateway)); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, tc.issuer+"/.well-known/ssf-configuration"); status != http.StatusOK || !strings.HasPrefix(body, "upstream ") {
		t.Errorf("off: %d %s", status, body)
	}
}
