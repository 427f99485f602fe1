package authserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
)

// recordingObserver keeps every event as a line ("issued client_credentials …").
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recordingObserver) add(parts ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, strings.Join(parts, " "))
}

func (o *recordingObserver) TokenIssued(t TokenIssued) {
	o.add("issued", t.GrantType, t.Resource, t.Format, t.Binding, t.ClientID)
}
func (o *recordingObserver) TokenRefused(grant, code string) { o.add("refused", grant, code) }
func (o *recordingObserver) Served(endpoint string, status int, _ time.Duration) {
	o.add("served", endpoint, http.StatusText(status))
}
func (o *recordingObserver) Introspected(result string)   { o.add("introspected", result) }
func (o *recordingObserver) SignIn(outcome string)        { o.add("signin", outcome) }
func (o *recordingObserver) KeyRotated(alg string)        { o.add("rotated", alg) }
func (o *recordingObserver) InternalFailure(ep string)    { o.add("failure", ep) }
func (o *recordingObserver) Delivery(kind, result string) { o.add("delivery", kind, result) }

// count returns how many events so far are the given line.
func (o *recordingObserver) count(event string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.events {
		if e == event {
			n++
		}
	}
	return n
}

// take returns the events so far and forgets them.
func (o *recordingObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

// TestObserverAndAuditLog: every counted event reaches the Observer with bounded labels, and
// the audit log names tokens by jti or hash prefix, never in full.
func TestObserverAndAuditLog(t *testing.T) {
	obs := &recordingObserver{}
	core, logs := observer.New(zap.InfoLevel)
	ts := newFlowServerOpts(t, serverOptions{observer: obs, logger: zap.New(core)})

	var issuedTokens []string
	steps := []struct {
		name string
		run  func()
		want []string
	}{
		{"JWT by client_credentials", func() {
			issuedTokens = append(issuedTokens, ts.mustToken("svc", svcSecret, jwtResource, "read"))
		}, []string{"issued client_credentials " + jwtResource + " jwt none svc", "served token OK"}},
		{"opaque", func() {
			issuedTokens = append(issuedTokens, ts.mustToken("svc", svcSecret, opqResource, "read"))
		}, []string{"issued client_credentials " + opqResource + " opaque none svc", "served token OK"}},
		{"wrong secret", func() { ts.token("svc", "wrong", url.Values{"resource": {jwtResource}}) },
			[]string{"refused client_credentials invalid_client", "served token Unauthorized"}},
		{"made-up grant type: the label stays bounded", func() {
			ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"urn:x:" + strings.Repeat("a", 40)}}, [2]string{"svc", svcSecret})
		}, []string{"refused unsupported unsupported_grant_type", "served token Bad Request"}},
		{"introspection: active, inactive, refused", func() {
			ts.introspect("gateway", gwSecret, issuedTokens[1])
			ts.introspect("gateway", gwSecret, "not-a-token")
			ts.do(http.MethodPost, "/introspect", url.Values{"token": {"x"}}, [2]string{"gateway", "wrong"})
		}, []string{"introspected active", "served introspect OK", "introspected inactive", "served introspect OK",
			"introspected refused", "served introspect Unauthorized"}},
		{"discovery", func() { ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}) },
			[]string{"served discovery OK"}},
		{"revocation", func() {
			ts.do(http.MethodPost, "/revoke", url.Values{"token": {issuedTokens[1]}}, [2]string{"svc", svcSecret})
		}, []string{"served revoke OK"}},
		{"key rotation", func() {
			if _, err := ts.srv.RotateKeys(context.Background(), "ES256"); err != nil {
				t.Fatal(err)
			}
		}, []string{"rotated ES256"}},
		{"sign-ins: failed, then signed in", func() {
			b := ts.browser()
			p := b.do(http.MethodGet, authURL(nil), nil)
			b.submit(p, url.Values{"username": {"alice"}, "password": {"wrong"}, "decision": {"approve"}})
			b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
		}, []string{"served authorize OK", "signin invalid_credentials", "served login Unauthorized", "signin success", "served login See Other"}},
	}
	for _, step := range steps {
		step.run()
		if got := obs.take(); !slices.Equal(got, step.want) {
			t.Errorf("%s: events\n  %q\nwant\n  %q", step.name, got, step.want)
		}
	}

	events := map[string][]map[string]any{}
	for _, e := range logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		for _, tok := range issuedTokens {
			if strings.Contains(string(line), tok) {
				t.Errorf("log line %s %s holds a whole token", e.Message, line)
			}
		}
		if e.LoggerName == "audit" {
			events[e.Message] = append(events[e.Message], e.ContextMap())
		}
	}
	issued := events[audit.TokenIssued]
	// Both formats are self-contained and named by jti (sealed opaque tokens too).
	if len(issued) != 2 || issued[0]["jti"] == nil || issued[0]["client_id"] != "svc" || issued[0]["resource"] != jwtResource ||
		issued[1]["jti"] == nil || issued[1]["jti"] == issued[0]["jti"] || issued[1]["format"] != "opaque" {
		t.Fatalf("token.issued events: %v", issued)
	}
	if r := events[audit.TokenRevoked]; len(r) != 1 || r[0]["jti"] != issued[1]["jti"] || r[0]["kind"] != "access_token" {
		t.Errorf("token.revoked events: %v (issued %v)", r, issued[1]["jti"])
	}
	if k := events[audit.KeyRotated]; len(k) != 1 || k[0]["alg"] != "ES256" || k[0]["kid"] == "" {
		t.Errorf("key.rotated events: %v", k)
	}
	if len(events[audit.SignInFailed]) != 1 || len(events[audit.SignInSucceeded]) != 1 {
		t.Errorf("sign-in events: failed %v, succeeded %v", events[audit.SignInFailed], events[audit.SignInSucceeded])
	}

	st, err := ts.srv.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.ActiveSessions != 1 || st.KeyCreated["ES256"].IsZero() || st.PendingLogoutDeliveries != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEndpointNamesAreBounded(t *testing.T) {
	for _, tt := range []struct{ base, path, want string }{
		{"", "/token", "token"},
		{"/tenant", "/tenant/token", "token"},
		{"", "/register/abc123", "register"},
		{"", "/.well-known/openid-configuration", "discovery"},
		{"/tenant", "/.well-known/oauth-authorization-server/tenant", "discovery"},
		{"", "/.well-known/ssf-configuration", "other"},
		{"/tenant", "/elsewhere", "other"},
	} {
		if got := endpointName(tt.base, tt.path); got != tt.want {
			t.Errorf("endpointName(%q, %q) = %q, want %q", tt.base, tt.path, got, tt.want)
		}
	}
}

