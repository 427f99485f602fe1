package phc

import (
	"errors"
	"strings"
	"testing"
)

var testLimits = Limits{Memory: 64 * 1024, Time: 4, Threads: 4}

func TestRoundTrip(t *testing.T) {
	p, err := Hash("s3cret", 1024, 1, 1, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	enc := p.String()
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("encoding %q", enc)
	}
	q, err := Parse(enc, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Verify("s3cret") || q.Verify("s3cret ") || q.Verify("") {
		t.Fatal("Verify accepts the wrong secret or rejects the right one")
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Hash("x", 1024, 1, 1, 16, 32)
	salt, key := strings.Split(good.String(), "$")[4], strings.Split(good.String(), "$")[5]
	for _, enc := range []string{
		"",
		"$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1048576,t=1,p=1$" + salt + "$" + key, // memory over the limit
		"$argon2id$v=19$m=1024,t=99,p=1$" + salt + "$" + key,   // time over the limit
		"$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key,       // under 8 KiB per lane
		"$argon2id$v=19$m=1024,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$" + key, // 4-byte salt
		"$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$" + salt + "=$" + key, // padded base64
		"$argon2id$v=19$m=1024,t=1,p=1$" + strings.Repeat("A", 300) + "$" + key,
	} {
		if _, err := Parse(enc, testLimits); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", enc, err)
		}
	}
}
