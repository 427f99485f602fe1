package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// passkeyTests check store.PasskeyStore: round trips, the signature counter (clone
// detection) including concurrent sign-ins, revocation and deletion with the account.
var passkeyTests = []contractTest{
	{"PasskeyRoundTrip", testPasskeyRoundTrip},
	{"PasskeyCounter", testPasskeyCounter},
	{"PasskeyRevokeAndDelete", testPasskeyRevoke},
	{"RaceUsePasskey", testRaceUsePasskey},
}

func newPasskey(id, subject string) *store.Passkey {
	return &store.Passkey{
		ID: id, Subject: subject, UserHandle: []byte("handle-" + subject), Name: "Laptop " + id,
		PublicKey: []byte{0xa5, 0x01, 0x02, 0x03, 0x26}, AttestationType: "none", AttestationFormat: "none",
		AAGUID: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Transports: []string{"internal", "hybrid"},
		Attachment: "platform", SignCount: 3, BackupEligible: true, BackupState: true, UserVerified: true,
		CreatedAt: epoch,
	}
}

func testPasskeyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newPasskey("cred-a", "alice")
	mustNil(t, s.CreatePasskey(ctx, a), "CreatePasskey")
	got, err := s.GetPasskey(ctx, "cred-a")
	mustNil(t, err, "GetPasskey")
	assertEqual(t, got, a)

	// A bare credential: empty optional fields read back empty, not as zero-length values.
	b := &store.Passkey{ID: "cred-b", Subject: "alice", UserHandle: []byte{0}, PublicKey: []byte{1}, CreatedAt: epoch.Add(1)}
	mustNil(t, s.CreatePasskey(ctx, b), "CreatePasskey (bare)")
	got, err = s.GetPasskey(ctx, "cred-b")
	mustNil(t, err, "GetPasskey (bare)")
	assertEqual(t, got, b)

	mustNil(t, s.CreatePasskey(ctx, newPasskey("cred-c", "bob")), "CreatePasskey (bob)")
	mustBe(t, s.CreatePasskey(ctx, newPasskey("cred-a", "bob")), store.ErrConflict, "CreatePasskey (same ID)")
	_, err = s.GetPasskey(ctx, "nope")
	mustBe(t, err, store.ErrNotFound, "GetPasskey (unknown)")

	list, err := s.ListPasskeys(ctx, "alice")
	mustNil(t, err, "ListPasskeys")
	if len(list) != 2 || list[0].ID != "cred-a" || list[1].ID != "cred-b" {
		t.Fatalf("ListPasskeys(alice) = %v, want cred-a then cred-b", passkeyIDs(list))
	}
	list, err = s.ListPasskeys(ctx, "carol")
	mustNil(t, err, "ListPasskeys (none)")
	if len(list) != 0 {
		t.Fatalf("ListPasskeys(carol) = %v, want none", passkeyIDs(list))
	}
}

