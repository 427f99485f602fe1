// Package passkey runs the WebAuthn ceremonies of the authorization server: registering a
// passkey (a discoverable credential) for a signed-in account and signing in with one alone.
// It is built on github.com/go-webauthn/webauthn, which verifies the attestation and assertion
// (challenge, origin, RP ID hash, flags, signature); this package owns the state between the
// two halves of a ceremony, the credential records and the rules of this server (which
// origins, what amr a sign-in earns, counters and revocation).
//
// # Ceremony state
//
// The state between "begin" (options sent to the browser) and "finish" (the browser's answer)
// is sealed (AES-GCM under the server's master key) and travels in the page's form rather
// than in a table: every instance sharing the master key can finish a ceremony another
// began, nothing is written for the many sign-in pages that are shown and never used, and
// nothing is left to purge. What a sealed blob cannot do by itself is be single-use and be
// bound to one browser, so Finish* adds both: the state names a random ID that is recorded
// with the store's ReplayStore (UseOnce, shared by every instance) before the answer is
// checked, so each state is consumed by its first use, successful or not; and the state
// carries a binding string (the caller's HMAC of the browser's CSRF cookie and the
// interaction) that the finishing request must reproduce. Its lifetime is short
// (Config.ChallengeTTL, five minutes by default, as long as the browser's own ceremony
// timeout).
//
// # amr
//
// A passkey sign-in earns RFC 8176 amr values: "hwk" when the credential is device-bound
// (its backup-eligible flag is off: the private key cannot leave the authenticator — a
// security key or a platform authenticator that does not sync) and "swk" when it is backup
// eligible (a synced passkey, whose key is copied between devices through a cloud keychain
// and so is protected by software rather than one piece of hardware); plus "user" when the
// authenticator verified the user (PIN or biometrics, the UV flag of that very assertion).
// The backup-eligible flag is used rather than the authenticator attachment because the
// attachment says how the authenticator is connected, not where the key lives: a phone
// reached over hybrid transport reports "cross-platform" yet holds a synced key. Either way a
// passkey sign-in is phishing-resistant (the browser binds it to the origin and the RP ID),
// which is what PhishingResistant reports.
package passkey

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// DefaultChallengeTTL is how long a ceremony may take from its options to its answer.
const DefaultChallengeTTL = 5 * time.Minute

// MaxResponseSize bounds the browser's answer (a credential's JSON) before it is parsed.
const MaxResponseSize = 64 << 10

// Config configures the relying party.
type Config struct {
	// RPID is the WebAuthn relying party ID: a registrable domain that is the host of every
	// origin or a parent of it. Empty means the issuer's host.
	RPID string
	// Origins are the origins whose pages may run the ceremonies (scheme://host[:port]).
	// Empty means the issuer's origin.
	Origins []string
	// RPName is shown by some authenticators when a passkey is made; empty means RPID.
	RPName string
	// ChallengeTTL bounds a ceremony (0: DefaultChallengeTTL).
	ChallengeTTL time.Duration
}

// WithDefaults fills the empty fields from the issuer URL and checks the result: the RP ID
// must be a domain name (browsers refuse IP addresses) and every origin an http(s) origin
// whose host is the RP ID or under it; plain http only on localhost, where browsers allow
// WebAuthn.
func (c Config) WithDefaults(issuer string) (Config, error) {
	iu, err := url.Parse(issuer)
	if err != nil || iu.Host == "" {
		return c, fmt.Errorf("passkeys: the issuer %q is not an absolute URL", issuer)
	}
	if c.RPID == "" {
		c.RPID = iu.Hostname()
	}
	c.RPID = strings.ToLower(strings.TrimSuffix(c.RPID, "."))
	if len(c.Origins) == 0 {
		c.Origins = []string{iu.Scheme + "://" + iu.Host}
	}
	if c.RPName == "" {
		c.RPName = c.RPID
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = DefaultChallengeTTL
	}
	if c.ChallengeTTL < 30*time.Second || c.ChallengeTTL > 15*time.Minute {
		return c, fmt.Errorf("passkeys: challenge_ttl %s: want between 30s and 15m", c.ChallengeTTL)
	}
	if net.ParseIP(c.RPID) != nil || strings.ContainsAny(c.RPID, ":/ []") || c.RPID == "" {
		return c, fmt.Errorf("passkeys: rp_id %q must be a domain name (browsers refuse IP addresses; use localhost or a name for the issuer)", c.RPID)
	}
	origins := make([]string, 0, len(c.Origins))
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return c, fmt.Errorf("passkeys: origin %q: want scheme://host[:port]", o)
		}
		host := strings.ToLower(u.Hostname())
		if host != c.RPID && !strings.HasSuffix(host, "."+c.RPID) {
			return c, fmt.Errorf("passkeys: origin %q is not on the rp_id %q or a subdomain of it", o, c.RPID)
		}
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return c, fmt.Errorf("passkeys: origin %q: browsers allow passkeys over plain http only on localhost", o)
		}
		origins = append(origins, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	c.Origins = origins
	return c, nil
}

