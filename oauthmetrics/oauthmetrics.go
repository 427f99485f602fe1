// Package oauthmetrics turns what the authorization server and the gateway observe into
// Prometheus metrics. One Set lives for the whole process, so counters survive config
// reloads; each config generation registers it with its own registry (Caddy's). Labels are
// bounded: issuers, resource identifiers, grant types, OAuth error codes, endpoint names,
// algorithms — a client_id only where the operator asked for it. It does not import Caddy.
package oauthmetrics

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

const namespace = "caddy_oauth"

// Set is every collector of the bundle.
type Set struct {
	tokensIssued    *prometheus.CounterVec
	tokenErrors     *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	introspections  *prometheus.CounterVec
	signIns         *prometheus.CounterVec
	keyRotations    *prometheus.CounterVec
	internalErrors  *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	validation      *prometheus.HistogramVec
	jwksFetches     *prometheus.CounterVec
	introspectCache *prometheus.CounterVec
	dpopReplays     *prometheus.CounterVec
	nonceChallenges *prometheus.CounterVec
	fastFailures    *prometheus.CounterVec
	gauges          *gaugeCollector
	collectors      []prometheus.Collector
}

// New makes a Set; register it with Register.
func New() *Set {
	s := &Set{
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "tokens_issued_total",
			Help: "Access tokens issued, by grant type, resource, format (jwt, opaque) and binding (none, dpop, mtls); client_id is empty unless metrics per client are enabled."},
			[]string{"issuer", "grant_type", "resource", "format", "binding", "client_id"}),
		tokenErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "token_errors_total",
			Help: "Token endpoint refusals, by grant type and OAuth error code."},
			[]string{"issuer", "grant_type", "error"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "request_duration_seconds",
			Help:    "Time to answer a request to an authorization server endpoint, by endpoint and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"issuer", "endpoint", "code"}),
		introspections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "introspections_total",
			Help: "Introspection answers: active, inactive, or refused (the caller was not authenticated or the request was bad)."},
			[]string{"issuer", "result"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "sign_ins_total",
			Help: "Password sign-ins, by outcome: success, invalid_credentials, throttled, error."},
			[]string{"issuer", "outcome"}),
		keyRotations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "key_rotations_total",
			Help: "Signing or encryption keys replaced (scheduled or asked for), by algorithm."},
			[]string{"issuer", "alg"}),
		internalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "internal_errors_total",
			Help: "Requests that failed inside the server and were answered 5xx, by endpoint: the store failing, most often."},
			[]string{"issuer", "endpoint"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "deliveries_total",
			Help: "Back-channel delivery attempts (kind logout or ciba), by result: delivered, retry, dropped."},
			[]string{"issuer", "kind", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_decisions_total",
			Help: "Gateway decisions, by resource, decision (allow, 400, 401, 403, 503) and reason (the OAuth error code; missing_credentials; unavailable)."},
			[]string{"resource", "decision", "reason"}),
		validation: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "gateway_validation_duration_seconds",
			Help:    "Time the gateway spent deciding on a request (token, DPoP proof, policy, exchange), by resource.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1}},
			[]string{"resource"}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_jwks_fetches_total",
			Help: "JWKS fetches from remote issuers, by result (ok, error)."},
			[]string{"issuer", "result"}),
		introspectCache: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_introspection_cache_total",
			Help: "Introspection answers at the gateway by where they came from: hit, miss (asked the issuer), stale (issuer failing; cached answer served)."},
			[]string{"issuer", "result"}),
		dpopReplays: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_dpop_replays_total",
			Help: "DPoP proofs the replay guard refused, by reason: replay (the jti was used before), forgotten (issued before the guard's memory begins: a restart), full (the guard is at capacity)."},
			[]string{"resource", "reason"}),
		nonceChallenges: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_dpop_nonce_challenges_total",
			Help: "Requests answered use_dpop_nonce (a fresh server nonce demanded)."},
			[]string{"resource"}),
		fastFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gateway_issuer_fast_failures_total",
			Help: "Calls to a remote issuer's endpoint (introspection, jwks) failed at once because its circuit breaker was open: the requests that needed them got 503 without waiting."},
			[]string{"issuer", "endpoint"}),
		gauges: newGaugeCollector(),
	}
	s.collectors = []prometheus.Collector{s.tokensIssued, s.tokenErrors, s.requestDuration, s.introspections,
		s.signIns, s.keyRotations, s.internalErrors, s.deliveries, s.decisions, s.validation, s.jwksFetches,
		s.introspectCache, s.dpopReplays, s.nonceChallenges, s.fastFailures, s.gauges}
	return s
}

