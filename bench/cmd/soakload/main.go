// Command soakload drives the mixed load of bench/soak.sh against one Caddy (bench/soak.Caddyfile)
// and samples the server while it runs. Workers loop over a fixed mix: client_credentials
// tokens (ES256 JWT, opaque, DPoP-bound), introspection, gateway calls with a JWT, an opaque
// token and a DPoP-bound JWT with a fresh proof per call, and refreshes; one more worker signs
// a user in through the login and consent pages (authorization code + PKCE) over and over,
// which also yields the refresh tokens the others rotate. Every answer is checked: a status
// other than the one expected counts as an error.
//
// Every -interval it writes one CSV row: the server's RSS, goroutines (Caddy's admin metrics),
// open files, database size (file + WAL), live rows of the main tables, and the requests and
// errors of the interval. At the end it judges the run: after the warm-up, the last part of
// the run must not sit above the first part by more than the allowed drift (see judge).
//
//	SOAK_CLIENT_SECRET=… SOAK_WEB_SECRET=… SOAK_GATEWAY_SECRET=… SOAK_PASSWORD=… soakload \
//	    -base http://127.0.0.1:8080 -metrics http://127.0.0.1:2019/metrics -pid 1234 \
//	    -db /tmp/oauth.db -d 30m -c 6 -csv soak.csv
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	_ "modernc.org/sqlite"
)

// Resources and clients of bench/soak.Caddyfile.
const (
	jwtResource    = "https://jwt.soak.test"
	opaqueResource = "https://opaque.soak.test"
	dpopResource   = "https://dpop.soak.test"
	redirectURI    = "http://127.0.0.1:9/callback" // never fetched: the code is read off the Location header
)

type options struct {
	base, metrics, db, csvPath string
	pid, workers               int
	duration, interval, warmup time.Duration
	clientSecret, webSecret    string
	gatewaySecret, password    string
}

func main() {
	var o options
	flag.StringVar(&o.base, "base", "", "the Caddy site: issuer and gateway routes")
	flag.StringVar(&o.metrics, "metrics", "", "Caddy's admin metrics URL (go_goroutines)")
	flag.StringVar(&o.db, "db", "", "the SQLite database file of the authorization server")
	flag.StringVar(&o.csvPath, "csv", "soak.csv", "output CSV")
	flag.IntVar(&o.pid, "pid", 0, "Caddy's pid (RSS and open files from /proc)")
	flag.IntVar(&o.workers, "c", 6, "token and gateway workers (plus one signing in)")
	flag.DurationVar(&o.duration, "d", 30*time.Minute, "how long to run")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "sampling interval")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Minute, "left out of the judgement (caches and the database fill up)")
	judgeCSV := flag.String("judge", "", "only judge the samples of this CSV (an earlier run's) and exit")
	flag.Parse()
	if *judgeCSV != "" {
		samples, err := readCSV(*judgeCSV)
		if err == nil {
			verdicts, ok := judge(samples, o.warmup)
			for _, v := range verdicts {
				fmt.Println(v)
			}
			if !ok {
				err = errors.New("the soak's resources grew")
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "soakload:", err)
			os.Exit(1)
		}
		return
	}
	o.clientSecret, o.webSecret = os.Getenv("SOAK_CLIENT_SECRET"), os.Getenv("SOAK_WEB_SECRET")
	o.gatewaySecret, o.password = os.Getenv("SOAK_GATEWAY_SECRET"), os.Getenv("SOAK_PASSWORD")
	if o.base == "" || o.metrics == "" || o.db == "" || o.pid == 0 || o.clientSecret == "" || o.webSecret == "" ||
		o.gatewaySecret == "" || o.password == "" || o.workers < 1 {
		fmt.Fprintln(os.Stderr, "soakload: -base, -metrics, -db, -pid and the SOAK_* secrets are required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soakload:", err)
		os.Exit(1)
	}
}

// tally counts answers by operation for one interval and for the whole run.
type tally struct {
	mu     sync.Mutex
	ok     map[string]int
	failed map[string]int
	total  int
	errs   int
	// lastErr keeps a few examples for the report.
	examples []string
}

func newTally() *tally { return &tally{ok: map[string]int{}, failed: map[string]int{}} }

func (t *tally) note(op string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if err == nil {
		t.ok[op]++
		return
	}
	t.errs++
	t.failed[op]++
	if len(t.examples) < 10 {
		t.examples = append(t.examples, op+": "+err.Error())
	}
}

