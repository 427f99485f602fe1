package registration_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestLifecycle walks RFC 7591 and 7592 end to end: register, get a token, read, update
// (the registration access token rotates), delete; afterwards the token and the client fail.
func TestLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	iat := f.newInitialAccessToken(1, nil)
	reg := f.register(iat, with(confidentialClient(), "unknown_member", "dropped"))
	if reg.status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	id, secret, rat := reg.str("client_id"), reg.str("client_secret"), reg.str("registration_access_token")
	if id == "" || secret == "" || len(rat) < 43 {
		t.Fatalf("register: client_id %q, client_secret set %v, registration_access_token of %d chars (want >= 43)", id, secret != "", len(rat))
	}
	if got := reg.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got, want := reg.str("registration_client_uri"), issuer+"/register/"+id; got != want {
		t.Errorf("registration_client_uri %q, want %q", got, want)
	}
	if exp, ok := reg.body["client_secret_expires_at"].(float64); !ok || exp != 0 {
		t.Errorf("client_secret_expires_at %v, want 0 (never)", reg.body["client_secret_expires_at"])
	}
	if issued, _ := reg.body["client_id_issued_at"].(float64); time.Since(time.Unix(int64(issued), 0)) > time.Minute {
		t.Errorf("client_id_issued_at %v is not now", reg.body["client_id_issued_at"])
	}
	if _, ok := reg.body["unknown_member"]; ok {
		t.Error("an unknown member came back: it must be ignored")
	}
	for key, want := range map[string]string{"client_name": "Registered Service", "token_endpoint_auth_method": "client_secret_basic", "scope": "read"} {
		if got := reg.str(key); got != want {
			t.Errorf("%s %q, want %q", key, got, want)
		}
	}
	stored, err := f.st.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(rat))
	if stored.Source != store.SourceRegistration || stored.RegistrationTokenHash != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("stored source %q, registration token hash %q: want registration and the token's SHA-256", stored.Source, stored.RegistrationTokenHash)
	}
	if _, ok := stored.Metadata["unknown_member"]; ok {
		t.Error("an unknown member was stored")
	}

	if tok := f.token(id, secret); tok.status != http.StatusOK {
		t.Fatalf("token for the registered client: %d %s", tok.status, tok.raw)
	}

	read := f.manage(http.MethodGet, reg, rat, nil)
	if read.status != http.StatusOK || read.str("client_id") != id || read.str("client_name") != "Registered Service" || read.str("client_secret") != "" {
		t.Fatalf("read: %d %s", read.status, read.raw)
	}

	// Full replacement: client_name left out is removed; the secret may be sent, unchanged.
	update := with(confidentialClient(), "client_id", id, "client_secret", secret, "client_name", nil)
	upd := f.manage(http.MethodPut, reg, rat, update)
	if upd.status != http.StatusOK {
		t.Fatalf("update: %d %s", upd.status, upd.raw)
	}
	newRAT := upd.str("registration_access_token")
	if newRAT == "" || newRAT == rat {
		t.Fatal("update: the registration access token did not rotate")
	}
	if _, ok := upd.body["client_name"]; ok {
		t.Errorf("update: client_name left out but still there: %s", upd.raw)
	}
	if old := f.manage(http.MethodGet, reg, rat, nil); old.status != http.StatusUnauthorized || !strings.Contains(old.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("the rotated-out token: %d %q, want 401 invalid_token", old.status, old.header.Get("WWW-Authenticate"))
	}
	if tok := f.token(id, secret); tok.status != http.StatusOK {
		t.Fatalf("the secret after the update: %d %s", tok.status, tok.raw)
	}

	if del := f.manage(http.MethodDelete, reg, newRAT, nil); del.status != http.StatusNoContent || del.raw != "" {
		t.Fatalf("delete: %d %s", del.status, del.raw)
	}
	if after := f.manage(http.MethodGet, reg, newRAT, nil); after.status != http.StatusUnauthorized {
		t.Errorf("read after delete: %d, want 401", after.status)
	}
	if tok := f.token(id, secret); tok.status != http.StatusUnauthorized || tok.str("error") != "invalid_client" {
		t.Errorf("token after delete: %d %s, want 401 invalid_client", tok.status, tok.raw)
	}
}

