package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// ssfCall sends a Shared Signals request (JSON body when body is not nil) with HTTP Basic
// credentials when client is set.
func (ts *testServer) ssfCall(method, path, client, secret string, body any) response {
	ts.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, testIssuer+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if client != "" {
		req.SetBasicAuth(client, secret)
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	if rec.Code >= 500 {
		ts.t.Fatalf("%s %s answered %d: %s", method, path, rec.Code, rec.Body.String())
	}
	return res
}

// gatewayStream creates a stream for the test server's resource-server client and returns
// the path of its poll endpoint.
func (ts *testServer) gatewayStream() string {
	ts.t.Helper()
	res := ts.ssfCall(http.MethodPost, "/ssf/streams", "gateway", gwSecret,
		map[string]any{"delivery": map[string]string{"method": secevent.DeliveryPoll}, "description": "test gateway"})
	if res.status != http.StatusCreated {
		ts.t.Fatalf("create stream: %d %s", res.status, res.raw)
	}
	if res.body["aud"] != "gateway" || res.body["iss"] != testIssuer {
		ts.t.Errorf("stream configuration: %s", res.raw)
	}
	endpoint := res.body["delivery"].(map[string]any)["endpoint_url"].(string)
	return strings.TrimPrefix(endpoint, testIssuer)
}

// pollSETs polls the stream and verifies every SET against the server's JWKS.
func (ts *testServer) pollSETs(pollPath string, req map[string]any) (map[string]*secevent.SET, bool) {
	ts.t.Helper()
	res := ts.ssfCall(http.MethodPost, pollPath, "gateway", gwSecret, req)
	if res.status != http.StatusOK {
		ts.t.Fatalf("poll: %d %s", res.status, res.raw)
	}
	return ts.verifySETs(res), res.body["moreAvailable"] == true
}

func (ts *testServer) verifySETs(res response) map[string]*secevent.SET {
	ts.t.Helper()
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(ts.srv.keys.JWKS(), &jwks); err != nil {
		ts.t.Fatal(err)
	}
	out := map[string]*secevent.SET{}
	sets, _ := res.body["sets"].(map[string]any)
	for jti, v := range sets {
		jws, err := jose.ParseSigned(v.(string), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			ts.t.Fatalf("SET %s: %v", jti, err)
		}
		hdr := jws.Signatures[0].Protected
		if hdr.ExtraHeaders["typ"] != secevent.Typ {
			ts.t.Errorf("SET typ %v", hdr.ExtraHeaders["typ"])
		}
		keys := jwks.Key(hdr.KeyID)
		if len(keys) != 1 {
			ts.t.Fatalf("SET kid %q is not in the JWKS", hdr.KeyID)
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			ts.t.Fatalf("SET signature: %v", err)
		}
		set, err := secevent.Decode(payload)
		if err != nil {
			ts.t.Fatal(err)
		}
		if set.ID != jti || set.Issuer != testIssuer || len(set.Audience) != 1 || set.Audience[0] != "gateway" || set.Revocation == nil {
			ts.t.Errorf("SET %s: %+v", jti, set)
		}
		out[jti] = set
	}
	return out
}

func TestSharedSignalsMetadataAndCallers(t *testing.T) {
	ts := newFlowServer(t, nil)
	res := ts.ssfCall(http.MethodGet, "/.well-known/ssf-configuration", "", "", nil)
	if res.status != http.StatusOK || res.body["issuer"] != testIssuer || res.body["jwks_uri"] != testIssuer+"/jwks" ||
		res.body["configuration_endpoint"] != testIssuer+"/ssf/streams" {
		t.Fatalf("metadata: %d %s", res.status, res.raw)
	}
	if strings.Contains(ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).raw, "ssf") {
		t.Error("discovery mentions the SSF transmitter")
	}
	tests := []struct {
		name, client, secret string
		status               int
		errorCode            string
	}{
		{"no credentials", "", "", http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", "gateway", svcSecret, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", "nobody", gwSecret, http.StatusUnauthorized, "invalid_client"},
		{"registered for client_secret_post", "poster", otherSecret, http.StatusUnauthorized, "invalid_client"},
		{"public client", "spa", "", http.StatusUnauthorized, "invalid_client"},
		{"client without an introspect link", "svc", svcSecret, http.StatusForbidden, "access_denied"},
		{"resource-server client", "gateway", gwSecret, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.ssfCall(http.MethodGet, "/ssf/streams", tt.client, tt.secret, nil)
			if res.status != tt.status || (tt.errorCode != "" && res.body["error"] != tt.errorCode) {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if tt.status == http.StatusUnauthorized && res.header.Get("WWW-Authenticate") != `Basic realm="ssf"` {
				t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Basic credentials are form-urlencoded (RFC 6749 §2.3.1) like at the token endpoint.
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/ssf/streams", nil)
	req.SetBasicAuth(url.QueryEscape("gateway"), url.QueryEscape(gwSecret))
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("encoded Basic credentials: %d", rec.Code)
	}
}

// TestSharedSignalsDeliversRevocations: each kind of revocation, made through the server's
// own endpoints, reaches a stream as a SET the gateway can verify and match on the token's
// claims.
func TestSharedSignalsDeliversRevocations(t *testing.T) {
	ts := newFlowServer(t, nil)
	poll := ts.gatewayStream()
	if sets, _ := ts.pollSETs(poll, map[string]any{"returnImmediately": true}); len(sets) != 0 {
		t.Fatalf("fresh stream got %d SETs", len(sets))
	}

	// A JWT, a sealed opaque token and an opaque token stored as a row (as issued before
	// tokens were sealed) revoked at /revoke.
	jwtTok := ts.mustToken("svc", svcSecret, jwtResource, "read")
	opqTok := ts.mustToken("svc", svcSecret, opqResource, "read")
	rowTok := storeRowToken(t, ts, "svc", opqResource, "read")
	opqJTI, _ := ts.introspect("svc", svcSecret, opqTok)["jti"].(string)
	for _, tok := range []string{jwtTok, opqTok, rowTok} {
		if res := ts.do(http.MethodPost, "/revoke", url.Values{"token": {tok}}, [2]string{"svc", svcSecret}); res.status != http.StatusOK {
			t.Fatal(res.raw)
		}
	}
	// A grant revoked by refresh token reuse.
	b := ts.browser()
	first := ts.redeem(b.signIn(authURL(nil)).Get("code"), nil)
	grantID := jwtClaims(t, first.body["access_token"].(string))["grant_id"].(string)
	rt := first.body["refresh_token"].(string)
	if res := ts.refresh(rt, nil); res.status != http.StatusOK {
		t.Fatal(res.raw)
	}
	if res := ts.refresh(rt, nil); res.status != http.StatusBadRequest {
		t.Fatalf("reuse: %d %s", res.status, res.raw)
	}
	// A session ended by RP-initiated logout (in the same browser: a new grant in the session).
	second := ts.redeem(b.signIn(authURL(nil)).Get("code"), nil)
	idt := second.body["id_token"].(string)
	sid := jwtClaims(t, idt)["sid"].(string)
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.example.test/bye"}}
	confirm := b.do(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil)
	if done := b.submit(confirm, url.Values{"decision": {"approve"}}); done.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", done.status)
	}

	sets, more := ts.pollSETs(poll, map[string]any{"returnImmediately": true})
	if more {
		t.Error("moreAvailable with everything sent")
	}
	type revocation struct{ kind, value string }
	want := []revocation{
		{secevent.KindJTI, jwtClaims(t, jwtTok)["jti"].(string)},
		{secevent.KindJTI, opqJTI},
		{secevent.KindTokenHash, hashToken(rowTok)},
		{secevent.KindGrant, grantID},
		{secevent.KindSession, sid},
	}
	found := map[revocation]bool{}
	var acks []string
	for jti, set := range sets {
		r := set.Revocation
		acks = append(acks, jti)
		if got := (revocation{r.Kind, r.Value}); slices.Contains(want, got) {
			found[got] = true
			if r.Until.Before(time.Unix(ts.now.Load(), 0)) {
				t.Errorf("%s: expires_at %v is in the past", r.Kind, r.Until)
			}
		}
		if r.Kind == secevent.KindSession && set.EventType != secevent.EventSessionRevoked {
			t.Errorf("session revocation as %s", set.EventType)
		}
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("no %s revocation %s among %d SETs", w.kind, w.value, len(sets))
		}
	}
	// Acknowledged, they are not sent again; a new stream gets the whole retained log.
	if again, _ := ts.pollSETs(poll, map[string]any{"returnImmediately": true, "ack": acks}); len(again) != 0 {
		t.Errorf("acked SETs sent again: %d", len(again))
	}
	if fresh, _ := ts.pollSETs(ts.gatewayStream(), map[string]any{"returnImmediately": true}); len(fresh) != len(sets) {
		t.Errorf("new stream got %d SETs, want %d", len(fresh), len(sets))
	}
}

// TestSharedSignalsAcrossInstances: two servers share one PostgreSQL database, as instances
// behind a load balancer. A gateway long-polling one of them hears of a revocation made
// through the other at once (LISTEN/NOTIFY wakes the poll; without it the poll would answer
// empty after its 30 s wait), and the first server's in-process validation refuses the token.
func TestSharedSignalsAcrossInstances(t *testing.T) {
	dsn := pgtest.DSN(t)
	opts := serverOptions{driver: "postgres", dsn: dsn, edit: func(c *Config) { c.SharedSignals.LongPollWait = 30 * time.Second }}
	a := newTestServerOpts(t, opts)
	b := newTestServerOpts(t, opts)
	poll := a.gatewayStream()

	tok := b.mustToken("svc", svcSecret, jwtResource, "read")
	ctx := context.Background()
	if info, err := a.srv.ActiveAccessToken(ctx, tok); err != nil || info == nil {
		t.Fatalf("fresh token: %+v %v", info, err)
	}
	a.srv.gateway.Wait() // cached now: only a wake-up can drop it before gatewayTTL

	got := make(chan response, 1)
	go func() { got <- a.ssfCall(http.MethodPost, poll, "gateway", gwSecret, map[string]any{}) }()
	waitUntil(t, 5*time.Second, func() bool { return a.srv.signals.Waiting("gateway") == 1 })
	if res := b.do(http.MethodPost, "/revoke", url.Values{"token": {tok}}, [2]string{"svc", svcSecret}); res.status != http.StatusOK {
		t.Fatal(res.raw)
	}
	var res response
	select {
	case res = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not answer")
	}
	sets := a.verifySETs(res)
	if len(sets) != 1 {
		t.Fatalf("woken poll: %s", res.raw)
	}
	for _, set := range sets {
		if set.Revocation.Kind != secevent.KindJTI || set.Revocation.Value != jwtClaims(t, tok)["jti"] {
			t.Errorf("SET %+v", set.Revocation)
		}
	}
	// Well inside gatewayTTL (5 s): the wake-up, not the cache expiry, made a refuse it.
	waitUntil(t, 3*time.Second, func() bool {
		info, err := a.srv.ActiveAccessToken(ctx, tok)
		return err == nil && info == nil
	})

	// Nothing more to send: the poll waits, then answers empty.
	short := newTestServerOpts(t, serverOptions{driver: "postgres", dsn: dsn, edit: func(c *Config) { c.SharedSignals.LongPollWait = 500 * time.Millisecond }})
	var ack []string
	for jti := range sets {
		ack = append(ack, jti)
	}
	empty := short.ssfCall(http.MethodPost, poll, "gateway", gwSecret, map[string]any{"ack": ack})
	if empty.status != http.StatusOK || empty.raw != `{"sets":{},"moreAvailable":false}` {
		t.Errorf("empty long poll: %d %s", empty.status, empty.raw)
	}
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSharedSignalsOff(t *testing.T) {
	off := false
	ts := newTestServerWith(t, func(c *Config) { c.SharedSignals.Enabled = &off })
	for _, path := range []string{"/.well-known/ssf-configuration", "/ssf/streams", "/ssf/poll/x"} {
		if res := ts.ssfCall(http.MethodGet, path, "gateway", gwSecret, nil); res.status != http.StatusNotFound {
			t.Errorf("%s: %d", path, res.status)
		}
	}
}
