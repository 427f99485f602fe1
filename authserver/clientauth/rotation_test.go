package clientauth

import (
	"bytes"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestRotatedSecrets: after a rotation the new secret works, the previous one works until
// PreviousSecretExpiresAt and not after, and an expired current secret fails.
func TestRotatedSecrets(t *testing.T) {
	const newSecret, oldSecret = "n3w", "0ld"
	newHS, oldHS := bytes.Repeat([]byte("n"), 64), bytes.Repeat([]byte("o"), 64)
	overlapEnd := testNow.Add(time.Hour)
	expiredAt := testNow.Add(-time.Second)
	clients := fakeClients{
		"rot": {ID: "rot", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + newSecret,
			PreviousSecretHash: "plain:" + oldSecret, PreviousSecretExpiresAt: &overlapEnd},
		"rot-hs": {ID: "rot-hs", TokenEndpointAuthMethod: MethodSecretJWT, SecretHash: "plain:x", SecretSealed: fakeSeal("rot-hs", newHS),
			PreviousSecretHash: "plain:y", PreviousSecretSealed: fakeSeal("rot-hs", oldHS), PreviousSecretExpiresAt: &overlapEnd},
		"stale": {ID: "stale", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + newSecret, SecretExpiresAt: &expiredAt},
		// A previous hash without an end is never accepted: a rotation always sets one.
		"noend": {ID: "noend", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + newSecret, PreviousSecretHash: "plain:" + oldSecret},
	}
	hsClaims := func() map[string]any { return claims("rot-hs", nil) }
	tests := []struct {
		name   string
		at     time.Time
		auth   []string
		form   func(t *testing.T) []string // assertion form pairs, signed at call time
		wantOK bool
	}{
		{name: "new secret", at: testNow, auth: []string{basicAuth("rot", newSecret)}, wantOK: true},
		{name: "old secret inside the overlap", at: testNow, auth: []string{basicAuth("rot", oldSecret)}, wantOK: true},
		{name: "old secret at the end of the overlap", at: overlapEnd, auth: []string{basicAuth("rot", oldSecret)}},
		{name: "new secret after the overlap", at: overlapEnd.Add(time.Hour), auth: []string{basicAuth("rot", newSecret)}, wantOK: true},
		{name: "wrong secret", at: testNow, auth: []string{basicAuth("rot", "other")}},
		{name: "expired current secret", at: testNow, auth: []string{basicAuth("stale", newSecret)}},
		{name: "previous secret without an end", at: testNow, auth: []string{basicAuth("noend", oldSecret)}},
		{name: "client_secret_jwt, new secret", at: testNow, wantOK: true,
			form: func(t *testing.T) []string { return []string{sign(t, jose.HS256, newHS, "", hsClaims())} }},
		{name: "client_secret_jwt, old secret inside the overlap", at: testNow, wantOK: true,
			form: func(t *testing.T) []string { return []string{sign(t, jose.HS256, oldHS, "", hsClaims())} }},
		{name: "client_secret_jwt, old secret after the overlap", at: overlapEnd,
			form: func(t *testing.T) []string { return []string{sign(t, jose.HS256, oldHS, "", hsClaims())} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			a := newTestAuthenticator(func() time.Time { return at })
			a.Clients = clients
			r := newRequest(nil, tt.auth...)
			if tt.form != nil {
				// The assertion's own times are testNow-based; the clock decides the overlap.
				a.MaxAssertionAge = 10 * time.Hour
				a.Skew = 10 * time.Hour
				r = newRequest(assertionForm(tt.form(t)[0]))
			}
			c, err := a.Authenticate(r, tokenURL, Methods())
			if ok := err == nil && c != nil; ok != tt.wantOK {
				t.Fatalf("authenticated = %v (%v), want %v", ok, err, tt.wantOK)
			}
		})
	}
}
