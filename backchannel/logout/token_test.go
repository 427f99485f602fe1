package logout

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestTokenClaimsAndHeader(t *testing.T) {
	signer := newSigner(t)
	now := time.Unix(1_767_225_600, 0)
	d := &store.LogoutDelivery{ClientID: "app", Subject: "local-sub", SessionID: "sid-1", JTI: "jti-1"}
	cases := []struct {
		name    string
		client  store.Client
		wantAlg string
		wantSub string
		wantSID bool
	}{
		{"default alg, sub only", store.Client{ID: "app"}, "RS256", "local-sub", false},
		{"session required adds sid", store.Client{ID: "app", BackchannelLogoutSessionRequired: true}, "RS256", "local-sub", true},
		{"client's ID token alg", store.Client{ID: "app", IDTokenSignedResponseAlg: "ES256"}, "ES256", "local-sub", false},
		{"pairwise subject", store.Client{ID: "app", SubjectType: "pairwise", SectorIdentifier: "rp.example", BackchannelLogoutSessionRequired: true}, "RS256", "pairwise:rp.example:local-sub", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token, err := SignToken(signer, &c.client, TokenClaims(testIssuer, &c.client, d, publicSubject, now))
			if err != nil {
				t.Fatal(err)
			}
			hdr, claims := verify(t, signer, token)
			if hdr.Algorithm != c.wantAlg || hdr.ExtraHeaders["typ"] != "logout+jwt" {
				t.Errorf("header alg %s typ %v, want %s logout+jwt", hdr.Algorithm, hdr.ExtraHeaders["typ"], c.wantAlg)
			}
			want := []string{"aud", "events", "exp", "iat", "iss", "jti", "sub"}
			if c.wantSID {
				want = append(want, "sid")
			}
			if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Fatalf("claims %v, want exactly %v (never nonce)", got, want)
			}
			if claims["iss"] != testIssuer || claims["aud"] != "app" || claims["jti"] != "jti-1" || claims["sub"] != c.wantSub {
				t.Errorf("claims %v", claims)
			}
			if c.wantSID && claims["sid"] != "sid-1" {
				t.Errorf("sid = %v", claims["sid"])
			}
			if claims["iat"] != float64(now.Unix()) || claims["exp"] != float64(now.Add(2*time.Minute).Unix()) {
				t.Errorf("iat %v exp %v, want %d and two minutes later", claims["iat"], claims["exp"], now.Unix())
			}
			events, ok := claims["events"].(map[string]any)
			if member, has := events[Event]; !ok || len(events) != 1 || !has || len(member.(map[string]any)) != 0 {
				t.Errorf("events = %v, want exactly {%q: {}}", claims["events"], Event)
			}
		})
	}
}

func TestSignTokenUnknownAlg(t *testing.T) {
	signer := newSigner(t)
	c := &store.Client{ID: "app", IDTokenSignedResponseAlg: "PS512"} // no key for it
	if _, err := SignToken(signer, c, Claims{}); err == nil {
		t.Fatal("signed with an algorithm the server has no key for")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 5 * time.Minute}
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second},
		{10, 5 * time.Minute}, {64, 5 * time.Minute}, {1_000_000, 5 * time.Minute},
	}
	for _, c := range cases {
		if got := b.Ceiling(c.attempt); got != c.want {
			t.Errorf("Ceiling(%d) = %v, want %v", c.attempt, got, c.want)
		}
	}
	if got := (Backoff{}).Ceiling(3); got != 4*DefaultBackoffBase {
		t.Errorf("default Ceiling(3) = %v", got)
	}
	// Full jitter: the wait is drawn from [0, ceiling].
	var asked int64
	pinned := Backoff{Base: time.Second, Cap: time.Minute, Rand: func(n int64) int64 { asked = n; return n / 2 }}
	if got := pinned.Delay(3); got != 2*time.Second || asked != int64(4*time.Second) {
		t.Errorf("Delay(3) = %v (drawn from [0, %v])", got, time.Duration(asked))
	}
	for range 1000 {
		if got := b.Delay(4); got < 0 || got > 8*time.Second {
			t.Fatalf("Delay(4) = %v, outside [0, 8s]", got)
		}
	}
}
