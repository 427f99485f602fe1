// Command revbench measures the revocation stream for bench/revocation.sh. Loopback only.
//
//	revbench latency -issuer URL -client ID -secret S -resource R -gateways URL,URL,URL -n 1000
//
// For each of n revocations: a client_credentials JWT, a GET through every gateway (200, so
// the token is in each gateway's verified cache), POST /revoke, then every gateway polled
// every millisecond until it answers 401. It prints p50/p99/max of revoke-call -> 401.
//
//	revbench fake-issuer -listen 127.0.0.1:PORT -revoked 1000000 -resource R -token-file F
//
// A stand-in issuer for the throughput run: OAuth metadata, an ES256 JWKS, and a Shared
// Signals transmitter (issue-10 wire protocol) whose log holds `revoked` jti revocations
// (SETs signed as they are polled). It writes one valid access token for resource to
// token-file and serves GET /progress -> {"acked": n}: how many events gateways acknowledged.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: revbench latency|fake-issuer [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "latency":
		err = latency(os.Args[2:])
	case "fake-issuer":
		err = fakeIssuer(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "revbench:", err)
		os.Exit(1)
	}
}

// loopbackOnly refuses any URL whose host is not a loopback address.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%s: only loopback targets", raw)
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func postForm(u, id, secret string, form url.Values) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func status(u, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	issuer := fs.String("issuer", "", "issuer URL")
	clientID := fs.String("client", "", "client ID (client_credentials, may /revoke its tokens)")
	secret := os.Getenv("REVBENCH_SECRET")
	resource := fs.String("resource", "", "resource identifier")
	gwList := fs.String("gateways", "", "comma-separated gateway URLs")
	n := fs.Int("n", 1000, "revocations")
	_ = fs.Parse(args)
	gateways := strings.Split(*gwList, ",")
	for _, u := range append([]string{*issuer}, gateways...) {
		if err := loopbackOnly(u); err != nil {
			return err
		}
	}
	if secret == "" || *n < 1 || *n > 100_000 {
		return errors.New("REVBENCH_SECRET must be set and -n in 1..100000")
	}
	per := make([][]time.Duration, len(gateways))
	var all []time.Duration
	for i := range *n {
		code, body, err := postForm(*issuer+"/token", *clientID, secret, url.Values{"grant_type": {"client_credentials"}, "resource": {*resource}})
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || code != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
			return fmt.Errorf("token %d: %d %v", i, code, err)
		}
		for _, gw := range gateways {
			if c, err := status(gw+"/", tok.AccessToken); err != nil || c != 200 {
				return fmt.Errorf("token %d at %s before revocation: %d %v", i, gw, c, err)
			}
		}
		start := time.Now()
		if code, _, err := postForm(*issuer+"/revoke", *clientID, secret, url.Values{"token": {tok.AccessToken}}); err != nil || code != 200 {
			return fmt.Errorf("revoke %d: %d %v", i, code, err)
		}
		var wg sync.WaitGroup
		took := make([]time.Duration, len(gateways))
		for g, gw := range gateways {
			wg.Go(func() {
				for time.Since(start) < 10*time.Second {
					if c, _ := status(gw+"/", tok.AccessToken); c == 401 {
						took[g] = time.Since(start)
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		for g, d := range took {
			if d == 0 {
				return fmt.Errorf("revocation %d: %s still accepts the token after 10s", i, gateways[g])
			}
			per[g] = append(per[g], d)
			all = append(all, d)
		}
	}
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		fmt.Printf("%-12s n=%d p50=%.1fms p99=%.1fms max=%.1fms\n", name, len(ds),
			ms(q(0.50)), ms(q(0.99)), ms(ds[len(ds)-1]))
	}
	for g, gw := range gateways {
		report(fmt.Sprintf("gateway %d", g+1), per[g])
		_ = gw
	}
	report("all", all)
	slices.Sort(all)
	fmt.Printf("RESULT revocations=%d gateways=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", *n, len(gateways),
		ms(all[len(all)/2]), ms(all[min(len(all)-1, int(0.99*float64(len(all))))]), ms(all[len(all)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fake is the stand-in issuer of the throughput run.
type fake struct {
	issuer  string
	key     *ecdsa.PrivateKey
	signer  jose.Signer
	revoked int
	until   time.Time

	mu      sync.Mutex
	streams map[string]int // stream -> events acknowledged (a prefix of the log)
	acked   int            // the highest of them, for /progress
}

func fakeIssuer(args []string) error {
	fs := flag.NewFlagSet("fake-issuer", flag.ExitOnError)
	listen := fs.String("listen", "", "127.0.0.1:port")
	revoked := fs.Int("revoked", 0, "revocations in the log")
	resource := fs.String("resource", "", "resource identifier of the token written")
	tokenFile := fs.String("token-file", "", "where to write a valid access token")
	_ = fs.Parse(args)
	f := &fake{issuer: "http://" + *listen, revoked: *revoked, until: time.Now().Add(24 * time.Hour), streams: map[string]int{}}
	if err := loopbackOnly(f.issuer); err != nil {
		return err
	}
	if *revoked < 0 || *revoked > 10_000_000 {
		return errors.New("-revoked in 0..10000000")
	}
	var err error
	if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return err
	}
	if f.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key},
		(&jose.SignerOptions{}).WithType(secevent.Typ).WithHeader("kid", "k1")); err != nil {
		return err
	}
	tok, err := f.accessToken(*resource)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*tokenFile, []byte(tok), 0o600); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"issuer": f.issuer, "jwks_uri": f.issuer + "/jwks", "token_endpoint": f.issuer + "/token"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /.well-known/ssf-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"spec_version": "1_0", "issuer": f.issuer, "jwks_uri": f.issuer + "/jwks",
			"delivery_methods_supported": []string{secevent.DeliveryPoll}, "configuration_endpoint": f.issuer + "/ssf/streams"})
	})
	mux.HandleFunc("POST /ssf/streams", f.createStream)
	mux.HandleFunc("DELETE /ssf/streams", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /ssf/poll/{id}", f.poll)
	mux.HandleFunc("GET /progress", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, map[string]int{"acked": f.acked, "total": f.revoked})
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fake) accessToken(resource string) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": f.issuer, "aud": resource, "sub": "bench", "client_id": "bench",
		"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(), "jti": "live-token", "grant_id": "live-grant", "sid": "live-session", "scope": "read"})
	obj, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (f *fake) createStream(w http.ResponseWriter, r *http.Request) {
	id := fmt.Sprintf("s%d", time.Now().UnixNano())
	f.mu.Lock()
	f.streams[id] = 0
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"stream_id": id, "iss": f.issuer,
		"delivery": map[string]string{"method": secevent.DeliveryPoll, "endpoint_url": f.issuer + "/ssf/poll/" + id}})
}