// take returns the interval's requests and errors and starts the next interval.
func (t *tally) take() (requests, errs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	requests, errs = t.total, t.errs
	t.total, t.errs = 0, 0
	return
}

type loader struct {
	o      options
	client *http.Client
	tally  *tally
	all    *tally // the whole run, by operation

	// refresh tokens from sign-ins, handed to the workers that rotate them
	refresh chan grantToken
	signIns atomic.Int64
}

func run(o options) error {
	l := &loader{
		o:       o,
		client:  &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		tally:   newTally(),
		all:     newTally(),
		refresh: make(chan grantToken, 64),
	}
	l.client.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	db, err := sql.Open("sqlite", "file:"+o.db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()

	f, err := os.Create(o.csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	out := csv.NewWriter(f)
	header := append([]string{"elapsed_s", "rss_mib", "goroutines", "open_files", "db_mib"}, rowColumns()...)
	header = append(header, "requests", "errors", "sign_ins")
	out.Write(header)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() { l.worker(stop) })
	}
	wg.Go(func() { l.signInLoop(stop) })

	start := time.Now()
	var samples []sample
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for now := range tick.C {
		s, err := l.sample(db, now.Sub(start))
		if err != nil {
			close(stop)
			wg.Wait()
			return err
		}
		samples = append(samples, s)
		out.Write(s.record())
		out.Flush()
		fmt.Printf("%5.0fs rss %6.1f MiB  goroutines %5d  files %4d  db %6.1f MiB  rows %v  req %6d  errors %d\n",
			s.elapsed.Seconds(), s.rssMiB, s.goroutines, s.openFiles, s.dbMiB, s.rows, s.requests, s.errors)
		if now.Sub(start) >= o.duration {
			break
		}
	}
	close(stop)
	wg.Wait()
	if err := out.Error(); err != nil {
		return err
	}
	return l.report(samples)
}

// grantToken is a refresh token and when its grant began: a chain is rotated only while its
// grant and session are sure to be alive (maxChainAge, well inside soak.Caddyfile's 2-minute
// idle and 3-minute absolute lifetimes), so every invalid_grant is an error of the server's.
type grantToken struct {
	token string
	since time.Time
}

const maxChainAge = 90 * time.Second

// worker runs the mix. Tokens are renewed every 30 s (their TTL is short so that pruning
// shows in the run); each loop sends one request of every kind, gateway calls three times.
func (l *loader) worker(stop <-chan struct{}) {
	prover, err := newProver()
	if err != nil {
		l.note("dpop-key", err)
		return
	}
	var jwtTok, opaqueTok, dpopTok string
	var renewed time.Time
	for {
		select {
		case <-stop:
			return
		default:
		}
		if time.Since(renewed) > 30*time.Second || jwtTok == "" || opaqueTok == "" || dpopTok == "" {
			jwtTok = l.token("token-jwt", jwtResource, nil)
			opaqueTok = l.token("token-opaque", opaqueResource, nil)
			dpopTok = l.token("token-dpop", dpopResource, prover)
			renewed = time.Now()
		}
		for range 3 {
			l.gateway("gateway-jwt", "/jwt/x", "Bearer "+jwtTok, nil, "")
			l.gateway("gateway-opaque", "/opaque/x", "Bearer "+opaqueTok, nil, "")
		}
		l.gateway("gateway-dpop", "/dpop/x", "DPoP "+dpopTok, prover, dpopTok)
		l.gateway("gateway-dpop", "/dpop/x", "DPoP "+dpopTok, prover, dpopTok)
		l.introspect(opaqueTok)
		// One more opaque token per loop, thrown away: each is a row the cleanup must prune.
		l.token("token-opaque", opaqueResource, nil)
		// A worker with no refresh token to rotate takes the next token request instead.
		select {
		case rt := <-l.refresh:
			if time.Since(rt.since) > maxChainAge {
				break // let this grant end with its session
			}
			if next := l.rotate(rt.token); next != "" {
				select {
				case l.refresh <- grantToken{next, rt.since}:
				default: // enough in the pool: this grant simply ends with its session
				}
			}
		default:
			l.token("token-jwt", jwtResource, nil)
		}
	}
}

func (l *loader) note(op string, err error) {
	l.tally.note(op, err)
	l.all.note(op, err)
}

