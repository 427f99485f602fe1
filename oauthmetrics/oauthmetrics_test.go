package oauthmetrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

type fakeStats struct {
	st  authserver.Stats
	err error
}

func (f fakeStats) Stats(context.Context) (authserver.Stats, error) { return f.st, f.err }

func TestCountersAndLabels(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(reg); err != nil {
		t.Fatalf("registering twice with one registry: %v", err)
	}
	anon, perClient := s.Issuer("https://as", false), s.Issuer("https://as", true)
	tok := authserver.TokenIssued{GrantType: "client_credentials", Resource: "https://api", Format: "jwt", Binding: "dpop", ClientID: "svc"}
	anon.TokenIssued(tok)
	perClient.TokenIssued(tok)
	anon.TokenRefused("client_credentials", "invalid_client")
	anon.Served("token", 200, 3*time.Millisecond)
	anon.Served("token", 503, time.Millisecond)

	if got := testutil.ToFloat64(s.tokensIssued.WithLabelValues("https://as", "client_credentials", "https://api", "jwt", "dpop", "")); got != 1 {
		t.Errorf("tokens issued without client label = %v", got)
	}
	if got := testutil.ToFloat64(s.tokensIssued.WithLabelValues("https://as", "client_credentials", "https://api", "jwt", "dpop", "svc")); got != 1 {
		t.Errorf("tokens issued with client label = %v", got)
	}
	if got := testutil.ToFloat64(s.tokenErrors.WithLabelValues("https://as", "client_credentials", "invalid_client")); got != 1 {
		t.Errorf("token errors = %v", got)
	}
	if n := testutil.CollectAndCount(s.requestDuration); n != 2 {
		t.Errorf("request duration series = %d, want 2 (2xx and 5xx)", n)
	}

	g := s.Gateway("https://api")
	g.Allowed(50 * time.Microsecond)
	g.Refused(401, "invalid_token", time.Microsecond)
	g.Refused(401, "use_dpop_nonce", time.Microsecond)
	g.NonceChallenge()
	var none *Gateway
	none.Allowed(time.Second) // a handler provisioned without metrics records nothing
	if got := testutil.ToFloat64(s.decisions.WithLabelValues("https://api", "allow", "ok")); got != 1 {
		t.Errorf("allowed = %v", got)
	}
	if got := testutil.ToFloat64(s.decisions.WithLabelValues("https://api", "401", "invalid_token")); got != 1 {
		t.Errorf("refused invalid_token = %v", got)
	}
	onFetch, onCache := s.RemoteIssuer("https://remote")
	onFetch(nil)
	onFetch(errors.New("down"))
	onCache("hit")
	onCache("hit")
	if got := testutil.ToFloat64(s.jwksFetches.WithLabelValues("https://remote", "error")); got != 1 {
		t.Errorf("jwks failures = %v", got)
	}
	if got := testutil.ToFloat64(s.introspectCache.WithLabelValues("https://remote", "hit")); got != 2 {
		t.Errorf("cache hits = %v", got)
	}
}

func TestGaugesReadTheCurrentSources(t *testing.T) {
	s := New()
	created := time.Now().Add(-time.Hour)
	old := s.AddIssuer("https://as", fakeStats{st: authserver.Stats{ActiveSessions: 1}})
	// A reload: the new generation's server replaces the old one before the old is cleaned up.
	s.AddIssuer("https://as", fakeStats{st: authserver.Stats{ActiveSessions: 7, PendingLogoutDeliveries: 2,
		KeyCreated: map[string]time.Time{"ES256": created}}})
	old() // must not remove the newer source
	s.AddIssuer("https://down", fakeStats{err: errors.New("store down"), st: authserver.Stats{KeyCreated: map[string]time.Time{"RS256": created}}})
	s.AddReplayGuard("https://api", func() int { return 42 })
	s.AddRevocationStream("https://remote", func() time.Time { return time.Now().Add(-3 * time.Second) })
	s.AddRevocationStream("https://never", func() time.Time { return time.Time{} })
	s.AddBreaker("https://remote", "introspection", func() int { return 2 })
	onReject := s.FastFailure("https://remote", "introspection")
	onReject()
	onReject()
	s.AddBreaker("https://remote", "jwks", func() int { return 0 })() // removed at once

	want := `
# HELP caddy_oauth_active_sessions Unexpired login sessions (every instance sharing the store).
# TYPE caddy_oauth_active_sessions gauge
caddy_oauth_active_sessions{issuer="https://as"} 7
# HELP caddy_oauth_gateway_dpop_replay_entries DPoP proof jtis the gateway's in-memory replay guard remembers.
# TYPE caddy_oauth_gateway_dpop_replay_entries gauge
caddy_oauth_gateway_dpop_replay_entries{resource="https://api"} 42
# HELP caddy_oauth_gateway_issuer_circuit_state Circuit breaker of a remote issuer's endpoint (introspection, jwks): 0 closed, 1 half-open (one probe), 2 open (requests needing it fail at once).
# TYPE caddy_oauth_gateway_issuer_circuit_state gauge
caddy_oauth_gateway_issuer_circuit_state{endpoint="introspection",issuer="https://remote"} 2
# HELP caddy_oauth_outbox_depth Back-channel deliveries waiting (kind logout).
# TYPE caddy_oauth_outbox_depth gauge
caddy_oauth_outbox_depth{issuer="https://as",kind="logout"} 2
`
	if err := testutil.CollectAndCompare(s.gauges, strings.NewReader(want),
		"caddy_oauth_active_sessions", "caddy_oauth_gateway_dpop_replay_entries", "caddy_oauth_outbox_depth",
		"caddy_oauth_gateway_issuer_circuit_state"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(s.fastFailures.WithLabelValues("https://remote", "introspection")); got != 2 {
		t.Errorf("fast failures = %v, want 2", got)
	}
	ages := map[string]float64{}
	lags := 0
	ch := make(chan prometheus.Metric, 16)
	s.gauges.Collect(ch)
	close(ch)
	for m := range ch {
		desc := m.Desc().String()
		pb := new(dtoMetric)
		_ = m.Write(&pb.Metric)
		switch {
		case strings.Contains(desc, "signing_key_age_seconds"):
			ages[pb.label("issuer")] = pb.Metric.GetGauge().GetValue()
		case strings.Contains(desc, "revocation_stream_lag_seconds"):
			lags++
			if v := pb.Metric.GetGauge().GetValue(); v < 2 || v > 60 {
				t.Errorf("stream lag = %v", v)
			}
		}
	}
	if ages["https://as"] < 3500 || ages["https://down"] < 3500 {
		t.Errorf("key ages = %v: a failing store must not hide the key age", ages)
	}
	if lags != 1 {
		t.Errorf("%d lag series, want 1 (a stream that never answered has none)", lags)
	}
}
