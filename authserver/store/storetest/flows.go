package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// flowTests cover the end-user flow stores: accounts, sessions, consents, codes, grants and
// refresh tokens.
var flowTests = []contractTest{
	{"AccountRoundTrip", testAccountRoundTrip},
	{"AccountUpsertAndUsernameConflict", testAccountUpsert},
	{"AccountNotFoundListDelete", testAccountListDelete},
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionTouchAndDelete", testSessionTouchDelete},
	{"ConsentRoundTripAndReplace", testConsent},
	{"AuthorizationCodeRoundTrip", testCodeRoundTrip},
	{"AuthorizationCodeConsumeOnce", testCodeConsumeOnce},
	{"AuthorizationCodeGetDoesNotConsume", testCodeGet},
	{"GrantRoundTrip", testGrantRoundTrip},
	{"RefreshTokenRoundTrip", testRefreshRoundTrip},
	{"RefreshTokenRotate", testRefreshRotate},
	{"RevokeGrant", testRevokeGrant},
	{"RevokeSessionGrants", testRevokeSessionGrants},
	{"RevokeSubjectGrants", testRevokeSubjectGrants},
	{"DeleteSubjectSessions", testDeleteSubjectSessions},
	{"GrantIDOfJTI", testGrantIDOfJTI},
	{"DeleteExpiredFlows", testDeleteExpiredFlows},
	{"RaceConsumeAuthorizationCode", testRaceConsumeCode},
	{"RaceRotateRefreshToken", testRaceRotate},
}

func newAccount(subject, username string) *store.Account {
	return &store.Account{
		Subject:      subject,
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$salt$hash-of-" + subject,
		Claims: map[string]any{
			"name":           "Ada " + subject,
			"email":          username + "@example.com",
			"email_verified": true,
			"address":        map[string]any{"country": "FR", "locality": "Paris"},
		},
		CreatedAt: epoch,
	}
}

func accountSansUpdated(a *store.Account) store.Account {
	v := *a
	v.UpdatedAt = time.Time{}
	return v
}

func testAccountRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.Account{
		"full":     newAccount("sub-full", "full"),
		"nil":      {Subject: "sub-nil", Username: "nil", CreatedAt: epoch},
		"empty":    {Subject: "sub-empty", Username: "empty", Claims: map[string]any{}, CreatedAt: epoch},
		"disabled": {Subject: "sub-off", Username: "off", Disabled: true, CreatedAt: epoch},
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			want := *a
			mustNil(t, s.UpsertAccount(ctx, a), "UpsertAccount")
			got, err := s.GetAccount(ctx, a.Subject)
			mustNil(t, err, "GetAccount")
			if got.UpdatedAt.IsZero() {
				t.Error("UpdatedAt not set")
			}
			assertEqual(t, accountSansUpdated(got), accountSansUpdated(&want))
			got, err = s.GetAccountByUsername(ctx, a.Username)
			mustNil(t, err, "GetAccountByUsername")
			assertEqual(t, accountSansUpdated(got), accountSansUpdated(&want))
		})
	}
	// A zero CreatedAt is filled in.
	a := &store.Account{Subject: "sub-new", Username: "new"}
	mustNil(t, s.UpsertAccount(ctx, a), "UpsertAccount")
	got, err := s.GetAccount(ctx, "sub-new")
	mustNil(t, err, "GetAccount")
	if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("CreatedAt = %v, written back %v; want equal and set", got.CreatedAt, a.CreatedAt)
	}
}

func testAccountUpsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertAccount(ctx, newAccount("s1", "ada")), "UpsertAccount")
	mustNil(t, s.UpsertAccount(ctx, newAccount("s2", "bob")), "UpsertAccount")

	// Replacing every field, including the username, keeps CreatedAt.
	replacement := &store.Account{Subject: "s1", Username: "ada2", PasswordHash: "$2b$10$x", Disabled: true,
		CreatedAt: epoch.Add(time.Hour)}
	mustNil(t, s.UpsertAccount(ctx, replacement), "UpsertAccount (replace)")
	got, err := s.GetAccount(ctx, "s1")
	mustNil(t, err, "GetAccount")
	want := *replacement
	want.CreatedAt = epoch
	assertEqual(t, accountSansUpdated(got), accountSansUpdated(&want))
	_, err = s.GetAccountByUsername(ctx, "ada")
	mustBe(t, err, store.ErrNotFound, "GetAccountByUsername (old username)")

	// Another subject may not take a username, neither on insert nor on update.
	mustBe(t, s.UpsertAccount(ctx, newAccount("s3", "bob")), store.ErrConflict, "UpsertAccount (new subject, taken username)")
	mustBe(t, s.UpsertAccount(ctx, newAccount("s1", "bob")), store.ErrConflict, "UpsertAccount (rename to taken username)")
	_, err = s.GetAccount(ctx, "s3")
	mustBe(t, err, store.ErrNotFound, "GetAccount (conflicting insert)")
	got, err = s.GetAccountByUsername(ctx, "bob")
	mustNil(t, err, "GetAccountByUsername")
	if got.Subject != "s2" {
		t.Errorf("username bob now maps to %q, want s2", got.Subject)
	}
	// The freed username is available again.
	mustNil(t, s.UpsertAccount(ctx, newAccount("s3", "ada")), "UpsertAccount (freed username)")
}

func testAccountListDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetAccount(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetAccount")
	_, err = s.GetAccountByUsername(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetAccountByUsername")
	mustBe(t, s.DeleteAccount(ctx, "missing"), store.ErrNotFound, "DeleteAccount (missing)")
	list, err := s.ListAccounts(ctx)
	mustNil(t, err, "ListAccounts (empty)")
	if len(list) != 0 {
		t.Fatalf("empty store lists %d accounts", len(list))
	}
	for _, sub := range []string{"b", "a", "c"} {
		mustNil(t, s.UpsertAccount(ctx, newAccount(sub, "user-"+sub)), "UpsertAccount")
	}
	mustNil(t, s.DeleteAccount(ctx, "b"), "DeleteAccount")
	_, err = s.GetAccount(ctx, "b")
	mustBe(t, err, store.ErrNotFound, "GetAccount after delete")
	_, err = s.GetAccountByUsername(ctx, "user-b")
	mustBe(t, err, store.ErrNotFound, "GetAccountByUsername after delete")
	list, err = s.ListAccounts(ctx)
	mustNil(t, err, "ListAccounts")
	assertEqual(t, ids(list, func(a *store.Account) string { return a.Subject }), []string{"a", "c"})
	for _, a := range list {
		assertEqual(t, accountSansUpdated(a), accountSansUpdated(newAccount(a.Subject, a.Username)))
	}
}

func newSession(id string, expiresAt time.Time) *store.Session {
	return &store.Session{
		ID:         id,
		SecretHash: "secret-hash-of-" + id,
		Subject:    "user-42",
		AuthTime:   epoch.Add(-time.Minute),
		AMR:        []string{"pwd", "otp"},
		ACR:        "urn:mace:incommon:iap:silver",
		CreatedAt:  epoch,
		LastSeenAt: epoch.Add(time.Second),
		ExpiresAt:  expiresAt,
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 «ü»",
		RemoteIP:   "2001:db8::1",
	}
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.Session{
		"full": newSession("full", epoch.Add(time.Hour)),
		// Signed in with a passkey: the credential ID is kept.
		"passkey": func() *store.Session {
			se := newSession("passkey", epoch.Add(time.Hour))
			se.AMR, se.PasskeyID = []string{"hwk", "user"}, "cred-Yz9_Aa-1"
			return se
		}(),
		"nil":   {ID: "nil", Subject: "u", CreatedAt: epoch, ExpiresAt: epoch},
		"empty": {ID: "empty", Subject: "u", AMR: []string{}, CreatedAt: epoch, ExpiresAt: epoch},
		// Expired sessions are still returned: the caller decides what expiry means.
		"expired": newSession("expired", epoch.AddDate(-1, 0, 0)),
	}
	for name, sess := range cases {
		t.Run(name, func(t *testing.T) {
			want := *sess
			mustNil(t, s.CreateSession(ctx, sess), "CreateSession")
			got, err := s.GetSession(ctx, sess.ID)
			mustNil(t, err, "GetSession")
			assertEqual(t, got, &want)
		})
	}
	dup := newSession("full", epoch.Add(2*time.Hour))
	dup.Subject = "someone-else"
	mustBe(t, s.CreateSession(ctx, dup), store.ErrConflict, "CreateSession (duplicate ID)")
	got, err := s.GetSession(ctx, "full")
	mustNil(t, err, "GetSession")
	if got.Subject != "user-42" {
		t.Errorf("duplicate insert overwrote the session: subject %q", got.Subject)
	}
	_, err = s.GetSession(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetSession (missing)")
}

func testSessionTouchDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		mustNil(t, s.CreateSession(ctx, newSession(id, epoch.Add(time.Hour))), "CreateSession")
	}
	seen := epoch.Add(10 * time.Minute)
	mustNil(t, s.TouchSession(ctx, "a", seen), "TouchSession")
	got, err := s.GetSession(ctx, "a")
	mustNil(t, err, "GetSession")
	want := newSession("a", epoch.Add(time.Hour))
	want.LastSeenAt = seen
	assertEqual(t, got, want)
	other, err := s.GetSession(ctx, "b")
	mustNil(t, err, "GetSession")
	assertEqual(t, other, newSession("b", epoch.Add(time.Hour)))
	mustBe(t, s.TouchSession(ctx, "missing", seen), store.ErrNotFound, "TouchSession (missing)")

	mustNil(t, s.DeleteSession(ctx, "a"), "DeleteSession")
	_, err = s.GetSession(ctx, "a")
	mustBe(t, err, store.ErrNotFound, "GetSession after delete")
	mustBe(t, s.TouchSession(ctx, "a", seen), store.ErrNotFound, "TouchSession after delete")
	mustNil(t, s.DeleteSession(ctx, "a"), "DeleteSession (again)")
	if _, err := s.GetSession(ctx, "b"); err != nil {
		t.Errorf("GetSession(b) after deleting a: %v", err)
	}
}