func testPasskeyCounter(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreatePasskey(ctx, newPasskey("k", "alice")), "CreatePasskey")
	used := epoch.Add(5_000_000_000)
	mustNil(t, s.UsePasskey(ctx, "k", store.PasskeyUse{SignCount: 7, BackupState: false, At: used}), "UsePasskey 7")
	got, _ := s.GetPasskey(ctx, "k")
	if got.SignCount != 7 || got.BackupState || !got.LastUsedAt.Equal(used) || got.CloneWarning {
		t.Fatalf("after a use: count %d backup %v last used %v clone %v", got.SignCount, got.BackupState, got.LastUsedAt, got.CloneWarning)
	}
	// The same counter again, or a lower one: a possible clone, refused and flagged.
	for _, n := range []uint32{7, 2, 0} {
		err := s.UsePasskey(ctx, "k", store.PasskeyUse{SignCount: n, At: used.Add(1)})
		mustBe(t, err, store.ErrConflict, fmt.Sprintf("UsePasskey %d after 7", n))
	}
	got, _ = s.GetPasskey(ctx, "k")
	if got.SignCount != 7 || !got.CloneWarning || !got.LastUsedAt.Equal(used) {
		t.Fatalf("after refused uses: count %d clone %v last used %v", got.SignCount, got.CloneWarning, got.LastUsedAt)
	}
	mustNil(t, s.UsePasskey(ctx, "k", store.PasskeyUse{SignCount: 8, At: used}), "UsePasskey 8")

	// An authenticator without a counter always says 0.
	z := newPasskey("z", "alice")
	z.SignCount = 0
	mustNil(t, s.CreatePasskey(ctx, z), "CreatePasskey (no counter)")
	for range 2 {
		mustNil(t, s.UsePasskey(ctx, "z", store.PasskeyUse{SignCount: 0, At: used}), "UsePasskey 0 (no counter)")
	}
	got, _ = s.GetPasskey(ctx, "z")
	if got.CloneWarning {
		t.Fatal("a credential without a counter was flagged as cloned")
	}
	mustBe(t, s.UsePasskey(ctx, "unknown", store.PasskeyUse{SignCount: 1, At: used}), store.ErrNotFound, "UsePasskey (unknown)")
}

func testPasskeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreatePasskey(ctx, newPasskey("r1", "alice")), "CreatePasskey")
	mustNil(t, s.CreatePasskey(ctx, newPasskey("r2", "alice")), "CreatePasskey")
	mustNil(t, s.CreatePasskey(ctx, newPasskey("r3", "bob")), "CreatePasskey")
	at := epoch.Add(3_000_000_000)
	mustBe(t, s.RevokePasskey(ctx, "bob", "r1", at), store.ErrNotFound, "RevokePasskey (another account's)")
	mustNil(t, s.RevokePasskey(ctx, "alice", "r1", at), "RevokePasskey")
	mustBe(t, s.RevokePasskey(ctx, "alice", "r1", at), store.ErrNotFound, "RevokePasskey (again)")
	got, err := s.GetPasskey(ctx, "r1")
	mustNil(t, err, "GetPasskey (revoked)")
	if !got.RevokedAt.Equal(at) {
		t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, at)
	}
	mustBe(t, s.UsePasskey(ctx, "r1", store.PasskeyUse{SignCount: 100, At: at}), store.ErrNotFound, "UsePasskey (revoked)")
	got, _ = s.GetPasskey(ctx, "r1")
	if got.SignCount != 3 || got.CloneWarning || !got.LastUsedAt.IsZero() {
		t.Fatalf("a refused use changed the revoked credential: %+v", got)
	}

	n, err := s.DeleteSubjectPasskeys(ctx, "alice")
	mustNil(t, err, "DeleteSubjectPasskeys")
	if n != 2 {
		t.Fatalf("DeleteSubjectPasskeys removed %d, want 2", n)
	}
	_, err = s.GetPasskey(ctx, "r2")
	mustBe(t, err, store.ErrNotFound, "GetPasskey (deleted)")
	if _, err := s.GetPasskey(ctx, "r3"); err != nil {
		t.Fatalf("another account's passkey went too: %v", err)
	}
}

// testRaceUsePasskey: of concurrent sign-ins presenting the same counter exactly one counts;
// the others are refused as possible clones.
func testRaceUsePasskey(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 24
	mustNil(t, s.CreatePasskey(ctx, newPasskey("race", "alice")), "CreatePasskey")
	errs := make([]error, n)
	start(n, func(i int) {
		errs[i] = s.UsePasskey(ctx, "race", store.PasskeyUse{SignCount: 10, At: epoch})
	})
	ok, conflict := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflict++
		default:
			t.Errorf("UsePasskey: unexpected error %v", err)
		}
	}
	if ok != 1 || conflict != n-1 {
		t.Fatalf("%d uses counted and %d refused, want 1 and %d", ok, conflict, n-1)
	}
}

func passkeyIDs(list []*store.Passkey) []string {
	return ids(list, func(p *store.Passkey) string { return p.ID })
}
