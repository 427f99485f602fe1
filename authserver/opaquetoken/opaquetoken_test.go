package opaquetoken

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func codec(t testing.TB, fill byte) *Codec {
	t.Helper()
	k, err := New(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sample() *Claims {
	return &Claims{JTI: "j1", ClientID: "c1", Subject: "alice", ResourceID: "r1",
		Audience: []string{"https://api.example"}, Scope: "read write", JKT: "thumb", X5TS256: "cert",
		GrantID: "g1", SessionID: "s1", Extra: map[string]any{"tenant": "acme", "level": float64(3)},
		IssuedAt: 1_700_000_000_123, ExpiresAt: 1_700_000_300_123}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := codec(t, 1)
	tok, err := k.Seal(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, Prefix) || strings.Count(tok, ".") != 0 {
		t.Fatalf("token %q: want the prefix and no dots (it must never look like a JWT)", tok)
	}
	for _, secret := range []string{"alice", "acme", "read write", "https://api.example"} {
		if strings.Contains(tok, secret) || strings.Contains(tok, base64.RawURLEncoding.EncodeToString([]byte(secret))) {
			t.Errorf("token shows %q in the clear", secret)
		}
	}
	got, err := k.Open(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sample()) {
		t.Fatalf("opened %+v, want %+v", got, sample())
	}
	if again, _ := k.Seal(sample()); again == tok {
		t.Fatal("two seals of the same claims gave the same token: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := codec(t, 1)
	tok, _ := k.Seal(sample())
	body := tok[len(Prefix):]
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return Prefix + base64.RawURLEncoding.EncodeToString(b)
	}
	noJTI, _ := k.Seal(&Claims{ClientID: "c", ExpiresAt: 1})
	cases := map[string]string{
		"empty":            "",
		"prefix only":      Prefix,
		"no prefix":        body,
		"other prefix":     "xoat_" + body,
		"bad base64":       Prefix + "!!!" + body[3:],
		"truncated":        tok[:len(tok)-4],
		"short":            Prefix + base64.RawURLEncoding.EncodeToString(raw[:20]),
		"version changed":  flip(0),
		"nonce changed":    flip(5),
		"ciphertext flip":  flip(40),
		"tag flip":         flip(len(raw) - 1),
		"other key":        func() string { t, _ := codec(t, 2).Seal(sample()); return t }(),
		"too long":         tok + strings.Repeat("A", MaxLen),
		"missing identity": noJTI,
	}
	for name, in := range cases {
		if c, err := k.Open(in); !errors.Is(err, ErrInvalid) || c != nil {
			t.Errorf("%s: got %+v, %v; want ErrInvalid", name, c, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k := codec(f, 1)
	tok, _ := k.Seal(sample())
	f.Add(tok)
	f.Add(Prefix + "AAAA")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := k.Open(in)
		if (err == nil) != (c != nil) {
			t.Fatalf("Open(%q) = %v, %v", in, c, err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	k := codec(b, 1)
	c := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := codec(b, 1)
	tok, _ := k.Seal(sample())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(tok); err != nil {
			b.Fatal(err)
		}
	}
}