func consentSansTimes(c *store.Consent) store.Consent {
	v := *c
	v.CreatedAt, v.UpdatedAt = time.Time{}, time.Time{}
	return v
}

func testConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetConsent(ctx, "user", "client")
	mustBe(t, err, store.ErrNotFound, "GetConsent (missing)")

	first := &store.Consent{Subject: "user", ClientID: "client", Scopes: []string{"openid", "profile"},
		Resources: []string{"https://api.example"}}
	mustNil(t, s.UpsertConsent(ctx, first), "UpsertConsent")
	other := &store.Consent{Subject: "user", ClientID: "other", Scopes: []string{}, Resources: nil}
	mustNil(t, s.UpsertConsent(ctx, other), "UpsertConsent (other client)")
	got, err := s.GetConsent(ctx, "user", "client")
	mustNil(t, err, "GetConsent")
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("CreatedAt/UpdatedAt not set: %v / %v", got.CreatedAt, got.UpdatedAt)
	}
	assertEqual(t, consentSansTimes(got), store.Consent{Subject: "user", ClientID: "client",
		Scopes: []string{"openid", "profile"}, Resources: []string{"https://api.example"}})
	created := got.CreatedAt

	// A second consent replaces the first and keeps its CreatedAt.
	mustNil(t, s.UpsertConsent(ctx, &store.Consent{Subject: "user", ClientID: "client",
		Scopes: []string{"openid", "email"}, CreatedAt: epoch}), "UpsertConsent (replace)")
	got, err = s.GetConsent(ctx, "user", "client")
	mustNil(t, err, "GetConsent")
	assertEqual(t, consentSansTimes(got), store.Consent{Subject: "user", ClientID: "client",
		Scopes: []string{"openid", "email"}})
	if !got.CreatedAt.Equal(created) {
		t.Errorf("CreatedAt = %v, want the original %v", got.CreatedAt, created)
	}
	got, err = s.GetConsent(ctx, "user", "other")
	mustNil(t, err, "GetConsent (other client)")
	assertEqual(t, consentSansTimes(got), store.Consent{Subject: "user", ClientID: "other", Scopes: []string{}})

	mustNil(t, s.DeleteConsent(ctx, "user", "client"), "DeleteConsent")
	_, err = s.GetConsent(ctx, "user", "client")
	mustBe(t, err, store.ErrNotFound, "GetConsent after delete")
	mustBe(t, s.DeleteConsent(ctx, "user", "client"), store.ErrNotFound, "DeleteConsent (again)")
	if _, err := s.GetConsent(ctx, "user", "other"); err != nil {
		t.Errorf("GetConsent(other) after deleting client's: %v", err)
	}
}

func newCode(hash string, expiresAt time.Time) *store.AuthorizationCode {
	return &store.AuthorizationCode{
		Hash:                hash,
		ClientID:            "client",
		RedirectURI:         "https://app.example/cb",
		Subject:             "user-42",
		SessionID:           "sid-1",
		Scopes:              []string{"openid", "offline_access"},
		Resources:           []string{"https://api.example"},
		Nonce:               "n-0S6_WzA2Mj",
		AuthTime:            epoch.Add(-time.Minute),
		AMR:                 []string{"pwd"},
		ACR:                 "1",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		GrantID:             "grant-of-" + hash,
		Claims:              `{"id_token":{"email":null}}`,
		CreatedAt:           epoch,
		ExpiresAt:           expiresAt,
	}
}

func testCodeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.AuthorizationCode{
		"full":  newCode("full", epoch.Add(time.Minute)),
		"nil":   {Hash: "nil", ClientID: "c", CreatedAt: epoch, ExpiresAt: epoch},
		"empty": {Hash: "empty", ClientID: "c", Scopes: []string{}, Resources: []string{}, AMR: []string{}, CreatedAt: epoch, ExpiresAt: epoch},
		// Expiry is the caller's to check: an expired code is still consumed.
		"expired": newCode("expired", epoch.AddDate(-1, 0, 0)),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want := *c
			mustNil(t, s.CreateAuthorizationCode(ctx, c), "CreateAuthorizationCode")
			got, err := s.ConsumeAuthorizationCode(ctx, c.Hash, epoch)
			mustNil(t, err, "ConsumeAuthorizationCode")
			assertEqual(t, got, &want)
		})
	}
	dup := newCode("full", epoch.Add(time.Hour))
	mustBe(t, s.CreateAuthorizationCode(ctx, dup), store.ErrConflict, "CreateAuthorizationCode (duplicate)")
	_, err := s.ConsumeAuthorizationCode(ctx, "missing", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeAuthorizationCode (missing)")
}

func testCodeConsumeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, h := range []string{"a", "b"} {
		mustNil(t, s.CreateAuthorizationCode(ctx, newCode(h, epoch.Add(time.Minute))), "CreateAuthorizationCode")
	}
	got, err := s.ConsumeAuthorizationCode(ctx, "a", epoch)
	mustNil(t, err, "ConsumeAuthorizationCode (first)")
	assertEqual(t, got, newCode("a", epoch.Add(time.Minute)))
	for i := range 2 {
		// A replay returns the code, so the caller can revoke the grant it created.
		got, err = s.ConsumeAuthorizationCode(ctx, "a", epoch.Add(time.Second))
		mustBe(t, err, store.ErrAlreadyUsed, fmt.Sprintf("ConsumeAuthorizationCode (replay #%d)", i+1))
		if got == nil {
			t.Fatal("replay returned no code")
		}
		assertEqual(t, got, newCode("a", epoch.Add(time.Minute)))
	}
	// Consuming one code leaves the others alone.
	_, err = s.ConsumeAuthorizationCode(ctx, "b", epoch)
	mustNil(t, err, "ConsumeAuthorizationCode (other code)")
}

// testCodeGet: GetAuthorizationCode reads a code, used or not, and never spends it.
func testCodeGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newCode("g", epoch.Add(time.Minute))
	mustNil(t, s.CreateAuthorizationCode(ctx, newCode("g", epoch.Add(time.Minute))), "CreateAuthorizationCode")
	for i := range 2 {
		got, err := s.GetAuthorizationCode(ctx, "g")
		mustNil(t, err, fmt.Sprintf("GetAuthorizationCode #%d", i+1))
		assertEqual(t, got, want)
	}
	_, err := s.ConsumeAuthorizationCode(ctx, "g", epoch)
	mustNil(t, err, "ConsumeAuthorizationCode after GetAuthorizationCode")
	got, err := s.GetAuthorizationCode(ctx, "g")
	mustNil(t, err, "GetAuthorizationCode (used)")
	assertEqual(t, got, want)
	_, err = s.GetAuthorizationCode(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetAuthorizationCode (missing)")
}

func newGrant(id, sessionID string, expiresAt time.Time) *store.Grant {
	return &store.Grant{
		ID:        id,
		ClientID:  "client",
		Subject:   "user-42",
		SessionID: sessionID,
		Scopes:    []string{"openid", "offline_access", "read"},
		Resources: []string{"https://api.example"},
		AuthTime:  epoch.Add(-time.Minute),
		AMR:       []string{"pwd", "hwk"},
		ACR:       "2",
		JKT:       "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		X5TS256:   "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2",
		Claims:    `{"userinfo":{"name":{"essential":true}}}`,
		CreatedAt: epoch,
		ExpiresAt: expiresAt,
	}
}

func testGrantRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.Grant{
		"full":    newGrant("full", "sid", epoch.Add(24*time.Hour)),
		"nil":     {ID: "nil", ClientID: "c", CreatedAt: epoch, ExpiresAt: epoch},
		"empty":   {ID: "empty", ClientID: "c", Scopes: []string{}, Resources: []string{}, AMR: []string{}, CreatedAt: epoch, ExpiresAt: epoch},
		"revoked": {ID: "revoked", ClientID: "c", Revoked: true, CreatedAt: epoch, ExpiresAt: epoch},
	}
	for name, g := range cases {
		t.Run(name, func(t *testing.T) {
			want := *g
			mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
			got, err := s.GetGrant(ctx, g.ID)
			mustNil(t, err, "GetGrant")
			assertEqual(t, got, &want)
		})
	}
	mustBe(t, s.CreateGrant(ctx, newGrant("full", "other", epoch)), store.ErrConflict, "CreateGrant (duplicate)")
	got, err := s.GetGrant(ctx, "full")
	mustNil(t, err, "GetGrant")
	if got.SessionID != "sid" {
		t.Errorf("duplicate insert overwrote the grant: session %q", got.SessionID)
	}
	_, err = s.GetGrant(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetGrant (missing)")
}

