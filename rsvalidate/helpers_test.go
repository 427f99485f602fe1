package rsvalidate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://as.example"
	testResource = "https://api.example"
	testMetadata = "https://api.example/.well-known/oauth-protected-resource"
	testURL      = "https://api.example/v1/items"
)

// testNow is real time (the DPoP memory guard keeps its own real clock), frozen per run.
var testNow = time.Now().Truncate(time.Second)

func clock() time.Time { return testNow }

type fixtureKeys struct {
	es, esOther, rs *ecdsaOrRSA
	dpop, dpopOther ed25519.PrivateKey
	dpopJKT         string
}

type ecdsaOrRSA struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	kid  string
}

var (
	fixturesOnce sync.Once
	fx           fixtureKeys
)

func fixtures(t testing.TB) *fixtureKeys {
	fixturesOnce.Do(func() {
		es, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		esOther, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rs, _ := rsa.GenerateKey(rand.Reader, 2048)
		_, d1, _ := ed25519.GenerateKey(rand.Reader)
		_, d2, _ := ed25519.GenerateKey(rand.Reader)
		fx = fixtureKeys{
			es:        &ecdsaOrRSA{es, jose.ES256, "es1"},
			esOther:   &ecdsaOrRSA{esOther, jose.ES256, "es1"}, // same kid, wrong key
			rs:        &ecdsaOrRSA{rs, jose.RS256, "rs1"},
			dpop:      d1,
			dpopOther: d2,
		}
		fx.dpopJKT, _ = dpop.Thumbprint(jose.JSONWebKey{Key: d1.Public()})
	})
	if fx.es == nil {
		t.Fatal("fixtures")
	}
	return &fx
}

// memKeys is an in-memory KeySource.
type memKeys struct {
	keys  map[string]*jose.JSONWebKey
	err   error
	calls atomic.Int64
}

func newMemKeys(f *fixtureKeys) *memKeys {
	m := &memKeys{keys: map[string]*jose.JSONWebKey{}}
	for _, k := range []*ecdsaOrRSA{f.es, f.rs} {
		m.keys[k.kid] = &jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
	}
	return m
}

func (m *memKeys) Key(_ context.Context, kid, _ string) (*jose.JSONWebKey, error) {
	m.calls.Add(1)
	if m.err != nil {
		return nil, m.err
	}
	if k, ok := m.keys[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// fakeIntrospector answers from a map.
type fakeIntrospector struct {
	tokens map[string]*TokenInfo
	err    error
}

func (f *fakeIntrospector) Introspect(_ context.Context, token string) (*TokenInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	if info := f.tokens[token]; info != nil {
		c := *info
		return &c, nil
	}
	return nil, nil
}

// fakeLocal is an in-process issuer answering from a map.
type fakeLocal struct {
	issuer      string
	tokens      map[string]*TokenInfo
	err         error
	policy      *ResourcePolicy
	policyCalls atomic.Int64
}

func (f *fakeLocal) Issuer() string { return f.issuer }

func (f *fakeLocal) ActiveAccessToken(_ context.Context, token string) (*TokenInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	if info := f.tokens[token]; info != nil {
		c := *info
		return &c, nil
	}
	return nil, nil
}

func (f *fakeLocal) ResourcePolicy(context.Context, string) (*ResourcePolicy, error) {
	f.policyCalls.Add(1)
	return f.policy, nil
}

// claims returns a valid claims set for the test resource; mods adjust it.
func claims(mods ...func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss":       testIssuer,
		"sub":       "alice",
		"client_id": "app",
		"aud":       testResource,
		"scope":     "read write",
		"exp":       testNow.Add(time.Hour).Unix(),
		"iat":       testNow.Unix(),
		"jti":       "jti-1",
		"tenant":    "acme",
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func set(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
func del(k string) func(map[string]any)        { return func(c map[string]any) { delete(c, k) } }

// signJWT signs claims with k; typ "" leaves the typ header out.
func signJWT(t testing.TB, k *ecdsaOrRSA, typ string, c map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, s, c)
}

func signPayload(t testing.TB, s jose.Signer, c any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var jtiSeq atomic.Int64

// proof makes a DPoP proof by key for method and url, bound to token; mods adjust claims.
func proof(t testing.TB, key crypto.Signer, method, url, token string, mods ...func(map[string]any)) string {
	t.Helper()
	alg := jose.EdDSA
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{
		"jti": "proof-" + strconv.FormatInt(jtiSeq.Add(1), 10),
		"htm": method,
		"htu": url,
		"iat": testNow.Unix(),
		"ath": dpop.AccessTokenHash(token),
	}
	for _, m := range mods {
		m(c)
	}
	return signPayload(t, s, c)
}

func newVerifier(t testing.TB, nonces *dpop.Nonces) *dpop.Verifier {
	g := dpop.NewMemoryGuardWithClock(1<<20, 10*time.Minute, clock)
	t.Cleanup(g.Close)
	return &dpop.Verifier{Algs: []string{"ES256", "EdDSA"}, Replay: g, Nonces: nonces, Now: clock}
}

// baseConfig validates remote JWTs with DPoP configured.
func baseConfig(t testing.TB, f *fixtureKeys) Config {
	return Config{
		Resource:            testResource,
		Issuer:              testIssuer,
		Keys:                newMemKeys(f),
		Algs:                []string{"ES256", "RS256"},
		DPoP:                newVerifier(t, nil),
		ResourceMetadataURL: testMetadata,
		Origin:              func(*http.Request) (string, bool) { return "https://api.example", true },
		Now:                 clock,
	}
}

func mustNew(t testing.TB, cfg Config) *Validator {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// req builds a GET to testURL with the given header pairs.
func req(headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, testURL, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func withTLSCert(r *http.Request, der []byte) *http.Request {
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: der}}}
	return r
}

func x5t(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// written runs WriteError and returns the recorder.
func written(v *Validator, e *Error) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	v.WriteError(w, e)
	return w
}

func joinLines(s []string) string { return strings.Join(s, "\n") }

var base64URL = base64.RawURLEncoding

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
