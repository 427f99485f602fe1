package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const (
	issuerA       = "https://a.example.test"
	issuerB       = "https://b.example.test"
	carolPassword = "carol's secret passphrase"
	alicePassword = "alice's configured passphrase"
)

// accountsFixture is an admin API over real authorization servers, without Caddy.
type accountsFixture struct {
	api    *adminAPI
	stores map[string]store.Store
	logs   *observer.ObservedLogs
}

func newAccountsFixture(t *testing.T, issuers ...string) *accountsFixture {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	f := &accountsFixture{
		api:    &adminAPI{app: &App{issuers: map[string]*authserver.Server{}}, log: zap.NewNop()},
		stores: map[string]store.Store{},
		logs:   logs,
	}
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for i, iss := range issuers {
		st, err := sqlstore.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		srv, err := authserver.New(context.Background(), authserver.Config{
			Issuer:   iss,
			Accounts: []authserver.AccountConfig{{Username: "Alice", Password: alicePassword}},
		}, authserver.Deps{Store: st, Sealer: seal, Logger: zap.New(core).With(zap.Int("issuer", i))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		f.api.app.issuers[iss] = srv
		f.stores[iss] = st
	}
	return f
}

// serve runs the handler and renders its error the way Caddy's admin endpoint does.
func (f *accountsFixture) serve(w http.ResponseWriter, r *http.Request) {
	if err := f.api.handleAccounts(w, r); err != nil {
		var ae caddy.APIError
		if !errors.As(err, &ae) {
			ae = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ae.HTTPStatus)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": ae.Err.Error()})
	}
}

func (f *accountsFixture) do(method, target, body string, header http.Header) (int, string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	f.serve(rec, req)
	return rec.Code, rec.Body.String()
}

// authenticates reports whether username/password signs in at iss.
func (f *accountsFixture) authenticates(t *testing.T, iss, username, password string) bool {
	t.Helper()
	_, err := account.NewStoreSource(f.stores[iss]).Authenticate(context.Background(), username, password)
	if err != nil && !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	return err == nil
}

// noSecretsLogged fails if a password or a hash reached the logs.
func (f *accountsFixture) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	for _, e := range f.logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		text := e.Message + string(line)
		for _, s := range append(secrets, "$argon2id$", "$2a$") {
			if strings.Contains(text, s) {
				t.Errorf("log entry %q contains %q", text, s)
			}
		}
	}
}

