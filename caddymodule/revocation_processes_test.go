package caddymodule

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// These tests run separate Caddy processes (the built ./cmd/caddy): Caddy allows one instance
// per process, and gateways in one process would share one subscription.

var (
	caddyBinOnce sync.Once
	caddyBin     string
	caddyBinErr  error
)

// buildCaddy builds ./cmd/caddy once per test run.
func buildCaddy(t *testing.T) string {
	t.Helper()
	caddyBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "caddy-oauth-bin-")
		if err != nil {
			caddyBinErr = err
			return
		}
		caddyBin = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			caddyBinErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if caddyBinErr != nil {
		t.Fatal(caddyBinErr)
	}
	return caddyBin
}

// caddyProcess is one running Caddy.
type caddyProcess struct {
	name   string
	config string
	log    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd's Wait returns
}

// startCaddyProcess writes caddyfile and runs a Caddy on it until the test ends.
func startCaddyProcess(t *testing.T, bin, dir, name, caddyfile string) *caddyProcess {
	t.Helper()
	p := &caddyProcess{name: name, config: filepath.Join(dir, name+".Caddyfile"), log: filepath.Join(dir, name+".log")}
	if err := os.WriteFile(p.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	p.start(t)
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("--- %s log (last 40 lines) ---\n%s", p.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	return p
}

func (p *caddyProcess) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(filepath.Dir(p.config), p.name+".xdg")
	p.cmd = exec.Command(buildCaddy(t), "run", "--config", p.config, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+home+"/data", "XDG_CONFIG_HOME="+home+"/config")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.exited = exited
	go func() { _ = p.cmd.Wait(); logf.Close(); close(exited) }()
}

// stop signals the process and waits for it to exit (killing it after 10 s).
func (p *caddyProcess) stop(sig os.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitServing waits until u answers with any status.
func waitServing(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving: %v", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signedIn is one browser's login session: its cookies and the tokens of its grant.
type signedIn struct {
	browser              *http.Client
	accessToken, idToken string
}

// browserSignIn runs the authorization code flow for alice in a fresh browser (a new login
// session).
func browserSignIn(t *testing.T, issuer, clientID, secret, redirect, resource, password string) *signedIn {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid read"}, "state": {"st"}, "nonce": {"n"}, "resource": {resource},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, err := b.Get(issuer + "/authorize?" + q.Encode())
	for i := 0; err == nil && i < 8; i++ {
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, redirect) {
			resp.Body.Close()
			u, _ := url.Parse(loc)
			code := u.Query().Get("code")
			if code == "" {
				t.Fatalf("authorization failed: %s", loc)
			}
			status, body := postForm(t, issuer+"/token", clientID, secret, url.Values{"grant_type": {"authorization_code"},
				"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
			var out struct {
				AccessToken string `json:"access_token"`
				IDToken     string `json:"id_token"`
			}
			if status != 200 || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
				t.Fatalf("code redemption: %d %s", status, body)
			}
			return &signedIn{browser: b, accessToken: out.AccessToken, idToken: out.IDToken}
		}
		if loc != "" {
			resp.Body.Close()
			next, _ := resp.Request.URL.Parse(loc)
			resp, err = b.Get(next.String())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action, fields := firstForm(t, string(body))
		fields.Set("username", "alice")
		fields.Set("password", password)
		fields.Set("decision", "approve")
		target, _ := resp.Request.URL.Parse(action)
		resp, err = b.PostForm(target.String(), fields)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("sign-in did not reach the redirect URI (status %d)", resp.StatusCode)
	return nil
}

// logout runs RP-initiated logout in the session's browser, confirming on the sign-out page,
// until the redirect back to the client.
func (si *signedIn) logout(t *testing.T, issuer, clientID, redirect string) {
	t.Helper()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	getJSON(t, issuer+"/.well-known/openid-configuration", &meta)
	q := url.Values{"id_token_hint": {si.idToken}, "client_id": {clientID}, "post_logout_redirect_uri": {redirect}}
	resp, err := si.browser.Get(meta.EndSession + "?" + q.Encode())
	for i := 0; err == nil && i < 6; i++ {
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, redirect) {
			resp.Body.Close()
			return
		}
		if loc != "" {
			resp.Body.Close()
			next, _ := resp.Request.URL.Parse(loc)
			resp, err = si.browser.Get(next.String())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action, fields := firstForm(t, string(body))
		fields.Set("decision", "approve")
		target, _ := resp.Request.URL.Parse(action)
		resp, err = si.browser.PostForm(target.String(), fields)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("logout did not return to the client (status %d)", resp.StatusCode)
}

// firstForm returns the action and hidden fields of the page's first form.
func firstForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	found := false
	fields := url.Values{}
	var walk func(n *html.Node, inForm bool)
	walk = func(n *html.Node, inForm bool) {
		if n.Type == html.ElementNode && n.Data == "form" {
			if found {
				return
			}
			found, inForm = true, true
			action = htmlAttr(n, "action")
		}
		if inForm && n.Type == html.ElementNode && n.Data == "input" && htmlAttr(n, "type") == "hidden" {
			fields.Set(htmlAttr(n, "name"), htmlAttr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inForm)
		}
	}
	walk(doc, false)
	if !found {
		t.Fatalf("no form on the page: %.300s", page)
	}
	return action, fields
}

func htmlAttr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// tokenClaims decodes a JWT's payload (the gateways verify it; the test only reads it).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func adminDelete(t *testing.T, admin, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+admin+path, nil)
	req.Header.Set("Origin", "http://"+admin)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %d %s", path, resp.StatusCode, body)
	}
}

// refusedEverywhere waits until every gateway answers 401 for token and logs how long after
// since each took.
func refusedEverywhere(t *testing.T, what string, gateways []string, token string, since time.Time) {
	t.Helper()
	var wg sync.WaitGroup
	took := make([]time.Duration, len(gateways))
	for i, gw := range gateways {
		wg.Go(func() {
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				if statusWith(t, gw+"/", token) == http.StatusUnauthorized {
					took[i] = time.Since(since)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, d := range took {
		if d == 0 {
			t.Fatalf("%s: gateway %s still accepts the token 15 s after the revocation", what, gateways[i])
		}
	}
	t.Logf("%s: refused by the 3 gateways %v after the revocation call", what, took)
}

func passesEverywhere(t *testing.T, what string, gateways []string, token string) {
	t.Helper()
	for _, gw := range gateways {
		if got := statusWith(t, gw+"/", token); got != http.StatusOK {
			t.Errorf("%s: gateway %s answered %d, want 200", what, gw, got)
		}
	}
}

// TestRevocationStreamThreeGatewayProcesses: one authorization server process (SQLite) and
// three gateway processes, each subscribed to its revocation stream. Revoking a JWT, a grant
// and a session (admin API) and ending a session by RP-initiated logout makes every gateway
// refuse exactly the affected tokens (the time each took is logged); a subscriber without
// valid credentials is refused; the AS is killed and restarted on the same database, the
// gateways keep their state and resume, and a revocation after the restart reaches them;
// last, revoking every token of a client reaches them too.
func TestRevocationStreamThreeGatewayProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs four Caddy processes")
	}
	bin := buildCaddy(t)
	_ = bin
	dir := t.TempDir()
	asPort, asAdmin := freePort(t), "127.0.0.1:"+freePort(t)
	issuer := "http://127.0.0.1:" + asPort
	const resource = "https://api.revocation.test"
	const password = "correct horse battery staple 42"
	redirect := "http://127.0.0.1:9/cb"
	asConfig := fmt.Sprintf(`{
	admin %[1]s
	persist_config off
}
%[2]s {
	oauth_server {
		issuer %[2]s
		storage sqlite %[3]s
		master_key %[4]s
		resource %[5]s {
			scopes read
		}
		client gateway {
			secret %[6]s
			grant_types client_credentials
			introspects %[5]s
		}
		client app {
			secret %[7]s
			grant_types authorization_code refresh_token client_credentials
			redirect_uris %[8]s
			post_logout_redirect_uris %[8]s
			scopes openid read
			resources %[5]s
			skip_consent
		}
		account alice {
			password "%[9]s"
		}
	}
}
`, asAdmin, issuer, filepath.Join(dir, "oauth.db"), testMasterKey, resource, gatewaySecret, testSecret, redirect, password)
	as := startCaddyProcess(t, bin, dir, "as", asConfig)
	waitServing(t, issuer+"/.well-known/openid-configuration")

	var gateways []string
	for i := range 3 {
		gw := "http://127.0.0.1:" + freePort(t)
		gateways = append(gateways, gw)
		startCaddyProcess(t, bin, dir, fmt.Sprintf("gateway-%d", i+1), fmt.Sprintf(`{
	admin off
}
%[1]s {
	oauth_resource {
		resource %[2]s
		issuer %[3]s
		introspection_client gateway %[4]s
		revocation_stream
		outbound_allow_private
	}
	respond "ok"
}
`, gw, resource, issuer, gatewaySecret))
	}
	for _, gw := range gateways {
		waitServing(t, gw+"/")
	}

	ccToken := func() string { return requestToken(t, issuer+"/token", "app", testSecret, resource, "read") }
	jwtRevoked, jwtKept := ccToken(), ccToken()
	// Three sign-ins: three login sessions, three grants.
	// Four sign-ins: four login sessions, four grants.
	signIn := func() *signedIn { return browserSignIn(t, issuer, "app", testSecret, redirect, resource, password) }
	grantTok, sessionTok, keptTok := signIn().accessToken, signIn().accessToken, signIn().accessToken
	loggedOut := signIn()
	logoutTok := loggedOut.accessToken
	for name, tok := range map[string]string{"grant": grantTok, "session": sessionTok, "kept": keptTok, "logout": logoutTok} {
		c := tokenClaims(t, tok)
		if g, _ := c["grant_id"].(string); g == "" {
			t.Fatalf("%s token has no grant_id claim: %v", name, c)
		}
		if s, _ := c["sid"].(string); s == "" {
			t.Fatalf("%s token has no sid claim: %v", name, c)
		}
	}
	all := map[string]string{"jwt": jwtRevoked, "jwt kept": jwtKept, "grant": grantTok, "session": sessionTok, "kept": keptTok, "logout": logoutTok}
	for name, tok := range all {
		passesEverywhere(t, "before any revocation: "+name, gateways, tok)
	}

	// One JWT, by /revoke.
	start := time.Now()
	if status, body := postForm(t, issuer+"/revoke", "app", testSecret, url.Values{"token": {jwtRevoked}}); status != 200 {
		t.Fatalf("/revoke: %d %s", status, body)
	}
	refusedEverywhere(t, "JWT revoked at /revoke", gateways, jwtRevoked, start)

	// A grant, by the admin API.
	grantID := tokenClaims(t, grantTok)["grant_id"].(string)
	start = time.Now()
	adminDelete(t, asAdmin, "/oauth/grants?grant_id="+url.QueryEscape(grantID))
	refusedEverywhere(t, "grant revoked by the admin API", gateways, grantTok, start)

	// A session, by an admin sign-out.
	sid := tokenClaims(t, sessionTok)["sid"].(string)
	start = time.Now()
	adminDelete(t, asAdmin, "/oauth/sessions?session_id="+url.QueryEscape(sid))
	refusedEverywhere(t, "session signed out by the admin API", gateways, sessionTok, start)

	// A session ended by the user: RP-initiated logout.
	start = time.Now()
	loggedOut.logout(t, issuer, "app", redirect)
	refusedEverywhere(t, "session ended by RP-initiated logout", gateways, logoutTok, start)

	passesEverywhere(t, "unaffected JWT", gateways, jwtKept)
	passesEverywhere(t, "unaffected grant and session", gateways, keptTok)

	// A subscriber without valid credentials is refused by the transmitter.
	for _, cred := range [][2]string{{"gateway", "wrong-secret"}, {"app", testSecret}, {"", ""}} {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/ssf/streams", strings.NewReader(`{"delivery":{"method":"urn:ietf:rfc:8936"}}`))
		req.Header.Set("Content-Type", "application/json")
		if cred[0] != "" {
			req.SetBasicAuth(cred[0], cred[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// app is a valid client that introspects nothing: 403; the others are not clients: 401.
		want := http.StatusUnauthorized
		if cred[0] == "app" {
			want = http.StatusForbidden
		}
		if resp.StatusCode != want {
			t.Errorf("stream creation as %q: %d, want %d", cred[0], resp.StatusCode, want)
		}
		if want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("stream creation as %q: WWW-Authenticate %q", cred[0], resp.Header.Get("WWW-Authenticate"))
		}
	}

	// Kill the AS: the gateways keep their state (fail_closed_after 0: keep serving).
	as.stop(syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)
	for _, gw := range gateways {
		if got := statusWith(t, gw+"/", jwtRevoked); got != http.StatusUnauthorized {
			t.Errorf("AS down: gateway %s answered %d for a revoked token", gw, got)
		}
		if got := statusWith(t, gw+"/", jwtKept); got != http.StatusOK {
			t.Errorf("AS down: gateway %s answered %d for a valid cached token", gw, got)
		}
	}
	// Restart it on the same database: the gateways resume, and a new revocation reaches them.
	as.start(t)
	waitServing(t, issuer+"/.well-known/openid-configuration")
	start = time.Now()
	if status, body := postForm(t, issuer+"/revoke", "app", testSecret, url.Values{"token": {jwtKept}}); status != 200 {
		t.Fatalf("/revoke after restart: %d %s", status, body)
	}
	refusedEverywhere(t, "JWT revoked after the AS restarted", gateways, jwtKept, start)
	for name, tok := range map[string]string{"jwt": jwtRevoked, "grant": grantTok, "session": sessionTok, "logout": logoutTok} {
		for _, gw := range gateways {
			if got := statusWith(t, gw+"/", tok); got != http.StatusUnauthorized {
				t.Errorf("after restart: %s token at %s answered %d", name, gw, got)
			}
		}
	}
	passesEverywhere(t, "after restart: unaffected grant and session", gateways, keptTok)

	// Every token of a client, by the admin API: its client_credentials JWT has no grant and
	// no row, only the client's cut-off covers it (a client event on the stream). A token
	// issued in a later second passes.
	ccBefore := ccToken()
	passesEverywhere(t, "client token before its client's revocation", gateways, ccBefore)
	start = time.Now()
	adminDelete(t, asAdmin, "/oauth/grants?client_id=app")
	cutBy := time.Now() // the cut-off is in this second or an earlier one
	refusedEverywhere(t, "client's tokens revoked by the admin API", gateways, ccBefore, start)
	refusedEverywhere(t, "client's grants revoked by the admin API", gateways, keptTok, start)
	time.Sleep(time.Until(cutBy.Truncate(time.Second).Add(1100 * time.Millisecond)))
	passesEverywhere(t, "client token issued after its client's revocation", gateways, ccToken())
}
