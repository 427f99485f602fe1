// Package sealer encrypts secrets at rest (signing keys, client_secret_jwt secrets) with
// AES-256-GCM under the server's master key.
//
// Sealed format: version(1) || nonce(12) || ciphertext || tag(16). The version byte is
// authenticated together with the caller's additional data, so a sealed value cannot be
// replayed under another format or another context (e.g. another key id).
package sealer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of the master key in bytes (AES-256).
const KeySize = 32

// MinSecretLen is the minimum length of an operator-provided master secret.
const MinSecretLen = 32

const (
	version1  = 0x01
	nonceSize = 12
	tagSize   = 16
	// hkdfInfo binds keys derived from a master secret to this purpose, so the same
	// operator secret reused elsewhere yields an unrelated key.
	hkdfInfo = "caddy-oauth sealer v1"
)

// ErrOpen is returned by Open for any input that does not authenticate: tampered,
// truncated, sealed under another key or another additional data. The causes are
// deliberately not distinguished.
var ErrOpen = errors.New("sealer: cannot open sealed value")

// Sealer seals and opens secrets with the master key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealer: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead, key: append([]byte(nil), key...)}, nil
}

// DeriveKey returns a 32-byte key for one purpose (HKDF-SHA256 of the master key with the
// purpose as info): CSRF tokens, pairwise subjects … Keys of different purposes are unrelated,
// and instances sharing the master key derive the same ones.
func (s *Sealer) DeriveKey(purpose string) []byte {
	key, err := hkdf.Key(sha256.New, s.key, nil, "caddy-oauth derived v1: "+purpose, KeySize)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot produce; KeySize is far below
	}
	return key
}

// FromSecret derives the key from an operator-provided master secret (at least 32
// characters), for instances that share one secret instead of one key file.
func FromSecret(secret string) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("sealer: master secret must be at least %d characters", MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, hkdfInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("sealer: deriving key: %w", err)
	}
	return New(key)
}

// Seal encrypts plaintext bound to ad (which is authenticated but not encrypted).
func (s *Sealer) Seal(plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("sealer: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+nonceSize], plaintext, authData(version1, ad)), nil
}

// Open decrypts a value produced by Seal with the same ad.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+tagSize || sealed[0] != version1 {
		return nil, ErrOpen
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	pt, err := s.aead.Open(nil, nonce, ct, authData(sealed[0], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func authData(version byte, ad []byte) []byte {
	out := make([]byte, 0, 1+len(ad))
	return append(append(out, version), ad...)
}

// LoadOrCreateKeyFile returns the 32-byte key stored base64-encoded in path, creating
// the file (mode 0600, parent directories 0700) with a fresh random key if it does not
// exist. Concurrent callers, even in different processes, all end up with the same key:
// the file appears at path only once fully written (hard link of a private temp file,
// which fails instead of replacing an existing file).
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sealer: creating key directory: %w", err)
	}
	if err := createKeyFile(path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	// Whoever won the race, the file at path is now complete.
	return readKeyFile(path)
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		// Never replace a malformed key file: what it sealed would be lost for good.
		return nil, fmt.Errorf("sealer: key file %s does not hold a base64 %d-byte key", path, KeySize)
	}
	return key, nil
}

func createKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("sealer: generating key: %w", err)
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("sealer: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp-%x", path, suffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sealer: creating key file: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sealer: writing key file: %w", err)
	}
	// Link, unlike Rename, refuses to replace: a concurrent creator that won keeps its key.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("sealer: installing key file: %w", err)
	}
	return nil
}
