package passkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const (
	issuer = "https://login.example.com"
	origin = "https://login.example.com"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// softAuthenticator is a software WebAuthn authenticator holding one P-256 credential: it
// answers create and get the way a browser would pass them on, with the origin it is told.
type softAuthenticator struct {
	t          *testing.T
	key        *ecdsa.PrivateKey
	id         []byte
	rpID       string
	userHandle []byte
	counter    uint32
	flags      byte // UV / BE / BS set on every answer
}

func newSoftAuthenticator(t *testing.T, flags byte) *softAuthenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softAuthenticator{t: t, key: key, id: id, rpID: "login.example.com", flags: flags}
}

func (a *softAuthenticator) clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func (a *softAuthenticator) authData(extra byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, flagUP|a.flags|extra)
	out = binary.BigEndian.AppendUint32(out, a.counter)
	return append(out, attested...)
}

// create answers navigator.credentials.create with the options of c.
func (a *softAuthenticator) create(c *Ceremony, origin string) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(c.Options), &opts); err != nil {
		a.t.Fatalf("creation options: %v", err)
	}
	a.userHandle, _ = base64.RawURLEncoding.DecodeString(opts.PublicKey.User.ID)
	x, y := a.key.X.FillBytes(make([]byte, 32)), a.key.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		a.t.Fatal(err)
	}
	attested := make([]byte, 16) // zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.id)))
	attested = append(attested, a.id...)
	attested = append(attested, cose...)
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flagAT, attested)})
	if err != nil {
		a.t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{
		"id": b64(a.id), "rawId": b64(a.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", opts.PublicKey.Challenge, origin)),
			"attestationObject": b64(obj),
			"transports":        []string{"internal"},
		},
	})
	return body
}

// get answers navigator.credentials.get with the options of c, its counter moved by step.
func (a *softAuthenticator) get(c *Ceremony, origin string, step uint32) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(c.Options), &opts); err != nil {
		a.t.Fatalf("request options: %v", err)
	}
	if opts.PublicKey.RPID != a.rpID {
		a.t.Fatalf("request options name rpId %q, want %q", opts.PublicKey.RPID, a.rpID)
	}
	a.counter += step
	auth := a.authData(0, nil)
	cd := a.clientData("webauthn.get", opts.PublicKey.Challenge, origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{
		"id": b64(a.id), "rawId": b64(a.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig), "userHandle": b64(a.userHandle),
		},
	})
	return body
}

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
func (f *fixture) register(t *testing.T, a *softAuthenticator) *store.Passkey {
	t.Helper()
	c, err := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.create(c, origin), "  My\nlaptop ")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return p
}

func (f *fixture) login(t *testing.T, a *softAuthenticator, origin string, step uint32) (*Result, error) {
	t.Helper()
	c, err := f.svc.BeginLogin("browser-1")
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.get(c, origin, step))
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
	a := newSoftAuthenticator(t, flagUV)
	p := f.register(t, a)
	if p.Subject != "sub-alice" || p.Name != "My laptop" || p.BackupEligible || !p.UserVerified || p.Attachment != "platform" ||
		p.ID != base64.RawURLEncoding.EncodeToString(a.id) || len(p.UserHandle) != 32 {
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
	_, err = f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.create(c, origin), "")
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("registering the same credential again: %v, want ErrDuplicate", err)
	}
}

func TestAMRRule(t *testing.T) {
	f := newFixture(t)
	synced := newSoftAuthenticator(t, flagBE|flagBS)
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
	a := newSoftAuthenticator(t, flagUV)
	c, _ := f.svc.BeginRegistration(t.Context(), f.alice, "browser-1")
	if _, err := f.svc.FinishRegistration(t.Context(), f.alice, c.State, "browser-1", a.create(c, "https://login.example.com.evil.test"), ""); !errors.Is(err, ErrRejected) {
		t.Fatalf("registration from another origin: %v, want ErrRejected", err)
	}
	f.register(t, a)
	if _, err := f.login(t, a, "https://evil.example.com", 1); !errors.Is(err, ErrRejected) {
		t.Fatalf("sign-in from another origin: %v, want ErrRejected", err)
	}
	// An assertion for another RP ID (a phishing site's) is refused too.
	a.rpID = "evil.example.com"
	c, _ = f.svc.BeginLogin("browser-1")
	body := a.get(&Ceremony{Options: `{"publicKey":{"challenge":"` + challengeOf(t, c) + `","rpId":"evil.example.com"}}`}, origin, 1)
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
	a := newSoftAuthenticator(t, flagUV)
	f.register(t, a)

	c, _ := f.svc.BeginLogin("browser-1")
	body := a.get(c, origin, 1)
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-2", body); !errors.Is(err, ErrExpired) {
		t.Fatalf("state from another browser: %v, want ErrExpired", err)
	}
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", body); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.get(c, origin, 1)); !errors.Is(err, ErrExpired) {
		t.Fatalf("second use of a state: %v, want ErrExpired", err)
	}

	c, _ = f.svc.BeginLogin("browser-1")
	f.clock = f.clock.Add(DefaultChallengeTTL + 2*time.Second)
	if _, err := f.svc.FinishLogin(t.Context(), c.State, "browser-1", a.get(c, origin, 1)); !errors.Is(err, ErrExpired) {
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
	if _, err := f.svc.FinishRegistration(t.Context(), Account{Subject: "sub-bob", Name: "bob"}, r.State, "browser-1", newSoftAuthenticator(t, 0).create(r, origin), ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("registration finished by another account: %v", err)
	}
}

func TestRevokedUnknownAndClonedRefused(t *testing.T) {
	f := newFixture(t)
	a := newSoftAuthenticator(t, flagUV)
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
	stranger := newSoftAuthenticator(t, flagUV)
	stranger.userHandle = []byte("x")
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
