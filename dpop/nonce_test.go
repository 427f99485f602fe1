package dpop

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNonces(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	clock := &fixedClock{t: testNow}
	a, err := NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a.Now = clock.Now
	b, _ := NewNonces(secret, time.Minute) // another instance, same secret
	b.Now = clock.Now
	other, _ := NewNonces(bytes.Repeat([]byte{8}, 32), time.Minute)
	other.Now = clock.Now

	n0 := a.Current()
	if len(n0) != nonceLen || a.Current() != n0 {
		t.Fatalf("Current = %q (len %d), want a stable %d-char nonce", n0, len(n0), nonceLen)
	}
	if !b.Valid(n0) || b.Current() != n0 {
		t.Error("an instance with the same secret rejects the nonce")
	}
	if other.Valid(n0) {
		t.Error("an instance with another secret accepts the nonce")
	}
	clock.Add(time.Minute)
	n1 := a.Current()
	if n1 == n0 {
		t.Fatal("nonce did not change with the window")
	}
	if !a.Valid(n0) || !a.Valid(n1) {
		t.Error("current or previous window's nonce rejected")
	}
	clock.Add(time.Minute)
	if a.Valid(n0) {
		t.Error("nonce two windows old accepted")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", nonceLen), n1[:nonceLen-1] + "A", n1 + "A"} {
		if bad != n1 && a.Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	if _, err := NewNonces(secret[:31], time.Minute); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := NewNonces(secret, time.Millisecond); err == nil {
		t.Error("sub-second window accepted")
	}
}

func BenchmarkNoncesValid(b *testing.B) {
	n, _ := NewNonces(bytes.Repeat([]byte{7}, 32), time.Minute)
	cur := n.Current()
	b.ReportAllocs()
	for b.Loop() {
		if !n.Valid(cur) {
			b.Fatal("invalid")
		}
	}
}
