package ssfreceiver

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
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate/remote"
)

// fakeTransmitter follows the SSF wire protocol of the issue-10 contract closely enough to
// drive a Subscription: metadata, stream creation, RFC 8936 long polls with acks, a JWKS.
type fakeTransmitter struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	kid    string
	issuer string

	mu       sync.Mutex
	streams  map[string]bool
	created  int
	queue    []pendingSET // sent until acknowledged
	acked    map[string]bool
	setErrs  map[string]setError
	down     bool // every request answers 503
	polls    int
	wake     chan struct{}
	clientID string
	secret   string
}

type pendingSET struct{ jti, jws string }

func newFakeTransmitter(t *testing.T) *fakeTransmitter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTransmitter{t: t, key: key, kid: "k1", streams: map[string]bool{},
		acked: map[string]bool{}, setErrs: map[string]setError{}, wake: make(chan struct{}, 1),
		clientID: "gw-1", secret: "gw-secret"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/ssf-configuration", ft.metadata)
	mux.HandleFunc("GET /jwks", ft.jwks)
	mux.HandleFunc("POST /ssf/streams", ft.createStream)
	mux.HandleFunc("POST /ssf/poll/{id}", ft.poll)
	mux.HandleFunc("DELETE /ssf/streams", ft.deleteStream)
	ft.srv = httptest.NewServer(ft.unlessDown(mux))
	ft.issuer = ft.srv.URL
	t.Cleanup(ft.srv.Close)
	return ft
}

func (ft *fakeTransmitter) unlessDown(h http.Handler) http.Handler {
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

func (ft *fakeTransmitter) setDown(down bool) {
	ft.mu.Lock()
	ft.down = down
	ft.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (ft *fakeTransmitter) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"spec_version": "1_0", "issuer": ft.issuer, "jwks_uri": ft.issuer + "/jwks",
		"delivery_methods_supported": []string{secevent.DeliveryPoll}, "configuration_endpoint": ft.issuer + "/ssf/streams",
		"status_endpoint": ft.issuer + "/ssf/status", "default_subjects": "ALL"})
}

func (ft *fakeTransmitter) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ft.key.Public(), KeyID: ft.kid, Algorithm: "ES256", Use: "sig"}}})
}

func (ft *fakeTransmitter) authorized(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok || id != ft.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(ft.secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssf"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return false
	}
	return true
}

func (ft *fakeTransmitter) createStream(w http.ResponseWriter, r *http.Request) {
	if !ft.authorized(w, r) {
		return
	}
	ft.mu.Lock()
	ft.created++
	id := fmt.Sprintf("stream-%d", ft.created)
	ft.streams[id] = true
	ft.mu.Unlock()
	writeJSON(w, 201, map[string]any{"stream_id": id, "iss": ft.issuer, "aud": ft.clientID,
		"delivery": map[string]string{"method": secevent.DeliveryPoll, "endpoint_url": ft.issuer + "/ssf/poll/" + id}})
}

func (ft *fakeTransmitter) deleteStream(w http.ResponseWriter, r *http.Request) {
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

func (ft *fakeTransmitter) liveStreams() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.streams)
}

func (ft *fakeTransmitter) poll(w http.ResponseWriter, r *http.Request) {
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
	}
	ft.queue = slicesDeleteFunc(ft.queue, func(p pendingSET) bool { return ft.acked[p.jti] })
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

func slicesDeleteFunc(s []pendingSET, del func(pendingSET) bool) []pendingSET {
	out := s[:0]
	for _, p := range s {
		if !del(p) {
			out = append(out, p)
		}
	}
	return out
}

func (ft *fakeTransmitter) pending() map[string]string {
	sets := map[string]string{}
	for _, p := range ft.queue {
		sets[p.jti] = p.jws
	}
	return sets
}

// push queues a SET for delivery (jti is the poll answer's key).
func (ft *fakeTransmitter) push(jti, jws string) {
	ft.mu.Lock()
	ft.queue = append(ft.queue, pendingSET{jti, jws})
	ft.mu.Unlock()
	select {
	case ft.wake <- struct{}{}:
	default:
	}
}

// forgetStreams makes every poll answer 404, as after the transmitter dropped an idle stream.
func (ft *fakeTransmitter) forgetStreams() {
	ft.mu.Lock()
	clear(ft.streams)
	ft.mu.Unlock()
}

func (ft *fakeTransmitter) state() (acked map[string]bool, errs map[string]setError, created, queued int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	acked = map[string]bool{}
	for k, v := range ft.acked {
		acked[k] = v
	}
	errs = map[string]setError{}
	for k, v := range ft.setErrs {
		errs[k] = v
	}
	return acked, errs, ft.created, len(ft.queue)
}

// setSpec describes one SET to sign; zero fields take the valid defaults.
type setSpec struct {
	signer  any    // signing key (default the transmitter's)
	alg     string // default ES256
	typ     string // default secevent+jwt; "-" for none
	kid     string
	issuer  string
	aud     []string
	jti     string
	kind    string
	value   string
	until   time.Time
	payload []byte // raw payload, replacing the encoded one
}

func (ft *fakeTransmitter) sign(s setSpec) string {
	ft.t.Helper()
	if s.signer == nil {
		s.signer = ft.key
	}
	if s.alg == "" {
		s.alg = "ES256"
	}
	if s.typ == "" {
		s.typ = secevent.Typ
	}
	if s.kid == "" {
		s.kid = ft.kid
	}
	if s.issuer == "" {
		s.issuer = ft.issuer
	}
	if s.aud == nil {
		s.aud = []string{ft.clientID}
	}
	if s.kind == "" {
		s.kind = secevent.KindJTI
	}
	if s.until.IsZero() {
		s.until = time.Now().Add(time.Hour)
	}
	payload := s.payload
	if payload == nil {
		var err error
		payload, err = secevent.Encode(s.issuer, s.aud, time.Now(), s.jti,
			secevent.Revocation{Kind: s.kind, Value: s.value, At: time.Now(), Until: s.until})
		if err != nil {
			ft.t.Fatal(err)
		}
	}
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), s.kid)
	if s.typ != "-" {
		opts = opts.WithType(jose.ContentType(s.typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(s.alg), Key: s.signer}, opts)
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

// keys returns a real JWKS cache of the fake transmitter's key set.
func (ft *fakeTransmitter) keys() *remote.JWKSCache {
	ft.t.Helper()
	c, err := remote.NewJWKSCache(nil, ft.issuer+"/jwks", remote.JWKSOptions{MinRefetchInterval: time.Millisecond})
	if err != nil {
		ft.t.Fatal(err)
	}
	ft.t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func noneJWS(payload []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"secevent+jwt","kid":"k1"}`)) + "." + enc(payload) + "."
}
