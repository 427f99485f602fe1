// Package passkeytest is a software WebAuthn authenticator for tests: it holds one P-256
// credential and answers the options of navigator.credentials.create and .get as a browser
// would pass the authenticator's answer on, for any origin it is told.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	FlagUP = 0x01
	FlagUV = 0x04
	FlagBE = 0x08
	FlagBS = 0x10
	FlagAT = 0x40
)

// Authenticator is a software WebAuthn authenticator holding one P-256 credential: it
// answers create and get the way a browser would pass them on, with the origin it is told.
type Authenticator struct {
	T          testing.TB
	Key        *ecdsa.PrivateKey
	ID         []byte
	RPID       string
	UserHandle []byte
	Counter    uint32
	Flags      byte // UV / BE / BS set on every answer
}

// New returns an authenticator for rpID whose answers carry flags (UP is always set).
func New(t testing.TB, rpID string, flags byte) *Authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Authenticator{T: t, Key: key, ID: id, RPID: rpID, Flags: flags}
}

func (a *Authenticator) clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(extra byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, h[:]...)
	out = append(out, FlagUP|a.Flags|extra)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	return append(out, attested...)
}

// Create answers navigator.credentials.create with options (the JSON the server sent).
func (a *Authenticator) Create(options, origin string) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(options), &opts); err != nil {
		a.T.Fatalf("creation options: %v", err)
	}
	a.UserHandle, _ = base64.RawURLEncoding.DecodeString(opts.PublicKey.User.ID)
	x, y := a.Key.X.FillBytes(make([]byte, 32)), a.Key.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		a.T.Fatal(err)
	}
	attested := make([]byte, 16) // zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.ID)))
	attested = append(attested, a.ID...)
	attested = append(attested, cose...)
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(FlagAT, attested)})
	if err != nil {
		a.T.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{
		"id": b64(a.ID), "rawId": b64(a.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", opts.PublicKey.Challenge, origin)),
			"attestationObject": b64(obj),
			"transports":        []string{"internal"},
		},
	})
	return body
}

// Get answers navigator.credentials.get with options, its counter moved by step first.
func (a *Authenticator) Get(options, origin string, step uint32) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(options), &opts); err != nil {
		a.T.Fatalf("request options: %v", err)
	}
	if opts.PublicKey.RPID != a.RPID {
		a.T.Fatalf("request options name rpId %q, want %q", opts.PublicKey.RPID, a.RPID)
	}
	a.Counter += step
	auth := a.authData(0, nil)
	cd := a.clientData("webauthn.get", opts.PublicKey.Challenge, origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		a.T.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{
		"id": b64(a.ID), "rawId": b64(a.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig), "userHandle": b64(a.UserHandle),
		},
	})
	return body
}
