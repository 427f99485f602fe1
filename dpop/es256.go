package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"unsafe"

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
	key, ok := es256KeyOf(encHeader)
	if !ok {
		return nil, nil, false
	}
	var sig [64]byte // 86 characters of unpadded base64url
	if len(encSig) != 86 {
		return nil, nil, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(sig[:], unsafeBytes(encSig)); err != nil || n != len(sig) {
		return nil, nil, false
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
	digest := sha256.Sum256(unsafeBytes(proof[:len(encHeader)+1+len(encPayload)]))
	if !verifyES256(key.pub, digest[:], &sig) {
		return nil, invalid("DPoP proof signature does not verify"), true
	}
	return v.proof(key.jkt, &c, iat, jose.JSONWebKey{Key: key.pub, Algorithm: "ES256"}), nil, true
}

// unsafeBytes is s as a byte slice without a copy, for functions that only read their input
// (base64 decoding, hashing); the slice must never be written to.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// es256Key is what the fast path takes from a proof's header. A client signs all its proofs
// with one key, so their headers are equal byte for byte: the decoded key is cached by the
// encoded header, and a repeated header costs a hash and a comparison instead of base64, a
// strict JSON decode, the point's validation and the thumbprint.
type es256Key struct {
	header string // the encoded header, compared in full on a hit
	pub    *ecdsa.PublicKey
	jkt    string
}

// es256Keys is a direct-mapped cache: a fixed number of slots, each the last header that hashed
// to it. Its memory is bounded (about 1 KiB a slot) whatever clients send, lookups take no
// lock, and a header pushed out by another costs only what it cost before the cache.
var (
	es256Keys    [1024]atomic.Pointer[es256Key]
	es256KeySeed = maphash.MakeSeed()
)

// es256KeyOf returns the key of a header of the fast path's shape; false for any other header.
// Only headers that parse are cached, and an entry is a pure function of its header's bytes.
func es256KeyOf(encHeader string) (*es256Key, bool) {
	slot := &es256Keys[maphash.String(es256KeySeed, encHeader)%uint64(len(es256Keys))]
	if k := slot.Load(); k != nil && k.header == encHeader {
		return k, true
	}
	if len(encHeader) > 1024 { // the fast path's header is about 240 characters
		return nil, false
	}
	k, ok := parseES256Header(encHeader)
	if ok {
		slot.Store(k)
	}
	return k, ok
}

// parseES256Header decodes a header of exactly typ, alg ES256 and a P-256 public jwk.
func parseES256Header(encHeader string) (*es256Key, bool) {
	header, ok := decodeSegment(encHeader)
	if !ok {
		return nil, false
	}
	var h es256Header
	if jsonv2.Unmarshal(header, &h, strict) != nil ||
		h.Typ != proofType || h.Alg != "ES256" || h.JWK.Kty != "EC" || h.JWK.Crv != "P-256" {
		return nil, false
	}
	x, okX := decodeSegment(h.JWK.X)
	y, okY := decodeSegment(h.JWK.Y)
	if !okX || !okY || len(x) != 32 || len(y) != 32 {
		return nil, false
	}
	point := make([]byte, 0, 65)
	point = append(append(append(point, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, false // not on the curve: the general path refuses it with its own words
	}
	return &es256Key{header: strings.Clone(encHeader), pub: pub, jkt: es256Thumbprint(x, y)}, true
}

// verifyES256 checks a JWS ES256 signature (R ‖ S, 32 bytes each) over digest. It is
// ecdsa.Verify without the detour through big.Int and an ASN.1 builder: the DER form that
// ecdsa.VerifyASN1 reads is written into a stack buffer (INTEGERs minimal and positive, as
// DER requires). A zero R or S is refused here, as ecdsa.Verify refuses it.
func verifyES256(pub *ecdsa.PublicKey, digest []byte, sig *[64]byte) bool {
	var der [2 + 2*(2+33)]byte
	n := 2
	for _, half := range [2][]byte{sig[:32], sig[32:]} {
		i := 0
		for i < len(half) && half[i] == 0 {
			i++
		}
		if i == len(half) {
			return false
		}
		v := half[i:]
		pad := v[0]&0x80 != 0 // a set high bit would read as negative: prefix a zero byte
		der[n] = 0x02         // INTEGER
		der[n+1] = byte(len(v))
		if pad {
			der[n+1]++
		}
		n += 2
		if pad {
			der[n] = 0
			n++
		}
		n += copy(der[n:], v)
	}
	der[0], der[1] = 0x30, byte(n-2) // SEQUENCE; at most 70 bytes, so the short length form
	return ecdsa.VerifyASN1(pub, digest, der[:n])
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
