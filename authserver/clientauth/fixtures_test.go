package clientauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const (
	testIssuer  = "https://as.example.com"
	tokenURL    = testIssuer + "/token"
	introURL    = testIssuer + "/introspect"
	goodSecret  = "s3cret"
	weirdID     = "weird:id+%"
	weirdSecret = "p@ss:w+rd %&="
)

var (
	testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	// hsSecret is long enough for HS512 (RFC 7518 §3.2).
	hsSecret = bytes.Repeat([]byte("k"), 64)
)

// fakeClients serves fixed clients; the id "broken" simulates a failing store.
type fakeClients map[string]*store.Client

func (f fakeClients) GetClient(_ context.Context, id string) (*store.Client, error) {
	if id == "broken" {
		return nil, errors.New("database is down")
	}
	if c, ok := f[id]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// fakeVerifier accepts secret s for the hash "plain:"+s.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_, encoded, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(encoded), []byte("plain:"+presented)) == 1
}

// fakeOpener opens what fakeSeal sealed, and only with the same associated data.
type fakeOpener struct{}

func fakeSeal(ad string, secret []byte) []byte { return append([]byte(ad+"|"), secret...) }

func (fakeOpener) Open(sealed, ad []byte) ([]byte, error) {
	prefix := append(bytes.Clone(ad), '|')
	if !bytes.HasPrefix(sealed, prefix) {
		return nil, errors.New("message authentication failed")
	}
	return bytes.Clone(sealed[len(prefix):]), nil
}

// memReplay is an exact in-memory ReplayStore on the test clock.
type memReplay struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]time.Time
}

func newMemReplay(now func() time.Time) *memReplay {
	return &memReplay{now: now, seen: map[string]time.Time{}}
}

func (m *memReplay) UseOnce(_ context.Context, key string, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.seen[key]; ok && m.now().Before(until) {
		return store.ErrConflict
	}
	m.seen[key] = expiresAt
	return nil
}

// clock is a movable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// keys used across tests, generated once (RSA generation is slow).
type testKeySet struct {
	rsa, rsaWeak       *rsa.PrivateKey
	ec256, ec256Other  *ecdsa.PrivateKey
	ec384, ec521       *ecdsa.PrivateKey
	ed                 ed25519.PrivateKey
	rotA, rotB         *ecdsa.PrivateKey
	privateInJWKS      *ecdsa.PrivateKey
	inlineJWKS         string
	jwksWithPrivateKey string
}

var keys = sync.OnceValue(func() *testKeySet {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		must(err)
		return k
	}
	k := &testKeySet{
		ec256: ec(elliptic.P256()), ec256Other: ec(elliptic.P256()),
		ec384: ec(elliptic.P384()), ec521: ec(elliptic.P521()),
		rotA: ec(elliptic.P256()), rotB: ec(elliptic.P256()),
		privateInJWKS: ec(elliptic.P256()),
	}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaWeak, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)

	k.inlineJWKS = jwksJSON(
		[]jose.JSONWebKey{
			{Key: &k.rsa.PublicKey, KeyID: "rsa", Use: "sig"},
			{Key: &k.ec256.PublicKey, KeyID: "ec256", Use: "sig", Algorithm: "ES256"},
			{Key: &k.ec384.PublicKey, KeyID: "ec384"},
			{Key: &k.ec521.PublicKey, KeyID: "ec521"},
			{Key: k.ed.Public(), KeyID: "ed"},
			{Key: &k.rsaWeak.PublicKey, KeyID: "weak"},
			// An encryption key never verifies a signature.
			{Key: &k.ec256Other.PublicKey, KeyID: "enc", Use: "enc"},
		},
		// Keys we cannot use are skipped, not fatal (RFC 7517 §5).
		`{"kty":"oct","kid":"sym","k":"`+base64.RawURLEncoding.EncodeToString(hsSecret)+`"}`,
		`{"kty":"XYZ","kid":"future"}`,
	)
	k.jwksWithPrivateKey = jwksJSON([]jose.JSONWebKey{{Key: k.privateInJWKS, KeyID: "leaked"}})
	return k
})

