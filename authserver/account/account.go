// Package account authenticates local end users: password hashing, the account source the
// login page checks credentials against, login throttling, and the OpenID Connect claims an
// account releases per scope.
package account

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// MaxUsernameLen bounds usernames in bytes; longer ones never match an account.
const MaxUsernameLen = 256

var (
	// ErrInvalidCredentials is the one answer to a failed sign-in, whether the username is
	// unknown, the password wrong or the account disabled, so callers cannot leak which.
	ErrInvalidCredentials = errors.New("account: invalid username or password")
	// ErrNotFound means there is no account with the subject; it wraps store.ErrNotFound.
	ErrNotFound = fmt.Errorf("account: %w", store.ErrNotFound)
	// ErrDisabled means the account exists but may not be used.
	ErrDisabled = errors.New("account: disabled")
)

// NormalizeUsername returns the form usernames are stored and compared in: surrounding
// white space trimmed, then lower-cased with Unicode case mapping (strings.ToLower). It
// applies no Unicode normalization (NFC/NFKC), so visually equal names typed in different
// normal forms stay distinct.
func NormalizeUsername(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Source is where accounts come from. StoreSource reads the server's own store; other
// sources (LDAP, …) can implement the same contract.
type Source interface {
	// Authenticate returns the account for username/password, or ErrInvalidCredentials for
	// an unknown user, a wrong password or a disabled account alike (never reveal which).
	// Other errors are failures of the source itself.
	Authenticate(ctx context.Context, username, password string) (*store.Account, error)
	// Account returns the account with subject: ErrNotFound if there is none, ErrDisabled if
	// it is disabled, so that callers serving the user (userinfo, sessions) fail closed.
	Account(ctx context.Context, subject string) (*store.Account, error)
}

// dummyHash is verified when there is no usable hash to check the password against, so an
// unknown username costs the same argon2id work as a known one. Its parameters equal
// HashPassword's (a test keeps them in step); what it encodes does not matter, because a
// match against it is still a failure.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$Oye0Sy06VuIkhaUjsyVGDQ$szg8s8rd32KVQGggOPa4wvVIJu/D1kz5DPNWjpgsZ4k"

// StoreSource authenticates against the accounts of a store.AccountStore.
type StoreSource struct {
	st store.AccountStore
	// hashSlots bounds concurrent password verifications. Each argon2id run takes 19 MiB
	// and a core for tens of milliseconds, so running more at once than there are cores
	// adds no throughput, only memory: a burst of sign-ins waits here instead.
	hashSlots chan struct{}
}

// NewStoreSource returns a Source backed by st.
func NewStoreSource(st store.AccountStore) *StoreSource {
	return &StoreSource{st: st, hashSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

var _ Source = (*StoreSource)(nil)

// Authenticate implements Source. Accounts whose hash is bcrypt verify in bcrypt time, not
// argon2id time; only migrated accounts are distinguishable that way.
func (s *StoreSource) Authenticate(ctx context.Context, username, password string) (*store.Account, error) {
	username = NormalizeUsername(username)
	// Refusing these early reveals nothing about any account.
	if username == "" || len(username) > MaxUsernameLen || !passwordLenOK(password) {
		return nil, ErrInvalidCredentials
	}
	acc, err := s.st.GetAccountByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("account: look up username: %w", err)
	}
	select {
	case s.hashSlots <- struct{}{}:
		defer func() { <-s.hashSlots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("account: waiting to verify a password: %w", ctx.Err())
	}
	if acc == nil {
		_, _ = VerifyPassword(dummyHash, password)
		return nil, ErrInvalidCredentials
	}
	ok, err := VerifyPassword(acc.PasswordHash, password)
	if err != nil {
		// No usable hash (e.g. none set): password sign-in is impossible for this account,
		// but answer in the same time as for any other.
		_, _ = VerifyPassword(dummyHash, password)
		return nil, ErrInvalidCredentials
	}
	if !ok || acc.Disabled {
		return nil, ErrInvalidCredentials
	}
	return withoutHash(acc), nil
}

// Account implements Source.
func (s *StoreSource) Account(ctx context.Context, subject string) (*store.Account, error) {
	if subject == "" {
		return nil, ErrNotFound
	}
	acc, err := s.st.GetAccount(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account: look up subject: %w", err)
	}
	if acc.Disabled {
		return nil, ErrDisabled
	}
	return withoutHash(acc), nil
}

// withoutHash returns a copy of acc without its password hash: nothing past sign-in needs
// it, so it cannot end up in a page or a log by accident.
func withoutHash(acc *store.Account) *store.Account {
	c := *acc
	c.PasswordHash = ""
	return &c
}
