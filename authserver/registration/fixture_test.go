package registration_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const (
	issuer      = "https://as.example.test"
	apiID       = "https://api.example.test"
	otherAPI    = "https://other.example.test"
	staticToken = "static-initial-access-token-0123456789abcdef"
	redirectURI = "https://app.example.test/cb"
)

// fixture is a real authorization server (SQLite store) with registration on: policy
// initial_access_token by default, allowing client_credentials, the scopes openid and read,
// and the resource apiID. otherAPI exists but is not offered to registered clients.
type fixture struct {
	t   testing.TB
	srv *authserver.Server
	st  store.Store
}

func newFixture(t testing.TB, edit func(*registration.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registration.Config{
		Policy:             registration.PolicyInitialAccessToken,
		InitialAccessToken: staticToken,
		GrantTypes:         []string{"authorization_code", "refresh_token", "client_credentials"},
		Scopes:             []string{"openid", "read"},
		Resources:          []string{apiID},
	}
	if edit != nil {
		edit(&reg)
	}
	srv, err := authserver.New(ctx, authserver.Config{
		Issuer: issuer,
		Resources: []authserver.ResourceConfig{
			{Identifier: apiID, AllowedScopes: []string{"read", "write"}},
			{Identifier: otherAPI, AllowedScopes: []string{"read"}},
		},
		Clients: []authserver.ClientConfig{
			{ID: "configured", Secret: "configured-secret-0123456789abcdefghijklmnop", Resources: []string{apiID}},
		},
		Registration: reg,
	}, authserver.Deps{Store: st, Sealer: seal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fixture{t: t, srv: srv, st: st}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

// call sends a request to the server; bearer "" sends no Authorization header.
func (f *fixture) call(method, path, bearer, contentType, body string) reply {
	f.t.Helper()
	req := httptest.NewRequest(method, issuer+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	out := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out.body); err != nil {
			f.t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, rec.Body.String())
		}
	}
	return out
}

// register posts metadata (a JSON object) with the initial access token bearer.
func (f *fixture) register(bearer string, metadata any) reply {
	f.t.Helper()
	b, err := json.Marshal(metadata)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.call(http.MethodPost, "/register", bearer, "application/json", string(b))
}

// mustRegister registers metadata with the static token and expects 201.
func (f *fixture) mustRegister(metadata any) reply {
	f.t.Helper()
	r := f.register(staticToken, metadata)
	if r.status != http.StatusCreated {
		f.t.Fatalf("registration: status %d, want 201: %s", r.status, r.raw)
	}
	return r
}

// manage sends an RFC 7592 request to the client's registration_client_uri.
func (f *fixture) manage(method string, reg reply, rat string, metadata any) reply {
	f.t.Helper()
	u, err := url.Parse(reg.str("registration_client_uri"))
	if err != nil || u.Path == "" {
		f.t.Fatalf("registration_client_uri %q", reg.str("registration_client_uri"))
	}
	body, contentType := "", ""
	if metadata != nil {
		b, _ := json.Marshal(metadata)
		body, contentType = string(b), "application/json"
	}
	return f.call(method, u.Path, rat, contentType, body)
}

// token asks /token for a client_credentials token with HTTP Basic authentication.
func (f *fixture) token(clientID, secret string) reply {
	f.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {apiID}, "scope": {"read"}}
	req := httptest.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	out := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &out.body)
	return out
}

// registeredClients counts the clients registration stored.
func (f *fixture) registeredClients() int {
	f.t.Helper()
	cs, err := f.st.ListClientsPage(context.Background(), store.ClientQuery{Source: store.SourceRegistration})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(cs)
}

// newInitialAccessToken stores a token allowing uses registrations (0: any number).
func (f *fixture) newInitialAccessToken(uses int, expiresAt *time.Time) string {
	f.t.Helper()
	token := "iat-" + strings.Repeat("x", 8) + time.Now().Format("150405.000000000")
	sum := sha256.Sum256([]byte(token))
	t := &store.InitialAccessToken{Hash: base64.RawURLEncoding.EncodeToString(sum[:]), ExpiresAt: expiresAt}
	if uses > 0 {
		t.UsesLeft = &uses
	}
	if err := f.st.CreateInitialAccessToken(context.Background(), t); err != nil {
		f.t.Fatal(err)
	}
	return token
}

func confidentialClient() map[string]any {
	return map[string]any{
		"client_name":                "Registered Service",
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic",
		"scope":                      "read",
		"resources":                  []string{apiID},
	}
}

func publicClient() map[string]any {
	return map[string]any{
		"client_name":                "Registered SPA",
		"redirect_uris":              []string{redirectURI},
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code"},
		"response_types":             []string{"code"},
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
