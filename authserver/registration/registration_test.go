package registration_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
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