// Register adds the Set to reg; registering twice with one registry is not an error.
func (s *Set) Register(reg prometheus.Registerer) error {
	for _, c := range s.collectors {
		if err := reg.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return err
		}
	}
	return nil
}

// Describe sends the descriptors of every metric of the Set (the dashboard test reads them).
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.collectors {
		c.Describe(ch)
	}
}

// Issuer returns the authserver.Observer of one issuer. perClient fills the client_id label of
// tokens_issued_total (one series per client: enable it only with a bounded set of clients).
func (s *Set) Issuer(issuer string, perClient bool) authserver.Observer {
	return &issuerObserver{s: s, issuer: issuer, perClient: perClient}
}

type issuerObserver struct {
	s         *Set
	issuer    string
	perClient bool
}

func (o *issuerObserver) TokenIssued(t authserver.TokenIssued) {
	client := ""
	if o.perClient {
		client = t.ClientID
	}
	o.s.tokensIssued.WithLabelValues(o.issuer, t.GrantType, t.Resource, t.Format, t.Binding, client).Inc()
}

func (o *issuerObserver) TokenRefused(grantType, code string) {
	o.s.tokenErrors.WithLabelValues(o.issuer, grantType, code).Inc()
}

func (o *issuerObserver) Served(endpoint string, status int, took time.Duration) {
	o.s.requestDuration.WithLabelValues(o.issuer, endpoint, statusClass(status)).Observe(took.Seconds())
}

func (o *issuerObserver) Introspected(result string) {
	o.s.introspections.WithLabelValues(o.issuer, result).Inc()
}
func (o *issuerObserver) SignIn(outcome string) { o.s.signIns.WithLabelValues(o.issuer, outcome).Inc() }
func (o *issuerObserver) KeyRotated(alg string) {
	o.s.keyRotations.WithLabelValues(o.issuer, alg).Inc()
}
func (o *issuerObserver) InternalFailure(endpoint string) {
	o.s.internalErrors.WithLabelValues(o.issuer, endpoint).Inc()
}
func (o *issuerObserver) Delivery(kind, result string) {
	o.s.deliveries.WithLabelValues(o.issuer, kind, result).Inc()
}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) string {
	if i := status/100 - 1; i >= 0 && i < len(statusClasses) {
		return statusClasses[i]
	}
	return strconv.Itoa(status)
}

// StatsSource is what the gauges read of an issuer at scrape time (*authserver.Server).
type StatsSource interface {
	Stats(ctx context.Context) (authserver.Stats, error)
}

// AddIssuer makes the issuer's gauges (active sessions, key age, outbox depth) scraped from
// src until the returned function is called. A newer source for the same issuer (a reload)
// replaces the older one.
func (s *Set) AddIssuer(issuer string, src StatsSource) (remove func()) {
	return s.gauges.add(&s.gauges.issuers, issuer, src)
}

// AddReplayGuard makes the size of a resource's DPoP replay guard scraped from size.
func (s *Set) AddReplayGuard(resource string, size func() int) (remove func()) {
	return s.gauges.add(&s.gauges.guards, resource, size)
}