func newRefresh(hash, grantID string, expiresAt time.Time) *store.RefreshToken {
	return &store.RefreshToken{
		Hash:      hash,
		GrantID:   grantID,
		Scopes:    []string{"openid", "read"},
		CreatedAt: epoch,
		ExpiresAt: expiresAt,
	}
}

func testRefreshRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateGrant(ctx, newGrant("g", "sid", epoch.Add(time.Hour))), "CreateGrant")
	used := newRefresh("used", "g", epoch.Add(time.Hour))
	used.UsedAt, used.ResponseSealed = ptr(epoch.Add(time.Minute)), []byte{0, 1, 0xfe, 0xff}
	cases := map[string]*store.RefreshToken{
		"full":  newRefresh("full", "g", epoch.Add(time.Hour)),
		"used":  used,
		"nil":   {Hash: "nil", GrantID: "g", CreatedAt: epoch, ExpiresAt: epoch},
		"empty": {Hash: "empty", GrantID: "g", Scopes: []string{}, CreatedAt: epoch, ExpiresAt: epoch},
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			want := *tok
			mustNil(t, s.CreateRefreshToken(ctx, tok), "CreateRefreshToken")
			got, err := s.GetRefreshToken(ctx, tok.Hash)
			mustNil(t, err, "GetRefreshToken")
			assertEqual(t, got, &want)
		})
	}
	mustBe(t, s.CreateRefreshToken(ctx, newRefresh("full", "g", epoch)), store.ErrConflict, "CreateRefreshToken (duplicate)")
	_, err := s.GetRefreshToken(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetRefreshToken (missing)")
}

func testRefreshRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := epoch.Add(time.Hour)
	mustNil(t, s.CreateGrant(ctx, newGrant("g", "sid", exp)), "CreateGrant")
	mustNil(t, s.CreateRefreshToken(ctx, newRefresh("r1", "g", exp)), "CreateRefreshToken")
	mustNil(t, s.CreateRefreshToken(ctx, newRefresh("other", "g", exp)), "CreateRefreshToken")

	usedAt, response := epoch.Add(time.Minute), []byte("sealed response")
	mustNil(t, s.RotateRefreshToken(ctx, "r1", usedAt, response, newRefresh("r2", "g", exp)), "RotateRefreshToken")
	old, err := s.GetRefreshToken(ctx, "r1")
	mustNil(t, err, "GetRefreshToken (old)")
	wantOld := newRefresh("r1", "g", exp)
	wantOld.UsedAt, wantOld.ResponseSealed = &usedAt, response
	assertEqual(t, old, wantOld)
	next, err := s.GetRefreshToken(ctx, "r2")
	mustNil(t, err, "GetRefreshToken (next)")
	assertEqual(t, next, newRefresh("r2", "g", exp))

	// A second rotation of r1 changes nothing and inserts nothing.
	mustBe(t, s.RotateRefreshToken(ctx, "r1", usedAt.Add(time.Second), []byte("again"), newRefresh("r3", "g", exp)),
		store.ErrAlreadyUsed, "RotateRefreshToken (replay)")
	_, err = s.GetRefreshToken(ctx, "r3")
	mustBe(t, err, store.ErrNotFound, "GetRefreshToken (next of a replay)")
	old, err = s.GetRefreshToken(ctx, "r1")
	mustNil(t, err, "GetRefreshToken (old)")
	assertEqual(t, old, wantOld)

	mustBe(t, s.RotateRefreshToken(ctx, "missing", usedAt, response, newRefresh("r4", "g", exp)),
		store.ErrNotFound, "RotateRefreshToken (missing)")
	_, err = s.GetRefreshToken(ctx, "r4")
	mustBe(t, err, store.ErrNotFound, "GetRefreshToken (next of a missing token)")

	// A next token that collides leaves the old one unused: the rotation is all or nothing.
	mustBe(t, s.RotateRefreshToken(ctx, "r2", usedAt, response, newRefresh("other", "g", exp)),
		store.ErrConflict, "RotateRefreshToken (next exists)")
	next, err = s.GetRefreshToken(ctx, "r2")
	mustNil(t, err, "GetRefreshToken")
	if next.UsedAt != nil || next.ResponseSealed != nil {
		t.Errorf("failed rotation marked r2 used: %v, %q", next.UsedAt, next.ResponseSealed)
	}
	mustNil(t, s.RotateRefreshToken(ctx, "r2", usedAt, nil, newRefresh("r5", "g", exp)), "RotateRefreshToken (after failure)")
}

