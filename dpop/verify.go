package dpop

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json" // case-sensitive member names, duplicate members rejected

	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Limits on untrusted input.
const (
	MaxProofSize = 8 << 10 // bytes of the compact JWS
	MaxJTILength = 256     // bytes; RFC 9449 asks for ≥ 96 bits of randomness, clients send ~22–36
	minRSABits   = 2048
	maxRSABits   = 8192 // bounds verification cost
	proofType    = "dpop+jwt"
)

// supportedAlgs are the asymmetric algorithms a Verifier may accept, in preference order:
// ECDSA first (small proofs, fast to verify), then the rest of the project's list. HS* are
// absent on purpose: a proof must be signed by the key it carries.
var supportedAlgs = func() []string {
	algs := jwa.Asymmetric()
	ecdsaFirst := func(alg string) int {
		if strings.HasPrefix(alg, "ES") {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(algs, func(a, b string) int { return cmp.Compare(ecdsaFirst(a), ecdsaFirst(b)) })
	return algs
}()

// joseAlgs is the parse-time filter handed to go-jose; Verifier.Algs narrows it further.
var joseAlgs = jwa.Jose(supportedAlgs)

// DefaultAlgs is the default allowlist, e.g. for dpop_signing_alg_values_supported. It is a
// copy: changing it cannot widen what a Verifier accepts.
var DefaultAlgs = SupportedAlgs()

// SupportedAlgs returns every algorithm a Verifier can accept (the default allowlist).
func SupportedAlgs() []string { return slices.Clone(supportedAlgs) }

// CheckAlgs reports an error naming the first entry of algs that a Verifier cannot accept.
func CheckAlgs(algs []string) error {
	for _, a := range algs {
		if !slices.Contains(supportedAlgs, a) {
			return fmt.Errorf("dpop: unsupported proof algorithm %q (allowed: %s)", a, strings.Join(supportedAlgs, " "))
		}
	}
	return nil
}

// Verifier checks DPoP proofs. The zero value of every field but Replay has a default; a
// Verifier is safe for concurrent use.
type Verifier struct {
	// Algs is the allowlist of proof algorithms (default SupportedAlgs()). Entries outside
	// SupportedAlgs are never accepted; validate configuration with CheckAlgs.
	Algs []string
	// MaxAge is how old iat may be (default 5m).
	MaxAge time.Duration
	// Skew is how far in the future iat may be (default 30s). A jti is remembered until
	// iat+MaxAge+Skew, so the guard's TTL must cover MaxAge+2×Skew.
	Skew time.Duration
	// Replay makes jti single-use per key. Required.
	Replay ReplayGuard
	// Nonces, when set, requires every proof to carry a currently valid server nonce.
	Nonces *Nonces
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// AllowedAlgs returns the effective allowlist, e.g. for dpop_signing_alg_values_supported and
// the algs parameter of a DPoP challenge.
func (v *Verifier) AllowedAlgs() []string {
	if len(v.Algs) == 0 {
		return SupportedAlgs()
	}
	out := make([]string, 0, len(v.Algs))
	for _, a := range v.Algs {
		if slices.Contains(supportedAlgs, a) {
			out = append(out, a)
		}
	}
	return out
}

// ReplayTTL is the longest a jti must be remembered (MaxAge + 2×Skew, since iat may lie Skew
// in the future): the maxTTL to give NewMemoryGuard.
func (v *Verifier) ReplayTTL() time.Duration { return v.maxAge() + 2*v.skew() }

func (v *Verifier) allows(alg string) bool {
	if !slices.Contains(supportedAlgs, alg) {
		return false
	}
	return len(v.Algs) == 0 || slices.Contains(v.Algs, alg)
}

// proofClaims are the members RFC 9449 §4.2 defines; others are ignored.
type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce string   `json:"nonce"`
}

// Verify checks proof (the DPoP header value) against req and consumes its jti: Check, then
// Record. A rejected proof yields *Error; any other error is a server-side failure (e.g. the
// replay backend is unreachable) and must fail closed. Use it where the request's other
// credentials were checked first (a resource server verifies the access token before the
// proof), so that only requests worth serving reach the replay guard.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	if v.Replay == nil {
		return nil, errors.New("dpop: Verifier.Replay is required")
	}
	p, err := v.Check(proof, req)
	if err != nil {
		return nil, err
	}
	if err := v.Record(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Check verifies everything about proof but its single use: syntax, signature, request
// binding, freshness and the server nonce. It consumes nothing, so a caller that still has to
// authenticate the request (the token endpoint: client, code or refresh token) checks the
// proof first — a client told use_dpop_nonce retries before anything is spent — and calls
// Record only once the request has passed its own checks. Otherwise a flood of requests that
// fail those checks would fill the replay guard. A proof from Check is not yet safe to act on:
// Record must succeed first. Cheap checks run before the signature, so junk costs no
// verification.
func (v *Verifier) Check(proof string, req Request) (*Proof, error) {
	if proof == "" {
		return nil, invalid("missing DPoP proof")
	}
	if len(proof) > MaxProofSize {
		return nil, invalid("DPoP proof too large")
	}
	if strings.Count(proof, ".") != 2 {
		return nil, invalid("DPoP proof is not a compact JWS")
	}
	if p, err, handled := v.checkES256(proof, req); handled {
		return p, err
	}
	jws, err := jose.ParseSignedCompact(proof, joseAlgs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return nil, invalid("DPoP proof algorithm not allowed")
		}
		// go-jose refuses private or symmetric embedded keys while parsing; say so.
		if msg := err.Error(); strings.Contains(msg, "JWK") || strings.Contains(msg, "jwk") {
			return nil, invalid("DPoP proof jwk must be a public EC, RSA or Ed25519 key")
		}
		return nil, invalid("malformed DPoP proof")
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("malformed DPoP proof")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != proofType {
		return nil, invalid("DPoP proof typ must be dpop+jwt")
	}
	if !v.allows(h.Algorithm) {
		return nil, invalid("DPoP proof algorithm not allowed")
	}
	jwk := h.JSONWebKey
	if jwk == nil {
		return nil, invalid("DPoP proof has no jwk header")
	}
	if desc := checkKey(h.Algorithm, jwk.Key); desc != "" {
		return nil, invalid(desc)
	}

	var c proofClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, invalid("malformed DPoP proof claims")
	}
	iat, err := v.checkClaims(&c, req)
	if err != nil {
		return nil, err
	}

	if _, err := jws.Verify(jwk); err != nil {
		return nil, invalid("DPoP proof signature does not verify")
	}
	jkt, err := Thumbprint(*jwk)
	if err != nil {
		return nil, invalid("DPoP proof key has no thumbprint")
	}
	return v.proof(jkt, &c, iat, *jwk), nil
}

// proof is the accepted proof. A verifier on another instance may run up to Skew behind this
// one and still accept it until its own iat+MaxAge, so the jti is remembered that much longer.
func (v *Verifier) proof(jkt string, c *proofClaims, iat time.Time, key jose.JSONWebKey) *Proof {
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat, Nonce: c.Nonce, Key: key, replayUntil: iat.Add(v.maxAge() + v.skew())}
}

