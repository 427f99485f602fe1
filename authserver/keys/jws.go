package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// MaxTokenLen bounds the tokens Verify parses (base64 decoding and JSON work scale with it).
const MaxTokenLen = 32 << 10

// maxHeadersPerKey bounds the per-key header cache; typ values are a handful of constants
// (at+jwt, JWT, logout+jwt, ...), so the bound is only a guard against misuse.
const maxHeadersPerKey = 16

var (
	// ErrNoKey is returned by Sign when there is no usable key for the alg (and kid).
	ErrNoKey = errors.New("keys: no signing key")
	// ErrInvalidToken is returned by Verify for any token that is not one of ours with a
	// valid signature under an allowed alg.
	ErrInvalidToken = errors.New("keys: invalid token")
)

// Sign returns payload as a compact JWS signed with the current key for alg, or with the
// key kid when kid is not empty (it must be an unretired key of that alg). The protected
// header carries alg, kid and, when typ is not empty, typ.
//
// Signing is done here rather than through a go-jose Signer, which re-marshals the header
// on every call: the header is encoded once per (key, typ), so a signature costs little
// more than the private-key operation. Verify (go-jose) is the cross-check in the tests.
func (m *Manager) Sign(alg, kid, typ string, payload []byte) (string, error) {
	s := m.snap.Load()
	var e *entry
	if kid == "" {
		e = s.current[alg]
	} else if e = s.keys[kid]; e != nil && (e.retired || e.alg != alg) {
		// A retired key's purge time was computed assuming it signs nothing more.
		e = nil
	}
	if e == nil {
		return "", fmt.Errorf("%w for alg %q kid %q", ErrNoKey, alg, kid)
	}
	return e.sign(typ, payload)
}

func (k *material) sign(typ string, payload []byte) (string, error) {
	head, err := k.header(typ)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(head)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(k.sigSize))
	buf = append(buf, head...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := k.signInput(buf)
	if err != nil {
		return "", fmt.Errorf("keys: signing with %s: %w", k.kid, err)
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// header returns the base64url protected header for typ, encoding it on first use.
func (k *material) header(typ string) (string, error) {
	if h, ok := k.headers.Load(typ); ok {
		return h.(string), nil
	}
	raw, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{k.alg, k.kid, typ})
	if err != nil {
		return "", fmt.Errorf("keys: header: %w", err)
	}
	h := base64.RawURLEncoding.EncodeToString(raw)
	if k.nHeaders.Load() < maxHeadersPerKey {
		if prev, loaded := k.headers.LoadOrStore(typ, h); loaded {
			return prev.(string), nil
		}
		k.nHeaders.Add(1)
	}
	return h, nil
}

// signInput signs the JWS signing input (RFC 7515 §5.1) as RFC 7518 §3 prescribes.
func (k *material) signInput(input []byte) ([]byte, error) {
	spec := algSpecs[k.alg]
	if priv, ok := k.priv.(ed25519.PrivateKey); ok {
		return ed25519.Sign(priv, input), nil
	}
	h := spec.hash.New()
	h.Write(input)
	digest := h.Sum(nil)
	switch priv := k.priv.(type) {
	case *rsa.PrivateKey:
		if spec.pss {
			return rsa.SignPSS(rand.Reader, priv, spec.hash, digest,
				&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(nil, priv, spec.hash, digest)
	case *ecdsa.PrivateKey:
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
		if err != nil {
			return nil, err
		}
		return ecdsaRaw(der, k.sigSize/2)
	}
	return nil, fmt.Errorf("unsupported key type %T", k.priv)
}

// ecdsaRaw turns an ASN.1 ECDSA signature into JWS form: R and S as fixed-size
// big-endian integers, concatenated.
func ecdsaRaw(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, n := range [][]byte{r, s} {
		n = bytes.TrimLeft(n, "\x00") // DER may prepend a zero byte to keep the integer positive
		if len(n) > size {
			return nil, errors.New("ECDSA signature integer too large")
		}
		copy(out[(i+1)*size-len(n):], n)
	}
	return out, nil
}

// Verify checks a compact JWS signed by one of this server's published keys (current or
// retired, not yet purged) with an alg in algs, and returns its payload and protected
// header. The key is found by kid and must be of the header's alg, so neither "none",
// HMAC nor an alg the key was not made for can pass. Claims, typ included, are the
// caller's to check.
func (m *Manager) Verify(token string, algs []string) ([]byte, jose.Header, error) {
	if len(token) > MaxTokenLen {
		return nil, jose.Header{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	jws, err := jose.ParseSignedCompact(token, parseAlgs)
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// ParseSignedCompact yields exactly one signature.
	hdr := jws.Signatures[0].Protected
	if !slices.Contains(algs, hdr.Algorithm) {
		return nil, jose.Header{}, fmt.Errorf("%w: alg %q not allowed", ErrInvalidToken, hdr.Algorithm)
	}
	if _, ok := hdr.ExtraHeaders["crit"]; ok {
		// We never emit critical extensions (e.g. b64=false), so none is ours.
		return nil, jose.Header{}, fmt.Errorf("%w: crit header", ErrInvalidToken)
	}
	e := m.snap.Load().keys[hdr.KeyID]
	if e == nil || e.alg != hdr.Algorithm {
		return nil, jose.Header{}, fmt.Errorf("%w: unknown kid %q for alg %s", ErrInvalidToken, hdr.KeyID, hdr.Algorithm)
	}
	payload, err := jws.Verify(e.pub.Key)
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return payload, hdr, nil
}
