package ssf

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// Test clients: gw1 and gw2 are resource-server clients, app is a client without an
// introspect link (forbidden).
var testSecrets = map[string]string{"gw1": "secret-1", "gw2": "secret-2", "app": "secret-app"}

func testAuth(r *http.Request) (string, error) {
	id, secret, ok := r.BasicAuth()
	if !ok || testSecrets[id] == "" || testSecrets[id] != secret {
		return "", ErrUnauthenticated
	}
	if id == "app" {
		return "", ErrForbidden
	}
	return id, nil
}

// joseSigner signs like keys.Manager: ES256, the given typ, a fixed kid.
type joseSigner struct{ key *ecdsa.PrivateKey }

func (j joseSigner) Sign(alg, kid, typ string, payload []byte) (string, error) {
	if alg != "ES256" || kid != "" {
		return "", errors.New("test signer: ES256, current key only")
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", "k1")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: j.key}, opts)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

type fixture struct {
	t      testing.TB
	srv    *Server
	st     store.Store
	http   *httptest.Server
	key    *ecdsa.PrivateKey
	logs   *observer.ObservedLogs
	issuer string
}

const testIssuer = "https://as.example/tenant"

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	return newFixtureOn(t, opts, openStore(t))
}

// newFixtureOn is newFixture on the given store.
func newFixtureOn(t testing.TB, opts Options, st store.Store) *fixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{t: t, st: st, key: key, logs: logs, issuer: testIssuer}
	f.srv, err = New(opts, Deps{
		Issuer:     testIssuer,
		JWKSURI:    testIssuer + "/jwks",
		Auth:       testAuth,
		Signer:     joseSigner{key},
		SigningAlg: "ES256",
		Store:      f.st,
		Logger:     zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Start()
	f.http = httptest.NewServer(f.srv)
	t.Cleanup(func() {
		f.http.Close()
		f.srv.Close()
	})
	return f
}

// do sends a request as client (no credentials when client is "") and returns the status,
// headers and body.
func (f *fixture) do(method, path, client, contentType string, body []byte) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if client != "" {
		req.SetBasicAuth(client, testSecrets[client])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (f *fixture) createStream(client string, body string) streamConfig {
	f.t.Helper()
	status, _, out := f.do(http.MethodPost, "/tenant/ssf/streams", client, "application/json", []byte(body))
	if status != http.StatusCreated {
		f.t.Fatalf("create stream: %d %s", status, out)
	}
	var cfg streamConfig
	if err := json.Unmarshal(out, &cfg); err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// pollPath is the path of a stream's poll endpoint.
func pollPath(cfg streamConfig) string {
	return strings.TrimPrefix(cfg.Delivery.EndpointURL, "https://as.example")
}

func (f *fixture) poll(client string, cfg streamConfig, req map[string]any) pollResponse {
	f.t.Helper()
	body, _ := json.Marshal(req)
	status, _, out := f.do(http.MethodPost, pollPath(cfg), client, "application/json", body)
	if status != http.StatusOK {
		f.t.Fatalf("poll: %d %s", status, out)
	}
	var resp pollResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// verify checks a SET's signature and header with go-jose and decodes it with secevent.
func (f *fixture) verify(compact string) *secevent.SET {
	f.t.Helper()
	jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := jws.Verify(&f.key.PublicKey)
	if err != nil {
		f.t.Fatalf("SET signature: %v", err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != secevent.Typ {
		f.t.Errorf("typ = %v, want %s", typ, secevent.Typ)
	}
	set, err := secevent.Decode(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return set
}

// openStore opens a new SQLite store (the SQL stores pass one contract suite, so the
// transmitter is tested on the embedded one).
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite", t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// revoke makes a revocation of kind through the store, for tokens of alice that expire in an
// hour, and returns the event the store appended for it.
func (f *fixture) revoke(kind, value string) *store.RevocationEvent {
	f.t.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	grant := func(id, sessionID string) {
		g := &store.Grant{ID: id, ClientID: "app", Subject: "alice", SessionID: sessionID, Scopes: []string{"read"},
			CreatedAt: time.Now(), ExpiresAt: exp}
		must(f.t, f.st.CreateGrant(ctx, g))
		must(f.t, f.st.RecordGrantJTI(ctx, id, "jti-of-"+id, exp))
	}
	before := f.lastSeq()
	switch kind {
	case store.RevokedJTI:
		must(f.t, f.st.RevokeJTI(ctx, value, exp))
	case store.RevokedTokenHash:
		must(f.t, f.st.CreateAccessToken(ctx, &store.AccessToken{Hash: value, ClientID: "app", Subject: "alice",
			Audience: []string{"https://api.example"}, IssuedAt: time.Now(), ExpiresAt: exp}))
		must(f.t, f.st.RevokeAccessToken(ctx, value))
	case store.RevokedGrant:
		grant(value, "")
		must(f.t, f.st.RevokeGrant(ctx, value))
	case store.RevokedSession:
		grant("grant-of-"+value, value)
		if _, err := f.st.RevokeSessionGrants(ctx, value); err != nil {
			f.t.Fatal(err)
		}
	}
	evs, err := f.st.RevocationEventsAfter(ctx, before, time.Now(), 10)
	if err != nil || len(evs) != 1 || evs[0].Kind != kind || evs[0].Value != value {
		f.t.Fatalf("revoking %s %s appended %d events (%v)", kind, value, len(evs), err)
	}
	return evs[0]
}

// lastSeq is the Seq of the newest event in the log.
func (f *fixture) lastSeq() int64 {
	f.t.Helper()
	evs, err := f.st.RevocationEventsAfter(context.Background(), 0, time.Now(), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t, Options{})
	for _, path := range []string{"/tenant/.well-known/ssf-configuration", "/.well-known/ssf-configuration/tenant"} {
		status, hdr, body := f.do(http.MethodGet, path, "", "", nil)
		if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, status, hdr.Get("Content-Type"))
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"spec_version": "1_0", "issuer": testIssuer, "jwks_uri": testIssuer + "/jwks",
			"delivery_methods_supported": []any{"urn:ietf:rfc:8936"},
			"configuration_endpoint":     testIssuer + "/ssf/streams",
			"status_endpoint":            testIssuer + "/ssf/status",
			"authorization_schemes":      []any{map[string]any{"spec_urn": "urn:ietf:rfc:7617"}},
			"default_subjects":           "ALL",
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("%s:\n got %s\nwant %s", path, g, w)
		}
	}
	if status, hdr, _ := f.do(http.MethodPost, "/tenant/.well-known/ssf-configuration", "", "", nil); status != http.StatusMethodNotAllowed || hdr.Get("Allow") == "" {
		t.Errorf("POST metadata: %d, Allow %q", status, hdr.Get("Allow"))
	}
	if f.srv.Owns("/tenant/token") || f.srv.Owns("/.well-known/ssf-configuration") {
		t.Error("Owns claims paths that are not the transmitter's")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{})
	cfg := f.createStream("gw1", `{}`)
	endpoints := []struct{ method, path string }{
		{http.MethodPost, "/tenant/ssf/streams"},
		{http.MethodGet, "/tenant/ssf/streams"},
		{http.MethodGet, "/tenant/ssf/streams?stream_id=" + cfg.StreamID},
		{http.MethodDelete, "/tenant/ssf/streams?stream_id=" + cfg.StreamID},
		{http.MethodGet, "/tenant/ssf/status?stream_id=" + cfg.StreamID},
		{http.MethodPost, pollPath(cfg)},
	}
	for _, e := range endpoints {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			// No credentials, and a wrong secret: 401 with the Basic challenge.
			for _, setAuth := range []func(*http.Request){func(*http.Request) {}, func(r *http.Request) { r.SetBasicAuth("gw1", "wrong") }} {
				req, _ := http.NewRequest(e.method, f.http.URL+e.path, strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				setAuth(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="ssf"` ||
					!strings.Contains(string(body), `"invalid_client"`) {
					t.Errorf("%d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
				}
			}
			// A client that is no resource server: 403 access_denied.
			status, _, body := f.do(e.method, e.path, "app", "application/json", []byte(`{}`))
			if status != http.StatusForbidden || !strings.Contains(string(body), `"access_denied"`) {
				t.Errorf("app: %d %s", status, body)
			}
		})
	}
	// Nothing was deleted by the refused DELETE.
	if _, err := f.st.GetEventStream(context.Background(), cfg.StreamID); err != nil {
		t.Fatal(err)
	}
}

func TestStreamManagement(t *testing.T) {
	f := newFixture(t, Options{StreamInactivity: 48 * time.Hour})
	a := f.createStream("gw1", `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["`+
		secevent.EventSessionRevoked+`","urn:example:unknown"],"description":"gateway a"}`)
	if a.StreamID == "" || a.Issuer != testIssuer || a.Audience != "gw1" || a.Description != "gateway a" ||
		a.Delivery.Method != secevent.DeliveryPoll || a.Delivery.EndpointURL != testIssuer+"/ssf/poll/"+a.StreamID ||
		a.InactivityTimeout != 48*3600 {
		t.Fatalf("created: %+v", a)
	}
	if mustJSON(t, a.EventsDelivered) != mustJSON(t, []string{secevent.EventSessionRevoked}) ||
		mustJSON(t, a.EventsSupported) != mustJSON(t, []string{secevent.EventSessionRevoked, secevent.EventTokenRevoked}) {
		t.Errorf("events: %+v", a)
	}
	b := f.createStream("gw1", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	if len(b.EventsDelivered) != 2 {
		t.Errorf("no events_requested delivers every supported event: %v", b.EventsDelivered)
	}
	other := f.createStream("gw2", `{}`)

	// Get one, list.
	status, _, body := f.do(http.MethodGet, "/tenant/ssf/streams?stream_id="+a.StreamID, "gw1", "", nil)
	var got streamConfig
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.StreamID != a.StreamID {
		t.Fatalf("get: %d %s", status, body)
	}
	status, _, body = f.do(http.MethodGet, "/tenant/ssf/streams", "gw1", "", nil)
	var list []streamConfig
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", status, body)
	}
	status, _, body = f.do(http.MethodGet, "/tenant/ssf/status?stream_id="+a.StreamID, "gw1", "", nil)
	if status != http.StatusOK || string(body) != `{"status":"enabled","stream_id":"`+a.StreamID+`"}` {
		t.Errorf("status: %d %s", status, body)
	}

	// Another client's stream is 404 on every endpoint, and survives the DELETE.
	for _, e := range []struct{ method, path string }{
		{http.MethodGet, "/tenant/ssf/streams?stream_id=" + other.StreamID},
		{http.MethodDelete, "/tenant/ssf/streams?stream_id=" + other.StreamID},
		{http.MethodGet, "/tenant/ssf/status?stream_id=" + other.StreamID},
		{http.MethodPost, pollPath(other)},
		{http.MethodGet, "/tenant/ssf/streams?stream_id=nope"},
		{http.MethodPost, "/tenant/ssf/poll/nope"},
	} {
		status, _, body := f.do(e.method, e.path, "gw1", "application/json", []byte(`{}`))
		if status != http.StatusNotFound || string(body) != `{"error":"not_found","error_description":"no such stream"}` {
			t.Errorf("%s %s: %d %s", e.method, e.path, status, body)
		}
	}
	if _, err := f.st.GetEventStream(context.Background(), other.StreamID); err != nil {
		t.Fatal("another client's DELETE deleted the stream")
	}

	// Delete.
	if status, _, body := f.do(http.MethodDelete, "/tenant/ssf/streams?stream_id="+a.StreamID, "gw1", "", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _, _ := f.do(http.MethodGet, "/tenant/ssf/streams?stream_id="+a.StreamID, "gw1", "", nil); status != http.StatusNotFound {
		t.Errorf("deleted stream: %d", status)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, Options{})
	cfg := f.createStream("gw1", `{}`)
	big := `{"description":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
	}{
		{"create: not JSON", http.MethodPost, "/tenant/ssf/streams", "application/x-www-form-urlencoded", "a=b", http.StatusUnsupportedMediaType},
		{"create: malformed", http.MethodPost, "/tenant/ssf/streams", "application/json", `{"delivery":`, http.StatusBadRequest},
		{"create: wrong types", http.MethodPost, "/tenant/ssf/streams", "application/json", `{"events_requested":"x"}`, http.StatusBadRequest},
		{"create: trailing data", http.MethodPost, "/tenant/ssf/streams", "application/json", `{} x`, http.StatusBadRequest},
		{"create: push", http.MethodPost, "/tenant/ssf/streams", "application/json", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://gw.example/"}}`, http.StatusBadRequest},
		{"create: endpoint_url", http.MethodPost, "/tenant/ssf/streams", "application/json", `{"delivery":{"method":"urn:ietf:rfc:8936","endpoint_url":"https://gw.example/"}}`, http.StatusBadRequest},
		{"create: long description", http.MethodPost, "/tenant/ssf/streams", "application/json", `{"description":"` + strings.Repeat("x", 300) + `"}`, http.StatusBadRequest},
		{"create: oversized", http.MethodPost, "/tenant/ssf/streams", "application/json", big, http.StatusRequestEntityTooLarge},
		{"streams: PUT", http.MethodPut, "/tenant/ssf/streams", "application/json", `{}`, http.StatusMethodNotAllowed},
		{"get: two stream_ids", http.MethodGet, "/tenant/ssf/streams?stream_id=a&stream_id=b", "", "", http.StatusBadRequest},
		{"delete: no stream_id", http.MethodDelete, "/tenant/ssf/streams", "", "", http.StatusBadRequest},
		{"status: no stream_id", http.MethodGet, "/tenant/ssf/status", "", "", http.StatusBadRequest},
		{"status: POST", http.MethodPost, "/tenant/ssf/status", "application/json", `{}`, http.StatusMethodNotAllowed},
		{"poll: GET", http.MethodGet, pollPath(cfg), "", "", http.StatusMethodNotAllowed},
		{"poll: not JSON", http.MethodPost, pollPath(cfg), "text/plain", `{}`, http.StatusUnsupportedMediaType},
		{"poll: malformed", http.MethodPost, pollPath(cfg), "application/json", `{"ack":[1]}`, http.StatusBadRequest},
		{"poll: not an object", http.MethodPost, pollPath(cfg), "application/json", `[]`, http.StatusBadRequest},
		{"poll: negative maxEvents", http.MethodPost, pollPath(cfg), "application/json", `{"maxEvents":-1}`, http.StatusBadRequest},
		{"poll: huge maxEvents", http.MethodPost, pollPath(cfg), "application/json", `{"maxEvents":1e40}`, http.StatusBadRequest},
		{"poll: oversized", http.MethodPost, pollPath(cfg), "application/json", `{"ack":["` + strings.Repeat("a", maxBodyBytes) + `"]}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := f.do(tt.method, tt.path, "gw1", tt.contentType, []byte(tt.body))
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			var e map[string]string
			if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" {
				t.Errorf("not a JSON error: %s", body)
			}
			if strings.Contains(e["error_description"], "gw.example") || strings.Contains(e["error_description"], "xxxx") {
				t.Errorf("error_description quotes the request: %s", body)
			}
			if status == http.StatusMethodNotAllowed && hdr.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	if streams, _ := f.st.ListEventStreams(context.Background(), "gw1"); len(streams) != 1 {
		t.Errorf("refused creations stored streams: %d", len(streams))
	}
}

func TestPollDeliversSignedSETs(t *testing.T) {
	f := newFixture(t, Options{})
	cfg := f.createStream("gw1", `{}`)
	evs := []*store.RevocationEvent{
		f.revoke(store.RevokedJTI, "jti-1"),
		f.revoke(store.RevokedTokenHash, "hash-1"),
		f.revoke(store.RevokedGrant, "grant-1"),
		f.revoke(store.RevokedSession, "sid-1"),
	}
	resp := f.poll("gw1", cfg, map[string]any{"returnImmediately": true})
	if len(resp.Sets) != 4 || resp.MoreAvailable {
		t.Fatalf("sets: %d, more %v", len(resp.Sets), resp.MoreAvailable)
	}
	for _, ev := range evs {
		set := f.verify(resp.Sets[ev.ID])
		if set.ID != ev.ID || set.Issuer != testIssuer || len(set.Audience) != 1 || set.Audience[0] != "gw1" {
			t.Errorf("%s: %+v", ev.Kind, set)
		}
		r := set.Revocation
		if r == nil || r.Kind != ev.Kind || r.Value != ev.Value || r.Until.Unix() != ev.ExpiresAt.Unix() || r.At.Unix() != ev.CreatedAt.Unix() {
			t.Errorf("%s: revocation %+v", ev.Kind, r)
		}
		wantType := secevent.EventTokenRevoked
		if ev.Kind == store.RevokedSession {
			wantType = secevent.EventSessionRevoked
			if r.Subject != "alice" {
				t.Errorf("session-revoked subject %q", r.Subject)
			}
		}
		if set.EventType != wantType {
			t.Errorf("%s: event type %s", ev.Kind, set.EventType)
		}
	}
}

func TestAcknowledgement(t *testing.T) {
	f := newFixture(t, Options{})
	cfg := f.createStream("gw1", `{}`)
	e1 := f.revoke(store.RevokedJTI, "a")
	e2 := f.revoke(store.RevokedJTI, "b")

	// Unacked SETs are sent again.
	first := f.poll("gw1", cfg, map[string]any{"returnImmediately": true})
	again := f.poll("gw1", cfg, map[string]any{"returnImmediately": true})
	if len(first.Sets) != 2 || len(again.Sets) != 2 {
		t.Fatalf("unacked SETs not resent: %d then %d", len(first.Sets), len(again.Sets))
	}
	// Acking the first moves the position past it only.
	resp := f.poll("gw1", cfg, map[string]any{"returnImmediately": true, "ack": []string{e1.ID}})
	if _, ok := resp.Sets[e2.ID]; len(resp.Sets) != 1 || !ok {
		t.Fatalf("after ack of e1: %v", keys(resp.Sets))
	}
	// An ack-only request (maxEvents 0) says more is available and sends nothing.
	resp = f.poll("gw1", cfg, map[string]any{"maxEvents": 0})
	if len(resp.Sets) != 0 || !resp.MoreAvailable {
		t.Fatalf("ack-only: %+v", resp)
	}
	// setErrs acknowledge too, and are logged; unknown IDs are ignored.
	resp = f.poll("gw1", cfg, map[string]any{"returnImmediately": true, "ack": []string{"unknown"},
		"setErrs": map[string]any{e2.ID: map[string]string{"err": "invalid_key", "description": "bad"}}})
	if len(resp.Sets) != 0 || resp.MoreAvailable {
		t.Fatalf("after setErrs: %+v", resp)
	}
	if f.logs.FilterMessage("a receiver could not process a SET").Len() != 1 {
		t.Error("setErrs not logged")
	}
	st, _ := f.st.GetEventStream(context.Background(), cfg.StreamID)
	if st.AckedSeq != e2.Seq {
		t.Errorf("position %d, want %d", st.AckedSeq, e2.Seq)
	}

	// A new stream starts at the beginning of the retained log (a revocation of a token that
	// has expired anyway is no event).
	must(t, f.st.RevokeJTI(context.Background(), "old", time.Now().Add(-time.Hour)))
	fresh := f.createStream("gw1", `{}`)
	resp = f.poll("gw1", fresh, map[string]any{"returnImmediately": true})
	if _, ok := resp.Sets[e1.ID]; len(resp.Sets) != 2 || !ok {
		t.Fatalf("new stream got %d SETs", len(resp.Sets))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// longLog is a store whose event log holds n live jti revocations (appending that many
// through real revocations takes a minute).
type longLog struct {
	store.Store
	n int64
}

func (l longLog) RevocationEventsAfter(_ context.Context, after int64, now time.Time, limit int) ([]*store.RevocationEvent, error) {
	var out []*store.RevocationEvent
	for seq := after + 1; seq <= l.n && len(out) < limit; seq++ {
		out = append(out, &store.RevocationEvent{Seq: seq, ID: fmt.Sprintf("event-%d", seq), Kind: store.RevokedJTI,
			Value: fmt.Sprintf("jti-%d", seq), CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	return out, nil
}

func TestMaxEventsAndMoreAvailable(t *testing.T) {
	f := newFixtureOn(t, Options{}, longLog{openStore(t), maxMaxEvents + 5})
	cfg := f.createStream("gw1", `{}`)
	tests := []struct {
		maxEvents any
		want      int
		more      bool
	}{
		{nil, defaultMaxEvents, true},
		{3, 3, true},
		{5000, maxMaxEvents, true},
	}
	for _, tt := range tests {
		req := map[string]any{"returnImmediately": true}
		if tt.maxEvents != nil {
			req["maxEvents"] = tt.maxEvents
		}
		resp := f.poll("gw1", cfg, req)
		if len(resp.Sets) != tt.want || resp.MoreAvailable != tt.more {
			t.Errorf("maxEvents %v: %d SETs, more %v", tt.maxEvents, len(resp.Sets), resp.MoreAvailable)
		}
	}
}

func TestEventsRequestedFilters(t *testing.T) {
	f := newFixture(t, Options{LongPollWait: 200 * time.Millisecond})
	cfg := f.createStream("gw1", `{"events_requested":["`+secevent.EventSessionRevoked+`"]}`)
	f.revoke(store.RevokedJTI, "a")
	sess := f.revoke(store.RevokedSession, "sid")
	grant := f.revoke(store.RevokedGrant, "g")
	resp := f.poll("gw1", cfg, map[string]any{"returnImmediately": true})
	if _, ok := resp.Sets[sess.ID]; len(resp.Sets) != 1 || !ok {
		t.Fatalf("filtered stream got %v", keys(resp.Sets))
	}
	// After the ack, only undelivered events remain: the long poll waits and answers empty,
	// and the position moved past them.
	resp = f.poll("gw1", cfg, map[string]any{"ack": []string{sess.ID}})
	if len(resp.Sets) != 0 {
		t.Fatalf("got %v", keys(resp.Sets))
	}
	st, _ := f.st.GetEventStream(context.Background(), cfg.StreamID)
	if st.AckedSeq != grant.Seq {
		t.Errorf("position %d, want %d", st.AckedSeq, grant.Seq)
	}
}

func TestLongPoll(t *testing.T) {
	f := newFixture(t, Options{LongPollWait: 10 * time.Second})
	cfg := f.createStream("gw1", `{}`)

	// A waiting poll answers as soon as an event is appended.
	got := make(chan pollResponse, 1)
	go func() { got <- f.poll("gw1", cfg, map[string]any{}) }()
	waitFor(t, func() bool { return f.srv.polls.count("gw1") == 1 })
	ev := f.revoke(store.RevokedGrant, "g1")
	select {
	case resp := <-got:
		if _, ok := resp.Sets[ev.ID]; !ok {
			t.Fatalf("woken poll: %v", keys(resp.Sets))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not answer after the event")
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	f := newFixture(t, Options{LongPollWait: 300 * time.Millisecond})
	cfg := f.createStream("gw1", `{}`)
	resp := f.poll("gw1", cfg, map[string]any{"returnImmediately": false})
	if len(resp.Sets) != 0 || resp.MoreAvailable || resp.Sets == nil {
		t.Fatalf("%+v", resp)
	}
}

func TestConcurrentPollLimit(t *testing.T) {
	f := newFixture(t, Options{LongPollWait: 10 * time.Second, MaxPollsPerClient: 2})
	cfg := f.createStream("gw1", `{}`)
	other := f.createStream("gw2", `{}`)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { f.poll("gw1", cfg, map[string]any{}) })
	}
	waitFor(t, func() bool { return f.srv.polls.count("gw1") == 2 })
	status, _, body := f.do(http.MethodPost, pollPath(cfg), "gw1", "application/json", []byte(`{}`))
	if status != http.StatusTooManyRequests {
		t.Errorf("third poll: %d %s", status, body)
	}
	// Another client is not limited by gw1's polls; returnImmediately needs no slot.
	f.poll("gw1", cfg, map[string]any{"returnImmediately": true})
	go f.poll("gw2", other, map[string]any{})
	waitFor(t, func() bool { return f.srv.polls.count("gw2") == 1 })
	// Closing the server answers every waiting poll.
	f.srv.Close()
	wg.Wait()
}

// unwatchable is a store whose event log cannot be watched (database down).
type unwatchable struct{ store.Store }

func (unwatchable) WatchRevocationEvents(context.Context) (<-chan struct{}, error) {
	return nil, errors.New("database down")
}

func TestWatcherFailureStillWakes(t *testing.T) {
	st := unwatchable{openStore(t)}
	core, logs := observer.New(zap.WarnLevel)
	var woken sync.WaitGroup
	woken.Add(1)
	var once sync.Once
	srv, err := New(Options{}, Deps{Issuer: testIssuer, Auth: testAuth, Signer: joseSigner{}, SigningAlg: "ES256",
		Store: st, Logger: zap.New(core), OnEvents: func() { once.Do(woken.Done) }})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Close()
	woken.Wait()
	waitFor(t, func() bool { return logs.FilterMessage("watching the revocation event log failed; retrying").Len() > 0 })
}

func TestDeleteIdleStreams(t *testing.T) {
	f := newFixture(t, Options{StreamInactivity: time.Hour})
	idle := f.createStream("gw1", `{}`)
	busy := f.createStream("gw1", `{}`)
	if err := f.st.AckEventStream(context.Background(), idle.StreamID, 0, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.srv.DeleteIdleStreams(context.Background())
	status, _, _ := f.do(http.MethodPost, pollPath(idle), "gw1", "application/json", []byte(`{"returnImmediately":true}`))
	if status != http.StatusNotFound {
		t.Errorf("idle stream: %d", status)
	}
	f.poll("gw1", busy, map[string]any{"returnImmediately": true})
}

func TestTooManyStreamsEvictsLeastRecentlyPolled(t *testing.T) {
	f := newFixture(t, Options{})
	first := f.createStream("gw1", `{}`)
	if err := f.st.AckEventStream(context.Background(), first.StreamID, 0, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range maxStreamsPerClient {
		f.createStream("gw1", `{}`)
	}
	streams, _ := f.st.ListEventStreams(context.Background(), "gw1")
	if len(streams) != maxStreamsPerClient {
		t.Fatalf("%d streams", len(streams))
	}
	if _, err := f.st.GetEventStream(context.Background(), first.StreamID); !errors.Is(err, store.ErrNotFound) {
		t.Error("the least recently polled stream was kept")
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