// checkClaims applies RFC 9449 §4.3 to the claims of a proof whose signature is yet to be
// checked, and returns its iat: the one set of rules for both ways of parsing a proof.
func (v *Verifier) checkClaims(c *proofClaims, req Request) (time.Time, error) {
	switch {
	case c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == nil:
		return time.Time{}, invalid("DPoP proof lacks jti, htm, htu or iat")
	case len(c.JTI) > MaxJTILength:
		return time.Time{}, invalid("DPoP proof jti too long")
	case c.HTM != req.Method:
		return time.Time{}, invalid("DPoP proof htm does not match the request method")
	case !htuMatches(c.HTU, req.URL):
		return time.Time{}, invalid("DPoP proof htu does not match the request URL")
	}
	now := v.now()
	iat, ok := unixTime(*c.IAT)
	if !ok {
		return time.Time{}, invalid("DPoP proof iat invalid")
	}
	if iat.Before(now.Add(-v.maxAge())) {
		return time.Time{}, invalid("DPoP proof iat too old")
	}
	if iat.After(now.Add(v.skew())) {
		return time.Time{}, invalid("DPoP proof iat in the future")
	}
	if desc := checkATH(c.ATH, req.AccessToken); desc != "" {
		return time.Time{}, invalid(desc)
	}
	if v.Nonces != nil { // without server nonces a client's nonce claim is ignored
		if c.Nonce == "" {
			return time.Time{}, &Error{Code: CodeUseNonce, Description: "DPoP proof requires a server nonce", Err: ErrNonce}
		}
		if !v.Nonces.Valid(c.Nonce) {
			return time.Time{}, &Error{Code: CodeUseNonce, Description: "DPoP proof nonce is stale", Err: ErrNonce}
		}
	}
	return iat, nil
}

