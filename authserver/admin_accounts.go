package authserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Errors of runtime account management, for callers (the admin API) to map to statuses.
// They are wrapped with the username.
var (
	ErrAccountNotFound = errors.New("no such account")
	ErrAccountExists   = errors.New("account already exists")
	// ErrAccountConfigured refuses changes to an account declared in the configuration: the
	// next start would silently restore the configured values.
	ErrAccountConfigured = errors.New("account is declared in the configuration; change it there (the next start would undo a change made here)")
	ErrInvalidAccount    = errors.New("invalid account")
)

// AccountView is an account as management shows it: never its password hash.
type AccountView struct {
	Subject  string         `json:"subject"`
	Username string         `json:"username"`
	Claims   map[string]any `json:"claims,omitempty"`
	Disabled bool           `json:"disabled"`
	// Configured marks an account declared in the configuration, which owns it.
	Configured bool      `json:"configured"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// PutMode restricts what PutAccount may do, like HTTP's If-None-Match: * and If-Match: *.
type PutMode int

const (
	CreateOrUpdate PutMode = iota
	CreateOnly             // ErrAccountExists if the username is taken
	UpdateOnly             // ErrAccountNotFound if there is no such account
)

// AccountInput creates or changes an account. Zero fields keep the stored values, so one
// call can change just the password or just the disabled flag.
type AccountInput struct {
	Username string
	// Password (hashed here) or PasswordHash (argon2id PHC or bcrypt), not both; a new
	// account needs one.
	Password     string
	PasswordHash string
	// Claims replace the stored claims when non-nil (an empty map clears them).
	Claims   map[string]any
	Disabled *bool
	Mode     PutMode
}

// ListAccounts returns every stored account, ordered by username.
func (s *Server) ListAccounts(ctx context.Context) ([]AccountView, error) {
	accs, err := s.st.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	views := make([]AccountView, 0, len(accs))
	for _, acc := range accs {
		views = append(views, s.accountView(acc))
	}
	slices.SortFunc(views, func(a, b AccountView) int { return cmp.Compare(a.Username, b.Username) })
	return views, nil
}

// PutAccount creates or updates the account named in.Username and reports whether it was
// created. A new account gets a fresh random subject, like seeded ones; an existing one keeps
// its subject forever. Disabling an account ends its access (see endAccess).
func (s *Server) PutAccount(ctx context.Context, in AccountInput) (AccountView, bool, error) {
	name, err := s.manageableUsername(in.Username)
	if err != nil {
		return AccountView{}, false, err
	}
	// The same rules as a declared account's (spec), minus the password a change may keep.
	if err := spec.ValidateAccountFields(spec.Account{Username: name, Password: in.Password, PasswordHash: in.PasswordHash, Claims: in.Claims}); err != nil {
		return AccountView{}, false, invalidAccount(name, err)
	}

	acc, err := s.st.GetAccountByUsername(ctx, name)
	created := errors.Is(err, store.ErrNotFound)
	switch {
	case created && in.Mode == UpdateOnly:
		return AccountView{}, false, fmt.Errorf("%w: %s", ErrAccountNotFound, name)
	case created && in.Password == "" && in.PasswordHash == "":
		return AccountView{}, false, invalidAccount(name, errors.New("a new account needs a password or password_hash"))
	case created:
		acc = &store.Account{Username: name, Subject: newJTI()}
	case err != nil:
		return AccountView{}, false, err
	case in.Mode == CreateOnly:
		return AccountView{}, false, fmt.Errorf("%w: %s", ErrAccountExists, name)
	}
	wasDisabled := acc.Disabled

	switch {
	case in.Password != "":
		if acc.PasswordHash, err = account.HashPassword(in.Password); err != nil {
			return AccountView{}, false, invalidAccount(name, err)
		}
	case in.PasswordHash != "":
		acc.PasswordHash = in.PasswordHash
	}
	if in.Claims != nil {
		acc.Claims = maps.Clone(in.Claims)
	}
	if in.Disabled != nil {
		acc.Disabled = *in.Disabled
	}
	if err := s.st.UpsertAccount(ctx, acc); errors.Is(err, store.ErrConflict) {
		// Another writer created the username since we looked.
		return AccountView{}, false, fmt.Errorf("%w: %s", ErrAccountExists, name)
	} else if err != nil {
		return AccountView{}, false, err
	}
	s.log.Info("account stored", zap.String("username", name), zap.String("sub", acc.Subject),
		zap.Bool("created", created), zap.Bool("disabled", acc.Disabled),
		zap.Bool("password_changed", in.Password != "" || in.PasswordHash != ""))
	// A disabled account, or one whose password was changed (perhaps because it leaked),
	// keeps nothing signed in with the old state: sessions end, grants and tokens are revoked.
	passwordChanged := in.Password != "" || in.PasswordHash != ""
	if !created && ((acc.Disabled && !wasDisabled) || passwordChanged) {
		if err := s.endAccess(ctx, acc.Subject); err != nil {
			return AccountView{}, false, fmt.Errorf("account %s is stored, but ending its sessions and grants failed: %w", name, err)
		}
	}
	return s.accountView(acc), created, nil
}

// DeleteAccount deletes the account and ends its access. Its subject is never reused, so
// leftovers keyed by it (consents) can never apply to someone else.
func (s *Server) DeleteAccount(ctx context.Context, username string) error {
	name, err := s.manageableUsername(username)
	if err != nil {
		return err
	}
	acc, err := s.st.GetAccountByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrAccountNotFound, name)
	} else if err != nil {
		return err
	}
	// Deleted first: from then on sessions and refresh tokens fail their account check even
	// if revoking the grants below fails.
	if err := s.st.DeleteAccount(ctx, acc.Subject); err != nil {
		return err
	}
	s.log.Info("account deleted", zap.String("username", name), zap.String("sub", acc.Subject))
	if _, err := s.st.DeleteSubjectPasskeys(ctx, acc.Subject); err != nil {
		return fmt.Errorf("account %s is deleted, but deleting its passkeys failed: %w", name, err)
	}
	if err := s.endAccess(ctx, acc.Subject); err != nil {
		return fmt.Errorf("account %s is deleted, but ending its access failed: %w", name, err)
	}
	return nil
}

// endAccess signs an account out everywhere: its sessions end and its grants, with the refresh
// and access tokens issued under them, are revoked (disabled, deleted or re-keyed accounts).
func (s *Server) endAccess(ctx context.Context, subject string) error {
	s.subjectSessionsEnding(ctx, subject)
	sessions, err := s.st.DeleteSubjectSessions(ctx, subject)
	if err != nil {
		return err
	}
	n, err := s.st.RevokeSubjectGrants(ctx, subject)
	if err != nil {
		return err
	}
	s.clearGateway() // cached in-process validations may hold the revoked tokens
	s.log.Info("account signed out everywhere", zap.String("sub", subject),
		zap.Int("sessions_ended", sessions), zap.Int("grants_revoked", n))
	return nil
}

// manageableUsername normalizes a username and refuses the ones the configuration owns.
func (s *Server) manageableUsername(username string) (string, error) {
	name := account.NormalizeUsername(username)
	if name == "" || len(name) > account.MaxUsernameLen {
		return "", fmt.Errorf("%w: a username of 1 to %d bytes is required", ErrInvalidAccount, account.MaxUsernameLen)
	}
	if s.configuredAccount(name) {
		return "", fmt.Errorf("%w: %s", ErrAccountConfigured, name)
	}
	return name, nil
}

// configuredAccount reports whether name (normalized) is declared in the configuration.
func (s *Server) configuredAccount(name string) bool {
	return slices.ContainsFunc(s.cfg.Accounts, func(ac AccountConfig) bool { return ac.Username == name })
}

func (s *Server) accountView(acc *store.Account) AccountView {
	return AccountView{
		Subject:    acc.Subject,
		Username:   acc.Username,
		Claims:     maps.Clone(acc.Claims),
		Disabled:   acc.Disabled,
		Configured: s.configuredAccount(acc.Username),
		CreatedAt:  acc.CreatedAt,
		UpdatedAt:  acc.UpdatedAt,
	}
}

func invalidAccount(name string, err error) error {
	return fmt.Errorf("%w %s: %v", ErrInvalidAccount, name, err)
}
