package keys

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// encryptTo encrypts plain to the JWKS key with kid, as a client would.
func encryptTo(t *testing.T, jwks []byte, kid, enc string, plain []byte) string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %s not published", kid)
	}
	e, err := jose.NewEncrypter(jose.ContentEncryption(enc),
		jose.Recipient{Algorithm: jose.KeyAlgorithm(keys[0].Algorithm), Key: keys[0].Key, KeyID: kid}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func TestEncryptionKeys(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	m := newManager(t, st, nil, Options{Algs: []string{"ES256"}, EncAlgs: EncryptionAlgs(), RotationPeriod: time.Hour})
	if got := m.Algs(); len(got) != 1 || got[0] != "ES256" {
		t.Fatalf("Algs() = %v: encryption algs must not be offered for signing", got)
	}
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(m.JWKS(), &set)
	kids := map[string]string{}
	for _, k := range set.Keys {
		if k.Algorithm == "RSA-OAEP-256" || k.Algorithm == "ECDH-ES" {
			if k.Use != "enc" {
				t.Errorf("%s published with use %q", k.Algorithm, k.Use)
			}
			kids[k.Algorithm] = k.KeyID
		} else if k.Use != "sig" {
			t.Errorf("%s published with use %q", k.Algorithm, k.Use)
		}
	}
	for _, alg := range EncryptionAlgs() {
		kid := kids[alg]
		if kid == "" {
			t.Fatalf("no %s key published", alg)
		}
		if _, err := m.Sign(alg, "", "", []byte("{}")); err == nil {
			t.Errorf("an encryption key (%s) signed", alg)
		}
		for _, enc := range []string{"A128GCM", "A256GCM", "A128CBC-HS256"} {
			jwe := encryptTo(t, m.JWKS(), kid, enc, []byte("hello "+alg))
			plain, err := m.Decrypt(jwe, jwa.KeyManagement(), jwa.ContentEncryption())
			if err != nil || string(plain) != "hello "+alg {
				t.Fatalf("%s/%s: %q, %v", alg, enc, plain, err)
			}
			if _, err := m.Decrypt(jwe, []string{"RSA-OAEP"}, jwa.ContentEncryption()); !errors.Is(err, ErrUndecryptable) {
				t.Errorf("%s accepted outside the allowed algs: %v", alg, err)
			}
		}
	}

	// Rotation: the old key stays published and still decrypts what was encrypted to it.
	old := kids["ECDH-ES"]
	sealed := encryptTo(t, m.JWKS(), old, "A256GCM", []byte("before rotation"))
	if _, err := m.Rotate(ctx, "ECDH-ES"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.JWKS()), old) {
		t.Fatal("the rotated encryption key left the JWKS")
	}
	if plain, err := m.Decrypt(sealed, jwa.KeyManagement(), jwa.ContentEncryption()); err != nil || string(plain) != "before rotation" {
		t.Fatalf("after rotation: %q, %v", plain, err)
	}
	for _, bad := range []string{"", "a.b.c.d.e", strings.Repeat("x", MaxTokenLen+1)} {
		if _, err := m.Decrypt(bad, jwa.KeyManagement(), jwa.ContentEncryption()); !errors.Is(err, ErrUndecryptable) {
			t.Errorf("Decrypt(%.20q) = %v", bad, err)
		}
	}
}

func TestNoEncryptionKeysUnlessAsked(t *testing.T) {
	m := newManager(t, newMemStore(), nil, Options{Algs: []string{"ES256"}})
	if strings.Contains(string(m.JWKS()), `"enc"`) || len(m.EncAlgs()) != 0 {
		t.Fatalf("encryption keys published without EncAlgs: %s", m.JWKS())
	}
}
