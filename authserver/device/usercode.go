package device

import (
	"crypto/rand"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode"
)

// Character sets of user codes. Base-20 is RFC 8628 §6.1's: consonants only, so no words are
// spelled and no letter looks like a digit; digits suit numeric keypads.
const (
	CharsetBase20 = "base20"
	CharsetDigits = "digits"
)

var charsets = map[string]string{
	CharsetBase20: "BCDFGHJKLMNPQRSTVWXZ",
	CharsetDigits: "0123456789",
}

// DefaultMask shows eight characters in two groups: 34.5 bits of base-20, the RFC's example.
const DefaultMask = "****-****"

// minUserCodeBits is the least guessing space a format may have. With the short lifetime
// and the throttled verification page, 2^29 codes keep a guesser's odds negligible.
const minUserCodeBits = 29

// UserCodeFormat makes and reads user codes: Mask's '*' are random characters of the
// charset, anything else is shown as is (a separator) and ignored on input.
type UserCodeFormat struct {
	chars string
	mask  string
	n     int // the '*' in mask
}

// NewUserCodeFormat checks a charset name and a mask ("" for the defaults).
func NewUserCodeFormat(charset, mask string) (UserCodeFormat, error) {
	if charset == "" {
		charset = CharsetBase20
	}
	if mask == "" {
		mask = DefaultMask
	}
	chars, ok := charsets[charset]
	if !ok {
		return UserCodeFormat{}, fmt.Errorf("user_code_charset %q: want %s or %s", charset, CharsetBase20, CharsetDigits)
	}
	f := UserCodeFormat{chars: chars, mask: mask, n: strings.Count(mask, "*")}
	for _, r := range mask {
		if r != '*' && (r > 0x7e || r <= 0x20 || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return UserCodeFormat{}, fmt.Errorf("user_code_mask %q: separators must be printable ASCII other than letters, digits and spaces", mask)
		}
	}
	if bits := float64(f.n) * math.Log2(float64(len(chars))); bits < minUserCodeBits {
		return UserCodeFormat{}, fmt.Errorf("user_code_mask %q: %d characters of %s give %.1f bits, want at least %d", mask, f.n, charset, bits, minUserCodeBits)
	}
	if len(mask) > 32 {
		return UserCodeFormat{}, fmt.Errorf("user_code_mask %q: at most 32 characters", mask)
	}
	return f, nil
}

// New returns a random user code as shown to the user (with separators) and its normalized
// form (the characters alone), which is what is stored and compared.
func (f UserCodeFormat) New() (display, normalized string) {
	var shown, norm strings.Builder
	max := big.NewInt(int64(len(f.chars)))
	for _, r := range f.mask {
		if r != '*' {
			shown.WriteRune(r)
			continue
		}
		i, _ := rand.Int(rand.Reader, max) // crypto/rand never fails (Go ≥ 1.24)
		c := f.chars[i.Int64()]
		shown.WriteByte(c)
		norm.WriteByte(c)
	}
	return shown.String(), norm.String()
}

// Normalize reads what a user typed: case and anything outside the charset (separators,
// spaces) are ignored. It reports false when the rest is not a code of this format, so a
// typo is caught before any lookup.
func (f UserCodeFormat) Normalize(input string) (string, bool) {
	if len(input) > 4*len(f.mask) {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(input) {
		switch {
		case strings.ContainsRune(f.chars, r):
			b.WriteRune(r)
		case r == ' ' || r == '\t' || strings.ContainsRune(f.mask, r):
		default:
			return "", false // a character no code of this format holds
		}
	}
	if b.Len() != f.n {
		return "", false
	}
	return b.String(), true
}

// Display formats a normalized code with the mask's separators.
func (f UserCodeFormat) Display(normalized string) string {
	if len(normalized) != f.n {
		return normalized
	}
	var b strings.Builder
	i := 0
	for _, r := range f.mask {
		if r == '*' {
			b.WriteByte(normalized[i])
			i++
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