func (l *loader) post(path string, form url.Values, user, pass string, h http.Header) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, l.o.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, resp.Header, err
}

// token obtains an access token with client_credentials; with p, a DPoP-bound one.
func (l *loader) token(op, resource string, p *prover) string {
	h := http.Header{}
	if p != nil {
		proof, err := p.proof(http.MethodPost, l.o.base+"/token", "")
		if err != nil {
			l.note(op, err)
			return ""
		}
		h.Set("DPoP", proof)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"read"}}
	status, body, _, err := l.post("/token", form, "soak-client", l.o.clientSecret, h)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err == nil {
		err = json.Unmarshal(body, &tok)
	}
	if err == nil && tok.AccessToken == "" {
		err = errors.New("no access_token")
	}
	l.note(op, err)
	return tok.AccessToken
}

func (l *loader) gateway(op, path, authorization string, p *prover, token string) {
	req, err := http.NewRequest(http.MethodGet, l.o.base+path, nil)
	if err != nil {
		l.note(op, err)
		return
	}
	req.Header.Set("Authorization", authorization)
	if p != nil {
		sum := sha256.Sum256([]byte(token))
		proof, err := p.proof(http.MethodGet, l.o.base+path, base64.RawURLEncoding.EncodeToString(sum[:]))
		if err != nil {
			l.note(op, err)
			return
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := l.client.Do(req)
	if err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			err = fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
		}
	}
	l.note(op, err)
}

func (l *loader) introspect(token string) {
	status, body, _, err := l.post("/introspect", url.Values{"token": {token}}, "soak-gateway", l.o.gatewaySecret, nil)
	if err == nil && (status != http.StatusOK || !strings.Contains(string(body), `"active":true`)) {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	l.note("introspect", err)
}

// rotate redeems a refresh token and returns its successor.
func (l *loader) rotate(rt string) string {
	status, body, _, err := l.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "soak-web", l.o.webSecret, nil)
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err == nil {
		err = json.Unmarshal(body, &tok)
	}
	l.note("refresh", err)
	return tok.RefreshToken
}

// signInLoop signs the soak user in again and again, each time as a new browser (a new
// session), with a pause so password hashing does not crowd out the rest of the mix.
func (l *loader) signInLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
		began := time.Now()
		rt, err := l.signIn()
		l.note("sign-in", err)
		if err == nil {
			l.signIns.Add(1)
			select {
			case l.refresh <- grantToken{rt, began}:
			default:
			}
		}
	}
}

var hiddenInput = regexp.MustCompile(`name="(csrf_token|interaction)" value="([^"]*)"`)

func formFields(page []byte) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllSubmatch(page, -1) {
		v.Set(string(m[1]), string(m[2]))
	}
	return v
}