// AddRevocationStream makes the lag of an issuer's revocation stream (time since its last
// successful poll) scraped from lastSuccess.
func (s *Set) AddRevocationStream(issuer string, lastSuccess func() time.Time) (remove func()) {
	return s.gauges.add(&s.gauges.streams, issuer, lastSuccess)
}

// AddBreaker makes the state of the circuit breaker of a remote issuer's endpoint
// ("introspection", "jwks") scraped from state (0 closed, 1 half-open, 2 open).
func (s *Set) AddBreaker(issuer, endpoint string, state func() int) (remove func()) {
	return s.gauges.add(&s.gauges.breakers, issuer+"\x00"+endpoint, state)
}

// FastFailure returns the hook counting the calls to a remote issuer's endpoint that its
// circuit breaker failed at once.
func (s *Set) FastFailure(issuer, endpoint string) func() {
	return s.fastFailures.WithLabelValues(issuer, endpoint).Inc
}

// Gateway returns the recorder of one oauth_resource handler's decisions.
func (s *Set) Gateway(resource string) *Gateway {
	return &Gateway{
		allow:     s.decisions.WithLabelValues(resource, "allow", "ok"),
		decisions: s.decisions.MustCurryWith(prometheus.Labels{"resource": resource}),
		latency:   s.validation.WithLabelValues(resource),
		replays:   s.dpopReplays.MustCurryWith(prometheus.Labels{"resource": resource}),
		nonces:    s.nonceChallenges.WithLabelValues(resource),
	}
}

// RemoteIssuer returns the hooks of a remote issuer's JWKS cache and introspection client.
func (s *Set) RemoteIssuer(issuer string) (onFetch func(error), onCache func(string)) {
	ok, failed := s.jwksFetches.WithLabelValues(issuer, "ok"), s.jwksFetches.WithLabelValues(issuer, "error")
	cache := s.introspectCache.MustCurryWith(prometheus.Labels{"issuer": issuer})
	onFetch = func(err error) {
		if err != nil {
			failed.Inc()
		} else {
			ok.Inc()
		}
	}
	return onFetch, func(result string) { cache.WithLabelValues(result).Inc() }
}

// Gateway records one resource's decisions. The allow path touches only pre-resolved series.
// A nil Gateway records nothing.
type Gateway struct {
	allow     prometheus.Counter
	decisions *prometheus.CounterVec
	latency   prometheus.Observer
	replays   *prometheus.CounterVec
	nonces    prometheus.Counter
}

// Allowed records a request let through after took.
func (g *Gateway) Allowed(took time.Duration) {
	if g == nil {
		return
	}
	g.allow.Inc()
	g.latency.Observe(took.Seconds())
}

// Refused records a refusal with its HTTP status and reason after took.
func (g *Gateway) Refused(status int, reason string, took time.Duration) {
	if g == nil {
		return
	}
	g.decisions.WithLabelValues(strconv.Itoa(status), reason).Inc()
	g.latency.Observe(took.Seconds())
}

// Replay records a DPoP proof the replay guard refused, with the reason: "replay",
// "forgotten" or "full".
func (g *Gateway) Replay(reason string) {
	if g != nil {
		g.replays.WithLabelValues(reason).Inc()
	}
}

// NonceChallenge records a use_dpop_nonce answer.
func (g *Gateway) NonceChallenge() {
	if g != nil {
		g.nonces.Inc()
	}
}

// gaugeCollector reads the gauges at scrape time from the sources registered now.
type gaugeCollector struct {
	mu       sync.Mutex
	issuers  map[string]any
	guards   map[string]any
	streams  map[string]any
	breakers map[string]any // by issuer "\x00" endpoint

	activeSessions *prometheus.Desc
	keyAge         *prometheus.Desc
	outboxDepth    *prometheus.Desc
	replayEntries  *prometheus.Desc
	streamLag      *prometheus.Desc
	circuitState   *prometheus.Desc
	now            func() time.Time
}