// Sealer encrypts the ceremony state (the server's master key sealer).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Store is what the ceremonies persist: the credentials and the single-use marks.
type Store interface {
	store.PasskeyStore
	store.ReplayStore
}

// Service runs the ceremonies. It is safe for concurrent use.
type Service struct {
	cfg       Config
	wa        *webauthn.WebAuthn
	st        Store
	sealer    Sealer
	handleKey []byte
	now       func() time.Time
}

// New returns a Service for cfg (already through WithDefaults). handleKey keys the HMAC that
// turns a subject into its WebAuthn user handle, so the handle is stable, opaque and carries
// no personal data; now is the clock (nil: time.Now).
func New(cfg Config, st Store, sealer Sealer, handleKey []byte, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.ChallengeTTL, TimeoutUVD: cfg.ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.ChallengeTTL, TimeoutUVD: cfg.ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &Service{cfg: cfg, wa: wa, st: st, sealer: sealer, handleKey: handleKey, now: now}, nil
}

// Config returns the relying party configuration in force.
func (s *Service) Config() Config { return s.cfg }

// Errors of the finishing halves. Every one is the user's or the browser's doing (or an
// attacker's), never the server's: callers answer them with a page, not a 500.
var (
	// ErrExpired: the state is missing, forged, expired, used already, or for another
	// browser or ceremony.
	ErrExpired = errors.New("passkeys: the ceremony expired or was already used")
	// ErrRejected: the authenticator's answer did not verify (wrong origin or RP ID,
	// challenge, signature, flags, or a malformed answer).
	ErrRejected = errors.New("passkeys: the passkey's answer did not verify")
	// ErrUnknownCredential: no credential with that ID is registered.
	ErrUnknownCredential = errors.New("passkeys: unknown passkey")
	// ErrRevoked: the credential was revoked.
	ErrRevoked = errors.New("passkeys: the passkey was revoked")
	// ErrCloned: the signature counter did not move forward; the credential is flagged.
	ErrCloned = errors.New("passkeys: the passkey's signature counter went backwards (possible clone)")
	// ErrDuplicate: the authenticator answered with a credential that is registered already.
	ErrDuplicate = errors.New("passkeys: this passkey is registered already")
)

// Account is who registers a passkey.
type Account struct {
	Subject string
	// Name is the account's login name; DisplayName its human name (empty: Name).
	Name        string
	DisplayName string
}

// Ceremony is the first half of a ceremony, for the page: Options is the JSON of the
// options for navigator.credentials.create or .get ({"publicKey": {...}}, binary members in
// base64url), State the sealed state the page posts back with the answer.
type Ceremony struct {
	Options string
	State   string
}

// Kinds of ceremony, each sealed under its own additional data.
const (
	kindRegister = "caddy-oauth passkey registration v1"
	kindLogin    = "caddy-oauth passkey login v1"
)

// state is the sealed ceremony state.
type state struct {
	ID      string               `json:"id"`
	Binding string               `json:"b"`
	Subject string               `json:"sub,omitempty"`
	Exp     int64                `json:"exp"`
	Session webauthn.SessionData `json:"s"`
}

// UserHandle returns the WebAuthn user handle of subject: HMAC-SHA-256 under the handle key.
func (s *Service) UserHandle(subject string) []byte {
	m := hmac.New(sha256.New, s.handleKey)
	m.Write([]byte(subject))
	return m.Sum(nil)
}