// TestCIBADeliveriesAreObserved: a ping that fails once and then arrives is one "retry" and
// one "delivered" for the deliveries metric.
func TestCIBADeliveriesAreObserved(t *testing.T) {
	obs := &recordingObserver{}
	ping := newReceiver(t)
	ts := newCIBAServerOpts(t, ping.URL+"/cb", ping.URL+"/cb", serverOptions{observer: obs})
	res := ts.bcAuthorize("bank-ping", url.Values{"scope": {"openid read"}, "login_hint": {"alice"}, "client_notification_token": {"ping-secret-1"}})
	if res.status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %s", res.status, res.raw)
	}
	ping.fail = 1
	if err := ts.srv.DecideCIBA(t.Context(), ts.pendingID(t), true); err != nil {
		t.Fatal(err)
	}
	// The outcome is counted once the receiver has answered: wait for it, not for the receiver.
	var deliveries []string
	waitDelivered(t, ts, func() bool {
		for _, e := range obs.take() {
			if strings.HasPrefix(e, "delivery ") {
				deliveries = append(deliveries, e)
			}
		}
		return slices.Contains(deliveries, "delivery ciba delivered")
	})
	if !slices.Equal(deliveries, []string{"delivery ciba retry", "delivery ciba delivered"}) {
		t.Errorf("deliveries observed: %q", deliveries)
	}
}