func newGaugeCollector() *gaugeCollector {
	return &gaugeCollector{
		issuers: map[string]any{}, guards: map[string]any{}, streams: map[string]any{}, breakers: map[string]any{},
		activeSessions: prometheus.NewDesc(namespace+"_active_sessions", "Unexpired login sessions (every instance sharing the store).", []string{"issuer"}, nil),
		keyAge:         prometheus.NewDesc(namespace+"_signing_key_age_seconds", "Age of the current signing key, by algorithm.", []string{"issuer", "alg"}, nil),
		outboxDepth:    prometheus.NewDesc(namespace+"_outbox_depth", "Back-channel deliveries waiting (kind logout).", []string{"issuer", "kind"}, nil),
		replayEntries:  prometheus.NewDesc(namespace+"_gateway_dpop_replay_entries", "DPoP proof jtis the gateway's in-memory replay guard remembers.", []string{"resource"}, nil),
		streamLag:      prometheus.NewDesc(namespace+"_gateway_revocation_stream_lag_seconds", "Time since the revocation stream of a remote issuer last answered.", []string{"issuer"}, nil),
		circuitState: prometheus.NewDesc(namespace+"_gateway_issuer_circuit_state",
			"Circuit breaker of a remote issuer's endpoint (introspection, jwks): 0 closed, 1 half-open (one probe), 2 open (requests needing it fail at once).", []string{"issuer", "endpoint"}, nil),
		now: time.Now,
	}
}

// add registers src under key in m; the returned function removes it if it is still the one.
func (g *gaugeCollector) add(m *map[string]any, key string, src any) func() {
	token := &struct{ src any }{src}
	g.mu.Lock()
	(*m)[key] = token
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		if (*m)[key] == token {
			delete(*m, key)
		}
		g.mu.Unlock()
	}
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.activeSessions, g.keyAge, g.outboxDepth, g.replayEntries, g.streamLag, g.circuitState} {
		ch <- d
	}
}

// statsTimeout bounds the store queries of one scrape: a slow store must not hang it.
const statsTimeout = 2 * time.Second

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	type entry struct {
		key string
		src any
	}
	snapshot := func(m map[string]any) []entry {
		out := make([]entry, 0, len(m))
		for k, v := range m {
			out = append(out, entry{k, v.(*struct{ src any }).src})
		}
		return out
	}
	g.mu.Lock()
	issuers, guards, streams, breakers := snapshot(g.issuers), snapshot(g.guards), snapshot(g.streams), snapshot(g.breakers)
	g.mu.Unlock()
	now := g.now()
	for _, e := range issuers {
		ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
		st, err := e.src.(StatsSource).Stats(ctx)
		cancel()
		for alg, created := range st.KeyCreated {
			ch <- prometheus.MustNewConstMetric(g.keyAge, prometheus.GaugeValue, now.Sub(created).Seconds(), e.key, alg)
		}
		if err != nil {
			continue // the store is down: no value is better than a wrong one
		}
		ch <- prometheus.MustNewConstMetric(g.activeSessions, prometheus.GaugeValue, float64(st.ActiveSessions), e.key)
		ch <- prometheus.MustNewConstMetric(g.outboxDepth, prometheus.GaugeValue, float64(st.PendingLogoutDeliveries), e.key, "logout")
	}
	for _, e := range guards {
		ch <- prometheus.MustNewConstMetric(g.replayEntries, prometheus.GaugeValue, float64(e.src.(func() int)()), e.key)
	}
	for _, e := range streams {
		last := e.src.(func() time.Time)()
		if last.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(g.streamLag, prometheus.GaugeValue, now.Sub(last).Seconds(), e.key)
	}
	for _, e := range breakers {
		issuer, endpoint, _ := strings.Cut(e.key, "\x00")
		ch <- prometheus.MustNewConstMetric(g.circuitState, prometheus.GaugeValue, float64(e.src.(func() int)()), issuer, endpoint)
	}
}
