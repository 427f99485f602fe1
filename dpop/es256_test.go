package dpop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/maphash"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// checkBoth checks proof with the fast path and with the general path alone.
func checkBoth(t testing.TB, v *Verifier, proof string, req Request) (fast, general *Proof, fastErr, generalErr error) {
	fast, fastErr = v.Check(proof, req)
	es256Disabled.Store(true)
	defer es256Disabled.Store(false)
	general, generalErr = v.Check(proof, req)
	return
}

// TestES256FastPathAgreesWithGeneralPath: for the common ES256 shape and every way of
// spoiling it, the fast path decides exactly as go-jose's general path does.
func TestES256FastPathAgreesWithGeneralPath(t *testing.T) {
	loadKeys(t)
	v := &Verifier{Replay: NewMemoryGuard(1000, time.Hour), Now: func() time.Time { return testNow }}
	defer v.Replay.(*MemoryGuard).Close()
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	valid := newSpec(t, "ES256", keyP256).sign(t)
	if _, _, handled := v.checkES256(valid, req); !handled {
		t.Fatal("the fast path does not handle the common ES256 proof")
	}
	edit := func(mod func(s *proofSpec)) string {
		s := newSpec(t, "ES256", keyP256)
		mod(s)
		return s.sign(t)
	}
	segments := strings.Split(valid, ".")
	raw := func(header, payload string) string {
		input := b64([]byte(header)) + "." + b64([]byte(payload))
		return input + "." + b64(rawSign(t, "ES256", keyP256, []byte(input)))
	}
	jwk := publicJWK(t, keyP256)
	x, y := jwk["x"].(string), jwk["y"].(string)
	claims := `{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":` + "1800000000" + `,"ath":"` + AccessTokenHash("tok") + `"}`
	header := `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}}`
	flipped := []byte(segments[2])
	flipped[10] ^= 1
	cases := map[string]string{
		"valid":                 valid,
		"hand-written header":   raw(header, claims),
		"wrong htm":             edit(func(s *proofSpec) { s.claims["htm"] = "GET" }),
		"wrong htu":             edit(func(s *proofSpec) { s.claims["htu"] = "https://api.example.com/other" }),
		"old iat":               edit(func(s *proofSpec) { s.claims["iat"] = testNow.Add(-time.Hour).Unix() }),
		"future iat":            edit(func(s *proofSpec) { s.claims["iat"] = testNow.Add(time.Hour).Unix() }),
		"no ath":                edit(func(s *proofSpec) { delete(s.claims, "ath") }),
		"wrong ath":             edit(func(s *proofSpec) { s.claims["ath"] = AccessTokenHash("other") }),
		"no jti":                edit(func(s *proofSpec) { delete(s.claims, "jti") }),
		"iat as a string":       edit(func(s *proofSpec) { s.claims["iat"] = "1800000000" }),
		"wrong typ":             edit(func(s *proofSpec) { s.header["typ"] = "JWT" }),
		"extra header member":   edit(func(s *proofSpec) { s.header["kid"] = "k1" }),
		"crit header":           edit(func(s *proofSpec) { s.header["crit"] = []string{"exp"} }),
		"private key in jwk":    edit(func(s *proofSpec) { s.header["jwk"] = jwkMap(t, jwkOf(keyP256)) }),
		"another key's jwk":     edit(func(s *proofSpec) { s.header["jwk"] = publicJWK(t, keyP256b) }),
		"P-384 jwk":             edit(func(s *proofSpec) { s.header["jwk"] = publicJWK(t, keyP384) }),
		"signature flipped":     segments[0] + "." + segments[1] + "." + string(flipped),
		"signature truncated":   segments[0] + "." + segments[1] + "." + segments[2][:40],
		"duplicate alg":         raw(`{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"`+x+`","y":"`+y+`"}}`, claims),
		"upper-case member":     raw(`{"TYP":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"`+x+`","y":"`+y+`"}}`, claims),
		"duplicate claim":       raw(header, strings.Replace(claims, `"htm":"POST"`, `"htm":"POST","htm":"POST"`, 1)),
		"point not on curve":    raw(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"`+x+`","y":"`+x+`"}}`, claims),
		"padded base64 in jwk":  raw(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"`+x+`=","y":"`+y+`"}}`, claims),
		"payload not an object": raw(header, `[1,2]`),
		"payload not JSON":      segments[0] + ".bm90IGpzb24." + segments[2],
		"header not base64":     "!!!." + segments[1] + "." + segments[2],
	}
	for name, proof := range cases {
		fast, general, fastErr, generalErr := checkBoth(t, v, proof, req)
		switch {
		case (fastErr == nil) != (generalErr == nil):
			t.Errorf("%s: fast path %v, general path %v", name, fastErr, generalErr)
		case fastErr == nil && fast.JKT != general.JKT:
			t.Errorf("%s: thumbprints differ: %s and %s", name, fast.JKT, general.JKT)
		case fastErr != nil && fastErr.Error() != generalErr.Error():
			t.Errorf("%s: errors differ: %q and %q", name, fastErr, generalErr)
		}
		if name == "valid" || name == "hand-written header" {
			if fastErr != nil {
				t.Errorf("%s refused: %v", name, fastErr)
			}
			var e *Error
			if errors.As(fastErr, &e) {
				t.Errorf("%s: %v", name, e)
			}
		}
	}
}

