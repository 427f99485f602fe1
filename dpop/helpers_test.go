package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	testNow = time.Unix(1_800_000_000, 0)

	keysOnce sync.Once
	keyP256  *ecdsa.PrivateKey
	keyP256b *ecdsa.PrivateKey
	keyP384  *ecdsa.PrivateKey
	keyP521  *ecdsa.PrivateKey
	keyRSA   *rsa.PrivateKey
	keyRSA1k *rsa.PrivateKey
	keyEd    ed25519.PrivateKey
)

func loadKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		keyP256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keyP256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keyP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		keyP521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(err)
		keyRSA, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keyRSA1k, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		_, keyEd, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
}

// proofSpec is an editable proof: tests mutate header and claims, then sign.
type proofSpec struct {
	alg    string
	key    any // signing key: crypto.Signer or []byte for HS*
	header map[string]any
	claims map[string]any
}

func publicJWK(t testing.TB, key any) map[string]any {
	t.Helper()
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	return jwkMap(t, jose.JSONWebKey{Key: key})
}

func jwkMap(t testing.TB, k jose.JSONWebKey) map[string]any {
	t.Helper()
	raw, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// newSpec returns a valid proof for POST https://api.example.com/resource presenting "tok".
func newSpec(t testing.TB, alg string, key any) *proofSpec {
	t.Helper()
	return &proofSpec{
		alg: alg,
		key: key,
		header: map[string]any{
			"typ": "dpop+jwt",
			"alg": alg,
			"jwk": publicJWK(t, key),
		},
		claims: map[string]any{
			"jti": rand.Text(),
			"htm": "POST",
			"htu": "https://api.example.com/resource",
			"iat": testNow.Unix(),
			"ath": AccessTokenHash("tok"),
		},
	}
}

func (p *proofSpec) sign(t testing.TB) string {
	t.Helper()
	h, err := json.Marshal(p.header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(p.claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	return input + "." + b64(rawSign(t, p.alg, p.key, []byte(input)))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rawSign(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	var hf crypto.Hash
	switch alg[2:] {
	case "256":
		hf = crypto.SHA256
	case "384":
		hf = crypto.SHA384
	case "512":
		hf = crypto.SHA512
	}
	digest := func() []byte {
		var h hash.Hash
		switch hf {
		case crypto.SHA256:
			h = sha256.New()
		case crypto.SHA384:
			h = sha512.New384()
		default:
			h = sha512.New()
		}
		h.Write(input)
		return h.Sum(nil)
	}
	var sig []byte
	var err error
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, e := ecdsa.Sign(rand.Reader, k, digest())
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		err = e
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, k, hf, digest(), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, hf, digest())
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write(input)
		sig = m.Sum(nil)
	case nil:
		sig = nil // alg none
	default:
		t.Fatalf("unsupported key %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// fixedClock is a settable clock safe for concurrent use.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
