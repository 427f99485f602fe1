package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// manageCaddy is a real Caddy whose oauth_server declares demo-service (configured), a
// gateway that introspects opaque-api, and the resources /api and /opaque-api.
type manageCaddy struct {
	*testCaddy
	t *testing.T
}

func newManageCaddy(t *testing.T) *manageCaddy {
	tc := newTestCaddy(t)
	extra := fmt.Sprintf(`client gateway {
			secret %s
			grant_types client_credentials
			introspects %s/opaque-api
		}`, testSecret, tc.issuer)
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), extra)); err != nil {
		t.Fatal(err)
	}
	return &manageCaddy{testCaddy: tc, t: t}
}

// call sends one admin API request; contentType "" sends application/json when there is a
// body.
func (m *manageCaddy) call(method, path, contentType, body string) (int, map[string]any) {
	m.t.Helper()
	req, err := http.NewRequest(method, "http://"+m.admin+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	if body != "" {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		m.t.Fatalf("%s %s: not a JSON object: %s", method, path, b)
	}
	return resp.StatusCode, out
}

func (m *manageCaddy) token(clientID, secret, resource string) (int, map[string]any) {
	m.t.Helper()
	status, body := postForm(m.t, m.issuer+"/token", clientID, secret, url.Values{"grant_type": {"client_credentials"}, "resource": {resource}})
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return status, out
}

func TestAdminManageRoutes(t *testing.T) {
	m := newManageCaddy(t)
	api := m.issuer + "/api"
	esc := url.PathEscape
	big := `{"client_id":"big","client_name":"` + strings.Repeat("x", maxManageBody) + `"}`
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string // a substring of the answer's JSON
	}{
		{"create", "POST", "/oauth/clients", "", `{"client_id":"svc","grant_types":["client_credentials"],"scope":"read","resources":["` + api + `"],"unknown_member":1}`, 201, `"client_secret":`},
		{"duplicate id", "POST", "/oauth/clients", "", `{"client_id":"svc"}`, 409, "already exists"},
		{"show hides the secret", "GET", "/oauth/clients/svc", "", "", 200, `"source":"admin"`},
		{"invalid metadata", "POST", "/oauth/clients", "", `{"client_id":"pub","token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`, 400, "cannot use client_credentials"},
		{"unknown resource", "POST", "/oauth/clients", "", `{"client_id":"x","resources":["https://nope.example"]}`, 400, "does not exist"},
		{"malformed JSON", "POST", "/oauth/clients", "", `{"client_id":`, 400, "decoding request"},
		{"wrong content type", "POST", "/oauth/clients", "text/plain", `{"client_id":"x"}`, 415, "application/json"},
		{"body over the limit", "POST", "/oauth/clients", "", big, 413, "larger than"},
		{"missing client", "GET", "/oauth/clients/ghost", "", "", 404, "not found"},
		{"configured client shows as such", "GET", "/oauth/clients/demo-service", "", "", 200, `"configured":true`},
		{"configured client: PUT", "PUT", "/oauth/clients/demo-service", "", `{"grant_types":["client_credentials"]}`, 409, "configuration"},
		{"configured client: PATCH", "PATCH", "/oauth/clients/demo-service", mergePatchType, `{"client_name":"x"}`, 409, "configuration"},
		{"configured client: DELETE", "DELETE", "/oauth/clients/demo-service", "", "", 409, "configuration"},
		{"configured client: secret", "POST", "/oauth/clients/demo-service/secret", "", `{}`, 409, "configuration"},
		{"patch is a merge patch", "PATCH", "/oauth/clients/svc", mergePatchType, `{"client_name":"Service","scope":"read write"}`, 200, `"scope":"read write"`},
		{"patch keeps the rest", "GET", "/oauth/clients/svc", "", "", 200, `"client_name":"Service"`},
		{"patch needs merge-patch+json", "PATCH", "/oauth/clients/svc", "application/json", `{"client_name":"x"}`, 415, "merge-patch"},
		{"patch null removes", "PATCH", "/oauth/clients/svc", mergePatchType, `{"client_name":null}`, 200, `"resources":["` + api + `"]`},
		{"put cannot change the id", "PUT", "/oauth/clients/svc", "", `{"client_id":"other"}`, 400, "does not match"},
		{"put replaces", "PUT", "/oauth/clients/svc", "", `{"token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"],"resources":["` + api + `"],"scope":"read"}`, 200, `"scope":"read"`},
		{"secret of a missing client", "POST", "/oauth/clients/ghost/secret", "", `{}`, 404, "not found"},
		{"bad overlap", "POST", "/oauth/clients/svc/secret", "", `{"overlap":"soon"}`, 400, "overlap"},
		{"URL client id is one segment", "GET", "/oauth/clients/" + esc("https://app.example/c.json"), "", "", 404, "not found"},

		{"resource create", "POST", "/oauth/resources", "", `{"identifier":"https://new.example","scopes":["read"],"access_token_ttl":"10m","claims":{"tenant":"acme"}}`, 201, `"access_token_ttl":"10m0s"`},
		{"resource duplicate", "POST", "/oauth/resources", "", `{"identifier":"https://new.example"}`, 409, "already exists"},
		{"resource unknown member", "POST", "/oauth/resources", "", `{"identifier":"https://x.example","scope":"read"}`, 400, "unknown field"},
		{"resource invalid", "POST", "/oauth/resources", "", `{"identifier":"https://x.example","access_token_format":"xml"}`, 400, "access_token_format"},
		{"resource bad ttl", "POST", "/oauth/resources", "", `{"identifier":"https://x.example","access_token_ttl":"long"}`, 400, "access_token_ttl"},
		{"resource show", "GET", "/oauth/resources/" + esc("https://new.example"), "", "", 200, `"scopes":["read"]`},
		{"resource patch", "PATCH", "/oauth/resources/" + esc("https://new.example"), mergePatchType, `{"access_token_format":"opaque","claims":{"tenant":null,"tier":"gold"}}`, 200, `"claims":{"tier":"gold"}`},
		{"resource list by identifier", "GET", "/oauth/resources?identifier=" + url.QueryEscape("https://new.example"), "", "", 200, `"access_token_format":"opaque"`},
		{"configured resource", "PUT", "/oauth/resources/" + esc(api), "", `{"name":"x"}`, 409, "configuration"},
		{"configured resource delete", "DELETE", "/oauth/resources/" + esc(api), "", "", 409, "configuration"},
		{"missing resource", "GET", "/oauth/resources/" + esc("https://ghost.example"), "", "", 404, "not found"},

		{"link", "PUT", "/oauth/links", "", `{"client_id":"svc","resource":"https://new.example","tokens":true}`, 200, `"tokens":true`},
		{"links of a client", "GET", "/oauth/links?client_id=svc", "", "", 200, `"resource":"https://new.example"`},
		{"link of a configured client", "PUT", "/oauth/links", "", `{"client_id":"demo-service","resource":"https://new.example","tokens":true}`, 409, "configuration"},
		{"link granting nothing", "PUT", "/oauth/links", "", `{"client_id":"svc","resource":"https://new.example"}`, 400, "must grant"},
		{"unlink", "DELETE", "/oauth/links?client_id=svc&resource=" + url.QueryEscape("https://new.example"), "", "", 204, ""},
		{"unlink again", "DELETE", "/oauth/links?client_id=svc&resource=" + url.QueryEscape("https://new.example"), "", "", 404, "not found"},
		{"resource delete", "DELETE", "/oauth/resources/" + esc("https://new.example"), "", "", 204, ""},

		{"consents", "GET", "/oauth/consents?subject=alice", "", "", 200, `"consents":[]`},
		{"consents bad cursor", "GET", "/oauth/consents?after=nonsense", "", "", 400, "cursor"},
		{"revoke consents needs a filter", "DELETE", "/oauth/consents", "", "", 400, "subject"},
		{"grants", "GET", "/oauth/grants?client_id=svc", "", "", 200, `"grants":[]`},
		{"revoke grants by client", "DELETE", "/oauth/grants?client_id=svc", "", "", 200, `"revoked":0`},
		{"revoke grants needs one filter", "DELETE", "/oauth/grants?client_id=svc&subject=alice", "", "", 400, "exactly one"},
		{"revoke a missing grant", "DELETE", "/oauth/grants?grant_id=ghost", "", "", 404, "not found"},
		{"sessions", "GET", "/oauth/sessions?subject=alice", "", "", 200, `"sessions":[]`},
		{"sessions need a subject", "GET", "/oauth/sessions", "", "", 400, "subject"},
		{"revoke sessions", "DELETE", "/oauth/sessions?subject=alice", "", "", 200, `"revoked":0`},

		{"iat create", "POST", "/oauth/initial-access-tokens", "", `{"expires_in":"1h","uses":2,"description":"CI"}`, 201, `"uses_left":2`},
		{"iat bad duration", "POST", "/oauth/initial-access-tokens", "", `{"expires_in":"forever"}`, 400, "expires_in"},
		{"iat unknown member", "POST", "/oauth/initial-access-tokens", "", `{"usses":1}`, 400, "unknown field"},
		{"iat delete missing", "DELETE", "/oauth/initial-access-tokens/ghost", "", "", 404, "not found"},
		{"unknown issuer", "GET", "/oauth/clients?issuer=" + url.QueryEscape("https://other.example"), "", "", 404, "unknown issuer"},
		{"method not allowed", "PATCH", "/oauth/clients", mergePatchType, `{}`, 405, "method not allowed"},
	}
	for _, tt := range tests {
		status, out := m.call(tt.method, tt.path, tt.ctype, tt.body)
		got, _ := json.Marshal(out)
		if status != tt.status || !strings.Contains(string(got), tt.want) {
			t.Errorf("%s: %s %s = %d %s; want %d with %s", tt.name, tt.method, tt.path, status, got, tt.status, tt.want)
		}
		if tt.method == "GET" && strings.Contains(string(got), "client_secret\"") {
			t.Errorf("%s: a shown client carries its secret: %s", tt.name, got)
		}
	}

	// Initial access tokens: the token is shown once; the list never carries it.
	_, created := m.call("POST", "/oauth/initial-access-tokens", "", `{"description":"once"}`)
	_, list := m.call("GET", "/oauth/initial-access-tokens", "", "")
	listed, _ := json.Marshal(list)
	if tok, _ := created["token"].(string); len(tok) < 43 || strings.Contains(string(listed), tok) || !strings.Contains(string(listed), `"description":"once"`) {
		t.Errorf("initial access tokens: created %v, list %s", created, listed)
	}
	if status, _ := m.call("DELETE", "/oauth/initial-access-tokens/"+esc(created["id"].(string)), "", ""); status != 204 {
		t.Errorf("iat delete: %d", status)
	}
}

