package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/passkey/passkeytest"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const (
	issuer = "https://login.example.com"
	origin = "https://login.example.com"
)

type fixture struct {
	svc   *Service
	st    *sqlstore.Store
	clock time.Time
	alice Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg, err := Config{}.WithDefaults(issuer)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "oauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: time.Now(), alice: Account{Subject: "sub-alice", Name: "alice"}}
	if f.svc, err = New(cfg, st, seal, []byte("handle key"), func() time.Time { return f.clock }); err != nil {
		t.Fatal(err)
	}
	return f
}

// register runs a whole registration of a for alice and returns the stored passkey.
func (f *fixture) register(t *testing.T, a *passkeytest.Authenticator) *store.Passkey {
	t.Helper()
	c, err := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.Create(c.Options, origin), "  My\nlaptop ")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return p
}

func (f *fixture) login(t *testing.T, a *passkeytest.Authenticator, origin string, step uint32) (*Result, error) {
	t.Helper()
	c, err := f.svc.BeginLogin("browser-1")
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.Get(c.Options, origin, step))
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.WithDefaults("https://Login.Example.com:8443/tenant")
	if err != nil {
		t.Fatal(err)
	}
	if c.RPID != "login.example.com" || !slices.Equal(c.Origins, []string{"https://login.example.com:8443"}) || c.ChallengeTTL != DefaultChallengeTTL || c.RPName != "login.example.com" {
		t.Fatalf("defaults from the issuer: %+v", c)
	}
	c, err = Config{RPID: "example.com", Origins: []string{"https://login.example.com", "https://example.com"}}.WithDefaults(issuer)
	if err != nil || c.RPID != "example.com" || len(c.Origins) != 2 {
		t.Fatalf("a parent domain as rp_id: %+v, %v", c, err)
	}
	if _, err := (Config{}).WithDefaults("http://localhost:9000"); err != nil {
		t.Fatalf("http on localhost: %v", err)
	}
	for name, bad := range map[string]struct {
		cfg    Config
		issuer string
	}{
		"IP issuer":             {Config{}, "http://127.0.0.1:9000"},
		"origin off the rp_id":  {Config{RPID: "example.com", Origins: []string{"https://example.org"}}, issuer},
		"suffix is not subdom":  {Config{RPID: "example.com", Origins: []string{"https://badexample.com"}}, issuer},
		"plain http elsewhere":  {Config{}, "http://login.example.com"},
		"origin with a path":    {Config{Origins: []string{"https://login.example.com/x"}}, issuer},
		"challenge ttl too big": {Config{ChallengeTTL: time.Hour}, issuer},
	} {
		if _, err := bad.cfg.WithDefaults(bad.issuer); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegisterThenSignIn(t *testing.T) {
	f := newFixture(t)
	a := passkeytest.New(t, "login.example.com", passkeytest.FlagUV)
	p := f.register(t, a)
	if p.Subject != "sub-alice" || p.Name != "My laptop" || p.BackupEligible || !p.UserVerified || p.Attachment != "platform" ||
		p.ID != base64.RawURLEncoding.EncodeToString(a.ID) || len(p.UserHandle) != 32 {
		t.Fatalf("stored passkey %+v", p)
	}
	if string(p.UserHandle) == "sub-alice" {
		t.Fatal("the user handle carries the subject")
	}
	res, err := f.login(t, a, origin, 1)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.Subject != "sub-alice" || !slices.Equal(res.AMR, []string{"hwk", "user"}) || !PhishingResistant(res.AMR) {
		t.Fatalf("result %+v", res)
	}
	got, _ := f.st.GetPasskey(t.Context(), p.ID)
	if got.SignCount != 1 || got.LastUsedAt.IsZero() {
		t.Fatalf("the use was not recorded: %+v", got)
	}

	// A second registration of the same authenticator is excluded by the options and
	// refused if the browser sends it anyway.
	c, err := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			Exclude []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
			Selection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	json.Unmarshal([]byte(c.Options), &opts)
	if len(opts.PublicKey.Exclude) != 1 || opts.PublicKey.Exclude[0].ID != p.ID ||
		opts.PublicKey.Selection.ResidentKey != "required" || opts.PublicKey.Selection.UserVerification != "preferred" {
		t.Fatalf("creation options %s", c.Options)
	}
	_, err = f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.Create(c.Options, origin), "")
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("registering the same credential again: %v, want ErrDuplicate", err)
	}
}

func TestAMRRule(t *testing.T) {
	f := newFixture(t)
	synced := passkeytest.New(t, "login.example.com", passkeytest.FlagBE|passkeytest.FlagBS)
	p := f.register(t, synced)
	if !p.BackupEligible || p.Name != "My laptop" {
		t.Fatalf("stored %+v", p)
	}
	res, err := f.login(t, synced, origin, 0) // a synced passkey keeps no counter
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.AMR, []string{"swk"}) || res.UserVerified {
		t.Fatalf("a synced passkey without user verification: amr %v", res.AMR)
	}
	for _, c := range []struct {
		be, uv bool
		want   []string
	}{{false, false, []string{"hwk"}}, {false, true, []string{"hwk", "user"}}, {true, true, []string{"swk", "user"}}} {
		if got := AMR(c.be, c.uv); !slices.Equal(got, c.want) {
			t.Errorf("AMR(%v, %v) = %v, want %v", c.be, c.uv, got, c.want)
		}
	}
	if PhishingResistant([]string{"pwd"}) {
		t.Error("a password sign-in counted as phishing-resistant")
	}
}