func TestAdminAccounts(t *testing.T) {
	f := newAccountsFixture(t, issuerA)
	create := http.Header{"If-None-Match": {"*"}}
	update := http.Header{"If-Match": {"*"}}
	bcrypt := "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	// Steps run in order: each sees the state the previous ones left.
	steps := []struct {
		name, method, target, body string
		header                     http.Header
		status                     int
		want, notWant              string // in the body
	}{
		{"list", "GET", "/oauth/accounts", "", nil, 200, `"username":"alice"`, "argon2"},
		{"list marks configured", "GET", "/oauth/accounts?issuer=" + issuerA, "", nil, 200, `"configured":true`, ""},
		{"create", "PUT", "/oauth/accounts", `{"username": "Carol", "password": "` + carolPassword + `", "claims": {"name": "Carol"}}`, create, 201, `"username":"carol"`, "password"},
		{"create again", "PUT", "/oauth/accounts", `{"username": "carol", "password": "x"}`, create, 412, "already exists: carol", ""},
		{"update missing", "PUT", "/oauth/accounts", `{"username": "dave", "disabled": true}`, update, 412, "no such account: dave", ""},
		{"upsert without password", "PUT", "/oauth/accounts", `{"username": "dave"}`, nil, 400, "needs a password", ""},
		{"update claims", "PUT", "/oauth/accounts", `{"username": "carol", "claims": {"name": "Carol L."}}`, update, 200, `"name":"Carol L."`, ""},
		{"keep claims", "PUT", "/oauth/accounts", `{"username": "carol", "password": "` + carolPassword + `"}`, update, 200, `"name":"Carol L."`, ""},
		{"clear claims", "PUT", "/oauth/accounts", `{"username": "carol", "claims": {}}`, update, 200, `"username":"carol"`, `"claims"`},
		{"set hash", "PUT", "/oauth/accounts", `{"issuer": "` + issuerA + `", "username": "erin", "password_hash": "` + bcrypt + `"}`, nil, 201, `"username":"erin"`, "$2a$"},
		{"disable", "PUT", "/oauth/accounts", `{"username": "erin", "disabled": true}`, update, 200, `"disabled":true`, ""},
		{"configured", "PUT", "/oauth/accounts", `{"username": "ALICE", "disabled": true}`, nil, 409, "declared in the configuration", ""},
		{"password and hash", "PUT", "/oauth/accounts", `{"username": "carol", "password": "x", "password_hash": "` + bcrypt + `"}`, nil, 400, "not both", ""},
		{"bad claim", "PUT", "/oauth/accounts", `{"username": "carol", "claims": {"email_verified": "yes"}}`, nil, 400, "boolean", ""},
		{"unknown field", "PUT", "/oauth/accounts", `{"username": "carol", "admin": true}`, nil, 400, "unknown field", ""},
		{"trailing data", "PUT", "/oauth/accounts", `{"username": "carol"} {}`, nil, 400, "after the JSON", ""},
		{"not JSON", "PUT", "/oauth/accounts", `username=carol`, nil, 400, "decoding", ""},
		{"too large", "PUT", "/oauth/accounts", `{"username": "carol", "claims": {"x": "` + strings.Repeat("a", maxAdminBody) + `"}}`, nil, 400, "too large", ""},
		{"entity tag", "PUT", "/oauth/accounts", `{"username": "carol"}`, http.Header{"If-Match": {`"v1"`}}, 400, "If-Match", ""},
		{"unknown issuer", "PUT", "/oauth/accounts", `{"issuer": "https://nope.example", "username": "carol"}`, nil, 404, "unknown issuer", ""},
		{"method", "POST", "/oauth/accounts", `{}`, nil, 405, "not allowed", ""},
		{"delete configured", "DELETE", "/oauth/accounts?username=alice", "", nil, 409, "declared in the configuration", ""},
		{"delete", "DELETE", "/oauth/accounts?username=Erin", "", nil, 204, "", ""},
		{"delete again", "DELETE", "/oauth/accounts?username=erin", "", nil, 404, "no such account: erin", ""},
		{"delete without username", "DELETE", "/oauth/accounts", "", nil, 400, "username", ""},
		{"list after", "GET", "/oauth/accounts", "", nil, 200, `"username":"carol"`, `"username":"erin"`},
	}
	for _, s := range steps {
		status, body := f.do(s.method, s.target, s.body, s.header)
		if status != s.status || !strings.Contains(body, s.want) || (s.notWant != "" && strings.Contains(body, s.notWant)) {
			t.Errorf("%s: %s %s = %d %s; want %d with %q", s.name, s.method, s.target, status, body, s.status, s.want)
		}
	}
	if !f.authenticates(t, issuerA, "carol", carolPassword) || !f.authenticates(t, issuerA, "alice", alicePassword) {
		t.Error("carol or alice cannot sign in")
	}
	f.noSecretsLogged(t, carolPassword, alicePassword)
}

func TestAdminAccountsIssuerChoice(t *testing.T) {
	f := newAccountsFixture(t, issuerA, issuerB)
	put := `{"issuer": "` + issuerB + `", "username": "carol", "password": "` + carolPassword + `"}`
	if status, body := f.do("PUT", "/oauth/accounts", put, nil); status != 201 {
		t.Fatalf("put = %d %s", status, body)
	}
	for _, tt := range []struct {
		target string
		status int
		want   string
	}{
		{"/oauth/accounts", 400, "issuer is required (configured: [" + issuerA + " " + issuerB + "])"},
		{"/oauth/accounts?issuer=" + issuerA, 200, `"alice"`},
		{"/oauth/accounts?issuer=" + issuerB, 200, `"carol"`},
	} {
		if status, body := f.do("GET", tt.target, "", nil); status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %d %s; want %d with %q", tt.target, status, body, tt.status, tt.want)
		}
	}
	if f.authenticates(t, issuerA, "carol", carolPassword) || !f.authenticates(t, issuerB, "carol", carolPassword) {
		t.Error("the account landed at the wrong issuer")
	}
}