// grantFixture is a grant with one opaque access token and one recorded JWT jti.
func grantFixture(t *testing.T, s store.Store, id, sessionID string) {
	t.Helper()
	subjectGrantFixture(t, s, id, sessionID, "user-42")
}

// subjectGrantFixture is grantFixture for the account with subject.
func subjectGrantFixture(t *testing.T, s store.Store, id, sessionID, subject string) {
	t.Helper()
	ctx := t.Context()
	exp := epoch.Add(time.Hour)
	g := newGrant(id, sessionID, exp)
	g.Subject = subject
	mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
	tok := newAccessToken("at-"+id, exp)
	tok.GrantID = id
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	mustNil(t, s.RecordGrantJTI(ctx, id, "jti-"+id, exp), "RecordGrantJTI")
}

// assertGrantRevoked checks the grant, its access token and its jti all agree on want.
func assertGrantRevoked(t *testing.T, s store.Store, id string, want bool) {
	t.Helper()
	ctx := t.Context()
	g, err := s.GetGrant(ctx, id)
	mustNil(t, err, "GetGrant")
	tok, err := s.GetAccessToken(ctx, "at-"+id)
	mustNil(t, err, "GetAccessToken")
	jti, err := s.IsJTIRevoked(ctx, "jti-"+id)
	mustNil(t, err, "IsJTIRevoked")
	if g.Revoked != want || tok.Revoked != want || jti != want {
		t.Errorf("grant %s: revoked grant=%v access token=%v jti=%v, want all %v", id, g.Revoked, tok.Revoked, jti, want)
	}
}

func testRevokeGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	grantFixture(t, s, "g1", "sid")
	grantFixture(t, s, "g2", "sid")
	noGrant := newAccessToken("at-none", epoch.Add(time.Hour))
	mustNil(t, s.CreateAccessToken(ctx, noGrant), "CreateAccessToken (no grant)")
	got, err := s.GetAccessToken(ctx, "at-g1")
	mustNil(t, err, "GetAccessToken")
	if got.GrantID != "g1" {
		t.Fatalf("access token GrantID = %q, want g1", got.GrantID)
	}

	for i := range 2 { // revoking twice is fine
		mustNil(t, s.RevokeGrant(ctx, "g1"), fmt.Sprintf("RevokeGrant #%d", i+1))
	}
	assertGrantRevoked(t, s, "g1", true)
	assertGrantRevoked(t, s, "g2", false)
	mustNil(t, s.RevokeGrant(ctx, "missing"), "RevokeGrant (missing)")
	tok, err := s.GetAccessToken(ctx, "at-none")
	mustNil(t, err, "GetAccessToken")
	if tok.Revoked {
		t.Error("revoking a grant revoked a token issued under no grant")
	}
}

func testRevokeSessionGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	grantFixture(t, s, "a1", "sid-a")
	grantFixture(t, s, "a2", "sid-a")
	grantFixture(t, s, "b1", "sid-b")

	n, err := s.RevokeSessionGrants(ctx, "sid-a")
	mustNil(t, err, "RevokeSessionGrants")
	if n != 2 {
		t.Errorf("RevokeSessionGrants revoked %d grants, want 2", n)
	}
	assertGrantRevoked(t, s, "a1", true)
	assertGrantRevoked(t, s, "a2", true)
	assertGrantRevoked(t, s, "b1", false)

	n, err = s.RevokeSessionGrants(ctx, "sid-a")
	mustNil(t, err, "RevokeSessionGrants (again)")
	if n != 0 {
		t.Errorf("second RevokeSessionGrants revoked %d grants, want 0", n)
	}
	n, err = s.RevokeSessionGrants(ctx, "sid-none")
	mustNil(t, err, "RevokeSessionGrants (no grants)")
	if n != 0 {
		t.Errorf("RevokeSessionGrants of a session without grants revoked %d", n)
	}
}

func testRevokeSubjectGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	subjectGrantFixture(t, s, "m1", "sid-1", "mary")
	subjectGrantFixture(t, s, "m2", "sid-2", "mary")
	subjectGrantFixture(t, s, "o1", "sid-3", "oscar")

	n, err := s.RevokeSubjectGrants(ctx, "mary")
	mustNil(t, err, "RevokeSubjectGrants")
	if n != 2 {
		t.Errorf("RevokeSubjectGrants revoked %d grants, want 2", n)
	}
	assertGrantRevoked(t, s, "m1", true)
	assertGrantRevoked(t, s, "m2", true)
	assertGrantRevoked(t, s, "o1", false)
	for subject, want := range map[string]int{"mary": 0, "nobody": 0, "": 0} {
		n, err := s.RevokeSubjectGrants(ctx, subject)
		mustNil(t, err, "RevokeSubjectGrants")
		if n != want {
			t.Errorf("RevokeSubjectGrants(%q) revoked %d, want %d", subject, n, want)
		}
	}
	assertGrantRevoked(t, s, "o1", false)
}

func testDeleteSubjectSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := epoch.Add(time.Hour)
	for id, subject := range map[string]string{"s1": "mary", "s2": "mary", "s3": "oscar"} {
		sess := newSession(id, exp)
		sess.Subject = subject
		mustNil(t, s.CreateSession(ctx, sess), "CreateSession")
	}
	n, err := s.DeleteSubjectSessions(ctx, "mary")
	mustNil(t, err, "DeleteSubjectSessions")
	if n != 2 {
		t.Errorf("DeleteSubjectSessions removed %d sessions, want 2", n)
	}
	for id, want := range map[string]error{"s1": store.ErrNotFound, "s2": store.ErrNotFound, "s3": nil} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("GetSession(%s) = %v, want %v", id, err, want)
		}
	}
	if n, err := s.DeleteSubjectSessions(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("DeleteSubjectSessions(nobody) = %d, %v", n, err)
	}
}

func testGrantIDOfJTI(t *testing.T, s store.Store) {
	ctx := t.Context()
	grantFixture(t, s, "g1", "sid")
	id, err := s.GrantIDOfJTI(ctx, "jti-g1")
	if err != nil || id != "g1" {
		t.Errorf("GrantIDOfJTI(jti-g1) = %q, %v; want g1", id, err)
	}
	if _, err := s.GrantIDOfJTI(ctx, "jti-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GrantIDOfJTI(unknown) err = %v, want ErrNotFound", err)
	}
}

func testDeleteExpiredFlows(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := epoch
	past, future := now.Add(-time.Second), now.Add(time.Hour)

	// Sessions stay an hour after they expired, for the backchannel's session-end pass.
	sessions := map[string]time.Time{"sess-past": past, "sess-now": now, "sess-future": future,
		"sess-grace-ended": now.Add(-time.Hour), "sess-grace-ended-before": now.Add(-time.Hour - time.Millisecond)}
	for id, exp := range sessions {
		mustNil(t, s.CreateSession(ctx, newSession(id, exp)), "CreateSession")
	}
	for hash, exp := range map[string]time.Time{"code-past": past, "code-future": future} {
		mustNil(t, s.CreateAuthorizationCode(ctx, newCode(hash, exp)), "CreateAuthorizationCode")
	}
	// An expired grant goes with its refresh tokens and jtis, even unexpired ones.
	mustNil(t, s.CreateGrant(ctx, newGrant("grant-past", "sid", past)), "CreateGrant")
	mustNil(t, s.CreateRefreshToken(ctx, newRefresh("rt-of-past-grant", "grant-past", future)), "CreateRefreshToken")
	mustNil(t, s.RecordGrantJTI(ctx, "grant-past", "jti-of-past-grant", future), "RecordGrantJTI")
	// A live grant keeps its live refresh tokens and jtis and loses the expired ones.
	mustNil(t, s.CreateGrant(ctx, newGrant("grant-future", "sid", future)), "CreateGrant")
	mustNil(t, s.CreateRefreshToken(ctx, newRefresh("rt-past", "grant-future", past)), "CreateRefreshToken")
	mustNil(t, s.CreateRefreshToken(ctx, newRefresh("rt-future", "grant-future", future)), "CreateRefreshToken")
	mustNil(t, s.RecordGrantJTI(ctx, "grant-future", "jti-past", past), "RecordGrantJTI")
	mustNil(t, s.RecordGrantJTI(ctx, "grant-future", "jti-future", future), "RecordGrantJTI")

	n, err := s.DeleteExpired(ctx, now)
	mustNil(t, err, "DeleteExpired")
	// sess-grace-ended, sess-grace-ended-before, code-past, grant-past with rt-of-past-grant
	// and jti-of-past-grant, rt-past, jti-past.
	if n != 8 {
		t.Errorf("DeleteExpired removed %d rows, want 8", n)
	}
	for id, want := range map[string]bool{"sess-past": true, "sess-now": true, "sess-future": true,
		"sess-grace-ended": false, "sess-grace-ended-before": false} {
		_, err := s.GetSession(ctx, id)
		if found := err == nil; found != want {
			t.Errorf("session %s found = %v (err %v), want %v", id, found, err, want)
		}
	}
	for hash, want := range map[string]bool{"code-past": false, "code-future": true} {
		_, err := s.ConsumeAuthorizationCode(ctx, hash, now)
		if found := err == nil; found != want {
			t.Errorf("code %s found = %v (err %v), want %v", hash, found, err, want)
		}
	}
	for id, want := range map[string]bool{"grant-past": false, "grant-future": true} {
		_, err := s.GetGrant(ctx, id)
		if found := err == nil; found != want {
			t.Errorf("grant %s found = %v (err %v), want %v", id, found, err, want)
		}
	}
	for hash, want := range map[string]bool{"rt-of-past-grant": false, "rt-past": false, "rt-future": true} {
		_, err := s.GetRefreshToken(ctx, hash)
		if found := err == nil; found != want {
			t.Errorf("refresh token %s found = %v (err %v), want %v", hash, found, err, want)
		}
	}
	// The jtis that survive are the ones a revocation of their grant still revokes.
	mustNil(t, s.RevokeGrant(ctx, "grant-past"), "RevokeGrant")
	mustNil(t, s.RevokeGrant(ctx, "grant-future"), "RevokeGrant")
	for jti, want := range map[string]bool{"jti-of-past-grant": false, "jti-past": false, "jti-future": true} {
		got, err := s.IsJTIRevoked(ctx, jti)
		mustNil(t, err, "IsJTIRevoked")
		if got != want {
			t.Errorf("IsJTIRevoked(%s) after revoking its grant = %v, want %v", jti, got, want)
		}
	}

	n, err = s.DeleteExpired(ctx, now)
	mustNil(t, err, "DeleteExpired (again)")
	if n != 0 {
		t.Errorf("second DeleteExpired removed %d rows, want 0", n)
	}
}