func TestWrongOriginRefused(t *testing.T) {
	f := newFixture(t)
	a := passkeytest.New(t, "login.example.com", passkeytest.FlagUV)
	c, _ := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if _, err := f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.Create(c.Options, "https://login.example.com.evil.test"), ""); !errors.Is(err, ErrRejected) {
		t.Fatalf("registration from another origin: %v, want ErrRejected", err)
	}
	f.register(t, a)
	if _, err := f.login(t, a, "https://evil.example.com", 1); !errors.Is(err, ErrRejected) {
		t.Fatalf("sign-in from another origin: %v, want ErrRejected", err)
	}
	// An assertion for another RP ID (a phishing site's) is refused too.
	a.RPID = "evil.example.com"
	c, _ = f.svc.BeginLogin("browser-1")
	body := a.Get(`{"publicKey":{"challenge":"`+challengeOf(t, c)+`","rpId":"evil.example.com"}}`, origin, 1)
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", body); !errors.Is(err, ErrRejected) {
		t.Fatalf("sign-in for another rp id: %v, want ErrRejected", err)
	}
}

func challengeOf(t *testing.T, c *Ceremony) string {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(c.Options), &opts); err != nil {
		t.Fatal(err)
	}
	return opts.PublicKey.Challenge
}

func TestStateSingleUseBoundAndShortLived(t *testing.T) {
	f := newFixture(t)
	a := passkeytest.New(t, "login.example.com", passkeytest.FlagUV)
	f.register(t, a)

	c, _ := f.svc.BeginLogin("browser-1")
	body := a.Get(c.Options, origin, 1)
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-2", body); !errors.Is(err, ErrExpired) {
		t.Fatalf("state from another browser: %v, want ErrExpired", err)
	}
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", body); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.Get(c.Options, origin, 1)); !errors.Is(err, ErrExpired) {
		t.Fatalf("second use of a state: %v, want ErrExpired", err)
	}

	c, _ = f.svc.BeginLogin("browser-1")
	f.clock = f.clock.Add(DefaultChallengeTTL + 2*time.Second)
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.Get(c.Options, origin, 1)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired state: %v, want ErrExpired", err)
	}
	// A registration state does not finish a sign-in (nor the reverse), nor does a forged one.
	r, _ := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if _, err := f.svc.FinishLogin(t.Context(), r.State, "browser-1", body); !errors.Is(err, ErrExpired) {
		t.Fatalf("registration state for a sign-in: %v", err)
	}
	for _, forged := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte("forged state"))} {
		if _, err := f.svc.FinishLogin(t.Context(), forged, "browser-1", body); !errors.Is(err, ErrExpired) {
			t.Fatalf("forged state %q: %v", forged, err)
		}
	}
	// Another account cannot finish a registration begun for alice.
	r, _ = f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if _, err := f.svc.FinishRegistration(t.Context(), Account{Subject: "sub-bob", Name: "bob"}, r.State, "browser-1", passkeytest.New(t, "login.example.com", 0).Create(r.Options, origin), ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("registration finished by another account: %v", err)
	}
}

func TestRevokedUnknownAndClonedRefused(t *testing.T) {
	f := newFixture(t)
	a := passkeytest.New(t, "login.example.com", passkeytest.FlagUV)
	p := f.register(t, a)
	if _, err := f.login(t, a, origin, 5); err != nil {
		t.Fatal(err)
	}
	// The counter did not move: a clone may be in use.
	if _, err := f.login(t, a, origin, 0); !errors.Is(err, ErrCloned) {
		t.Fatalf("same counter again: %v, want ErrCloned", err)
	}
	got, _ := f.st.GetPasskey(t.Context(), p.ID)
	if !got.CloneWarning {
		t.Fatal("the credential was not flagged")
	}
	if err := f.st.RevokePasskey(t.Context(), p.Subject, p.ID, f.clock); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login(t, a, origin, 1); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked passkey: %v, want ErrRevoked", err)
	}
	stranger := passkeytest.New(t, "login.example.com", passkeytest.FlagUV)
	stranger.UserHandle = []byte("x")
	if _, err := f.login(t, stranger, origin, 1); !errors.Is(err, ErrUnknownCredential) {
		t.Fatalf("unknown passkey: %v, want ErrUnknownCredential", err)
	}
	// Garbage answers are refused, not crashed on.
	c, _ := f.svc.BeginLogin("browser-1")
	for _, body := range []string{"", "{}", `{"id":"x","type":"public-key"}`, string(make([]byte, MaxResponseSize+1))} {
		if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", []byte(body)); err == nil {
			t.Fatalf("answer %.20q accepted", body)
		}
		c, _ = f.svc.BeginLogin("browser-1")
	}
}
