package secevent

import (
	"errors"
	"testing"
	"time"
)

// FuzzDecode: a SET payload comes from the network (after its signature checked out, but the
// transmitter is someone else's code). Decode must never panic, must refuse with ErrMalformed
// only, and whatever revocation it accepts must survive Encode and Decode unchanged.
func FuzzDecode(f *testing.F) {
	at := time.Unix(1767225600, 0)
	for _, r := range []Revocation{
		{Kind: KindJTI, Value: "j", At: at, Until: at.Add(time.Hour)},
		{Kind: KindSession, Value: "s", Subject: "alice", At: at, Until: at.Add(time.Hour)},
	} {
		b, err := Encode("https://as.example", []string{"gw"}, at, "id", r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"iss":"i","aud":["a","b"],"iat":1,"jti":"x","events":{"` + EventVerification + `":{"state":"s"}}}`))
	f.Add([]byte(`{"iss":"i","aud":"gw","iat":1,"jti":"x","sub_id":{"format":"complex","session":{"format":"opaque","id":""}},"events":{"` + EventSessionRevoked + `":{"expires_at":5}}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		set, err := Decode(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if set.Revocation == nil {
			return
		}
		again, err := Encode(set.Issuer, set.Audience, set.IssuedAt, set.ID, *set.Revocation)
		if err != nil {
			t.Fatalf("an accepted revocation %+v does not encode: %v", set.Revocation, err)
		}
		back, err := Decode(again)
		if err != nil || back.Revocation == nil || *back.Revocation != *set.Revocation {
			t.Fatalf("round trip changed %+v into %+v (%v)", set.Revocation, back, err)
		}
	})
}