func parseArgs(t *testing.T, args ...string) (accountCommand, error) {
	t.Helper()
	cmd := &cobra.Command{}
	accountFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return parseAccountCommand(caddycmd.Flags{FlagSet: cmd.Flags()})
}

func TestParseAccountCommand(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		claims  map[string]any
	}{
		{args: []string{"list"}},
		{args: []string{"list", "--issuer", issuerA}},
		{args: []string{"add", "--username", "carol"}},
		{args: []string{"add", "-u", "carol", "--claim", "name=Carol = C", "--claim-json", "email_verified=true", "--claim-json", `address={"country":"NZ"}`},
			claims: map[string]any{"name": "Carol = C", "email_verified": true, "address": map[string]any{"country": "NZ"}}},
		{args: []string{"claims", "-u", "carol"}, claims: map[string]any{}},
		{args: []string{"passwd", "-u", "carol", "--password-hash", "$2a$10$x"}},
		{args: []string{}, wantErr: "want one action"},
		{args: []string{"remove", "-u", "carol"}, wantErr: "want one action"},
		{args: []string{"add", "carol"}, wantErr: "want one action"},
		{args: []string{"add"}, wantErr: "needs --username"},
		{args: []string{"list", "-u", "carol"}, wantErr: "takes no --username"},
		{args: []string{"disable", "-u", "carol", "--password-hash", "$2a$10$x"}, wantErr: "takes no --password-hash"},
		{args: []string{"passwd", "-u", "carol", "--claim", "name=C"}, wantErr: "takes no claims"},
		{args: []string{"add", "-u", "carol", "--claim", "name"}, wantErr: "want name=value"},
		{args: []string{"add", "-u", "carol", "--claim", "=x"}, wantErr: "want name=value"},
		{args: []string{"add", "-u", "carol", "--claim", "name=a", "--claim-json", `name="b"`}, wantErr: "given twice"},
		{args: []string{"add", "-u", "carol", "--claim-json", "email_verified=yes"}, wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, err := parseArgs(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(c.claims)
			want, _ := json.Marshal(tt.claims)
			if !bytes.Equal(got, want) {
				t.Errorf("claims = %s, want %s", got, want)
			}
		})
	}
}

