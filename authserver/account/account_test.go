package account

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"golang.org/x/crypto/bcrypt"
)

// fakeAccounts is an in-memory store.AccountStore.
type fakeAccounts struct {
	bySubject map[string]*store.Account
	err       error // returned by every call when set
}

func newFakeAccounts(accs ...*store.Account) *fakeAccounts {
	f := &fakeAccounts{bySubject: map[string]*store.Account{}}
	for _, a := range accs {
		f.bySubject[a.Subject] = a
	}
	return f
}

func (f *fakeAccounts) GetAccount(_ context.Context, subject string) (*store.Account, error) {
	if f.err != nil {
		return nil, f.err
	}
	if a, ok := f.bySubject[subject]; ok {
		return a, nil
	}
	return nil, store.ErrNotFound
}

func (f *fakeAccounts) GetAccountByUsername(_ context.Context, username string) (*store.Account, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, a := range f.bySubject {
		if a.Username == username {
			return a, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeAccounts) UpsertAccount(_ context.Context, a *store.Account) error {
	f.bySubject[a.Subject] = a
	return nil
}

func (f *fakeAccounts) DeleteAccount(_ context.Context, subject string) error {
	delete(f.bySubject, subject)
	return nil
}

func (f *fakeAccounts) ListAccounts(context.Context) ([]*store.Account, error) {
	return nil, errors.New("not needed")
}

func TestNormalizeUsername(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"  Alice\t\n", "alice"},
		{"ÉLODIE", "élodie"},
		{"ΣΊΣΥΦΟΣ", "σίσυφοσ"},
		{"a b", "a b"},
		{"   ", ""},
	}
	for _, tt := range tests {
		if got := NormalizeUsername(tt.in); got != tt.want {
			t.Errorf("NormalizeUsername(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("legacy pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := mustHash(t, "alice pw")
	fake := newFakeAccounts(
		&store.Account{Subject: "sub-alice", Username: "alice", PasswordHash: hash,
			Claims: map[string]any{"name": "Alice"}},
		&store.Account{Subject: "sub-bob", Username: "bob", PasswordHash: string(bc)},
		&store.Account{Subject: "sub-carol", Username: "carol", PasswordHash: hash, Disabled: true},
		&store.Account{Subject: "sub-dave", Username: "dave"}, // no password sign-in
	)
	src := NewStoreSource(fake)
	tests := []struct {
		name, user, pw string
		wantSub        string // empty: want ErrInvalidCredentials
	}{
		{"right password", "alice", "alice pw", "sub-alice"},
		{"username normalized", "  ALICE ", "alice pw", "sub-alice"},
		{"bcrypt account", "bob", "legacy pw", "sub-bob"},
		{"wrong password", "alice", "alice PW", ""},
		{"password not trimmed", "alice", "alice pw ", ""},
		{"unknown user", "mallory", "alice pw", ""},
		{"disabled, right password", "carol", "alice pw", ""},
		{"disabled, wrong password", "carol", "nope", ""},
		{"account without hash", "dave", "alice pw", ""},
		{"empty username", " ", "alice pw", ""},
		{"empty password", "alice", "", ""},
		{"overlong password", "alice", strings.Repeat("a", MaxPasswordLen+1), ""},
		{"overlong username", strings.Repeat("a", MaxUsernameLen+1), "alice pw", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc, err := src.Authenticate(context.Background(), tt.user, tt.pw)
			if tt.wantSub == "" {
				// The exact same error value whatever went wrong: nothing to tell apart.
				if err != ErrInvalidCredentials || acc != nil {
					t.Fatalf("Authenticate = %v, %v; want nil, ErrInvalidCredentials", acc, err)
				}
				return
			}
			if err != nil || acc.Subject != tt.wantSub {
				t.Fatalf("Authenticate = %v, %v; want subject %s", acc, err, tt.wantSub)
			}
			if acc.PasswordHash != "" {
				t.Error("returned account carries the password hash")
			}
		})
	}
	if fake.bySubject["sub-alice"].PasswordHash != hash {
		t.Error("Authenticate modified the stored account")
	}
}

// TestAuthenticateUnknownUserCostsAHash guards the timing equalizer: without the dummy
// verification, an unknown username would be answered in microseconds instead of the
// milliseconds an argon2id verification (19 MiB) takes on any hardware.
func TestAuthenticateUnknownUserCostsAHash(t *testing.T) {
	src := NewStoreSource(newFakeAccounts(
		&store.Account{Subject: "s", Username: "nohash"}))
	for _, user := range []string{"mallory", "nohash"} {
		start := time.Now()
		_, err := src.Authenticate(context.Background(), user, "guess")
		if elapsed := time.Since(start); elapsed < 2*time.Millisecond {
			t.Errorf("%s answered in %v: no argon2id work was done", user, elapsed)
		}
		if err != ErrInvalidCredentials {
			t.Errorf("%s: err = %v", user, err)
		}
	}
}

func TestAuthenticateStoreError(t *testing.T) {
	boom := errors.New("database is down")
	fake := newFakeAccounts()
	fake.err = boom
	_, err := NewStoreSource(fake).Authenticate(context.Background(), "alice", "pw")
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want the store's error, not ErrInvalidCredentials", err)
	}
}

func TestAccount(t *testing.T) {
	claims := map[string]any{"email": "a@example.com"}
	fake := newFakeAccounts(
		&store.Account{Subject: "sub-alice", Username: "alice", PasswordHash: "h", Claims: claims},
		&store.Account{Subject: "sub-carol", Username: "carol", Disabled: true},
	)
	boom := errors.New("boom")
	tests := []struct {
		name, subject string
		storeErr      error
		wantErr       []error
	}{
		{"found", "sub-alice", nil, nil},
		{"unknown", "sub-nobody", nil, []error{ErrNotFound, store.ErrNotFound}},
		{"empty subject", "", nil, []error{ErrNotFound, store.ErrNotFound}},
		{"disabled", "sub-carol", nil, []error{ErrDisabled}},
		{"store failure", "sub-alice", boom, []error{boom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.err = tt.storeErr
			acc, err := NewStoreSource(fake).Account(context.Background(), tt.subject)
			if tt.wantErr == nil {
				if err != nil || acc.Subject != tt.subject || !maps.Equal(acc.Claims, claims) {
					t.Fatalf("Account = %+v, %v", acc, err)
				}
				if acc.PasswordHash != "" {
					t.Error("returned account carries the password hash")
				}
				return
			}
			if acc != nil {
				t.Errorf("Account returned %+v with an error", acc)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to match %v", err, want)
				}
			}
		})
	}
}

func TestAuthenticateWaitsForAHashSlot(t *testing.T) {
	src := NewStoreSource(newFakeAccounts(
		&store.Account{Subject: "s", Username: "alice", PasswordHash: mustHash(t, "pw")}))
	for range cap(src.hashSlots) {
		src.hashSlots <- struct{}{} // every slot busy
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := src.Authenticate(ctx, "alice", "pw")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want the context's deadline while all hash slots are busy", err)
	}
	<-src.hashSlots
	if _, err := src.Authenticate(context.Background(), "alice", "pw"); err != nil {
		t.Fatalf("with a free slot: %v", err)
	}
}