func jwkOf(key any) jose.JSONWebKey { return jose.JSONWebKey{Key: key} }

// FuzzES256FastPath: whatever a mutated ES256 proof looks like, the fast path accepts exactly
// what the general path accepts, with the same thumbprint.
func FuzzES256FastPath(f *testing.F) {
	loadKeys(f)
	valid := newSpec(f, "ES256", keyP256).sign(f)
	f.Add(valid)
	parts := strings.Split(valid, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	f.Add(string(header) + "." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + parts[1] + "." + parts[2][:20])
	v := &Verifier{Replay: newMemoryGuard(1<<10, time.Hour, func() time.Time { return testNow }), Now: func() time.Time { return testNow }}
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	f.Fuzz(func(t *testing.T, proof string) {
		fast, general, fastErr, generalErr := checkBoth(t, v, proof, req)
		if (fastErr == nil) != (generalErr == nil) {
			t.Fatalf("fast path %v, general path %v for %q", fastErr, generalErr, proof)
		}
		if fastErr == nil && fast.JKT != general.JKT {
			t.Fatalf("thumbprints differ for %q", proof)
		}
	})
}

// TestVerifyES256MatchesEcdsaVerify: the DER the fast path writes for VerifyASN1 decides as
// ecdsa.Verify does with the same R and S, for real signatures and for every edge of the
// INTEGER encoding (leading zero bytes, the high bit set, zero, all ones, the group order).
func TestVerifyES256MatchesEcdsaVerify(t *testing.T) {
	loadKeys(t)
	pub := &keyP256.PublicKey
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	edges := [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), n, append(make([]byte, 31), 1),
		append([]byte{0, 0x80}, bytes.Repeat([]byte{1}, 30)...), append([]byte{0x7f}, bytes.Repeat([]byte{0xff}, 31)...)}
	for i := range 200 {
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		r, s, err := ecdsa.Sign(rand.Reader, keyP256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		var sig [64]byte
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		cases := [][64]byte{sig}
		if i < len(edges) { // spoil R, then S, with an edge value
			a, b := sig, sig
			copy(a[:32], edges[i])
			copy(b[32:], edges[i])
			cases = append(cases, a, b)
		}
		if i%7 == 0 { // a signature over another digest
			other := sig
			other[63] ^= 1
			cases = append(cases, other)
		}
		for _, c := range cases {
			want := ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(c[:32]), new(big.Int).SetBytes(c[32:]))
			if got := verifyES256(pub, digest[:], &c); got != want {
				t.Fatalf("verifyES256(%x) = %v, ecdsa.Verify says %v", c, got, want)
			}
			if i == 0 && c == sig && !want {
				t.Fatal("a real signature does not verify")
			}
		}
	}
}

// TestES256KeyCache: a repeated header yields the cached key; a slot holding another header
// (two headers hashing alike) is never taken for this one.
func TestES256KeyCache(t *testing.T) {
	loadKeys(t)
	enc := func(key *ecdsa.PrivateKey) string {
		proof := newSpec(t, "ES256", key).sign(t)
		h, _, _ := strings.Cut(proof, ".")
		return h
	}
	h1, h2 := enc(keyP256), enc(keyP256b)
	k1, ok := es256KeyOf(h1)
	if !ok {
		t.Fatal("header refused")
	}
	if again, _ := es256KeyOf(h1); again != k1 {
		t.Error("a repeated header was parsed again")
	}
	want, err := Thumbprint(jose.JSONWebKey{Key: &keyP256.PublicKey})
	if err != nil || k1.jkt != want || !k1.pub.Equal(&keyP256.PublicKey) {
		t.Fatalf("cached key %s, want %s", k1.jkt, want)
	}
	// Put h2's entry into h1's slot, as a hash collision would.
	k2, _ := es256KeyOf(h2)
	slot := &es256Keys[maphash.String(es256KeySeed, h1)%uint64(len(es256Keys))]
	slot.Store(k2)
	got, ok := es256KeyOf(h1)
	if !ok || got.jkt != want || !got.pub.Equal(&keyP256.PublicKey) {
		t.Fatalf("header took another header's key: %s", got.jkt)
	}
	if _, ok := es256KeyOf(strings.Replace(h1, "e", "f", 1)); ok {
		t.Error("a spoiled header was accepted")
	}
}