// BeginRegistration starts registering a passkey for acc; existing (active) ones are excluded
// so an authenticator does not register twice. binding ties the state to the browser.
func (s *Service) BeginRegistration(ctx context.Context, acc Account, binding string) (*Ceremony, error) {
	u, err := s.user(ctx, acc)
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin registration: %w", err)
	}
	return s.ceremony(creation, session, kindRegister, acc.Subject, binding)
}

// FinishRegistration verifies the browser's answer to a registration begun for acc and
// stores the new passkey under name.
func (s *Service) FinishRegistration(ctx context.Context, acc Account, sealed, binding string, response []byte, name string) (*store.Passkey, error) {
	st, err := s.open(ctx, sealed, kindRegister, binding)
	if err != nil {
		return nil, err
	}
	if st.Subject != acc.Subject {
		return nil, ErrExpired
	}
	if len(response) > MaxResponseSize {
		return nil, fmt.Errorf("%w: the answer is too large", ErrRejected)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrRejected, detail(err))
	}
	u, err := s.user(ctx, acc)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(u, st.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrRejected, detail(err))
	}
	p := &store.Passkey{
		ID:                base64.RawURLEncoding.EncodeToString(cred.ID),
		Subject:           acc.Subject,
		UserHandle:        u.id,
		Name:              cleanName(name),
		PublicKey:         cred.PublicKey,
		AttestationType:   cred.AttestationType,
		AttestationFormat: cred.AttestationFormat,
		AAGUID:            nonZero(cred.Authenticator.AAGUID),
		Attachment:        string(cred.Authenticator.Attachment),
		SignCount:         cred.Authenticator.SignCount,
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		UserVerified:      cred.Flags.UserVerified,
		CreatedAt:         s.now(),
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if p.Name == "" {
		p.Name = defaultName(p)
	}
	if err := s.st.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrDuplicate
		}
		return nil, err
	}
	return p, nil
}

// BeginLogin starts a sign-in with a discoverable credential: the browser offers whichever
// passkeys it holds for the RP ID, so no username is asked first.
func (s *Service) BeginLogin(binding string) (*Ceremony, error) {
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin login: %w", err)
	}
	return s.ceremony(assertion, session, kindLogin, "", binding)
}

// Result is a verified passkey sign-in.
type Result struct {
	// Passkey is the credential used, as it was before this sign-in.
	Passkey *store.Passkey
	// Subject is the account it signs in.
	Subject string
	// AMR are the RFC 8176 method references this sign-in earns (see the package doc).
	AMR []string
	// UserVerified reports that the authenticator verified the user in this sign-in.
	UserVerified bool
}

// FinishLogin verifies the browser's answer to a sign-in and records the use (counter,
// backup state). A revoked or unknown credential, or one whose counter went backwards, is
// refused.
func (s *Service) FinishLogin(ctx context.Context, sealed, binding string, response []byte) (*Result, error) {
	st, err := s.open(ctx, sealed, kindLogin, binding)
	if err != nil {
		return nil, err
	}
	if len(response) > MaxResponseSize {
		return nil, fmt.Errorf("%w: the answer is too large", ErrRejected)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrRejected, detail(err))
	}
	var (
		stored    *store.Passkey
		lookupErr error
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		p, err := s.st.GetPasskey(ctx, base64.RawURLEncoding.EncodeToString(rawID))
		switch {
		case errors.Is(err, store.ErrNotFound):
			lookupErr = ErrUnknownCredential
			return nil, lookupErr
		case err != nil:
			lookupErr = err
			return nil, err
		case !p.RevokedAt.IsZero():
			lookupErr = ErrRevoked
			return nil, lookupErr
		case subtle.ConstantTimeCompare(p.UserHandle, userHandle) != 1:
			lookupErr = fmt.Errorf("%w: the user handle does not match the credential", ErrRejected)
			return nil, lookupErr
		}
		stored = p
		return &user{id: p.UserHandle, name: p.Subject, creds: []webauthn.Credential{credential(p)}}, nil
	}
	if _, _, err := s.wa.ValidatePasskeyLogin(handler, st.Session, parsed); err != nil {
		if lookupErr != nil {
			return nil, lookupErr
		}
		return nil, fmt.Errorf("%w: %s", ErrRejected, detail(err))
	}
	flags := parsed.Response.AuthenticatorData.Flags
	err = s.st.UsePasskey(ctx, stored.ID, store.PasskeyUse{
		SignCount: parsed.Response.AuthenticatorData.Counter, BackupState: flags.HasBackupState(), At: s.now(),
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, ErrCloned
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrRevoked // revoked (or deleted) during the ceremony
	case err != nil:
		return nil, err
	}
	uv := flags.HasUserVerified()
	return &Result{Passkey: stored, Subject: stored.Subject, AMR: AMR(stored.BackupEligible, uv), UserVerified: uv}, nil
}