// TestPolicyOffIsNotServed: by default the endpoint does not exist and discovery does not
// name it; once on, discovery advertises it.
func TestPolicyOffIsNotServed(t *testing.T) {
	for _, tt := range []struct {
		policy  string
		served  bool
		present bool
	}{
		{registration.PolicyOff, false, false},
		{registration.PolicyOpen, true, true},
		{registration.PolicyInitialAccessToken, true, true},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			f := newFixture(t, func(c *registration.Config) {
				c.Policy = tt.policy
				if tt.policy != registration.PolicyInitialAccessToken {
					c.InitialAccessToken = ""
				}
			})
			r := f.register("", publicClient())
			if served := r.status != http.StatusNotFound; served != tt.served {
				t.Errorf("POST /register: %d, served %v, want %v", r.status, served, tt.served)
			}
			if m := f.call(http.MethodGet, "/register/x", "", "", ""); (m.status != http.StatusNotFound) != tt.served {
				t.Errorf("GET /register/x: %d", m.status)
			}
			meta := f.call(http.MethodGet, "/.well-known/openid-configuration", "", "", "")
			got, ok := meta.body["registration_endpoint"]
			if ok != tt.present || (ok && got != issuer+"/register") {
				t.Errorf("registration_endpoint %v (present %v), want present %v", got, ok, tt.present)
			}
		})
	}
}

// TestOpenPolicy: anyone registers, and only public clients: a registration naming no method
// gets none, one asking for a secret is refused — unless the config allows it.
func TestOpenPolicy(t *testing.T) {
	f := newFixture(t, func(c *registration.Config) { c.Policy, c.InitialAccessToken = registration.PolicyOpen, "" })
	r := f.register("", with(publicClient(), "token_endpoint_auth_method", nil))
	if r.status != http.StatusCreated || r.str("token_endpoint_auth_method") != "none" || r.str("client_secret") != "" {
		t.Fatalf("open registration: %d %s, want 201 with method none and no secret", r.status, r.raw)
	}
	if _, ok := r.body["client_secret_expires_at"]; ok {
		t.Error("client_secret_expires_at sent for a client without a secret")
	}
	if r := f.register("", confidentialClient()); r.status != http.StatusBadRequest || r.str("error") != "invalid_client_metadata" {
		t.Errorf("confidential client on an open endpoint: %d %s, want 400 invalid_client_metadata", r.status, r.raw)
	}

	g := newFixture(t, func(c *registration.Config) {
		c.Policy, c.InitialAccessToken = registration.PolicyOpen, ""
		c.AuthMethods = []string{"none", "client_secret_basic"}
	})
	if r := g.register("", confidentialClient()); r.status != http.StatusCreated || r.str("client_secret") == "" {
		t.Errorf("open endpoint explicitly allowing secrets: %d %s", r.status, r.raw)
	}
}

// TestClientSecretTTL: client_secret_expires_at tells when the secret ends.
func TestClientSecretTTL(t *testing.T) {
	f := newFixture(t, func(c *registration.Config) { c.ClientSecretTTL = time.Hour })
	r := f.mustRegister(confidentialClient())
	exp, _ := r.body["client_secret_expires_at"].(float64)
	if d := time.Until(time.Unix(int64(exp), 0)); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("client_secret_expires_at in %v, want 1h", d)
	}
	stored, err := f.st.GetClient(context.Background(), r.str("client_id"))
	if err != nil || stored.SecretExpiresAt == nil || stored.SecretExpiresAt.Unix() != int64(exp) {
		t.Errorf("stored SecretExpiresAt %v (err %v), want %v", stored.SecretExpiresAt, err, int64(exp))
	}
}

