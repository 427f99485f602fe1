package spec

import (
	"fmt"

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
