package spec

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
)

// Account declares a local end-user account.
type Account struct {
	Username string
	// Subject is the stable sub; default: a fresh random ID at first seeding, kept afterwards.
	Subject string
	// Password in clear (hashed at start) or PasswordHash (argon2id PHC or bcrypt).
	Password     string
	PasswordHash string
	Claims       map[string]any
	Disabled     bool
}

// ValidateAccount applies every rule about a declared account (one that must have a password).
func ValidateAccount(a Account) error {
	name := account.NormalizeUsername(a.Username)
	if name == "" {
		return about("account", errorf(CodeInvalidValue, "username", "", "is required"))
	}
	subject := fmt.Sprintf("account %q", name)
	if a.Password == "" && a.PasswordHash == "" {
		return about(subject, errorf(CodeInvalidValue, "password", "", "password or password_hash is required"))
	}
	return about(subject, ValidateAccountFields(a))
}

// ValidateAccountFields checks what an account change sets (a password hash, claims) without
// requiring a password: runtime updates may leave it as stored.
func ValidateAccountFields(a Account) error {
	if a.Password != "" && a.PasswordHash != "" {
		return errorf(CodeInvalidValue, "password", "", "set password or password_hash, not both")
	}
	if a.PasswordHash != "" {
		if err := account.ValidateHash(a.PasswordHash); err != nil {
			return errorf(CodeInvalidValue, "password_hash", "", "not an argon2id or bcrypt hash: %v (see `caddy oauth-password`)", err)
		}
	}
	if err := account.ValidateClaims(a.Claims); err != nil {
		return errorf(CodeInvalidValue, "claims", "", "%v", err)
	}
	return nil
}

// MinNewPasswordLen is the shortest password a user may choose for themselves (NIST SP
// 800-63B §3.1.1.2: at least 8 characters), counted in Unicode characters.
const MinNewPasswordLen = 8

// ValidateNewPassword applies the rules to a password a user chooses on the account pages:
// 8 characters at least, account.MaxPasswordLen bytes at most, not only white space.
// Passwords set by an operator (configuration, admin API) are the operator's to choose and
// keep only the length bound of account.HashPassword.
func ValidateNewPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinNewPasswordLen:
		return errorf(CodeInvalidValue, "new_password", "", "must be at least %d characters long", MinNewPasswordLen)
	case len(pw) > account.MaxPasswordLen:
		return errorf(CodeInvalidValue, "new_password", "", "must be at most %d bytes long", account.MaxPasswordLen)
	case strings.TrimSpace(pw) == "":
		return errorf(CodeInvalidValue, "new_password", "", "must not be only spaces")
	}
	return nil
}