// TestInitialAccessTokenUsedOnceConcurrently: N registrations racing with a one-use token:
// exactly one client exists afterwards, the others get 401.
func TestInitialAccessTokenUsedOnceConcurrently(t *testing.T) {
	f := newFixture(t, nil)
	iat := f.newInitialAccessToken(1, nil)
	const n = 12
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- f.register(iat, publicClient()).status })
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusCreated] != 1 || counts[http.StatusUnauthorized] != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 401", counts, n-1)
	}
	if got := f.registeredClients(); got != 1 {
		t.Errorf("%d clients registered, want 1", got)
	}
}

// TestExpiredInitialAccessToken: an expired token is refused like an unknown one.
func TestExpiredInitialAccessToken(t *testing.T) {
	f := newFixture(t, nil)
	past := time.Now().Add(-time.Minute)
	r := f.register(f.newInitialAccessToken(0, &past), publicClient())
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

// TestClientSecretRenewal: with client_secret_ttl, an update in the second half of the
// secret's life (or after its end) issues a new secret, returned once with its new end; the
// old one stays valid until its own end. Earlier updates keep the secret.
func TestClientSecretRenewal(t *testing.T) {
	// The server's background work (logout delivery) reads the clock too: keep it atomic.
	var clock atomic.Int64
	clock.Store(time.Now().Truncate(time.Second).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	f := newFixtureAt(t, func(c *registration.Config) { c.ClientSecretTTL = time.Hour }, now)
	reg := f.mustRegister(confidentialClient())
	id, first := reg.str("client_id"), reg.str("client_secret")
	rat := reg.str("registration_access_token")
	update := func() reply {
		t.Helper()
		r := f.manage(http.MethodPut, reg, rat, with(confidentialClient(), "client_id", id))
		if r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		rat = r.str("registration_access_token")
		return r
	}
	expiresAt := func(r reply) time.Time {
		v, _ := r.body["client_secret_expires_at"].(float64)
		return time.Unix(int64(v), 0)
	}
	start := now()

	clock.Store(start.Add(10 * time.Minute).UnixNano())
	if r := update(); r.str("client_secret") != "" || !expiresAt(r).Equal(start.Add(time.Hour)) {
		t.Errorf("early update: client_secret issued %v, expires at %v: want the secret kept", r.str("client_secret") != "", expiresAt(r))
	}

	clock.Store(start.Add(40 * time.Minute).UnixNano())
	r := update()
	second := r.str("client_secret")
	if second == "" || second == first || !expiresAt(r).Equal(now().Add(time.Hour)) {
		t.Fatalf("update in the secret's second half: %s", r.raw)
	}
	for name, secret := range map[string]string{"the new secret": second, "the old secret before its end": first} {
		if tok := f.token(id, secret); tok.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, tok.status, tok.raw)
		}
	}
	stored, err := f.st.GetClient(context.Background(), id)
	if err != nil || stored.PreviousSecretExpiresAt == nil || !stored.PreviousSecretExpiresAt.Equal(start.Add(time.Hour)) {
		t.Errorf("the old secret's overlap: %v (err %v), want its own end %v", stored.PreviousSecretExpiresAt, err, start.Add(time.Hour))
	}

	clock.Store(start.Add(61 * time.Minute).UnixNano())
	if tok := f.token(id, first); tok.status != http.StatusUnauthorized {
		t.Errorf("the old secret after its end: %d %s", tok.status, tok.raw)
	}

	clock.Store(start.Add(3 * time.Hour).UnixNano()) // the second secret has ended
	if r := update(); r.str("client_secret") == "" || r.str("client_secret") == second {
		t.Errorf("update after the secret ended: %s", r.raw)
	}
	if stored, err := f.st.GetClient(context.Background(), id); err != nil || stored.PreviousSecretHash != "" {
		t.Errorf("an ended secret must not live on as the previous one (err %v)", err)
	}
}

