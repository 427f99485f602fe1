package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"
	jsonv2 "github.com/go-json-experiment/json"
)

// The ES256 fast path. Nearly every DPoP client signs with ES256 and a header of exactly typ,
// alg and a P-256 jwk; for those proofs everything but the signature itself was a large share
// of the gateway's DPoP cost (go-jose decodes the header into a generic map, the key through
// big integers, and the claims by reflection). checkES256 handles only that exact shape, with a
// strict decoder (member names case-sensitive, duplicates and unknown members rejected), and
// hands anything else — another algorithm, extra header or key members, odd encodings — to the
// general path, which decides. Claims are judged by the same checkClaims either way.

// es256Header is the only header shape the fast path takes.
type es256Header struct {
	Typ string   `json:"typ"`
	Alg string   `json:"alg"`
	JWK es256JWK `json:"jwk"`
}

type es256JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

var strict = jsonv2.RejectUnknownMembers(true)

// es256Disabled turns the fast path off (tests compare it with the general path).
var es256Disabled atomic.Bool

// checkES256 verifies proof when it has the common ES256 shape; handled is false otherwise
// (nothing was decided, and the general path must check it).
func (v *Verifier) checkES256(proof string, req Request) (p *Proof, err error, handled bool) {
	if es256Disabled.Load() || !v.allows("ES256") {
		return nil, nil, false
	}
	encHeader, rest, _ := strings.Cut(proof, ".")
	encPayload, encSig, _ := strings.Cut(rest, ".")
	header, ok := decodeSegment(encHeader)
	if !ok {
		return nil, nil, false
	}
	var h es256Header
	if jsonv2.Unmarshal(header, &h, strict) != nil ||
		h.Typ != proofType || h.Alg != "ES256" || h.JWK.Kty != "EC" || h.JWK.Crv != "P-256" {
		return nil, nil, false
	}
	x, okX := decodeSegment(h.JWK.X)
	y, okY := decodeSegment(h.JWK.Y)
	sig, okSig := decodeSegment(encSig)
	if !okX || !okY || !okSig || len(x) != 32 || len(y) != 32 || len(sig) != 64 {
		return nil, nil, false
	}
	point := make([]byte, 0, 65)
	point = append(append(append(point, 4), x...), y...)
	pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if perr != nil {
		return nil, nil, false // not on the curve: the general path refuses it with its own words
	}
	payload, ok := decodeSegment(encPayload)
	if !ok {
		return nil, nil, false
	}
	var c proofClaims
	if jsonv2.Unmarshal(payload, &c) != nil {
		return nil, nil, false
	}
	// From here on the proof is ours to judge.
	iat, err := v.checkClaims(&c, req)
	if err != nil {
		return nil, err, true
	}
	digest := sha256.Sum256([]byte(proof[:len(encHeader)+1+len(encPayload)]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, invalid("DPoP proof signature does not verify"), true
	}
	return v.proof(es256Thumbprint(x, y), &c, iat, jose.JSONWebKey{Key: pub, Algorithm: "ES256"}), nil, true
}

// decodeSegment decodes unpadded base64url, refusing non-canonical encodings (stray bits in
// the last character), so one key or signature has one spelling.
func decodeSegment(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// es256Thumbprint is the RFC 7638 thumbprint of a P-256 key: SHA-256 of its required members
// in lexicographic order, computed from the decoded coordinates so that it is canonical.
func es256Thumbprint(x, y []byte) string {
	const prefix, middle, suffix = `{"crv":"P-256","kty":"EC","x":"`, `","y":"`, `"}`
	buf := make([]byte, 0, len(prefix)+len(middle)+len(suffix)+2*43)
	buf = append(buf, prefix...)
	buf = base64.RawURLEncoding.AppendEncode(buf, x)
	buf = append(buf, middle...)
	buf = base64.RawURLEncoding.AppendEncode(buf, y)
	buf = append(buf, suffix...)
	sum := sha256.Sum256(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