// eventID is the SET jti of log entry i.
func eventID(i int) string { return fmt.Sprintf("ev-%08d", i) }

func (f *fake) poll(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		MaxEvents int      `json:"maxEvents"`
		Ack       []string `json:"ack"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	f.mu.Lock()
	pos, ok := f.streams[id]
	if !ok {
		f.mu.Unlock()
		writeJSON(w, 404, map[string]string{"error": "not_found"})
		return
	}
	for _, a := range req.Ack {
		var i int
		if _, err := fmt.Sscanf(a, "ev-%d", &i); err == nil && i+1 > pos {
			pos = i + 1
		}
	}
	f.streams[id] = pos
	f.acked = max(f.acked, pos)
	f.mu.Unlock()
	n := min(max(req.MaxEvents, 1), 1000, f.revoked-pos)
	if n <= 0 {
		// Nothing left: hold the poll like a long poll, answer empty.
		select {
		case <-time.After(20 * time.Second):
		case <-r.Context().Done():
		}
		writeJSON(w, 200, map[string]any{"sets": map[string]string{}, "moreAvailable": false})
		return
	}
	sets := make(map[string]string, n)
	now := time.Now()
	for i := pos; i < pos+n; i++ {
		payload, err := secevent.Encode(f.issuer, []string{"bench-gateway"}, now, eventID(i),
			secevent.Revocation{Kind: secevent.KindJTI, Value: base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "revoked-jti-%016d", i)), At: now, Until: f.until})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		obj, err := f.signer.Sign(payload)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		sets[eventID(i)], _ = obj.CompactSerialize()
	}
	writeJSON(w, 200, map[string]any{"sets": sets, "moreAvailable": pos+n < f.revoked})
}
