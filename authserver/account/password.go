package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
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
	p := argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}
	p.salt = make([]byte, argonSaltLen)
	if _, err := rand.Read(p.salt); err != nil {
		return "", fmt.Errorf("account: salt: %w", err)
	}
	p.key = p.derive(pw, argonKeyLen)
	return p.encode(), nil
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
	return subtle.ConstantTimeCompare(p.derive(pw, len(p.key)), p.key) == 1, nil
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

type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (p argonParams) derive(pw string, keyLen int) []byte {
	return argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(keyLen))
}

func (p argonParams) encode() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(p.salt), base64.RawStdEncoding.EncodeToString(p.key))
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$hash within the bounds above.
func parseArgon2id(encoded string) (argonParams, error) {
	var p argonParams
	// The longest valid string is well under 256 bytes; refuse to split anything bigger.
	if len(encoded) > 256 {
		return p, ErrMalformedHash
	}
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, ErrMalformedHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, ErrMalformedHash
	}
	m, okM := paramValue(params[0], "m=", maxArgonMemory)
	t, okT := paramValue(params[1], "t=", maxArgonTime)
	th, okP := paramValue(params[2], "p=", maxArgonThreads)
	// argon2 needs at least 8 KiB per lane.
	if !okM || !okT || !okP || m < 8*th {
		return p, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, ErrMalformedHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, ErrMalformedHash
	}
	return argonParams{memory: m, time: t, threads: uint8(th), salt: salt, key: key}, nil
}

func paramValue(s, name string, limit uint32) (uint32, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
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
