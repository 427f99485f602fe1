// Package phc encodes, parses and verifies argon2id hashes in the PHC string format
// ($argon2id$v=19$m=M,t=T,p=P$salt$hash, unpadded standard base64). Client secrets and
// passwords both use it, each with its own cost and its own bounds on what a stored hash may ask.
package phc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformed is returned for a string that is not an argon2id PHC hash within the limits.
var ErrMalformed = errors.New("phc: malformed argon2id hash")

// maxLen bounds the encoded string: the longest valid one (64-byte salt and key) is ~220 bytes.
const maxLen = 256

// Argon2id holds the parameters, salt and key of one hash.
type Argon2id struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	Salt    []byte
	Key     []byte
}

// Limits bound the cost a stored hash may demand, so a hostile or mistyped hash cannot make a
// verification allocate gigabytes or run for minutes.
type Limits struct {
	Memory, Time, Threads uint32
}

// Hash derives a keyLen-byte key for secret with a fresh saltLen-byte salt.
func Hash(secret string, memory, time uint32, threads uint8, saltLen, keyLen int) (Argon2id, error) {
	p := Argon2id{Memory: memory, Time: time, Threads: threads, Salt: make([]byte, saltLen)}
	if _, err := rand.Read(p.Salt); err != nil {
		return p, fmt.Errorf("phc: salt: %w", err)
	}
	p.Key = p.derive(secret, keyLen)
	return p, nil
}

func (p Argon2id) derive(secret string, keyLen int) []byte {
	return argon2.IDKey([]byte(secret), p.Salt, p.Time, p.Memory, p.Threads, uint32(keyLen))
}

// Verify reports in constant time whether secret derives p's key.
func (p Argon2id) Verify(secret string) bool {
	return subtle.ConstantTimeCompare(p.derive(secret, len(p.Key)), p.Key) == 1
}

// String is the PHC encoding.
func (p Argon2id) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(p.Salt), base64.RawStdEncoding.EncodeToString(p.Key))
}

// Parse decodes an argon2id PHC string whose cost is within lim, with an 8–64-byte salt and a
// 16–64-byte key.
func Parse(encoded string, lim Limits) (Argon2id, error) {
	var p Argon2id
	if len(encoded) > maxLen {
		return p, ErrMalformed
	}
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, ErrMalformed
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, ErrMalformed
	}
	m, okM := paramValue(params[0], "m=", lim.Memory)
	t, okT := paramValue(params[1], "t=", lim.Time)
	th, okP := paramValue(params[2], "p=", min(lim.Threads, 255))
	// argon2 needs at least 8 KiB per lane.
	if !okM || !okT || !okP || m < 8*th {
		return p, ErrMalformed
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, ErrMalformed
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, ErrMalformed
	}
	return Argon2id{Memory: m, Time: t, Threads: uint8(th), Salt: salt, Key: key}, nil
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
