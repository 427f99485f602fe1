package device

import (
	"strings"
	"testing"
)

func TestUserCodeFormat(t *testing.T) {
	f, err := NewUserCodeFormat("", "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		display, norm := f.New()
		if len(display) != 9 || display[4] != '-' || len(norm) != 8 || strings.ReplaceAll(display, "-", "") != norm {
			t.Fatalf("code %q / %q", display, norm)
		}
		for _, r := range norm {
			if !strings.ContainsRune(charsets[CharsetBase20], r) {
				t.Fatalf("code %q holds %q, outside base-20", norm, r)
			}
			counts[r]++
		}
		seen[norm] = true
		if got, ok := f.Normalize(display); !ok || got != norm {
			t.Fatalf("Normalize(%q) = %q %v", display, got, ok)
		}
		if f.Display(norm) != display {
			t.Fatalf("Display(%q) = %q", norm, f.Display(norm))
		}
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct codes of 2000", len(seen))
	}
	// 16,000 characters over 20 letters: each about 800; a skewed generator shows here.
	for r, n := range counts {
		if n < 600 || n > 1000 {
			t.Errorf("letter %q drawn %d times of 16000", r, n)
		}
	}
}

func TestUserCodeNormalize(t *testing.T) {
	f, _ := NewUserCodeFormat(CharsetBase20, "****-****")
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{" bcdf ghjk ", "BCDFGHJK", true},
		{"BCDFGHJK", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},   // too short
		{"BCDF-GHJKL", "", false}, // too long
		{"BCDA-GHJK", "", false},  // a vowel is never in a code
		{"BCD1-GHJK", "", false},  // nor a digit
		{"BCDF_GHJK", "", false},  // an unknown separator
		{"", "", false},           //
		{strings.Repeat("B", 100), "", false},
		{"ВCDF-GHJK", "", false}, // Cyrillic В
	}
	for _, tc := range cases {
		got, ok := f.Normalize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Normalize(%q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	digits, err := NewUserCodeFormat(CharsetDigits, "***-***-***")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := digits.Normalize("123 456 789"); !ok || got != "123456789" {
		t.Errorf("digits: %q %v", got, ok)
	}
}

func TestUserCodeFormatRules(t *testing.T) {
	for _, tc := range []struct{ charset, mask string }{
		{"base20", "*****"},     // 21.6 bits
		{"digits", "****-****"}, // 26.6 bits
		{"hex", "********"},     // unknown charset
		{"base20", "****A****"}, // a letter as separator
		{"base20", "**** ****"}, // a space is ignored on input, so it cannot be a separator
		{"base20", strings.Repeat("*", 33)},
	} {
		if _, err := NewUserCodeFormat(tc.charset, tc.mask); err == nil {
			t.Errorf("NewUserCodeFormat(%q, %q) accepted", tc.charset, tc.mask)
		}
	}
}