// jwksJSON renders a JWK Set from keys plus raw JSON members.
func jwksJSON(list []jose.JSONWebKey, raw ...string) string {
	members := make([]string, 0, len(list)+len(raw))
	for _, k := range list {
		b, err := json.Marshal(k)
		if err != nil {
			panic(err)
		}
		members = append(members, string(b))
	}
	members = append(members, raw...)
	return `{"keys":[` + strings.Join(members, ",") + `]}`
}

// testClients are the registered clients every test authenticates against.
func testClients() fakeClients {
	k := keys()
	cs := []*store.Client{
		{ID: "basic", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + goodSecret},
		{ID: "default", SecretHash: "plain:" + goodSecret}, // unset method means client_secret_basic
		{ID: weirdID, TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + weirdSecret},
		{ID: "spacey", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:a b"},
		{ID: "nohash", TokenEndpointAuthMethod: MethodSecretBasic},
		{ID: "off", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + goodSecret, Disabled: true},
		{ID: "post", TokenEndpointAuthMethod: MethodSecretPost, SecretHash: "plain:" + goodSecret},
		{ID: "public", TokenEndpointAuthMethod: MethodNone},
		{ID: "hs", TokenEndpointAuthMethod: MethodSecretJWT, SecretHash: "plain:x", SecretSealed: fakeSeal("hs", hsSecret)},
		{ID: "hs256", TokenEndpointAuthMethod: MethodSecretJWT, TokenEndpointAuthSigningAlg: "HS256", SecretSealed: fakeSeal("hs256", hsSecret)},
		{ID: "hsnoseal", TokenEndpointAuthMethod: MethodSecretJWT},
		{ID: "hsbadseal", TokenEndpointAuthMethod: MethodSecretJWT, SecretSealed: fakeSeal("someone-else", hsSecret)},
		{ID: "hsshort", TokenEndpointAuthMethod: MethodSecretJWT, SecretSealed: fakeSeal("hsshort", []byte("short"))},
		{ID: "pk", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: k.inlineJWKS},
		{ID: "pk-es256", TokenEndpointAuthMethod: MethodPrivateKeyJWT, TokenEndpointAuthSigningAlg: "ES256", JWKS: k.inlineJWKS},
		{ID: "pk-nokeys", TokenEndpointAuthMethod: MethodPrivateKeyJWT},
		{ID: "pk-leaked", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: k.jwksWithPrivateKey},
		{ID: "pk-badjwks", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: `{"keys":`},
		{ID: "pk-off", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: k.inlineJWKS, Disabled: true},
	}
	out := fakeClients{}
	for _, c := range cs {
		out[c.ID] = c
	}
	return out
}

func newTestAuthenticator(now func() time.Time) *Authenticator {
	return &Authenticator{
		Issuer:  testIssuer,
		Clients: testClients(),
		Secrets: fakeVerifier{},
		Sealed:  fakeOpener{},
		Replay:  newMemReplay(now),
		Now:     now,
	}
}

// newRequest builds a token request whose form is already parsed, as the server does.
func newRequest(form url.Values, authorization ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range authorization {
		r.Header.Add("Authorization", h)
	}
	if err := r.ParseForm(); err != nil {
		panic(err)
	}
	return r
}

// basicAuth encodes credentials the RFC 6749 §2.3.1 way: form-encode, then base64.
func basicAuth(id, secret string) string {
	return basicRaw(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}

func basicRaw(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

var jtiCounter atomic.Int64

// claims returns valid assertion claims for client id at testNow; edit returns a variant.
func claims(id string, edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": id,
		"sub": id,
		"aud": testIssuer,
		"iat": testNow.Unix(),
		"exp": testNow.Add(time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", jtiCounter.Add(1)),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs claims with go-jose, putting kid in the header when not empty.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(b)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawJWT builds a compact JWS by hand, for tokens go-jose refuses to produce (alg none,
// short HMAC keys, non-JSON payloads).
func rawJWT(header string, payload []byte, hmacKey []byte) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
	if hmacKey == nil {
		return input + "."
	}
	m := hmac.New(sha256.New, hmacKey)
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

// assertionForm is the body of a request authenticating with a client assertion.
func assertionForm(assertion string, extra ...string) url.Values {
	v := url.Values{"client_assertion_type": {AssertionTypeJWT}, "client_assertion": {assertion}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}