// Record consumes the jti of p, a proof returned by Check: of any number of Record calls for
// one proof, concurrent or not, exactly one succeeds (as long as the ReplayGuard is exact).
// Errors are as Verify's: *Error for a replayed proof or a full guard, anything else a
// server-side failure.
func (v *Verifier) Record(ctx context.Context, p *Proof) error {
	if v.Replay == nil {
		return errors.New("dpop: Verifier.Replay is required")
	}
	if p == nil || p.replayUntil.IsZero() {
		return errors.New("dpop: Record takes a proof returned by Check")
	}
	// Keyed "<jkt>:<jti>", so one key's jti cannot block another key's proof.
	switch err := v.Replay.Use(ctx, p.JKT+":"+p.JTI, p.replayUntil); {
	case err == nil:
		// Checked after Use, which is where a guard finds out that it lost its memory.
		if fg, ok := v.Replay.(ForgetfulGuard); ok {
			if lost := fg.ForgottenBefore(); !lost.IsZero() && !p.IssuedAt.After(lost) {
				return &Error{Code: CodeInvalidProof, Description: "DPoP proof made before the replay guard restarted; sign a new one", Err: ErrForgotten}
			}
		}
		return nil
	case errors.Is(err, ErrReplay):
		return &Error{Code: CodeInvalidProof, Description: "DPoP proof replayed", Err: ErrReplay}
	case errors.Is(err, ErrFull):
		// Refuse rather than forget: with nonces the client retries with a fresh one.
		if v.Nonces != nil {
			return &Error{Code: CodeUseNonce, Description: "DPoP replay cache full; retry with a fresh nonce", Err: ErrFull}
		}
		return &Error{Code: CodeInvalidProof, Description: "DPoP replay cache full; retry later", Err: ErrFull}
	default:
		return fmt.Errorf("dpop: replay guard: %w", err)
	}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxAge() time.Duration {
	if v.MaxAge > 0 {
		return v.MaxAge
	}
	return 5 * time.Minute
}

func (v *Verifier) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return 30 * time.Second
}

// checkKey matches the embedded key's type (and curve or size) to alg.
func checkKey(alg string, key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		var want elliptic.Curve
		switch alg {
		case "ES256":
			want = elliptic.P256()
		case "ES384":
			want = elliptic.P384()
		case "ES512":
			want = elliptic.P521()
		}
		if want == nil || k.Curve != want {
			return "DPoP proof key does not match alg"
		}
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return "DPoP proof key does not match alg"
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return "DPoP proof RSA key size not allowed"
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return "DPoP proof key does not match alg"
		}
	default:
		return "DPoP proof jwk must be a public EC, RSA or Ed25519 key"
	}
	return ""
}

// checkATH applies RFC 9449 §4.3 step 11: with an access token, ath must be its hash; without
// one (token endpoint), ath must be absent.
func checkATH(ath *string, accessToken string) string {
	if accessToken == "" {
		if ath != nil {
			return "DPoP proof has ath but no access token was presented"
		}
		return ""
	}
	if ath == nil {
		return "DPoP proof lacks ath"
	}
	// AccessTokenHash without its copies: the token (a JWT of some hundred bytes) is hashed in
	// place and the expected ath encoded on the stack.
	sum := sha256.Sum256(unsafeBytes(accessToken))
	var want [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare(unsafeBytes(*ath), want[:]) != 1 {
		return "DPoP proof ath does not match the access token"
	}
	return ""
}

// unixTime converts a NumericDate, refusing values no clock will reach.
func unixTime(sec float64) (time.Time, bool) {
	if !(sec >= 0 && sec <= 1<<40) { // written to refuse NaN as well
		return time.Time{}, false
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)), true
}
