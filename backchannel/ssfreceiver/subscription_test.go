package ssfreceiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver/ssftest"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

func startSubscription(t *testing.T, ft *ssftest.Transmitter, mod func(*Config)) (*Subscription, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := Config{Issuer: ft.Issuer, ClientID: ft.ClientID, ClientSecret: ft.Secret, Keys: ft.Keys(),
		AllowPrivate: true, Logger: zap.New(core), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestSETVerification: each bad SET is ignored, logged with its jti and reason, and reported
// in setErrs (so it is acknowledged and does not block the stream); valid ones are applied.
func TestSETVerification(t *testing.T) {
	ft := ssftest.New(t)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	payload, err := secevent.Encode(ft.Issuer, []string{ft.ClientID}, time.Now(), "none-1",
		secevent.Revocation{Kind: secevent.KindJTI, Value: "v-none", At: time.Now(), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, logs := startSubscription(t, ft, nil)

	cases := []struct {
		name    string
		jti     string
		jws     string
		value   string // must not be revoked after
		errCode string
	}{
		{"forged signature", "forged", ft.Sign(ssftest.Spec{JTI: "forged", Value: "v-forged", Signer: otherKey}), "v-forged", errInvalidKey},
		{"unknown kid", "kid", ft.Sign(ssftest.Spec{JTI: "kid", Value: "v-kid", KID: "nope"}), "v-kid", errInvalidKey},
		{"wrong typ", "typ", ft.Sign(ssftest.Spec{JTI: "typ", Value: "v-typ", Typ: "JWT"}), "v-typ", errInvalidRequest},
		{"no typ", "notyp", ft.Sign(ssftest.Spec{JTI: "notyp", Value: "v-notyp", Typ: "-"}), "v-notyp", errInvalidRequest},
		{"alg none", "none-1", ssftest.NoneJWS(payload), "v-none", errInvalidRequest},
		{"HS256", "hs", ft.Sign(ssftest.Spec{JTI: "hs", Value: "v-hs", Alg: "HS256", Signer: []byte("0123456789abcdef0123456789abcdef")}), "v-hs", errInvalidRequest},
		{"wrong iss", "iss", ft.Sign(ssftest.Spec{JTI: "iss", Value: "v-iss", Issuer: "https://evil.example"}), "v-iss", errInvalidIssuer},
		{"other aud", "aud", ft.Sign(ssftest.Spec{JTI: "aud", Value: "v-aud", Aud: []string{"gw-2"}}), "v-aud", errInvalidAudience},
		{"expired", "exp", ft.Sign(ssftest.Spec{JTI: "exp", Value: "v-exp", Until: time.Now().Add(-time.Minute)}), "v-exp", errInvalidRequest},
		{"malformed payload", "bad", ft.Sign(ssftest.Spec{JTI: "bad", Payload: []byte(`{"iss":1}`)}), "", errInvalidRequest},
		{"jti differs from key", "key", ft.Sign(ssftest.Spec{JTI: "other-jti", Value: "v-key"}), "v-key", errInvalidRequest},
		{"not a JWS", "junk", "a.b", "", errInvalidRequest},
	}
	for _, c := range cases {
		ft.Push(c.jti, c.jws)
	}
	ft.Push("good", ft.Sign(ssftest.Spec{JTI: "good", Value: "v-good"}))
	ssftest.WaitFor(t, "all SETs acknowledged", func() bool {
		acked, _, _, queued := ft.State()
		return queued == 0 && acked["good"]
	})
	if !s.Set().Has(secevent.KindJTI, "v-good") {
		t.Error("the valid SET was not applied")
	}
	_, errs, _, _ := ft.State()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.value != "" && s.Set().Has(secevent.KindJTI, c.value) {
				t.Errorf("refused SET applied")
			}
			if e, ok := errs[c.jti]; !ok || e.Err != c.errCode {
				t.Errorf("setErrs[%s] = %+v, want err %s", c.jti, e, c.errCode)
			}
			found := logs.FilterMessage("revocation SET ignored").FilterField(zap.String("jti", c.jti))
			if found.Len() != 1 || found.All()[0].Level != zapcore.WarnLevel {
				t.Errorf("want one Warn log for jti %s, got %d", c.jti, found.Len())
			}
		})
	}
	if _, ok := errs["good"]; ok {
		t.Error("the valid SET has a setErr")
	}

	// Replay: the same valid SET again (a transmitter resending it, or an attacker) is ignored.
	ft.Push("good", ft.Sign(ssftest.Spec{JTI: "good", Value: "v-replayed"}))
	ssftest.WaitFor(t, "replay acknowledged", func() bool { _, errs, _, q := ft.State(); _, ok := errs["good"]; return ok && q == 0 })
	if s.Set().Has(secevent.KindJTI, "v-replayed") {
		t.Error("a replayed jti was applied")
	}
	if logs.FilterMessage("revocation SET ignored").FilterField(zap.String("reason", "replayed jti")).Len() != 1 {
		t.Error("replay not logged")
	}
}

// TestRevocationKindsMatchTokens: each kind of revocation refuses exactly the tokens it covers.
func TestRevocationKindsMatchTokens(t *testing.T) {
	ft := ssftest.New(t)
	var forgotten atomic.Value
	s, _ := startSubscription(t, ft, func(c *Config) {
		c.OnTokenHash = func(d [sha256.Size]byte) { forgotten.Store(d) }
	})
	opaque := "opaque-token-value"
	ft.Push("e1", ft.Sign(ssftest.Spec{JTI: "e1", Kind: secevent.KindJTI, Value: "jti-1"}))
	ft.Push("e2", ft.Sign(ssftest.Spec{JTI: "e2", Kind: secevent.KindTokenHash, Value: hashOf(opaque)}))
	ft.Push("e3", ft.Sign(ssftest.Spec{JTI: "e3", Kind: secevent.KindGrant, Value: "grant-1"}))
	ft.Push("e4", ft.Sign(ssftest.Spec{JTI: "e4", Kind: secevent.KindSession, Value: "sid-1"}))
	cutoff := time.Now().Truncate(time.Second).Add(-time.Minute)
	ft.Push("e5", ft.Sign(ssftest.Spec{JTI: "e5", Kind: secevent.KindClient, Value: "client-1", At: cutoff}))
	ssftest.WaitFor(t, "five revocations", func() bool { return s.Set().Len() == 5 })
	if d, _ := forgotten.Load().([sha256.Size]byte); d != sha256.Sum256([]byte(opaque)) {
		t.Error("OnTokenHash not called with the opaque token's digest")
	}
	info := func(jti string, claims map[string]any) *rsvalidate.TokenInfo {
		return &rsvalidate.TokenInfo{JTI: jti, Claims: claims}
	}
	for _, c := range []struct {
		name    string
		token   string
		info    *rsvalidate.TokenInfo
		revoked bool
	}{
		{"revoked jti", "a.b.c", info("jti-1", nil), true},
		{"other jti", "a.b.c", info("jti-2", nil), false},
		{"revoked opaque", opaque, info("", nil), true},
		{"other opaque", opaque + "x", info("", nil), false},
		{"revoked grant", "a.b.c", info("j", map[string]any{"grant_id": "grant-1"}), true},
		{"other grant", "a.b.c", info("j", map[string]any{"grant_id": "grant-2"}), false},
		{"revoked session", "a.b.c", info("j", map[string]any{"sid": "sid-1", "grant_id": "g"}), true},
		{"other session", "a.b.c", info("j", map[string]any{"sid": "sid-2"}), false},
		{"non-string claim", "a.b.c", info("j", map[string]any{"sid": 5}), false},
		{"client's token from before its cut-off", opaque + "c", &rsvalidate.TokenInfo{ClientID: "client-1", IssuedAt: cutoff.Add(-time.Second)}, true},
		{"client's token from the cut-off's second", "a.b.c", &rsvalidate.TokenInfo{ClientID: "client-1", IssuedAt: cutoff}, true},
		{"client's token from after its cut-off", "a.b.c", &rsvalidate.TokenInfo{ClientID: "client-1", IssuedAt: cutoff.Add(time.Second)}, false},
		{"another client's token", "a.b.c", &rsvalidate.TokenInfo{ClientID: "client-2", IssuedAt: cutoff.Add(-time.Second)}, false},
	} {
		if got := s.Revoked(c.token, c.info); got != c.revoked {
			t.Errorf("%s: Revoked = %v, want %v", c.name, got, c.revoked)
		}
	}
}

// TestBackoffAndResume: an outage keeps the last state; the receiver retries and, once the
// transmitter answers again, applies what was revoked meanwhile on the same stream.
func TestBackoffAndResume(t *testing.T) {
	ft := ssftest.New(t)
	s, logs := startSubscription(t, ft, nil)
	ft.Push("e1", ft.Sign(ssftest.Spec{JTI: "e1", Value: "before"}))
	ssftest.WaitFor(t, "first revocation", func() bool { return s.Set().Has(secevent.KindJTI, "before") })
	ft.SetDown(true)
	ssftest.WaitFor(t, "the outage to be noticed", func() bool {
		return logs.FilterMessage("revocation stream unreachable; keeping the last known revocations and retrying").Len() > 0
	})
	if !s.Set().Has(secevent.KindJTI, "before") {
		t.Error("state lost during the outage")
	}
	ft.Push("e2", ft.Sign(ssftest.Spec{JTI: "e2", Value: "during"}))
	time.Sleep(100 * time.Millisecond) // several retries fail meanwhile
	ft.SetDown(false)
	ssftest.WaitFor(t, "revocation made during the outage", func() bool { return s.Set().Has(secevent.KindJTI, "during") })
	if _, _, created, _ := ft.State(); created != 1 {
		t.Errorf("created %d streams, want 1 (resume on the same stream)", created)
	}
	ssftest.WaitFor(t, "recovery log", func() bool { return logs.FilterMessage("revocation stream reachable again").Len() == 1 })
}

// TestStreamGoneCreatesNewStream: a 404 on poll makes the receiver create a new stream.
func TestStreamGoneCreatesNewStream(t *testing.T) {
	ft := ssftest.New(t)
	s, _ := startSubscription(t, ft, nil)
	ssftest.WaitFor(t, "first stream", func() bool { _, _, c, _ := ft.State(); return c == 1 })
	ft.ForgetStreams()
	ssftest.WaitFor(t, "second stream", func() bool { _, _, c, _ := ft.State(); return c == 2 })
	ft.Push("e1", ft.Sign(ssftest.Spec{JTI: "e1", Value: "after"}))
	ssftest.WaitFor(t, "revocation on the new stream", func() bool { return s.Set().Has(secevent.KindJTI, "after") })
}

// TestFailClosedAfter: with FailClosedAfter, Err reports ErrUnavailable once the stream has
// been down that long, and nil again after it recovers; 0 never fails.
func TestFailClosedAfter(t *testing.T) {
	for _, c := range []struct {
		name       string
		failAfter  time.Duration
		wantClosed bool
	}{
		{"fail closed", 200 * time.Millisecond, true},
		{"keep serving", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ft := ssftest.New(t)
			s, _ := startSubscription(t, ft, func(cfg *Config) { cfg.FailClosedAfter = c.failAfter })
			ssftest.WaitFor(t, "first poll", func() bool { return !s.LastSuccess().IsZero() })
			if err := s.Err(); err != nil {
				t.Fatalf("healthy stream: Err = %v", err)
			}
			ft.SetDown(true)
			if c.wantClosed {
				ssftest.WaitFor(t, "fail closed", func() bool { return errors.Is(s.Err(), rsvalidate.ErrUnavailable) })
			} else {
				time.Sleep(300 * time.Millisecond)
				if err := s.Err(); err != nil {
					t.Fatalf("FailClosedAfter 0: Err = %v", err)
				}
			}
			ft.SetDown(false)
			ssftest.WaitFor(t, "recovery", func() bool { return s.Err() == nil })
		})
	}
}