// AMR returns the method references of a passkey sign-in (see the package doc): "hwk" for a
// device-bound key, "swk" for a backup-eligible (synced) one, and "user" when the
// authenticator verified the user.
func AMR(backupEligible, userVerified bool) []string {
	amr := []string{"hwk"}
	if backupEligible {
		amr = []string{"swk"}
	}
	if userVerified {
		amr = append(amr, "user")
	}
	return amr
}

// PhishingResistant reports whether amr records a passkey (hwk or swk) sign-in.
func PhishingResistant(amr []string) bool {
	return slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")
}

// ceremony seals the state of a begun ceremony and renders its options.
func (s *Service) ceremony(options any, session *webauthn.SessionData, kind, subject, binding string) (*Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	st := state{ID: rand.Text(), Binding: binding, Subject: subject, Exp: s.now().Add(s.cfg.ChallengeTTL).Unix(), Session: *session}
	// The library would check its own expiry against the wall clock; ours (Exp, the
	// server's clock) is the one that counts.
	st.Session.Expires = time.Time{}
	plain, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.Seal(plain, []byte(kind))
	if err != nil {
		return nil, err
	}
	return &Ceremony{Options: string(opts), State: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

// open unseals a ceremony state of kind, checks its binding and expiry and uses it up.
func (s *Service) open(ctx context.Context, sealed, kind, binding string) (*state, error) {
	if sealed == "" || len(sealed) > 16<<10 {
		return nil, ErrExpired
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, ErrExpired
	}
	plain, err := s.sealer.Open(raw, []byte(kind))
	if err != nil {
		return nil, ErrExpired
	}
	var st state
	if json.Unmarshal(plain, &st) != nil || st.ID == "" {
		return nil, ErrExpired
	}
	if subtle.ConstantTimeCompare([]byte(st.Binding), []byte(binding)) != 1 || s.now().Unix() > st.Exp {
		return nil, ErrExpired
	}
	if err := s.st.UseOnce(ctx, "passkey:"+st.ID, time.Unix(st.Exp, 0)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrExpired
		}
		return nil, err
	}
	return &st, nil
}

// user is an account as the WebAuthn library sees it.
type user struct {
	id                []byte
	name, displayName string
	creds             []webauthn.Credential
}

func (u *user) WebAuthnID() []byte { return u.id }
func (u *user) WebAuthnName() string {
	return u.name
}
func (u *user) WebAuthnDisplayName() string {
	if u.displayName != "" {
		return u.displayName
	}
	return u.name
}
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// user loads acc with its active passkeys.
func (s *Service) user(ctx context.Context, acc Account) (*user, error) {
	list, err := s.st.ListPasskeys(ctx, acc.Subject)
	if err != nil {
		return nil, err
	}
	u := &user{id: s.UserHandle(acc.Subject), name: acc.Name, displayName: acc.DisplayName}
	for _, p := range list {
		if p.RevokedAt.IsZero() {
			u.creds = append(u.creds, credential(p))
		}
	}
	return u, nil
}

// credential is a stored passkey as the WebAuthn library sees it.
func credential(p *store.Passkey) webauthn.Credential {
	id, _ := base64.RawURLEncoding.DecodeString(p.ID)
	c := webauthn.Credential{
		ID: id, PublicKey: p.PublicKey, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning,
			Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// detail is the library's description of a verification failure (safe to log: it names the
// check that failed, never key material).
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return err.Error()
}

// cleanName trims a user-given passkey name to one printable line of at most 64 characters.
func cleanName(name string) string {
	name = strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	return name
}

func defaultName(p *store.Passkey) string {
	switch {
	case p.BackupEligible:
		return "Synced passkey"
	case p.Attachment == string(protocol.CrossPlatform):
		return "Security key"
	}
	return "Passkey"
}

func nonZero(b []byte) []byte {
	if len(b) == 0 || bytes.Equal(b, make([]byte, len(b))) {
		return nil
	}
	return b
}
