package account

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPassword(t *testing.T) {
	h1, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(h1) {
		t.Fatalf("HashPassword = %q, want OWASP argon2id PHC with 16-byte salt, 32-byte key", h1)
	}
	h2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	if err := ValidateHash(h1); err != nil {
		t.Fatalf("ValidateHash(own hash) = %v", err)
	}
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrBadPassword) {
			t.Errorf("HashPassword(%d bytes) err = %v, want ErrBadPassword", len(pw), err)
		}
	}
}

func TestDummyHashMatchesHashPassword(t *testing.T) {
	want, err := parseArgon2id(mustHash(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseArgon2id(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Memory != want.Memory || got.Time != want.Time || got.Threads != want.Threads ||
		len(got.Salt) != len(want.Salt) || len(got.Key) != len(want.Key) {
		t.Fatalf("dummy hash params %+v differ from HashPassword's %+v: unknown users would verify faster", got, want)
	}
}

func TestVerifyPassword(t *testing.T) {
	argon := mustHash(t, "s3cret pässword")
	maxLen := strings.Repeat("p", MaxPasswordLen)
	argonMax := mustHash(t, maxLen)
	bc, err := bcrypt.GenerateFromPassword([]byte("s3cret pässword"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	b := string(bc) // $2a$
	tests := []struct {
		name, hash, pw string
		want           bool
	}{
		{"argon2id right", argon, "s3cret pässword", true},
		{"argon2id wrong", argon, "s3cret password", false},
		{"argon2id case", argon, "S3cret pässword", false},
		{"argon2id empty", argon, "", false},
		{"argon2id max length", argonMax, maxLen, true},
		{"argon2id overlong", argonMax, maxLen + "p", false},
		{"bcrypt 2a right", b, "s3cret pässword", true},
		{"bcrypt 2a wrong", b, "s3cret passwörd", false},
		{"bcrypt 2b right", "$2b$" + b[4:], "s3cret pässword", true},
		{"bcrypt 2y right", "$2y$" + b[4:], "s3cret pässword", true},
		{"bcrypt 2y wrong", "$2y$" + b[4:], "nope", false},
		{"bcrypt empty", b, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(tt.hash, tt.pw)
			if err != nil || got != tt.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	const b = "$2a$04$abcdefghijklmnopqrstuu" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	if err := ValidateHash("$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key); err != nil {
		t.Fatalf("fixture is not valid: %v", err)
	}
	if err := ValidateHash(b); err != nil {
		t.Fatalf("bcrypt fixture is not valid: %v", err)
	}
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"prefix only", "$argon2id$"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key},
		{"memory 4 GiB", "$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key},
		{"memory overflow", "$argon2id$v=19$m=99999999999,t=2,p=1$" + salt + "$" + key},
		{"time 1e6", "$argon2id$v=19$m=19456,t=1000000,p=1$" + salt + "$" + key},
		{"255 threads", "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key},
		{"memory below lanes", "$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key},
		{"params reordered", "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=19456,t=2,p=1,k=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$a2V5"},
		{"no key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt},
		{"trailing field", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$"},
		{"huge", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.Repeat("A", 1<<20)},
		{"bcrypt cost 31", "$2a$31" + b[6:]},
		{"bcrypt cost 15", "$2b$15" + b[6:]},
		{"bcrypt cost 3", "$2a$03" + b[6:]},
		{"bcrypt signed cost", "$2a$+4" + b[6:]},
		{"bcrypt 2x", "$2x$" + b[4:]},
		{"bcrypt no minor", "$2$04" + b[6:]},
		{"bcrypt short", b[:59]},
		{"bcrypt long", b + "A"},
		{"bcrypt bad char", b[:59] + "!"},
		{"bcrypt no separator", "$2a$04a" + b[7:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateHash(tt.hash); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("ValidateHash err = %v, want ErrMalformedHash", err)
			}
			ok, err := VerifyPassword(tt.hash, "anything")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("VerifyPassword = %v, %v; want false, ErrMalformedHash", ok, err)
			}
		})
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "pw")
	f.Add("$2a$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "pw")
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		ok, err := VerifyPassword(encoded, pw)
		if ok && err != nil {
			t.Fatal("match reported together with an error")
		}
		if (ValidateHash(encoded) == nil) != (err == nil) {
			t.Fatalf("ValidateHash and VerifyPassword disagree on %q", encoded)
		}
	})
}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
