package account

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth/caddy-oauth/authserver/internal/phc"
)

// MaxPasswordLen bounds passwords in bytes: longer ones are refused before any hashing, so
// a client cannot make the server hash megabytes.
const MaxPasswordLen = 1024

// argon2id parameters of new hashes: the OWASP 2023 minimum (m=19 MiB, t=2, p=1). Unlike
// client secrets, passwords are low-entropy, so they always get the slow hash.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds accepted in stored hashes, so an imported or hostile hash cannot make one login
// allocate gigabytes or compute for seconds.
const (
	maxArgonMemory  = 64 * 1024 // KiB
	maxArgonTime    = 10
	maxArgonThreads = 8
	maxBcryptCost   = 14
)

var (
	// ErrMalformedHash is returned for an encoded hash that is neither a well-formed
	// argon2id PHC string nor a bcrypt hash within the accepted cost bounds.
	ErrMalformedHash = errors.New("account: malformed or unsupported password hash")
	// ErrBadPassword is returned by HashPassword for an empty or overlong password.
	ErrBadPassword = fmt.Errorf("account: password must be 1 to %d bytes", MaxPasswordLen)
)

// HashPassword returns the argon2id PHC string of pw:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if !passwordLenOK(pw) {
		return "", ErrBadPassword
	}
	p, err := phc.Hash(pw, argonMemory, argonTime, argonThreads, argonSaltLen, argonKeyLen)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// VerifyPassword reports whether pw matches encoded, an argon2id PHC string or a bcrypt
// hash ($2a$, $2b$, $2y$). It returns ErrMalformedHash if encoded cannot be verified; an
// empty or overlong pw never matches. Note that bcrypt only looks at the first 72 bytes.
func VerifyPassword(encoded, pw string) (bool, error) {
	if isBcrypt(encoded) {
		if err := validateBcrypt(encoded); err != nil {
			return false, err
		}
		if !passwordLenOK(pw) {
			return false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		default:
			return false, ErrMalformedHash
		}
	}
	p, err := parseArgon2id(encoded)
	if err != nil {
		return false, err
	}
	if !passwordLenOK(pw) {
		return false, nil
	}
	return p.Verify(pw), nil
}

// ValidateHash checks at configuration time that encoded is a hash VerifyPassword accepts.
func ValidateHash(encoded string) error {
	if isBcrypt(encoded) {
		return validateBcrypt(encoded)
	}
	_, err := parseArgon2id(encoded)
	return err
}

func passwordLenOK(pw string) bool { return pw != "" && len(pw) <= MaxPasswordLen }

// parseArgon2id parses a password hash within this package's cost bounds.
func parseArgon2id(encoded string) (phc.Argon2id, error) {
	p, err := phc.Parse(encoded, phc.Limits{Memory: maxArgonMemory, Time: maxArgonTime, Threads: maxArgonThreads})
	if err != nil {
		return p, ErrMalformedHash
	}
	return p, nil
}

func isBcrypt(encoded string) bool {
	return strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") ||
		strings.HasPrefix(encoded, "$2y$")
}

// validateBcrypt checks the exact shape $2x$CC$<53 chars of bcrypt base64>, which
// x/crypto/bcrypt itself checks only loosely, and bounds the cost.
func validateBcrypt(encoded string) error {
	const bcryptLen = 60
	if len(encoded) != bcryptLen || encoded[6] != '$' {
		return ErrMalformedHash
	}
	for _, c := range []byte(encoded[7:]) {
		if !isBcryptBase64(c) {
			return ErrMalformedHash
		}
	}
	d1, d2 := encoded[4], encoded[5]
	if d1 < '0' || d1 > '9' || d2 < '0' || d2 > '9' {
		return ErrMalformedHash
	}
	if cost := int(d1-'0')*10 + int(d2-'0'); cost < bcrypt.MinCost || cost > maxBcryptCost {
		return ErrMalformedHash
	}
	return nil
}

func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