// TestCORS: browser apps (SPAs, MCP clients in a browser) register and manage themselves
// cross-origin: preflights are answered for every method of the two endpoints, and answers
// carry Access-Control-Allow-Origin (and expose the Bearer challenge).
func TestCORS(t *testing.T) {
	f := newFixture(t, func(c *registration.Config) { c.Policy, c.InitialAccessToken = registration.PolicyOpen, "" })
	const origin = "https://spa.example.test"
	send := func(method, path, bearer, body string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, issuer+path, strings.NewReader(body))
		req.Header.Set("Origin", origin)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec
	}
	for _, tt := range []struct{ path, method string }{{"/register", "POST"}, {"/register/some-client", "PUT"}, {"/register/some-client", "DELETE"}} {
		pre := send(http.MethodOptions, tt.path, "", "", map[string]string{"Access-Control-Request-Method": tt.method, "Access-Control-Request-Headers": "authorization, content-type"})
		h := pre.Header()
		if pre.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), tt.method) ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight %s %s: %d %v", tt.method, tt.path, pre.Code, h)
		}
	}
	reg := send(http.MethodPost, "/register", "", `{"redirect_uris":["https://spa.example.test/cb"],"token_endpoint_auth_method":"none"}`,
		map[string]string{"Content-Type": "application/json"})
	if reg.Code != http.StatusCreated || reg.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("cross-origin registration: %d, Access-Control-Allow-Origin %q", reg.Code, reg.Header().Get("Access-Control-Allow-Origin"))
	}
	refused := send(http.MethodGet, "/register/some-client", "wrong", "", nil)
	if refused.Code != http.StatusUnauthorized || !strings.Contains(refused.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("cross-origin refusal: %d %v", refused.Code, refused.Header())
	}
}

// TestLogoutMetadata: the four logout fields of a registration are stored, read back (RFC
// 7592) and replaced by an update like any other member.
func TestLogoutMetadata(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(with(publicClient(),
		"backchannel_logout_uri", "https://app.example.test/logout/back?tenant=7",
		"backchannel_logout_session_required", true,
		"frontchannel_logout_uri", "https://app.example.test/logout/front",
		"frontchannel_logout_session_required", true))
	id, rat := reg.str("client_id"), reg.str("registration_access_token")
	stored, err := f.st.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.BackchannelLogoutURI != "https://app.example.test/logout/back?tenant=7" || !stored.BackchannelLogoutSessionRequired ||
		stored.FrontchannelLogoutURI != "https://app.example.test/logout/front" || !stored.FrontchannelLogoutSessionRequired {
		t.Fatalf("stored logout fields: %q %v %q %v", stored.BackchannelLogoutURI, stored.BackchannelLogoutSessionRequired,
			stored.FrontchannelLogoutURI, stored.FrontchannelLogoutSessionRequired)
	}
	for _, r := range []reply{reg, f.manage(http.MethodGet, reg, rat, nil)} {
		if r.str("backchannel_logout_uri") != stored.BackchannelLogoutURI || r.body["backchannel_logout_session_required"] != true ||
			r.str("frontchannel_logout_uri") != stored.FrontchannelLogoutURI || r.body["frontchannel_logout_session_required"] != true {
			t.Errorf("response does not show the logout fields: %s", r.raw)
		}
	}

	// RFC 7592 §2.2: an update replaces the client; members left out are removed.
	upd := f.manage(http.MethodPut, reg, rat, with(publicClient(), "client_id", id, "backchannel_logout_uri", "https://app.example.test/bc2"))
	if upd.status != http.StatusOK {
		t.Fatalf("update: %d %s", upd.status, upd.raw)
	}
	stored, err = f.st.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.BackchannelLogoutURI != "https://app.example.test/bc2" || stored.BackchannelLogoutSessionRequired ||
		stored.FrontchannelLogoutURI != "" || stored.FrontchannelLogoutSessionRequired {
		t.Errorf("after the update: %q %v %q %v", stored.BackchannelLogoutURI, stored.BackchannelLogoutSessionRequired,
			stored.FrontchannelLogoutURI, stored.FrontchannelLogoutSessionRequired)
	}
}
