// Package clientsecret generates, hashes and verifies client secrets so that secret
// checks never cap token throughput.
//
// Two encodings exist:
//   - sha256$<base64url(SHA-256(secret))> for high-entropy secrets (≥ 128 bits, such as
//     those from Generate). A fast hash is safe there: brute force over 2^128 candidates is
//     hopeless whatever the hash costs.
//   - $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> (PHC string) for anything else, with the
//     OWASP parameters. Successful checks are cached by Verifier so only the first request
//     of a client pays for argon2id.
package clientsecret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/internal/phc"
)

// MaxSecretLen bounds presented secrets: longer ones are rejected before any hashing, so
// an attacker cannot make the server hash megabytes.
const MaxSecretLen = 1024

// OWASP-recommended argon2id parameters (m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19456
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds accepted in encoded argon2id hashes, so an operator-supplied hash cannot make
// each verification allocate gigabytes or spin for seconds.
const (
	maxArgonMemory  = 256 * 1024 // KiB
	maxArgonTime    = 10
	maxArgonThreads = 16
)

const (
	prefixSHA256   = "sha256$"
	prefixArgon2id = "$argon2id$"
)

// ErrMalformed is returned for encoded hashes this package cannot verify.
var ErrMalformed = errors.New("clientsecret: malformed secret hash")

// Generate returns a new secret of 256 random bits, base64url without padding.
func Generate() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("clientsecret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// IsHighEntropy conservatively estimates whether s carries at least 128 bits of entropy.
// The estimate is length × Shannon entropy of the string's own character distribution,
// which overrates structured text (words, dates), so 25% margin is demanded on top.
// Secrets with whitespace (passphrases) and trivially repetitive or sequential strings are
// refused outright. A false "no" only costs speed (argon2id); a false "yes" would store a
// guessable secret under a fast hash, so doubt means no. Generate's output always passes.
func IsHighEntropy(s string) bool {
	const minLen, minBits = 32, 128 * 1.25
	if len(s) < minLen || len(s) > MaxSecretLen {
		return false
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			return false
		}
		counts[c]++
	}
	n := float64(len(s))
	var bits float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			bits -= float64(c) * math.Log2(p)
		}
	}
	return bits >= minBits && !isPatterned(s)
}

// isPatterned reports strings built from runs or arithmetic sequences ("aaaa", "abcd",
// "2468") or from a repeated block: at random, either property almost never holds for
// more than a few positions.
func isPatterned(s string) bool {
	steady := 0
	for i := 2; i < len(s); i++ {
		if int(s[i])-int(s[i-1]) == int(s[i-1])-int(s[i-2]) {
			steady++
		}
	}
	if steady*4 > len(s) {
		return true
	}
	for p := 1; p <= len(s)/2 && p <= 64; p++ {
		same := 0
		for i := p; i < len(s); i++ {
			if s[i] == s[i-p] {
				same++
			}
		}
		if same*2 > len(s)-p {
			return true
		}
	}
	return false
}

// Hash encodes secret for storage: sha256$… if it is high-entropy, argon2id otherwise.
func Hash(secret string) (string, error) {
	if secret == "" {
		return "", errors.New("clientsecret: empty secret")
	}
	if len(secret) > MaxSecretLen {
		return "", fmt.Errorf("clientsecret: secret longer than %d bytes", MaxSecretLen)
	}
	if IsHighEntropy(secret) {
		sum := sha256.Sum256([]byte(secret))
		return prefixSHA256 + base64.RawURLEncoding.EncodeToString(sum[:]), nil
	}
	p, err := phc.Hash(secret, argonMemory, argonTime, argonThreads, argonSaltLen, argonKeyLen)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// ValidateEncoded checks that encoded is a hash this package can verify, e.g. one an
// operator put in the configuration instead of the clear secret.
func ValidateEncoded(encoded string) error {
	switch {
	case strings.HasPrefix(encoded, prefixSHA256):
		_, err := decodeSHA256(encoded)
		return err
	case strings.HasPrefix(encoded, prefixArgon2id):
		_, err := parseArgon2id(encoded)
		return err
	}
	return ErrMalformed
}

// isSlow reports whether verifying against encoded costs an argon2id computation.
func isSlow(encoded string) bool { return strings.HasPrefix(encoded, prefixArgon2id) }

// verify checks presented against encoded without any cache.
func verify(encoded, presented string) bool {
	if presented == "" || len(presented) > MaxSecretLen {
		return false
	}
	switch {
	case strings.HasPrefix(encoded, prefixSHA256):
		want, err := decodeSHA256(encoded)
		if err != nil {
			return false
		}
		got := sha256.Sum256([]byte(presented))
		return subtle.ConstantTimeCompare(got[:], want) == 1
	case strings.HasPrefix(encoded, prefixArgon2id):
		p, err := parseArgon2id(encoded)
		return err == nil && p.Verify(presented)
	}
	return false
}

func decodeSHA256(encoded string) ([]byte, error) {
	sum, err := base64.RawURLEncoding.DecodeString(encoded[len(prefixSHA256):])
	if err != nil || len(sum) != sha256.Size {
		return nil, ErrMalformed
	}
	return sum, nil
}

// parseArgon2id parses a client-secret hash within this package's cost bounds.
func parseArgon2id(encoded string) (phc.Argon2id, error) {
	p, err := phc.Parse(encoded, phc.Limits{Memory: maxArgonMemory, Time: maxArgonTime, Threads: maxArgonThreads})
	if err != nil {
		return p, ErrMalformed
	}
	return p, nil
}

// Verify reports whether presented is the secret encoded was made from, without a cache
// (for occasional checks such as RFC 7592's update request; the token endpoint uses Verifier).
func Verify(encoded, presented string) bool { return verify(encoded, presented) }