const raceN = 16

func testRaceConsumeCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 3 {
		hash := fmt.Sprintf("race-%d", round)
		mustNil(t, s.CreateAuthorizationCode(ctx, newCode(hash, epoch.Add(time.Minute))), "CreateAuthorizationCode")
		errs := make([]error, raceN)
		codes := make([]*store.AuthorizationCode, raceN)
		start(raceN, func(i int) { codes[i], errs[i] = s.ConsumeAuthorizationCode(ctx, hash, epoch) })
		var ok, used int
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrAlreadyUsed):
				used++
			default:
				t.Errorf("ConsumeAuthorizationCode: unexpected error %v", err)
				continue
			}
			if codes[i] == nil || codes[i].GrantID != "grant-of-"+hash {
				t.Errorf("ConsumeAuthorizationCode returned %+v with %v", codes[i], err)
			}
		}
		if ok != 1 || used != raceN-1 {
			t.Errorf("round %d: %d successes and %d ErrAlreadyUsed, want 1 and %d", round, ok, used, raceN-1)
		}
	}
}

func testRaceRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := epoch.Add(time.Hour)
	mustNil(t, s.CreateGrant(ctx, newGrant("g", "sid", exp)), "CreateGrant")
	for round := range 3 {
		old := fmt.Sprintf("race-%d", round)
		mustNil(t, s.CreateRefreshToken(ctx, newRefresh(old, "g", exp)), "CreateRefreshToken")
		next := func(i int) string { return fmt.Sprintf("%s-next-%d", old, i) }
		errs := make([]error, raceN)
		start(raceN, func(i int) {
			errs[i] = s.RotateRefreshToken(ctx, old, epoch, []byte(next(i)), newRefresh(next(i), "g", exp))
		})
		winner := -1
		var used int
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("round %d: rotations %d and %d both succeeded", round, winner, i)
				}
				winner = i
			case errors.Is(err, store.ErrAlreadyUsed):
				used++
			default:
				t.Errorf("RotateRefreshToken: unexpected error %v", err)
			}
		}
		if winner < 0 || used != raceN-1 {
			t.Fatalf("round %d: winner %d and %d ErrAlreadyUsed, want one winner and %d", round, winner, used, raceN-1)
		}
		// Exactly the winner's token exists, and the old one holds the winner's response.
		for i := range raceN {
			_, err := s.GetRefreshToken(ctx, next(i))
			if found := err == nil; found != (i == winner) {
				t.Errorf("round %d: token of rotation %d found = %v (err %v), winner is %d", round, i, found, err, winner)
			}
		}
		got, err := s.GetRefreshToken(ctx, old)
		mustNil(t, err, "GetRefreshToken")
		if string(got.ResponseSealed) != next(winner) {
			t.Errorf("round %d: old token holds response %q, want the winner's %q", round, got.ResponseSealed, next(winner))
		}
	}
}