// TestAdminClientPaging creates 25 clients and pages through them 10 at a time.
func TestAdminClientPaging(t *testing.T) {
	m := newManageCaddy(t)
	for i := range 25 {
		if status, out := m.call("POST", "/oauth/clients", "", fmt.Sprintf(`{"client_id":"page-%02d","token_endpoint_auth_method":"none","redirect_uris":["https://app.example/cb"]}`, i)); status != 201 {
			t.Fatalf("create %d: %d %v", i, status, out)
		}
	}
	var ids []string
	after, pages := "", 0
	for {
		status, out := m.call("GET", "/oauth/clients?source=admin&limit=10&after="+url.QueryEscape(after), "", "")
		if status != 200 {
			t.Fatalf("list: %d %v", status, out)
		}
		pages++
		items, _ := out["clients"].([]any)
		for _, it := range items {
			ids = append(ids, it.(map[string]any)["client_id"].(string))
		}
		after, _ = out["next"].(string)
		if after == "" || pages > 5 {
			break
		}
	}
	if pages != 3 || len(ids) != 25 || ids[0] != "page-00" || ids[24] != "page-24" {
		t.Fatalf("%d pages, ids %v", pages, ids)
	}
	_, out := m.call("GET", "/oauth/clients?source=config", "", "")
	if items, _ := out["clients"].([]any); len(items) != 2 {
		t.Fatalf("source=config: %v", out)
	}
	if status, _ := m.call("GET", "/oauth/clients?limit=0", "", ""); status != 400 {
		t.Fatalf("limit=0: %d", status)
	}
}

