package clientsecret

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := Generate()
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != 32 {
			t.Fatalf("Generate() = %q: not 32 bytes base64url (%v)", s, err)
		}
		if seen[s] {
			t.Fatal("Generate returned a duplicate")
		}
		seen[s] = true
		if !IsHighEntropy(s) {
			t.Fatalf("generated secret %q judged low-entropy", s)
		}
	}
}

func TestIsHighEntropy(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"short-but-random-Xq9", false},
		{"correct horse battery staple", false},
		{"correct horse battery staple correct horse battery staple", false},
		{"the quick brown fox jumps over the lazy dog", false},
		{"CorrectHorseBatteryStapleCorrectHorse", false},
		{"my-client-secret-for-production-2024", false},
		{"thisismysupersecretclientsecretvalue", false},
		{"Password1Password1Password1Password1", false},
		{strings.Repeat("a", 64), false},
		{"abcdefghijklmnopqrstuvwxyz012345", false},                     // sequence
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", false}, // sequence
		{"Xq9#fL2@mZ7!pW4$Xq9#fL2@mZ7!pW4$Xq9#fL2@", false},             // repeated block
		{strings.Repeat("Zk3", 20), false},
		{"kPq7Zr2XwN0vB9sLm4TjYc6HdF1gQe8A-_uVxIoRtEyWnMb", true},
		{"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", true}, // 256-bit hex
		{"9f86d081884c7d659a2feaa0c55ad015", false},                                // 128-bit hex: no margin
		{strings.Repeat("kPq7Zr2XwN0vB9sLm4TjYc6HdF1gQe8A", 33), false},            // too long
	}
	for _, tt := range tests {
		if got := IsHighEntropy(tt.s); got != tt.want {
			t.Errorf("IsHighEntropy(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestHashEncoding(t *testing.T) {
	strong := Generate()
	enc, err := Hash(strong)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strong))
	if want := "sha256$" + base64.RawURLEncoding.EncodeToString(sum[:]); enc != want {
		t.Fatalf("Hash(strong) = %q, want %q", enc, want)
	}

	weak := "hunter2-is-my-password"
	enc, err = Hash(weak)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash(weak) = %q, want argon2id with OWASP parameters", enc)
	}
	if strings.Contains(enc, weak) {
		t.Fatal("encoded hash contains the secret")
	}
	enc2, _ := Hash(weak)
	if enc == enc2 {
		t.Fatal("argon2id hashes are not salted")
	}
	for _, s := range []string{"", strings.Repeat("x", MaxSecretLen+1)} {
		if _, err := Hash(s); err == nil {
			t.Errorf("Hash(len %d) succeeded", len(s))
		}
	}
}

func TestValidateEncoded(t *testing.T) {
	good, _ := Hash("a weak secret")
	strong, _ := Hash(Generate())
	tests := []struct {
		enc string
		ok  bool
	}{
		{good, true},
		{strong, true},
		// RFC 9106 / reference-style hash with other (in-range) parameters.
		{"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", true},
		{"", false},
		{"plaintext-secret", false},
		{"sha256$", false},
		{"sha256$not*base64", false},
		{"sha256$" + base64.RawURLEncoding.EncodeToString(make([]byte, 16)), false},
		{"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=19456,t=2,p=300$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=19456,t=2$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", false}, // salt too short
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", false},            // hash too short
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$x", false},
	}
	for _, tt := range tests {
		if err := ValidateEncoded(tt.enc); (err == nil) != tt.ok {
			t.Errorf("ValidateEncoded(%q) = %v, want ok=%v", tt.enc, err, tt.ok)
		}
	}
}

func TestVerify(t *testing.T) {
	v := NewVerifier(time.Minute, 100)
	defer v.Close()
	strong := Generate()
	weak := "a weak but long enough secret"
	strongEnc, _ := Hash(strong)
	weakEnc, _ := Hash(weak)
	tests := []struct {
		name           string
		enc, presented string
		want           bool
	}{
		{"sha256 ok", strongEnc, strong, true},
		{"sha256 wrong", strongEnc, strong + "x", false},
		{"sha256 prefix", strongEnc, strong[:len(strong)-1], false},
		{"argon2id ok", weakEnc, weak, true},
		{"argon2id wrong", weakEnc, "a weak but long enough secreT", false},
		{"empty presented", weakEnc, "", false},
		{"oversized presented", strongEnc, strings.Repeat("x", MaxSecretLen+1), false},
		{"malformed hash", "sha256$zz", strong, false},
		{"clear text as hash", strong, strong, false},
		{"empty hash", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer may come from the cache and must agree.
			for i := range 2 {
				if got := v.Verify("client-1", tt.enc, tt.presented); got != tt.want {
					t.Fatalf("Verify (round %d) = %v, want %v", i, got, tt.want)
				}
				v.cache.Wait()
			}
		})
	}
}

