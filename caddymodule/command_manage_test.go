package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

// fakeAdmin is an admin endpoint that records each request and answers with the next
// canned answer; the commands reach it through Caddy's real AdminAPIRequest (--address).
type fakeAdmin struct {
	t    *testing.T
	addr string

	mu      sync.Mutex
	got     []recordedRequest
	answers []cannedAnswer
}

type recordedRequest struct {
	method, uri, contentType, origin string
	body                             []byte
}

type cannedAnswer struct {
	status int
	body   string
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	f := &fakeAdmin{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, recordedRequest{r.Method, r.RequestURI, r.Header.Get("Content-Type"), r.Header.Get("Origin"), b})
		a := cannedAnswer{status: http.StatusOK, body: "{}"}
		if len(f.answers) > 0 {
			a, f.answers = f.answers[0], f.answers[1:]
		}
		f.mu.Unlock()
		if a.status == http.StatusNoContent {
			w.WriteHeader(a.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	f.addr = strings.TrimPrefix(srv.URL, "http://")
	return f
}

func (f *fakeAdmin) answer(answers ...cannedAnswer) {
	f.mu.Lock()
	f.answers = answers
	f.got = nil
	f.mu.Unlock()
}

func (f *fakeAdmin) requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.got...)
}

// runManage runs one management command line (as `caddy <name> args…`) against addr.
func runManage(t *testing.T, commands func(*cobra.Command, adminSender), addr string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "caddy-test", SilenceUsage: true, SilenceErrors: true}
	commands(root, nil)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(append(args, "--address", addr))
	err := root.Execute()
	return out.String(), err
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var va, vb any
	if len(a) == 0 && b == "" {
		return true
	}
	if err := json.Unmarshal(a, &va); err != nil {
		t.Errorf("sent body %q: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("want body %q: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

const clientView = `{"client_id":"web","client_name":"Web","source":"admin","configured":false,
	"token_endpoint_auth_method":"none","grant_types":["authorization_code"],
	"redirect_uris":["https://app.example/cb"],"scope":"openid profile","resources":["https://api.example"]}`

// TestManageCommandRequests checks, for each command line, the request it sends (method,
// path and query, content type, body) and what it prints of the answer.
func TestManageCommandRequests(t *testing.T) {
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	docFile := filepath.Join(t.TempDir(), "client.json")
	if err := os.WriteFile(docFile, []byte(`{"client_id":"svc","grant_types":["client_credentials"],"client_name":"From file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	client, resource, regtoken := clientCommands, resourceCommands, registrationTokenCommands
	tests := []struct {
		name     string
		commands func(*cobra.Command, adminSender)
		args     []string
		answer   cannedAnswer
		method   string
		uri      string
		ctype    string // "" means application/json when there is a body
		body     string // JSON; "" for none
		out      []string
	}{
		{
			name: "client add", commands: client,
			args: []string{"add", "--id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb",
				"--grant-type", "authorization_code", "--scope", "openid profile", "--resource", "https://api.example", "--auth-method", "none"},
			answer: cannedAnswer{201, clientView}, method: "POST", uri: "/oauth/clients",
			body: `{"client_id":"web","client_name":"Web","redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code"],
				"scope":"openid profile","resources":["https://api.example"],"token_endpoint_auth_method":"none"}`,
			out: []string{"client_id                   web\n", "scope                       openid profile\n", "source                      admin\n"},
		},
		{
			name: "client add: repeated and space-separated values, booleans, JSON from a file, --set", commands: client,
			args: []string{"add", "--id", "svc", "--scope", "read", "--scope", "write admin", "--grant-type", "client_credentials",
				"--resource", "https://a.example https://b.example", "--skip-consent", "--dpop-bound=false", "--jwks", "@" + jwksFile,
				"--set", `software_statement="x"`, "--issuer", "https://auth.example"},
			answer: cannedAnswer{201, `{"client_id":"svc","client_secret":"s3cret"}`},
			method: "POST", uri: "/oauth/clients?issuer=https%3A%2F%2Fauth.example",
			body: `{"client_id":"svc","scope":"read write admin","grant_types":["client_credentials"],"resources":["https://a.example","https://b.example"],
				"skip_consent":true,"dpop_bound_access_tokens":false,"jwks":{"keys":[]},"software_statement":"x"}`,
			out: []string{"client_id      svc\nclient_secret  s3cret\n"},
		},
		{
			name: "client add: an mTLS client under FAPI 2.0", commands: client,
			args: []string{"add", "--id", "pay", "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=pay,O=Example",
				"--certificate-bound", "--profile", "fapi2", "--require-par", "--jarm-alg", "PS256"},
			answer: cannedAnswer{201, `{"client_id":"pay"}`}, method: "POST", uri: "/oauth/clients",
			body: `{"client_id":"pay","token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=pay,O=Example",
				"tls_client_certificate_bound_access_tokens":true,"profile":"fapi2","require_pushed_authorization_requests":true,
				"authorization_signed_response_alg":"PS256"}`,
			out: []string{"client_id  pay\n"},
		},
		{
			name: "client add from a file, flags override", commands: client,
			args:   []string{"add", "--file", docFile, "--name", "Service"},
			answer: cannedAnswer{201, `{"client_id":"svc"}`}, method: "POST", uri: "/oauth/clients",
			body: `{"client_id":"svc","grant_types":["client_credentials"],"client_name":"Service"}`,
		},
		{
			name: "client add --json prints the answer", commands: client,
			args:   []string{"add", "--id", "svc", "--json"},
			answer: cannedAnswer{201, `{"client_id":"svc","client_secret":"s3cret"}`}, method: "POST", uri: "/oauth/clients",
			body: `{"client_id":"svc"}`,
			out:  []string{"{\n  \"client_id\": \"svc\",\n  \"client_secret\": \"s3cret\"\n}\n"},
		},
		{
			name: "client show", commands: client, args: []string{"show", "web"},
			answer: cannedAnswer{200, clientView}, method: "GET", uri: "/oauth/clients/web",
			out: []string{"client_name                 Web\n", "grant_types                 authorization_code\n"},
		},
		{
			name: "client show: an URL client ID is one path segment", commands: client,
			args:   []string{"show", "https://app.example/client.json"},
			answer: cannedAnswer{200, `{"client_id":"https://app.example/client.json"}`},
			method: "GET", uri: "/oauth/clients/https:%2F%2Fapp.example%2Fclient.json",
		},
		{
			name: "client update is a merge patch of the given flags", commands: client,
			args:   []string{"update", "web", "--scope", "openid profile email", "--disabled", "--unset", "logo_uri"},
			answer: cannedAnswer{200, clientView}, method: "PATCH", uri: "/oauth/clients/web", ctype: mergePatchType,
			body: `{"scope":"openid profile email","disabled":true,"logo_uri":null}`,
		},
		{
			name: "client update --disabled=false", commands: client,
			args:   []string{"update", "web", "--disabled=false"},
			answer: cannedAnswer{200, clientView}, method: "PATCH", uri: "/oauth/clients/web", ctype: mergePatchType,
			body: `{"disabled":false}`,
		},
		{
			name: "client delete", commands: client, args: []string{"delete", "web"},
			answer: cannedAnswer{204, ""}, method: "DELETE", uri: "/oauth/clients/web",
			out: []string{"deleted client web\n"},
		},
		{
			name: "client rotate-secret", commands: client, args: []string{"rotate-secret", "web", "--overlap", "24h"},
			answer: cannedAnswer{200, `{"client_id":"web","client_secret":"n3w","previous_secret_expires_at":"2030-01-02T03:04:05Z"}`},
			method: "POST", uri: "/oauth/clients/web/secret", body: `{"overlap":"24h"}`,
			out: []string{"client_id                   web\nclient_secret               n3w\nprevious_secret_expires_at  2030-01-02T03:04:05Z\n"},
		},
		{
			name: "client rotate-secret without --overlap leaves it to the server", commands: client, args: []string{"rotate-secret", "web"},
			answer: cannedAnswer{200, `{"client_id":"web","client_secret":"n3w"}`},
			method: "POST", uri: "/oauth/clients/web/secret", body: `{}`,
		},
		{
			name: "client link", commands: client, args: []string{"link", "web", "--resource", "https://api.example", "--introspect"},
			answer: cannedAnswer{200, `{}`}, method: "PUT", uri: "/oauth/links",
			body: `{"client_id":"web","resource":"https://api.example","tokens":true,"introspect":true}`,
			out:  []string{"linked client web to https://api.example (tokens, introspect)\n"},
		},
		{
			name: "client link with metadata, introspection only", commands: client,
			args:   []string{"link", "gw", "--resource", "https://api.example", "--tokens=false", "--introspect", "--link-metadata", `{"team":"x"}`},
			answer: cannedAnswer{200, `{}`}, method: "PUT", uri: "/oauth/links",
			body: `{"client_id":"gw","resource":"https://api.example","tokens":false,"introspect":true,"metadata":{"team":"x"}}`,
			out:  []string{"(introspect)"},
		},
		{
			name: "client unlink", commands: client, args: []string{"unlink", "web", "--resource", "https://api.example"},
			answer: cannedAnswer{204, ""}, method: "DELETE", uri: "/oauth/links?client_id=web&resource=https%3A%2F%2Fapi.example",
			out: []string{"unlinked client web from https://api.example\n"},
		},
		{
			name: "client links", commands: client, args: []string{"links", "web"},
			answer: cannedAnswer{200, `{"links":[{"client_id":"web","resource":"https://api.example","tokens":true,"introspect":false}]}`},
			method: "GET", uri: "/oauth/links?client_id=web",
			out: []string{"CLIENT_ID  RESOURCE             GRANTS\nweb        https://api.example  tokens\n"},
		},
		{
			name: "client revoke-grants", commands: client, args: []string{"revoke-grants", "web"},
			answer: cannedAnswer{200, `{"revoked":3}`}, method: "DELETE", uri: "/oauth/grants?client_id=web",
			out: []string{"revoked 3 grants of client web\n"},
		},
		{
			name: "resource add", commands: resource,
			args: []string{"add", "--identifier", "https://api.example", "--name", "API", "--scope", "read write",
				"--access-token-ttl", "10m", "--claim", "tenant=acme", "--claim-json", "level=2", "--metadata", `{"owner":"ops"}`},
			answer: cannedAnswer{201, `{"identifier":"https://api.example","name":"API","scopes":["read","write"],"configured":false}`},
			method: "POST", uri: "/oauth/resources",
			body: `{"identifier":"https://api.example","name":"API","scopes":["read","write"],"access_token_ttl":"10m",
				"claims":{"tenant":"acme","level":2},"metadata":{"owner":"ops"}}`,
			out: []string{"identifier  https://api.example\nname        API\nconfigured  false\nscopes      read write\n"},
		},
		{
			name: "resource update removes a claim with null", commands: resource,
			args:   []string{"update", "https://api.example", "--access-token-format", "opaque", "--claim-json", "level=null"},
			answer: cannedAnswer{200, `{"identifier":"https://api.example"}`},
			method: "PATCH", uri: "/oauth/resources/https:%2F%2Fapi.example", ctype: mergePatchType,
			body: `{"access_token_format":"opaque","claims":{"level":null}}`,
		},
		{
			name: "resource show", commands: resource, args: []string{"show", "https://api.example/v1"},
			answer: cannedAnswer{200, `{"identifier":"https://api.example/v1","configured":true}`},
			method: "GET", uri: "/oauth/resources/https:%2F%2Fapi.example%2Fv1",
			out: []string{"configured  true\n"},
		},
		{
			name: "resource delete", commands: resource, args: []string{"delete", "https://api.example"},
			answer: cannedAnswer{204, ""}, method: "DELETE", uri: "/oauth/resources/https:%2F%2Fapi.example",
			out: []string{"deleted resource https://api.example\n"},
		},
		{
			name: "resource link", commands: resource, args: []string{"link", "https://api.example", "--client", "web"},
			answer: cannedAnswer{200, `{}`}, method: "PUT", uri: "/oauth/links",
			body: `{"client_id":"web","resource":"https://api.example","tokens":true,"introspect":false}`,
			out:  []string{"linked client web to https://api.example (tokens)\n"},
		},
		{
			name: "resource unlink", commands: resource, args: []string{"unlink", "https://api.example", "--client", "web"},
			answer: cannedAnswer{204, ""}, method: "DELETE", uri: "/oauth/links?client_id=web&resource=https%3A%2F%2Fapi.example",
		},
		{
			name: "resource links", commands: resource, args: []string{"links", "https://api.example"},
			answer: cannedAnswer{200, `{"links":[]}`}, method: "GET", uri: "/oauth/links?resource=https%3A%2F%2Fapi.example",
			out: []string{"CLIENT_ID  RESOURCE  GRANTS\n"},
		},
		{
			name: "registration token create", commands: regtoken,
			args:   []string{"create", "--uses", "1", "--expires-in", "24h", "--description", "CI"},
			answer: cannedAnswer{201, `{"id":"t1","token":"tok","expires_at":"2030-01-01T00:00:00Z","uses_left":1}`},
			method: "POST", uri: "/oauth/initial-access-tokens", body: `{"uses":1,"expires_in":"24h","description":"CI"}`,
			out: []string{"id          t1\ntoken       tok\nexpires_at  2030-01-01T00:00:00Z\nuses_left   1\n"},
		},
		{
			name: "registration token list", commands: regtoken, args: []string{"list"},
			answer: cannedAnswer{200, `{"initial_access_tokens":[{"id":"t1","description":"CI","uses_left":1,"created_at":"2030-01-01T00:00:00Z"}]}`},
			method: "GET", uri: "/oauth/initial-access-tokens",
			out: []string{"t1  CI           -           1          2030-01-01T00:00:00Z\n"},
		},
		{
			name: "registration token delete", commands: regtoken, args: []string{"delete", "t/1"},
			answer: cannedAnswer{204, ""}, method: "DELETE", uri: "/oauth/initial-access-tokens/t%2F1",
			out: []string{"deleted registration token t/1\n"},
		},
	}
	admin := newFakeAdmin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin.answer(tt.answer)
			out, err := runManage(t, tt.commands, admin.addr, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := admin.requests()
			if len(got) != 1 {
				t.Fatalf("sent %d requests, want 1", len(got))
			}
			r := got[0]
			if r.method != tt.method || r.uri != tt.uri {
				t.Errorf("sent %s %s, want %s %s", r.method, r.uri, tt.method, tt.uri)
			}
			if r.origin == "" {
				t.Error("sent no Origin header: Caddy's admin endpoint would refuse it")
			}
			wantType := tt.ctype
			if wantType == "" && tt.body != "" {
				wantType = "application/json"
			}
			if r.contentType != wantType {
				t.Errorf("Content-Type %q, want %q", r.contentType, wantType)
			}
			if !sameJSON(t, r.body, tt.body) {
				t.Errorf("sent body %s\nwant %s", r.body, tt.body)
			}
			for _, want := range tt.out {
				if !strings.Contains(out, want) {
					t.Errorf("output:\n%s\nwant it to contain:\n%s", out, want)
				}
			}
		})
	}
}

// TestManageCommandRefusals checks that command-line mistakes are refused before anything
// is sent.
func TestManageCommandRefusals(t *testing.T) {
	client, resource, regtoken := clientCommands, resourceCommands, registrationTokenCommands
	tests := []struct {
		commands func(*cobra.Command, adminSender)
		args     []string
		wantErr  string
	}{
		{client, []string{"show"}, "accepts 1 arg"},
		{client, []string{"add", "web"}, "unknown command"},
		{client, []string{"update", "web"}, "nothing to change"},
		{client, []string{"update", "web", "--name", "W", "--unset", "client_name"}, "client_name is both set and unset"},
		{client, []string{"add", "--id", "web", "--set", `client_id="x"`}, "client_id is given twice"},
		{client, []string{"add", "--set", "scope"}, "want name=JSON"},
		{client, []string{"add", "--set", "scope=read"}, "not JSON"},
		{client, []string{"add", "--jwks", "{not json"}, "--jwks: not JSON"},
		{client, []string{"add", "--jwks", "@/nonexistent/jwks.json"}, "no such file"},
		{client, []string{"add", "--file", "/nonexistent/c.json"}, "--file"},
		{client, []string{"add", "--no-such-flag"}, "unknown flag"},
		{client, []string{"link", "web"}, "needs a client and a resource"},
		{client, []string{"list", "--limit", "-1"}, "--limit must not be negative"},
		{client, []string{"rotate-secret", "web", "--name", "x"}, "unknown flag"},
		{resource, []string{"add", "--identifier", "https://api.example", "--claim", "novalue"}, "want name=value"},
		{resource, []string{"add", "--claim", "a=1", "--set", `claims={}`}, "claims is given twice"},
		{resource, []string{"unlink", "https://api.example"}, "needs a client and a resource"},
		{regtoken, []string{"create", "--uses", "0"}, "--uses must be at least 1"},
		{regtoken, []string{"delete"}, "accepts 1 arg"},
	}
	admin := newFakeAdmin(t)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			admin.answer()
			_, err := runManage(t, tt.commands, admin.addr, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if n := len(admin.requests()); n != 0 {
				t.Errorf("sent %d requests", n)
			}
		})
	}
}

// TestManageCommandAPIErrors checks that an error answer is reported with the API's own
// message, and anything else about it as well as can be.
func TestManageCommandAPIErrors(t *testing.T) {
	tests := []struct {
		answer  cannedAnswer
		wantErr string
		status  int
	}{
		{cannedAnswer{409, `{"error":"client \"web\" is declared in the configuration"}`}, `client "web" is declared in the configuration`, 409},
		{cannedAnswer{400, `{"error":"client \"web\": redirect_uris: must be https"}`}, `client "web": redirect_uris: must be https`, 400},
		{cannedAnswer{404, `{"error":"no such client: web"}`}, "no such client: web", 404},
		{cannedAnswer{500, `not json`}, "HTTP 500: not json", 500},
	}
	admin := newFakeAdmin(t)
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			admin.answer(tt.answer)
			out, err := runManage(t, clientCommands, admin.addr, "show", "web")
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if out != "" {
				t.Errorf("printed %q", out)
			}
		})
	}
	// A refused connection is reported as such.
	_, err := runManage(t, clientCommands, "127.0.0.1:1", "show", "web")
	if err == nil || !strings.Contains(err.Error(), "performing request") {
		t.Fatalf("err = %v", err)
	}
}

func TestAsAdminError(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		status   int
	}{
		{`caddy responded with error: HTTP 409: {"error":"exists"}`, "exists", 409},
		{`caddy responded with error: HTTP 502: bad gateway`, "HTTP 502: bad gateway", 502},
		{`performing request: connection refused`, "performing request: connection refused", 0},
	} {
		err := asAdminError(fmt.Errorf("%s", tt.in))
		var ae *adminError
		if err.Error() != tt.want || (tt.status != 0) != asErr(err, &ae) || (ae != nil && ae.Status != tt.status) {
			t.Errorf("asAdminError(%q) = %v (%+v), want %q status %d", tt.in, err, ae, tt.want, tt.status)
		}
	}
}

func asErr(err error, target **adminError) bool {
	ae, ok := err.(*adminError)
	*target = ae
	return ok
}

// TestManageListPages checks that list follows the "next" cursor until the end or
// --limit, and prints the rows and the cursor to continue from.
func TestManageListPages(t *testing.T) {
	page := func(next string, ids ...string) cannedAnswer {
		var cs []string
		for _, id := range ids {
			cs = append(cs, fmt.Sprintf(`{"client_id":%q,"client_name":"N %s","token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"source":"admin"}`, id, id))
		}
		return cannedAnswer{200, fmt.Sprintf(`{"clients":[%s],"next":%q}`, strings.Join(cs, ","), next)}
	}
	admin := newFakeAdmin(t)

	admin.answer(page("b", "a", "b"), page("", "c"))
	out, err := runManage(t, clientCommands, admin.addr, "list", "--source", "admin")
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range admin.requests() {
		uris = append(uris, r.uri)
	}
	if want := []string{"/oauth/clients?limit=100&source=admin", "/oauth/clients?after=b&limit=100&source=admin"}; !reflect.DeepEqual(uris, want) {
		t.Errorf("requests %q, want %q", uris, want)
	}
	want := "CLIENT_ID  NAME  AUTH_METHOD  GRANT_TYPES                       SOURCE  STATUS\n" +
		"a          N a   none         authorization_code refresh_token  admin   enabled\n" +
		"b          N b   none         authorization_code refresh_token  admin   enabled\n" +
		"c          N c   none         authorization_code refresh_token  admin   enabled\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	// --limit asks for no more than it shows, and says where to go on.
	admin.answer(page("b", "a", "b"))
	out, err = runManage(t, clientCommands, admin.addr, "list", "--limit", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if r := admin.requests(); len(r) != 1 || r[0].uri != "/oauth/clients?limit=2" {
		t.Errorf("requests %+v", r)
	}
	var listed struct {
		Clients []map[string]any `json:"clients"`
		Next    string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Clients) != 2 || listed.Next != "b" {
		t.Errorf("--json output %s (%v)", out, err)
	}

	// A cursor that does not move ends the list instead of looping.
	admin.answer(page("a", "a"), page("a", "a"))
	if _, err := runManage(t, clientCommands, admin.addr, "list", "--after", "a"); err != nil {
		t.Fatal(err)
	}
	if n := len(admin.requests()); n != 1 {
		t.Errorf("sent %d requests for a stuck cursor", n)
	}

	admin.answer(cannedAnswer{200, `{"resources":[],"next":""}`})
	out, err = runManage(t, resourceCommands, admin.addr, "list", "--limit", "5", "--after", "https://a.example")
	if err != nil || out != "IDENTIFIER  NAME  FORMAT  SCOPES  SOURCE  STATUS\n" {
		t.Errorf("resource list: %v %q", err, out)
	}
	if r := admin.requests(); len(r) != 1 || r[0].uri != "/oauth/resources?after=https%3A%2F%2Fa.example&limit=5" {
		t.Errorf("requests %+v", r)
	}
}

// TestClientFieldsAreClientMetadata keeps the flags of oauth-client on the JSON names of
// spec.ClientMetadata, which the admin API reads.
func TestClientFieldsAreClientMetadata(t *testing.T) {
	members := map[string]bool{}
	// VisibleFields includes those of embedded structs (store.ClientSecurity), which JSON flattens.
	for _, field := range reflect.VisibleFields(reflect.TypeOf(spec.ClientMetadata{})) {
		if name, _, _ := strings.Cut(field.Tag.Get("json"), ","); name != "" {
			members[name] = true
		}
	}
	for _, f := range clientAddFields {
		if !members[f.json] {
			t.Errorf("--%s sets %q, which spec.ClientMetadata does not have", f.flag, f.json)
		}
	}
}
