package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// TestIntegrationMetrics: a real Caddy serves the bundle's metrics on its admin endpoint's
// /metrics, beside Caddy's own, with the traffic of the AS and the gateway counted.
func TestIntegrationMetrics(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api {
			scopes read write
		}
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			scopes read write
			resources %[1]s/api
		}
	}
	oauth_resource /api/* {
		resource %[1]s/api
		issuer %[1]s
		scopes write
	}
	reverse_proxy %[4]s
}`, tc.issuer, tc.storage(), testSecret, upstream.URL)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	writer := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "read write")
	reader := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "read")
	if status, _ := postForm(t, tc.issuer+"/token", "demo-service", "wrong-secret", url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", status)
	}
	for _, call := range []struct {
		token string
		want  int
	}{{writer, 200}, {writer, 200}, {"", 401}, {reader, 403}, {"not-a-token", 401}} {
		resp, _ := callAPI(t, tc.issuer+"/api/things", call.token, nil)
		if resp.StatusCode != call.want {
			t.Fatalf("token %.10q: %d, want %d", call.token, resp.StatusCode, call.want)
		}
	}

	families := scrape(t, "http://"+tc.admin+"/metrics")
	issuer := map[string]string{"issuer": tc.issuer}
	resource := map[string]string{"resource": tc.issuer + "/api"}
	for _, want := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"caddy_oauth_tokens_issued_total", merge(issuer, map[string]string{"grant_type": "client_credentials", "format": "jwt", "binding": "none", "client_id": ""}), 2},
		{"caddy_oauth_token_errors_total", merge(issuer, map[string]string{"error": "invalid_client"}), 1},
		{"caddy_oauth_request_duration_seconds", merge(issuer, map[string]string{"endpoint": "token", "code": "2xx"}), 2},
		{"caddy_oauth_active_sessions", issuer, 0},
		{"caddy_oauth_signing_key_age_seconds", merge(issuer, map[string]string{"alg": "ES256"}), 0},
		{"caddy_oauth_outbox_depth", issuer, 0},
		{"caddy_oauth_gateway_decisions_total", merge(resource, map[string]string{"decision": "allow", "reason": "ok"}), 2},
		{"caddy_oauth_gateway_decisions_total", merge(resource, map[string]string{"decision": "401", "reason": "missing_credentials"}), 1},
		{"caddy_oauth_gateway_decisions_total", merge(resource, map[string]string{"decision": "401", "reason": "invalid_token"}), 1},
		{"caddy_oauth_gateway_decisions_total", merge(resource, map[string]string{"decision": "403", "reason": "insufficient_scope"}), 1},
		{"caddy_oauth_gateway_validation_duration_seconds", resource, 5},
		{"caddy_oauth_gateway_dpop_replay_entries", resource, 0},
		{"caddy_config_last_reload_successful", nil, 1}, // Caddy's own, from the same registry
	} {
		if got, ok := sampleValue(families[want.name], want.labels); !ok || got < want.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", want.name, want.labels, got, ok, want.min)
		}
	}
}

// TestIntegrationDPoPReplayMetric: a real Caddy refuses a replayed DPoP proof, and its
// metrics endpoint counts the refusal with its reason. A reload keeps the replay guard (the
// proof stays refused as a replay, and unused proofs from before the reload still pass);
// a reload that makes a new guard (another capacity) refuses the proofs issued before it
// as "forgotten", and fresh ones pass.
func TestIntegrationDPoPReplayMetric(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	config := func(capacity int) string {
		return tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			resources %[1]s/api
		}
	}
	oauth_resource /api/* {
		resource %[1]s/api
		issuer %[1]s
		require_dpop
		dpop_replay_capacity %[5]d
	}
	reverse_proxy %[4]s
}`, tc.issuer, tc.storage(), testSecret, upstream.URL, capacity)
	}
	if err := tc.load(t, config(1000)); err != nil {
		t.Fatal(err)
	}
	prover := newDPoPProver(t)
	token := prover.token(tc.issuer, "demo-service", testSecret, tc.issuer+"/api")
	api := tc.issuer + "/api/things"
	call := func(proof string) *http.Response {
		resp, _ := callAPI(t, api, "", http.Header{"Authorization": {"DPoP " + token}, "Dpop": {proof}})
		return resp
	}
	resource := map[string]string{"resource": tc.issuer + "/api"}
	counter := func(name string, labels map[string]string) float64 {
		v, _ := sampleValue(scrape(t, "http://"+tc.admin+"/metrics")[name], merge(resource, labels))
		return v
	}
	replays := func(reason string) float64 {
		return counter("caddy_oauth_gateway_dpop_replays_total", map[string]string{"reason": reason})
	}
	refusals := func() float64 {
		return counter("caddy_oauth_gateway_decisions_total", map[string]string{"decision": "401", "reason": "invalid_dpop_proof"})
	}
	wantRefused := func(resp *http.Response, what string) {
		t.Helper()
		chall := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(chall, `error="invalid_dpop_proof"`) {
			t.Fatalf("%s: status %d, WWW-Authenticate %q, want 401 invalid_dpop_proof", what, resp.StatusCode, chall)
		}
	}
	wantPassed := func(resp *http.Response, what string) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", what, resp.StatusCode)
		}
	}

	replayed0, refused0 := replays("replay"), refusals()
	used := prover.proof(http.MethodGet, api, token)
	wantPassed(call(used), "first use")
	wantRefused(call(used), "replay")
	if got := replays("replay"); got != replayed0+1 {
		t.Errorf(`gateway_dpop_replays_total{reason="replay"} = %v, want %v`, got, replayed0+1)
	}
	if got := refusals(); got != refused0+1 {
		t.Errorf(`gateway_decisions_total{decision="401",reason="invalid_dpop_proof"} = %v, want %v`, got, refused0+1)
	}

	// A reload with the same guard settings keeps the guard: what it saw stays refused, and a
	// proof signed before the reload is not refused for its age.
	unused := prover.proof(http.MethodGet, api, token)
	if err := tc.load(t, config(1000)); err != nil {
		t.Fatal(err)
	}
	wantRefused(call(used), "replay after a reload")
	wantPassed(call(unused), "a proof from before a reload that kept the guard")
	if got := replays("replay"); got != replayed0+2 {
		t.Errorf(`after the reload: gateway_dpop_replays_total{reason="replay"} = %v, want %v`, got, replayed0+2)
	}

	// A new capacity makes a new guard, which knows nothing of the old one's proofs: those of
	// a second before it are refused as forgotten.
	old := prover.proof(http.MethodGet, api, token)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	forgotten0 := replays("forgotten")
	if err := tc.load(t, config(2000)); err != nil {
		t.Fatal(err)
	}
	wantRefused(call(used), "a used proof after a new guard")
	wantRefused(call(old), "an older proof after a new guard")
	if got := replays("forgotten"); got != forgotten0+2 {
		t.Errorf(`gateway_dpop_replays_total{reason="forgotten"} = %v, want %v`, got, forgotten0+2)
	}
	fresh := prover.proof(http.MethodGet, api, token)
	wantPassed(call(fresh), "a fresh proof after a new guard")
	wantRefused(call(fresh), "its replay")
}

// TestDashboardNamesOnlyRealMetrics: every metric the shipped Grafana dashboard queries is
// one the bundle defines.
func TestDashboardNamesOnlyRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../dashboards/caddy-oauth.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() { bundleMetrics.Describe(ch); close(ch) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			defined[m[1]] = true
		}
	}
	if len(defined) < 15 {
		t.Fatalf("only %d metrics described: %v", len(defined), defined)
	}
	name := regexp.MustCompile(`caddy_oauth_[a-z_]+`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, n := range name.FindAllString(target.Expr, -1) {
				base := n
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if trimmed, ok := strings.CutSuffix(n, suffix); ok && defined[trimmed] {
						base = trimmed
					}
				}
				if !defined[base] {
					t.Errorf("panel %q queries %s, which no collector defines", p.Title, n)
				}
				queried[base] = true
			}
		}
	}
	for n := range defined {
		if !queried[n] {
			t.Errorf("metric %s is on no dashboard panel", n)
		}
	}
}

func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// sampleValue returns the value of the first sample of f whose labels include want (a
// histogram's sample count).
func sampleValue(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestIntegrationIssuerBreaker: a real Caddy gateway in front of a remote issuer whose
// introspection endpoint stops answering. The first uncached opaque tokens wait for the
// timeout and get 503; after that the circuit breaker answers 503 at once, with Retry-After,
// while cached tokens still pass; the metrics show it open and count the fast failures; once
// the issuer answers again, tokens pass after the cool-down.
func TestIntegrationIssuerBreaker(t *testing.T) {
	const timeout = 400 * time.Millisecond
	introspectionTimeout, issuerBreaker.Failures, issuerBreaker.CoolDown = timeout, 2, time.Second
	t.Cleanup(func() { introspectionTimeout, issuerBreaker.Failures, issuerBreaker.CoolDown = 0, 0, 0 })
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	remoteAS := startRemoteAS(t)
	gateway := "http://127.0.0.1:" + freePort(t)
	remoteAS.configure(t, authserver.Config{
		Resources: []authserver.ResourceConfig{{Identifier: gateway + "/opaque", AccessTokenFormat: "opaque"}},
		Clients: []authserver.ClientConfig{
			{ID: "remote-app", Secret: testSecret, GrantTypes: []string{"client_credentials"}, Resources: []string{gateway + "/opaque"}},
			{ID: "gateway", Secret: gatewaySecret, GrantTypes: []string{"refresh_token"}, Introspects: []string{gateway + "/opaque"}},
		},
	})
	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_resource /opaque/* {
		resource %[1]s/opaque
		issuer %[2]s
		introspection_client gateway %[3]s
	}
	reverse_proxy %[4]s
}`, gateway, remoteAS.issuer, gatewaySecret, upstream.URL)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, 5)
	for i := range tokens {
		tokens[i] = requestToken(t, remoteAS.issuer+"/token", "remote-app", testSecret, gateway+"/opaque", "")
	}
	call := func(token string) (*http.Response, time.Duration) {
		start := time.Now()
		resp, _ := callAPI(t, gateway+"/opaque/x", token, nil)
		return resp, time.Since(start)
	}
	if resp, _ := call(tokens[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("issuer up: status %d", resp.StatusCode)
	}

	remoteAS.hangIntrospection.Store(true)
	for _, tok := range tokens[1:3] {
		if resp, took := call(tok); resp.StatusCode != http.StatusServiceUnavailable || took < timeout {
			t.Fatalf("issuer hanging: status %d after %v, want 503 after the %v timeout", resp.StatusCode, took, timeout)
		}
	}
	resp, took := call(tokens[3])
	if resp.StatusCode != http.StatusServiceUnavailable || took > timeout/2 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("breaker open: status %d after %v, Retry-After %q; want 503 at once with Retry-After 1",
			resp.StatusCode, took, resp.Header.Get("Retry-After"))
	}
	if resp, _ := call(tokens[0]); resp.StatusCode != http.StatusOK {
		t.Errorf("a cached token while the breaker is open: status %d, want 200", resp.StatusCode)
	}
	families := scrape(t, "http://"+tc.admin+"/metrics")
	endpoint := map[string]string{"issuer": remoteAS.issuer, "endpoint": "introspection"}
	if v, ok := sampleValue(families["caddy_oauth_gateway_issuer_circuit_state"], endpoint); !ok || v != 2 {
		t.Errorf("circuit state = %v (found %v), want 2 (open)", v, ok)
	}
	if v, _ := sampleValue(families["caddy_oauth_gateway_issuer_fast_failures_total"], endpoint); v != 1 {
		t.Errorf("fast failures = %v, want 1", v)
	}
	if v, _ := sampleValue(families["caddy_oauth_gateway_decisions_total"], map[string]string{"resource": gateway + "/opaque", "decision": "503"}); v != 3 {
		t.Errorf("503 decisions = %v, want 3", v)
	}

	// The issuer answers again; after the cool-down the next request is the probe.
	remoteAS.hangIntrospection.Store(false)
	time.Sleep(1100 * time.Millisecond)
	for _, tok := range tokens[3:] {
		if resp, _ := call(tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("issuer back, after the cool-down: status %d, want 200", resp.StatusCode)
		}
	}
	families = scrape(t, "http://"+tc.admin+"/metrics")
	if v, ok := sampleValue(families["caddy_oauth_gateway_issuer_circuit_state"], endpoint); !ok || v != 0 {
		t.Errorf("circuit state after recovery = %v (found %v), want 0 (closed)", v, ok)
	}
}