// TestAdminConcurrentCreate: of concurrent creations of one client ID exactly one is 201.
func TestAdminConcurrentCreate(t *testing.T) {
	m := newManageCaddy(t)
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := m.call("POST", "/oauth/clients", "", `{"client_id":"race","token_endpoint_auth_method":"none","redirect_uris":["https://app.example/cb"]}`)
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses %v; want one 201 and %d 409", count, n-1)
	}
}

// TestAdminSecretRotationAndDelete: a rotated secret overlaps with the old one; overlap 0
// ends the old one at once; deleting the client kills its opaque token and its credentials.
func TestAdminSecretRotationAndDelete(t *testing.T) {
	m := newManageCaddy(t)
	opaqueAPI := m.issuer + "/opaque-api"
	status, out := m.call("POST", "/oauth/clients", "", `{"client_id":"rot","grant_types":["client_credentials"],"resources":["`+opaqueAPI+`"]}`)
	first, _ := out["client_secret"].(string)
	if status != 201 || first == "" {
		t.Fatalf("create: %d %v", status, out)
	}
	ok := func(secret string) bool {
		status, _ := m.token("rot", secret, opaqueAPI)
		return status == http.StatusOK
	}
	if !ok(first) {
		t.Fatal("the created secret does not work")
	}
	_, out = m.call("POST", "/oauth/clients/rot/secret", "", `{"overlap":"1h"}`)
	second, _ := out["client_secret"].(string)
	if second == "" || out["previous_secret_expires_at"] == nil || !ok(first) || !ok(second) {
		t.Fatalf("inside the overlap both secrets must work: %v", out)
	}
	_, out = m.call("POST", "/oauth/clients/rot/secret", "", `{"overlap":"0s"}`)
	third, _ := out["client_secret"].(string)
	if third == "" || ok(second) || ok(first) || !ok(third) {
		t.Fatalf("after an overlap of 0 only the newest secret may work: %v", out)
	}

	_, tok := m.token("rot", third, opaqueAPI)
	access, _ := tok["access_token"].(string)
	if !introspect(t, m.issuer+"/introspect", "gateway", testSecret, access) {
		t.Fatal("fresh opaque token inactive")
	}
	if status, _ := m.call("DELETE", "/oauth/clients/rot", "", ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if introspect(t, m.issuer+"/introspect", "gateway", testSecret, access) {
		t.Error("the opaque token of a deleted client is active")
	}
	if status, body := m.token("rot", third, opaqueAPI); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("deleted client: %d %v", status, body)
	}
	if status, _ := m.call("DELETE", "/oauth/clients/rot", "", ""); status != 404 {
		t.Errorf("delete twice: %d", status)
	}
}