// signIn runs the authorization code flow with PKCE through the pages and returns the refresh
// token of the exchange.
func (l *loader) signIn() (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: l.client.Transport,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {"soak-web"}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid offline_access read"}, "state": {randomString()}, "resource": {jwtResource},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, err := c.Get(l.o.base + "/authorize?" + q.Encode())
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	login := formFields(page)
	if login.Get("csrf_token") == "" {
		return "", fmt.Errorf("authorize: status %d, no login form", resp.StatusCode)
	}
	login.Set("username", "soak")
	login.Set("password", l.o.password)
	login.Set("decision", "approve")
	resp, err = c.PostForm(l.o.base+"/login", login)
	if err != nil {
		return "", err
	}
	page, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK { // the consent page (not remembered yet)
		consent := formFields(page)
		if consent.Get("csrf_token") == "" {
			return "", fmt.Errorf("login: status %d, no consent form", resp.StatusCode)
		}
		consent.Set("remember", "1")
		consent.Set("decision", "approve")
		if resp, err = c.PostForm(l.o.base+"/consent", consent); err != nil {
			return "", err
		}
		resp.Body.Close()
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("no code: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	status, body, _, err := l.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, "soak-web", l.o.webSecret, nil)
	if err != nil {
		return "", err
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.RefreshToken == "" || tok.IDToken == "" {
		return "", fmt.Errorf("code exchange: status %d: %.200s", status, body)
	}
	return tok.RefreshToken, nil
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// prover signs DPoP proofs (RFC 9449 §4.2) with one ES256 key.
type prover struct{ signer jose.Signer }

func newProver() (*prover, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	return &prover{signer: s}, nil
}

func (p *prover) proof(method, htu, ath string) (string, error) {
	claims := map[string]any{"jti": randomString(), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if ath != "" {
		claims["ath"] = ath
	}
	return jwt.Signed(p.signer).Claims(claims).Serialize()
}

// sample is one CSV row.
type sample struct {
	elapsed            time.Duration
	rssMiB, dbMiB      float64
	goroutines         int
	openFiles          int
	rows               map[string]int
	requests, errors   int
	signIns            int64
	rowOrder           []string
	goroutinesScrapeOK bool
}

// Live rows of the tables the mix writes; expired ones must be pruned by the cleanup.
var tables = []string{"oauth_access_tokens", "oauth_grants", "oauth_grant_jtis", "oauth_refresh_tokens", "oauth_sessions",
	"oauth_authorization_codes", "oauth_used_keys", "oauth_revocation_events"}

func rowColumns() []string {
	cols := make([]string, len(tables))
	for i, t := range tables {
		cols[i] = strings.TrimPrefix(t, "oauth_") + "_rows"
	}
	return cols
}

func (l *loader) sample(db *sql.DB, elapsed time.Duration) (sample, error) {
	s := sample{elapsed: elapsed, rows: map[string]int{}, rowOrder: tables}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.o.pid))
	if err != nil {
		return s, fmt.Errorf("the server is gone: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			s.rssMiB = float64(kb) / 1024
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.o.pid))
	if err != nil {
		return s, err
	}
	s.openFiles = len(fds)
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(l.o.db + suffix); err == nil {
			s.dbMiB += float64(fi.Size()) / (1 << 20)
		}
	}
	for _, t := range tables {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + t).Scan(&n); err != nil {
			return s, fmt.Errorf("count %s: %w", t, err)
		}
		s.rows[t] = n
	}
	s.goroutines, err = scrapeGoroutines(l.client, l.o.metrics)
	if err != nil {
		return s, err
	}
	s.requests, s.errors = l.tally.take()
	s.signIns = l.signIns.Load()
	return s, nil
}

func scrapeGoroutines(c *http.Client, metricsURL string) (int, error) {
	resp, err := c.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n), err
		}
	}
	return 0, errors.New("go_goroutines is not in the metrics")
}

func (s sample) record() []string {
	r := []string{strconv.FormatFloat(s.elapsed.Seconds(), 'f', 0, 64), strconv.FormatFloat(s.rssMiB, 'f', 1, 64),
		strconv.Itoa(s.goroutines), strconv.Itoa(s.openFiles), strconv.FormatFloat(s.dbMiB, 'f', 2, 64)}
	for _, t := range s.rowOrder {
		r = append(r, strconv.Itoa(s.rows[t]))
	}
	return append(r, strconv.Itoa(s.requests), strconv.Itoa(s.errors), strconv.FormatInt(s.signIns, 10))
}