// TestWrongCredentials: a 401 from the transmitter is a failure retried with backoff, logged.
func TestWrongCredentials(t *testing.T) {
	ft := ssftest.New(t)
	_, logs := startSubscription(t, ft, func(c *Config) { c.ClientSecret = "wrong" })
	ssftest.WaitFor(t, "the refusal logged", func() bool {
		return logs.FilterMessage("revocation stream unreachable; keeping the last known revocations and retrying").Len() > 0
	})
	if _, _, created, _ := ft.State(); created != 0 {
		t.Errorf("a stream was created with wrong credentials")
	}
}

func TestBackoffBounds(t *testing.T) {
	for failures := 1; failures < 12; failures++ {
		d := backoff(failures, time.Second, 30*time.Second)
		want := min(time.Second<<(failures-1), 30*time.Second)
		if d < want/2 || d > want {
			t.Errorf("failures %d: %v outside [%v, %v]", failures, d, want/2, want)
		}
	}
}

// TestCloseDeletesStream: a subscription that stops (config reload, shutdown) deletes its
// stream, and a per-gateway view fails closed on its own bound.
func TestCloseDeletesStream(t *testing.T) {
	ft := ssftest.New(t)
	s, _ := startSubscription(t, ft, nil)
	ssftest.WaitFor(t, "first poll", func() bool { return !s.LastSuccess().IsZero() })
	if n := ft.LiveStreams(); n != 1 {
		t.Fatalf("%d streams", n)
	}
	strict := s.WithFailClosedAfter(50 * time.Millisecond)
	ft.SetDown(true)
	ssftest.WaitFor(t, "the strict view fails closed", func() bool { return errors.Is(strict.Err(), rsvalidate.ErrUnavailable) })
	if err := s.Err(); err != nil {
		t.Errorf("the subscription's own bound (0) fails: %v", err)
	}
	ft.SetDown(false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := ft.LiveStreams(); n != 0 {
		t.Errorf("%d streams left after Close", n)
	}
}

// TestKeysUnavailableLeavesBatchUnacknowledged: a SET that cannot be verified because the
// issuer's keys cannot be fetched is not acknowledged (nor reported as an error), so the
// transmitter sends it again and it is applied once the keys are back.
func TestKeysUnavailableLeavesBatchUnacknowledged(t *testing.T) {
	ft := ssftest.New(t)
	ft.SetJWKSDown(true)
	s, logs := startSubscription(t, ft, nil)
	ft.Push("e1", ft.Sign(ssftest.Spec{JTI: "e1", Value: "v1"}))
	ssftest.WaitFor(t, "the retry log", func() bool {
		return logs.FilterMessage("revocation SET not verifiable yet; the batch will be received again").Len() >= 2
	})
	if acked, errs, _, _ := ft.State(); acked["e1"] || len(errs) != 0 {
		t.Fatalf("acked %v, setErrs %v while the keys are unavailable", acked, errs)
	}
	ft.SetJWKSDown(false)
	ssftest.WaitFor(t, "the revocation applied", func() bool { return s.Set().Has(secevent.KindJTI, "v1") })
	ssftest.WaitFor(t, "the SET acknowledged", func() bool { acked, _, _, _ := ft.State(); return acked["e1"] })
}