func TestVerifierCache(t *testing.T) {
	v := NewVerifier(time.Hour, 100)
	defer v.Close()
	weak := "a weak but long enough secret"
	enc, _ := Hash(weak)

	if v.Verify("c1", enc, "wrong") {
		t.Fatal("wrong secret accepted")
	}
	v.cache.Wait()
	if _, ok := v.cache.Get(cacheKey("c1", enc, "wrong")); ok {
		t.Fatal("a failed check was cached")
	}

	if !v.Verify("c1", enc, weak) {
		t.Fatal("right secret refused")
	}
	v.cache.Wait()
	key := cacheKey("c1", enc, weak)
	if got, ok := v.cache.Get(key); !ok || got != key {
		t.Fatal("successful slow check not cached under its digest")
	}
	if strings.Contains(key, weak) {
		t.Fatal("cache key holds the clear secret")
	}

	// Same client, new hash of another secret: the old secret must not pass via the cache.
	newEnc, _ := Hash("another weak secret here")
	if v.Verify("c1", newEnc, weak) {
		t.Fatal("old secret accepted against a changed hash")
	}
	// Hits skip argon2id: 100 of them take far less than 100 computations (~3 s) would.
	start := time.Now()
	for range 100 {
		if !v.Verify("c1", enc, weak) {
			t.Fatal("cached secret refused")
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("100 cached verifications took %v", d)
	}
	// Different client with the same hash and secret does not share the entry.
	if k2 := cacheKey("c2", enc, weak); k2 == key {
		t.Fatal("cache key ignores the client id")
	}
}

func TestVerifierCacheExpires(t *testing.T) {
	v := NewVerifier(50*time.Millisecond, 100)
	defer v.Close()
	enc, _ := Hash("a weak but long enough secret")
	if !v.Verify("c1", enc, "a weak but long enough secret") {
		t.Fatal("refused")
	}
	v.cache.Wait()
	time.Sleep(100 * time.Millisecond)
	if _, ok := v.cache.Get(cacheKey("c1", enc, "a weak but long enough secret")); ok {
		t.Fatal("entry outlived its TTL")
	}
}

func TestCacheKeyUnambiguous(t *testing.T) {
	if cacheKey("ab", "c", "d") == cacheKey("a", "bc", "d") {
		t.Fatal("cache key is ambiguous under concatenation")
	}
}

func BenchmarkVerifySHA256(b *testing.B) {
	v := NewVerifier(0, 0)
	defer v.Close()
	secret := Generate()
	enc, _ := Hash(secret)
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify("client", enc, secret) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkVerifyArgon2idCached(b *testing.B) {
	v := NewVerifier(time.Hour, 0)
	defer v.Close()
	secret := "a weak but long enough secret"
	enc, _ := Hash(secret)
	v.Verify("client", enc, secret)
	v.cache.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify("client", enc, secret) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkVerifyArgon2idUncached(b *testing.B) {
	secret := "a weak but long enough secret"
	enc, _ := Hash(secret)
	b.ReportAllocs()
	for b.Loop() {
		if !verify(enc, secret) {
			b.Fatal("refused")
		}
	}
}

// Hashes produced by the reference argon2 CLI (phc-winner-argon2), so operator-supplied
// hashes from other tools verify.
func TestVerifyReferenceArgon2id(t *testing.T) {
	tests := []struct{ enc, secret string }{
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE", "password"},
		{"$argon2id$v=19$m=16384,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$hr6tIZjippRBBcq7etN3TZy+L1awu/PtNMKWpKxlc9Y", "password"},
		{"$argon2id$v=19$m=4096,t=1,p=4$c2FsdHNhbHRzYWx0c2FsdA$6Tu/ERmaxfPycZsP49Rouw", "hunter2"},
	}
	for _, tt := range tests {
		if err := ValidateEncoded(tt.enc); err != nil {
			t.Errorf("ValidateEncoded(%q) = %v", tt.enc, err)
		}
		if !verify(tt.enc, tt.secret) {
			t.Errorf("reference hash %q does not verify", tt.enc)
		}
		if verify(tt.enc, tt.secret+"!") {
			t.Errorf("reference hash %q verifies a wrong secret", tt.enc)
		}
	}
}
