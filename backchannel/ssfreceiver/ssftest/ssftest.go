// Package ssftest is a fake Shared Signals transmitter for tests of revocation stream
// receivers: the issue-10 wire protocol (SSF metadata, stream creation and deletion, RFC 8936
// long polls with acks and setErrs), OAuth metadata and a JWKS, and SETs signed as the real
// transmitter signs them, or forged in the ways tests need.
package ssftest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate/remote"
)

// Transmitter is the fake. Its fields are read-only after New.
type Transmitter struct {
	t      testing.TB
	srv    *httptest.Server
	Key    *ecdsa.PrivateKey
	KID    string
	Issuer string
	// ClientID and Secret are the only credentials accepted (HTTP Basic).
	ClientID, Secret string

	mu       sync.Mutex
	streams  map[string]bool
	created  int
	queue    []pendingSET // sent until acknowledged
	acked    map[string]bool
	setErrs  map[string]SetError
	down     bool // every request answers 503
	jwksDown bool // the JWKS alone answers 503
	polls    int
	wake     chan struct{}
}

// SetError is an RFC 8936 setErrs member.
type SetError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

type pollRequest struct {
	MaxEvents         int                 `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack"`
	SetErrs           map[string]SetError `json:"setErrs"`
}

type pendingSET struct{ jti, jws string }

// New starts a fake transmitter for client gw-1 (secret gw-secret); it stops with the test.
func New(t testing.TB) *Transmitter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ft := &Transmitter{t: t, Key: key, KID: "k1", streams: map[string]bool{},
		acked: map[string]bool{}, setErrs: map[string]SetError{}, wake: make(chan struct{}, 1),
		ClientID: "gw-1", Secret: "gw-secret"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/ssf-configuration", ft.metadata)
	mux.HandleFunc("GET /jwks", ft.jwks)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", ft.oauthMetadata)
	mux.HandleFunc("POST /ssf/streams", ft.createStream)
	mux.HandleFunc("POST /ssf/poll/{id}", ft.poll)
	mux.HandleFunc("DELETE /ssf/streams", ft.deleteStream)
	ft.srv = httptest.NewServer(ft.unlessDown(mux))
	ft.Issuer = ft.srv.URL
	t.Cleanup(ft.srv.Close)
	return ft
}

func (ft *Transmitter) unlessDown(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		down := ft.down
		ft.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// SetDown makes every request answer 503 (down) or serves again.
func (ft *Transmitter) SetDown(down bool) {
	ft.mu.Lock()
	ft.down = down
	ft.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (ft *Transmitter) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"spec_version": "1_0", "issuer": ft.Issuer, "jwks_uri": ft.Issuer + "/jwks",
		"delivery_methods_supported": []string{secevent.DeliveryPoll}, "configuration_endpoint": ft.Issuer + "/ssf/streams",
		"status_endpoint": ft.Issuer + "/ssf/status", "default_subjects": "ALL"})
}

func (ft *Transmitter) oauthMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"issuer": ft.Issuer, "jwks_uri": ft.Issuer + "/jwks",
		"introspection_endpoint": ft.Issuer + "/introspect", "token_endpoint": ft.Issuer + "/token"})
}

// SetJWKSDown makes the JWKS alone answer 503 (or serve again).
func (ft *Transmitter) SetJWKSDown(down bool) {
	ft.mu.Lock()
	ft.jwksDown = down
	ft.mu.Unlock()
}

func (ft *Transmitter) jwks(w http.ResponseWriter, r *http.Request) {
	ft.mu.Lock()
	down := ft.jwksDown
	ft.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ft.Key.Public(), KeyID: ft.KID, Algorithm: "ES256", Use: "sig"}}})
}

func (ft *Transmitter) authorized(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok || id != ft.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(ft.Secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssf"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return false
	}
	return true
}

func (ft *Transmitter) createStream(w http.ResponseWriter, r *http.Request) {
	if !ft.authorized(w, r) {
		return
	}
	ft.mu.Lock()
	ft.created++
	id := fmt.Sprintf("stream-%d", ft.created)
	ft.streams[id] = true
	ft.mu.Unlock()
	writeJSON(w, 201, map[string]any{"stream_id": id, "iss": ft.Issuer, "aud": ft.ClientID,
		"delivery": map[string]string{"method": secevent.DeliveryPoll, "endpoint_url": ft.Issuer + "/ssf/poll/" + id}})
}

func (ft *Transmitter) deleteStream(w http.ResponseWriter, r *http.Request) {
	if !ft.authorized(w, r) {
		return
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	id := r.URL.Query().Get("stream_id")
	if !ft.streams[id] {
		writeJSON(w, 404, map[string]string{"error": "not_found"})
		return
	}
	delete(ft.streams, id)
	w.WriteHeader(http.StatusNoContent)
}

// LiveStreams counts the streams that exist.
func (ft *Transmitter) LiveStreams() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.streams)
}

