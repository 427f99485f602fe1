// Package signedresponse makes the JWTs the server answers a client with when the client asks
// for a signed response: JWT-secured authorization responses (JARM) and JWT introspection
// responses (RFC 9701). Both are signed with a server key for the client's chosen algorithm and,
// when the client registered an encryption algorithm, then encrypted to the client's public key
// (nested JWT, JARM §2.3, RFC 9701 §5).
package signedresponse

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Signer signs a payload with the server's current key for alg (keys.Manager).
type Signer interface {
	Sign(alg, kid, typ string, payload []byte) (string, error)
}

// KeySource returns a client's public keys (clientauth.Authenticator.ClientKeys).
type KeySource interface {
	ClientKeys(ctx context.Context, client *store.Client, refresh bool) ([]jose.JSONWebKey, error)
}

// Maker makes signed (and optionally encrypted) response JWTs.
type Maker struct {
	Signer Signer
	Keys   KeySource
}

// Spec says how one response is protected: the JWS alg and typ, and the JWE alg and enc
// (both empty: not encrypted; enc empty: jwa.DefaultContentEncryption).
type Spec struct {
	SignAlg, Typ string
	EncAlg, Enc  string
}

// ErrNoEncryptionKey means the client registered an encryption algorithm but publishes no key
// for it: the response cannot be delivered confidentially, so it is not delivered at all.
var ErrNoEncryptionKey = errors.New("signedresponse: the client has no public key for its encryption algorithm")

// Make returns claims as a compact JWT for client, protected as spec says.
func (m *Maker) Make(ctx context.Context, client *store.Client, spec Spec, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signedresponse: encoding claims: %w", err)
	}
	signed, err := m.Signer.Sign(spec.SignAlg, "", spec.Typ, payload)
	if err != nil {
		return "", fmt.Errorf("signedresponse: signing with %s: %w", spec.SignAlg, err)
	}
	if spec.EncAlg == "" {
		return signed, nil
	}
	return m.encrypt(ctx, client, spec, signed)
}

func (m *Maker) encrypt(ctx context.Context, client *store.Client, spec Spec, signed string) (string, error) {
	enc := spec.Enc
	if enc == "" {
		enc = jwa.DefaultContentEncryption
	}
	if !jwa.IsKeyManagement(spec.EncAlg) || !jwa.IsContentEncryption(enc) {
		return "", fmt.Errorf("signedresponse: unsupported encryption %s/%s", spec.EncAlg, enc)
	}
	key, err := m.encryptionKey(ctx, client, spec.EncAlg)
	if err != nil {
		return "", err
	}
	recipient := jose.Recipient{Algorithm: jose.KeyAlgorithm(spec.EncAlg), Key: key.Key, KeyID: key.KeyID}
	opts := (&jose.EncrypterOptions{}).WithContentType("JWT")
	if spec.Typ != "" {
		opts = opts.WithType(jose.ContentType(spec.Typ))
	}
	encrypter, err := jose.NewEncrypter(jose.ContentEncryption(enc), recipient, opts)
	if err != nil {
		return "", fmt.Errorf("signedresponse: encrypter: %w", err)
	}
	obj, err := encrypter.Encrypt([]byte(signed))
	if err != nil {
		return "", fmt.Errorf("signedresponse: encrypting: %w", err)
	}
	return obj.CompactSerialize()
}

// encryptionKey picks the client's public key for alg: meant for encryption (use "enc" or no
// use), not restricted to another alg, and of the key type alg needs.
func (m *Maker) encryptionKey(ctx context.Context, client *store.Client, alg string) (jose.JSONWebKey, error) {
	keys, err := m.Keys.ClientKeys(ctx, client, false)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	for _, k := range keys {
		if (k.Use != "" && k.Use != "enc") || (k.Algorithm != "" && k.Algorithm != alg) {
			continue
		}
		if pub := k.Public(); pub.Key != nil && fits(pub.Key, alg) {
			return pub, nil
		}
	}
	return jose.JSONWebKey{}, ErrNoEncryptionKey
}

func fits(key any, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RSA-OAEP")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ECDH-ES")
	}
	return false
}