// TestAccountCommand drives the command against an admin stand-in that serves the real
// handler, so what the command sends is what the admin API accepts.
func TestAccountCommand(t *testing.T) {
	f := newAccountsFixture(t, issuerA)
	var (
		mu   sync.Mutex
		seen []*http.Request
		body []string
	)
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen, body = append(seen, r), append(body, string(b))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.serve(w, r)
	}))
	defer admin.Close()
	addr := strings.TrimPrefix(admin.URL, "http://")

	const newPassword = "carol's next passphrase"
	steps := []struct {
		args     []string
		password string // what readPassword answers
		out      string // in the output; "" with wantErr
		wantErr  string
		method   string
		header   string // If-Match or If-None-Match sent
		sent     string // in the request body
	}{
		{args: []string{"add", "-u", "carol", "--claim", "name=Carol"}, password: carolPassword, out: "added carol (sub ", method: "PUT", header: "If-None-Match"},
		{args: []string{"add", "-u", "carol"}, password: carolPassword, wantErr: "HTTP 412", method: "PUT"},
		{args: []string{"passwd", "-u", "carol"}, password: newPassword, out: "changed the password of carol", method: "PUT", header: "If-Match"},
		{args: []string{"passwd", "-u", "nobody"}, password: newPassword, wantErr: "no such account: nobody", method: "PUT"},
		{args: []string{"passwd", "-u", "alice"}, password: newPassword, wantErr: "HTTP 409", method: "PUT"},
		{args: []string{"claims", "-u", "carol", "--claim", "email=carol@example.test"}, out: "replaced the claims of carol", method: "PUT", header: "If-Match", sent: `"claims":{"email":"carol@example.test"}`},
		{args: []string{"claims", "-u", "carol"}, out: "replaced the claims of carol", method: "PUT", header: "If-Match", sent: `"claims":{}`},
		{args: []string{"disable", "-u", "carol"}, out: "disabled carol", method: "PUT", header: "If-Match", sent: `"disabled":true`},
		{args: []string{"list"}, out: "USERNAME", method: "GET"},
		{args: []string{"enable", "-u", "carol", "--issuer", issuerA}, out: "enabled carol", method: "PUT", header: "If-Match"},
		{args: []string{"delete", "-u", "carol"}, out: "deleted carol", method: "DELETE"},
		{args: []string{"delete", "-u", "carol"}, wantErr: "HTTP 404", method: "DELETE"},
	}
	for _, s := range steps {
		name := strings.Join(s.args, " ")
		c, err := parseArgs(t, s.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		asked := false
		c.readPassword = func() (string, error) { asked = true; return s.password, nil }
		var out bytes.Buffer
		err = c.run(addr, &out)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("%s: err = %v, want %q", name, err, s.wantErr)
			}
		} else if err != nil || !strings.Contains(out.String(), s.out) {
			t.Errorf("%s: %v, output %q, want %q", name, err, out.String(), s.out)
		}
		if wantAsked := s.args[0] == "add" || s.args[0] == "passwd"; asked != wantAsked {
			t.Errorf("%s: asked for a password: %v", name, asked)
		}
		mu.Lock()
		last, lastBody := seen[len(seen)-1], body[len(body)-1]
		mu.Unlock()
		if last.Method != s.method || (s.header != "" && last.Header.Get(s.header) != "*") {
			t.Errorf("%s: sent %s %v", name, last.Method, last.Header)
		}
		if strings.Contains(lastBody, "password") != (s.password != "") || !strings.Contains(lastBody, s.sent) || strings.Contains(lastBody, "null") {
			t.Errorf("%s: body %s", name, lastBody)
		}
		if s.args[0] == "list" && !strings.Contains(out.String(), "disabled  runtime") {
			t.Errorf("list output:\n%s", out.String())
		}
	}
	if f.authenticates(t, issuerA, "carol", newPassword) {
		t.Error("carol still signs in after delete")
	}
}

// TestAccountCommandThroughCaddy runs the command against a real Caddy's admin endpoint:
// the route is registered and the requests pass its origin checks.
func TestAccountCommandThroughCaddy(t *testing.T) {
	tc := newTestCaddy(t)
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), "account alice {\n password \""+alicePassword+"\"\n }")); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		c, err := parseArgs(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		c.readPassword = func() (string, error) { return carolPassword, nil }
		var out bytes.Buffer
		err = c.run(tc.admin, &out)
		return out.String(), err
	}
	if out, err := run("add", "-u", "carol"); err != nil || !strings.Contains(out, "added carol") {
		t.Fatalf("add: %q %v", out, err)
	}
	out, err := run("list")
	if err != nil || !regexp.MustCompile(`(?m)^alice +\S+ +enabled +config$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^carol +\S+ +enabled +runtime$`).MatchString(out) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := run("delete", "-u", "alice"); err == nil || !strings.Contains(err.Error(), "HTTP 409") {
		t.Fatalf("delete alice: %v", err)
	}
	if out, err := run("delete", "-u", "carol"); err != nil || out != "deleted carol\n" {
		t.Fatalf("delete carol: %q %v", out, err)
	}
}