func (ft *Transmitter) poll(w http.ResponseWriter, r *http.Request) {
	if !ft.authorized(w, r) {
		return
	}
	var req pollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	ft.mu.Lock()
	if !ft.streams[r.PathValue("id")] {
		ft.mu.Unlock()
		writeJSON(w, 404, map[string]string{"error": "not_found", "error_description": "no such stream"})
		return
	}
	ft.polls++
	for _, j := range req.Ack {
		ft.acked[j] = true
	}
	for j, e := range req.SetErrs {
		ft.setErrs[j] = e
		ft.acked[j] = true // an error report acknowledges the SET too (RFC 8936 §2.4)
	}
	ft.queue = slices.DeleteFunc(ft.queue, func(p pendingSET) bool { return ft.acked[p.jti] })
	sets := ft.pending()
	ft.mu.Unlock()
	if len(sets) == 0 && !req.ReturnImmediately {
		select {
		case <-ft.wake:
		case <-time.After(500 * time.Millisecond):
		case <-r.Context().Done():
		}
		ft.mu.Lock()
		sets = ft.pending()
		ft.mu.Unlock()
	}
	writeJSON(w, 200, map[string]any{"sets": sets, "moreAvailable": false})
}

func (ft *Transmitter) pending() map[string]string {
	sets := map[string]string{}
	for _, p := range ft.queue {
		sets[p.jti] = p.jws
	}
	return sets
}

// Push queues a SET for delivery (jti is the poll answer's key).
func (ft *Transmitter) Push(jti, jws string) {
	ft.mu.Lock()
	ft.queue = append(ft.queue, pendingSET{jti, jws})
	ft.mu.Unlock()
	select {
	case ft.wake <- struct{}{}:
	default:
	}
}

// ForgetStreams makes every poll answer 404, as after the transmitter dropped an idle stream.
func (ft *Transmitter) ForgetStreams() {
	ft.mu.Lock()
	clear(ft.streams)
	ft.mu.Unlock()
}

// State returns the SET jtis acknowledged, the setErrs received, how many streams were
// created, and how many SETs wait for an acknowledgement.
func (ft *Transmitter) State() (acked map[string]bool, errs map[string]SetError, created, queued int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	acked = map[string]bool{}
	for k, v := range ft.acked {
		acked[k] = v
	}
	errs = map[string]SetError{}
	for k, v := range ft.setErrs {
		errs[k] = v
	}
	return acked, errs, ft.created, len(ft.queue)
}

// Spec describes one SET to sign; zero fields take the valid defaults.
type Spec struct {
	Signer  any    // signing key (default the transmitter's)
	Alg     string // default ES256
	Typ     string // default secevent+jwt; "-" for none
	KID     string
	Issuer  string
	Aud     []string // default the client
	JTI     string
	Kind    string // default jti
	Value   string
	Until   time.Time // default an hour from now
	At      time.Time // the event_timestamp (a client's cut-off); default now
	Payload []byte    // raw payload, replacing the encoded one
}

// Sign returns the compact JWS of the SET s describes.
func (ft *Transmitter) Sign(s Spec) string {
	ft.t.Helper()
	if s.Signer == nil {
		s.Signer = ft.Key
	}
	if s.Alg == "" {
		s.Alg = "ES256"
	}
	if s.Typ == "" {
		s.Typ = secevent.Typ
	}
	if s.KID == "" {
		s.KID = ft.KID
	}
	if s.Issuer == "" {
		s.Issuer = ft.Issuer
	}
	if s.Aud == nil {
		s.Aud = []string{ft.ClientID}
	}
	if s.Kind == "" {
		s.Kind = secevent.KindJTI
	}
	if s.Until.IsZero() {
		s.Until = time.Now().Add(time.Hour)
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	payload := s.Payload
	if payload == nil {
		var err error
		payload, err = secevent.Encode(s.Issuer, s.Aud, time.Now(), s.JTI,
			secevent.Revocation{Kind: s.Kind, Value: s.Value, At: s.At, Until: s.Until})
		if err != nil {
			ft.t.Fatal(err)
		}
	}
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), s.KID)
	if s.Typ != "-" {
		opts = opts.WithType(jose.ContentType(s.Typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(s.Alg), Key: s.Signer}, opts)
	if err != nil {
		ft.t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		ft.t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		ft.t.Fatal(err)
	}
	return out
}

// Keys returns a real JWKS cache of the fake transmitter's key set.
func (ft *Transmitter) Keys() *remote.JWKSCache {
	ft.t.Helper()
	c, err := remote.NewJWKSCache(nil, ft.Issuer+"/jwks", remote.JWKSOptions{MinRefetchInterval: time.Millisecond})
	if err != nil {
		ft.t.Fatal(err)
	}
	ft.t.Cleanup(func() { _ = c.Close() })
	return c
}

// WaitFor polls cond until it holds or 10 s pass.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NoneJWS returns an unsigned (alg none) JWS of payload.
func NoneJWS(payload []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"secevent+jwt","kid":"k1"}`)) + "." + enc(payload) + "."
}
