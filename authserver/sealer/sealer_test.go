package sealer

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustNew(t *testing.T, b byte) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) succeeded, want error", n)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := mustNew(t, 1)
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		sealed, err := s.Seal(pt, []byte("kid-1"))
		if err != nil {
			t.Fatal(err)
		}
		// (Short plaintexts can appear in random bytes by chance.)
		if len(pt) >= 8 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, []byte("kid-1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	s := mustNew(t, 1)
	a, _ := s.Seal([]byte("same"), nil)
	b, _ := s.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestOpenRejects(t *testing.T) {
	s := mustNew(t, 1)
	sealed, err := s.Seal([]byte("private key"), []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name   string
		s      *Sealer
		sealed []byte
		ad     string
	}{
		{"wrong ad", s, sealed, "kid-2"},
		{"missing ad", s, sealed, ""},
		{"wrong key", mustNew(t, 2), sealed, "kid-1"},
		{"version byte", s, flip(0), "kid-1"},
		{"nonce", s, flip(1), "kid-1"},
		{"ciphertext", s, flip(1 + nonceSize), "kid-1"},
		{"tag", s, flip(len(sealed) - 1), "kid-1"},
		{"truncated", s, sealed[:len(sealed)-1], "kid-1"},
		{"only header", s, sealed[:1+nonceSize], "kid-1"},
		{"empty", s, nil, "kid-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.Open(tt.sealed, []byte(tt.ad)); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}

func TestFromSecret(t *testing.T) {
	if _, err := FromSecret(strings.Repeat("a", MinSecretLen-1)); err == nil {
		t.Fatal("short secret accepted")
	}
	secret := "0123456789abcdef0123456789abcdef-shared"
	a, err := FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := FromSecret(secret)
	c, _ := FromSecret(secret + "x")
	sealed, _ := a.Seal([]byte("v"), nil)
	if _, err := b.Open(sealed, nil); err != nil {
		t.Fatalf("same secret cannot open: %v", err)
	}
	if _, err := c.Open(sealed, nil); err == nil {
		t.Fatal("different secret opened the value")
	}
	// The derived key is not the secret's bytes themselves.
	raw, _ := New([]byte(secret[:KeySize]))
	if _, err := raw.Open(sealed, nil); err == nil {
		t.Fatal("key was not derived through HKDF")
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "master.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != KeySize {
		t.Fatalf("key length %d", len(k1))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned a different key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file", len(entries))
	}
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, KeySize)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	got, err := LoadOrCreateKeyFile(good)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadOrCreateKeyFile = %x, %v", got, err)
	}
	for name, content := range map[string]string{
		"short":  base64.StdEncoding.EncodeToString(key[:16]),
		"notb64": "!!!not base64!!!",
		"empty":  "",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := LoadOrCreateKeyFile(p); err == nil {
			t.Errorf("%s: malformed key file accepted", name)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("%s: malformed key file was overwritten", name)
		}
	}
}

func TestLoadOrCreateKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file", len(entries))
	}
}