// report prints the totals by operation and the judgement, and fails the run when a request
// failed or a resource grew.
func (l *loader) report(samples []sample) error {
	ops := make([]string, 0, len(l.all.ok))
	for op := range l.all.ok {
		ops = append(ops, op)
	}
	for op := range l.all.failed {
		if _, ok := l.all.ok[op]; !ok {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	fmt.Println("\noperation        ok        errors")
	for _, op := range ops {
		fmt.Printf("%-14s %9d %9d\n", op, l.all.ok[op], l.all.failed[op])
	}
	for _, e := range l.all.examples {
		fmt.Println("example error:", e)
	}
	verdicts, ok := judge(samples, l.o.warmup)
	for _, v := range verdicts {
		fmt.Println(v)
	}
	fmt.Printf("RESULT requests=%d errors=%d sign_ins=%d flat=%v csv=%s\n", l.all.total, l.all.errs, l.signIns.Load(), ok, filepath.Base(l.o.csvPath))
	if l.all.errs > 0 || !ok {
		return errors.New("the soak failed: see above")
	}
	return nil
}

// judge compares the first and the last third of the samples after the warm-up: RSS by
// medians, goroutines, open files and the database file by maxima (a sawtooth of pruning must
// not ratchet up), and table rows by maxima per request rate — how many rows are live at once
// is the rate times their lifetime, and the rate drifts with the machine, so a leak shows as
// rows per request/s growing. The allowances are generous for noise but catch a steady leak.
func judge(samples []sample, warmup time.Duration) ([]string, bool) {
	var after []sample
	for _, s := range samples {
		if s.elapsed >= warmup {
			after = append(after, s)
		}
	}
	if len(after) < 6 {
		return []string{"verdict: not judged (fewer than 6 samples after the warm-up)"}, false
	}
	third := len(after) / 3
	first, last := after[:third], after[len(after)-third:]
	type check struct {
		name  string
		value func(sample) float64
		slack float64 // absolute allowance on top of the ratio
		ratio float64
		whole func([]sample) float64 // instead of value: a figure of the whole third
	}
	checks := []check{
		{name: "rss_mib (median)", value: func(s sample) float64 { return s.rssMiB }, slack: 16, ratio: 1.15},
		{name: "goroutines (max)", value: func(s sample) float64 { return float64(s.goroutines) }, slack: 20, ratio: 1.10},
		{name: "open_files (max)", value: func(s sample) float64 { return float64(s.openFiles) }, slack: 10, ratio: 1.10},
	}
	// SQLite reuses freed pages but never shrinks the file: its size follows the most rows
	// ever live at once, which follows the load. So the file is judged per live row at the
	// highest peak seen so far (a leak of pages would raise it).
	peakRows := func(upTo sample) float64 {
		peak := 0.0
		for _, s := range samples {
			if s.elapsed > upTo.elapsed {
				break
			}
			n := 0
			for _, t := range tables {
				n += s.rows[t]
			}
			peak = max(peak, float64(n))
		}
		return peak
	}
	checks = append(checks, check{name: "db KiB per row at the peak so far (max)", slack: 0.1, ratio: 1.20, whole: func(ss []sample) float64 {
		return maxOf(ss, func(s sample) float64 { return s.dbMiB * 1024 / max(peakRows(s), 1) })
	}})
	for _, t := range tables {
		// Rows at the peak per request in an average interval.
		rowsPerRate := func(ss []sample) float64 {
			rate := 0.0
			for _, s := range ss {
				rate += float64(s.requests)
			}
			rate /= float64(len(ss))
			return maxOf(ss, func(s sample) float64 { return float64(s.rows[t]) }) / max(rate, 1)
		}
		checks = append(checks, check{name: strings.TrimPrefix(t, "oauth_") + " rows / requests per 10 s (max)", whole: rowsPerRate, slack: 0.05, ratio: 1.25})
	}
	var out []string
	ok := true
	for _, c := range checks {
		pick := maxOf
		if strings.Contains(c.name, "median") {
			pick = medianOf
		}
		var a, b float64
		if c.whole != nil {
			a, b = c.whole(first), c.whole(last)
		} else {
			a, b = pick(first, c.value), pick(last, c.value)
		}
		limit := a*c.ratio + c.slack
		verdict := "flat"
		if b > limit {
			verdict, ok = "GREW", false
		}
		out = append(out, fmt.Sprintf("%-40s first third %10.2f  last third %10.2f  limit %10.2f  %s", c.name, a, b, limit, verdict))
	}
	return out, ok
}

func maxOf(ss []sample, v func(sample) float64) float64 {
	m := 0.0
	for _, s := range ss {
		m = max(m, v(s))
	}
	return m
}

func medianOf(ss []sample, v func(sample) float64) float64 {
	vals := make([]float64, len(ss))
	for i, s := range ss {
		vals[i] = v(s)
	}
	sort.Float64s(vals)
	return vals[len(vals)/2]
}

// readCSV reads the samples of a CSV this program wrote.
func readCSV(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil || len(records) < 2 {
		return nil, fmt.Errorf("%s: %v (%d lines)", path, err, len(records))
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	num := func(r []string, name string) float64 {
		i, ok := col[name]
		if !ok {
			return 0
		}
		v, _ := strconv.ParseFloat(r[i], 64)
		return v
	}
	var out []sample
	for _, r := range records[1:] {
		s := sample{elapsed: time.Duration(num(r, "elapsed_s")) * time.Second, rssMiB: num(r, "rss_mib"), dbMiB: num(r, "db_mib"),
			goroutines: int(num(r, "goroutines")), openFiles: int(num(r, "open_files")), requests: int(num(r, "requests")),
			errors: int(num(r, "errors")), rows: map[string]int{}, rowOrder: tables}
		for i, t := range tables {
			s.rows[t] = int(num(r, rowColumns()[i]))
		}
		out = append(out, s)
	}
	return out, nil
}
