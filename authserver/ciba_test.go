package authserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const bankSecret = "Bk7Ax2Lm7Nc4Vz8Kd1Hs6Jf0Gt5Ry3Ue8Io2Pa7SqWe"

// notificationReceiver is a client's backchannel_client_notification_endpoint.
type notificationReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []map[string]any
	auths []string
	fail  int // answer 503 to this many requests first
}

func newReceiver(t *testing.T) *notificationReceiver {
	rc := &notificationReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail > 0 {
			rc.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		rc.got = append(rc.got, m)
		rc.auths = append(rc.auths, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *notificationReceiver) received() ([]map[string]any, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got...), append([]string(nil), rc.auths...)
}

func newCIBAServer(t testing.TB, ping, push string) *testServer {
	return newCIBAServerOpts(t, ping, push, serverOptions{})
}

// newCIBAServerOpts is newCIBAServer with more options (an observer, for one).
func newCIBAServerOpts(t testing.TB, ping, push string, o serverOptions) *testServer {
	edit := o.edit
	o.edit = func(c *Config) {
		c.OutboundAllowPrivate = true // the receivers run on loopback
		c.CIBA = CIBAConfig{Enabled: true, Config: ciba.Config{Interval: 2 * time.Second}}
		c.Clients = append(c.Clients,
			ClientConfig{ID: "bank", Secret: bankSecret, GrantTypes: []string{ciba.GrantType, "refresh_token"},
				Scopes: []string{"openid", "profile", "offline_access", "read"}, Resources: []string{jwtResource}},
			ClientConfig{ID: "bank-ping", Secret: bankSecret, GrantTypes: []string{ciba.GrantType},
				Scopes: []string{"openid", "read"}, Resources: []string{jwtResource},
				Security: store.ClientSecurity{BackchannelTokenDeliveryMode: "ping", BackchannelClientNotificationEndpoint: ping}},
			ClientConfig{ID: "bank-push", Secret: bankSecret, GrantTypes: []string{ciba.GrantType, "refresh_token"},
				Scopes: []string{"openid", "offline_access", "read"}, Resources: []string{jwtResource},
				Security: store.ClientSecurity{BackchannelTokenDeliveryMode: "push", BackchannelClientNotificationEndpoint: push}},
		)
		if edit != nil {
			edit(c)
		}
	}
	return newFlowServerOpts(t, o)
}

func (ts *testServer) bcAuthorize(client string, form url.Values) response {
	return ts.do(http.MethodPost, "/bc-authorize", form, [2]string{client, bankSecret})
}

func (ts *testServer) pollCIBA(client, id string) response {
	return ts.do(http.MethodPost, "/token", url.Values{"grant_type": {ciba.GrantType}, "auth_req_id": {id}}, [2]string{client, bankSecret})
}

// pendingID is the public ID of alice's only pending request.
func (ts *testServer) pendingID(t *testing.T) string {
	t.Helper()
	reqs, err := ts.srv.st.ListCIBARequests(t.Context(), "alice-sub", ts.srv.now())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("pending requests: %v %v", reqs, err)
	}
	return reqs[0].ID
}

// answerOnPage plays alice: the request's page, sign-in, the consent page with the binding
// message, then decision.
func (b *browser) answerOnPage(t *testing.T, id, decision string) page {
	t.Helper()
	p := b.do(http.MethodGet, testIssuer+"/ciba?request="+id, nil)
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	}
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="binding-message">Pay 42 EUR to Acme<`) {
		t.Fatalf("consent page: %d, want the binding message: %s", p.status, p.body)
	}
	return b.submit(p, url.Values{"decision": {decision}})
}

var cibaForm = url.Values{"scope": {"openid read offline_access"}, "login_hint": {"alice"}, "binding_message": {"Pay 42 EUR to Acme"}}

func TestCIBAPollMode(t *testing.T) {
	ts := newCIBAServer(t, "https://bank.example/cb", "https://bank.example/cb")
	res := ts.bcAuthorize("bank", cibaForm)
	if res.status != http.StatusOK || res.body["expires_in"] != float64(300) || res.body["interval"] != float64(2) {
		t.Fatalf("bc-authorize: %d %s", res.status, res.raw)
	}
	id := res.body["auth_req_id"].(string)
	wantOAuthError(t, ts.pollCIBA("bank", id), 400, "authorization_pending")
	wantOAuthError(t, ts.pollCIBA("bank", id), 400, "slow_down")

	b := ts.browser()
	done := b.answerOnPage(t, ts.pendingID(t), "approve")
	if done.status != http.StatusOK || !strings.Contains(done.body, "Request approved") {
		t.Fatalf("after approval: %d %s", done.status, done.body)
	}
	ts.now.Add(10)
	tok := ts.pollCIBA("bank", id)
	if tok.status != http.StatusOK || tok.body["refresh_token"] == nil {
		t.Fatalf("tokens: %d %s", tok.status, tok.raw)
	}
	idt := ts.verifyIDToken(tok.body["id_token"].(string), "RS256")
	if idt["sub"] != "alice-sub" || idt["aud"] != "bank" || idt["amr"] == nil {
		t.Fatalf("ID token: %v", idt)
	}
	wantOAuthError(t, ts.pollCIBA("bank", id), 400, "invalid_grant")

	// Denied on the page.
	id = ts.bcAuthorize("bank", cibaForm).body["auth_req_id"].(string)
	if p := b.answerOnPage(t, ts.pendingID(t), "deny"); !strings.Contains(p.body, "Request denied") {
		t.Fatalf("after denial: %s", p.body)
	}
	wantOAuthError(t, ts.pollCIBA("bank", id), 400, "access_denied")

	// Expired.
	id = ts.bcAuthorize("bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "requested_expiry": {"30"}}).body["auth_req_id"].(string)
	ts.now.Add(31)
	wantOAuthError(t, ts.pollCIBA("bank", id), 400, "expired_token")
}

func TestCIBAAdminDecisionAndPageList(t *testing.T) {
	ts := newCIBAServer(t, "https://bank.example/cb", "https://bank.example/cb")
	id := ts.bcAuthorize("bank", cibaForm).body["auth_req_id"].(string)
	b := ts.browser()
	// Signed in elsewhere (a code flow), alice sees the request listed.
	b.signIn(authURL(nil))
	list := b.do(http.MethodGet, testIssuer+"/ciba", nil)
	if list.status != http.StatusOK || !strings.Contains(list.body, "Pay 42 EUR to Acme") || !strings.Contains(list.body, "/ciba?request=") {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	if anon := ts.browser().do(http.MethodGet, testIssuer+"/ciba", nil); strings.Contains(anon.body, "Pay 42") {
		t.Fatal("the list shows requests to a browser nobody signed in on")
	}
	if err := ts.srv.DecideCIBA(t.Context(), ts.pendingID(t), true); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.DecideCIBA(t.Context(), "unknown", true); err == nil {
		t.Fatal("an unknown request was decided")
	}
	ts.now.Add(5)
	if res := ts.pollCIBA("bank", id); res.status != http.StatusOK {
		t.Fatalf("after the admin's approval: %d %s", res.status, res.raw)
	}
}

// TestCIBAOnlyTheNamedUserAnswers: bob, signed in, cannot approve alice's request.
func TestCIBAOnlyTheNamedUserAnswers(t *testing.T) {
	ts := newCIBAServer(t, "https://bank.example/cb", "https://bank.example/cb")
	ts.bcAuthorize("bank", cibaForm)
	b := ts.browser()
	p := b.do(http.MethodGet, testIssuer+"/ciba?request="+ts.pendingID(t), nil)
	p = b.follow(b.submit(p, url.Values{"username": {"bob"}, "password": {"bob's own password"}, "decision": {"approve"}}))
	if p.status != http.StatusForbidden || strings.Contains(p.body, `value="approve">Allow`) {
		t.Fatalf("bob answering alice's request: %d %s", p.status, p.body)
	}
	reqs, _ := ts.srv.st.ListCIBARequests(t.Context(), "alice-sub", ts.srv.now())
	if len(reqs) != 1 {
		t.Fatal("the request was decided by the wrong user")
	}
}

func TestCIBAPingAndPush(t *testing.T) {
	ping, push := newReceiver(t), newReceiver(t)
	ts := newCIBAServer(t, ping.URL+"/cb", push.URL+"/cb")

	// Ping: the client is told, then polls.
	res := ts.bcAuthorize("bank-ping", url.Values{"scope": {"openid read"}, "login_hint": {"alice"}, "client_notification_token": {"ping-secret-1"}})
	if res.status != http.StatusOK {
		t.Fatalf("ping bc-authorize: %d %s", res.status, res.raw)
	}
	id := res.body["auth_req_id"].(string)
	ping.fail = 1 // the first delivery fails and is retried
	if err := ts.srv.DecideCIBA(t.Context(), ts.pendingID(t), true); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, ts, func() bool { got, _ := ping.received(); return len(got) == 1 })
	got, auths := ping.received()
	if got[0]["auth_req_id"] != id || len(got[0]) != 1 || auths[0] != "Bearer ping-secret-1" {
		t.Fatalf("ping: %v %v", got, auths)
	}
	if tok := ts.pollCIBA("bank-ping", id); tok.status != http.StatusOK {
		t.Fatalf("tokens after the ping: %d %s", tok.status, tok.raw)
	}

	// Push: the tokens come to the client; polling is refused.
	res = ts.bcAuthorize("bank-push", url.Values{"scope": {"openid read offline_access"}, "login_hint": {"alice"}, "client_notification_token": {"push-secret-2"}})
	if res.status != http.StatusOK || res.body["interval"] != nil {
		t.Fatalf("push bc-authorize: %d %s", res.status, res.raw)
	}
	id = res.body["auth_req_id"].(string)
	wantOAuthError(t, ts.pollCIBA("bank-push", id), 400, "unauthorized_client")
	pushed := ts.pendingID(t)
	ts.browser().answerOnPageWith(t, pushed, "approve", "")
	waitDelivered(t, ts, func() bool { got, _ := push.received(); return len(got) == 1 })
	got, auths = push.received()
	body := got[0]
	if body["auth_req_id"] != id || body["access_token"] == nil || body["refresh_token"] == nil || auths[0] != "Bearer push-secret-2" {
		t.Fatalf("push: %v %v", body, auths)
	}
	idt := ts.verifyIDToken(body["id_token"].(string), "RS256")
	if idt["urn:openid:params:jwt:claim:auth_req_id"] != id || idt["at_hash"] == nil || idt["urn:openid:params:jwt:claim:rt_hash"] == nil {
		t.Fatalf("push ID token: %v", idt)
	}
	// Pushed: the tokens are the client's, nothing of the request is kept.
	if _, err := ts.srv.st.GetCIBARequest(t.Context(), pushed); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the pushed request is still stored: %v", err)
	}

	// A push denial is pushed as an error.
	id = ts.bcAuthorize("bank-push", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "client_notification_token": {"push-secret-3"}}).body["auth_req_id"].(string)
	if err := ts.srv.DecideCIBA(t.Context(), ts.pendingID(t), false); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, ts, func() bool { got, _ := push.received(); return len(got) == 2 })
	got, _ = push.received()
	if got[1]["error"] != "access_denied" || got[1]["auth_req_id"] != id || got[1]["access_token"] != nil {
		t.Fatalf("pushed denial: %v", got[1])
	}
}

// answerOnPageWith is answerOnPage for a request without a binding message.
func (b *browser) answerOnPageWith(t *testing.T, id, decision, _ string) page {
	t.Helper()
	p := b.do(http.MethodGet, testIssuer+"/ciba?request="+id, nil)
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	}
	return b.submit(p, url.Values{"decision": {decision}})
}

// waitDelivered waits for cond, moving the server's clock a second at a time so that a
// delivery retried with backoff comes due.
func waitDelivered(t *testing.T, ts *testServer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the notification")
		}
		time.Sleep(50 * time.Millisecond)
		ts.now.Add(1)
		ts.srv.cibaDelivery.Wake()
	}
}

func TestCIBARequestErrors(t *testing.T) {
	ts := newCIBAServer(t, "https://bank.example/cb", "https://bank.example/cb")
	web := ts.browser().signIn(authURL(nil))
	idToken := ts.redeem(web.Get("code"), nil).body["id_token"].(string)
	cases := []struct {
		name   string
		client string
		form   url.Values
		status int
		code   string
	}{
		{"no hint", "bank", url.Values{"scope": {"openid"}}, 400, "invalid_request"},
		{"two hints", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "login_hint_token": {"x"}}, 400, "invalid_request"},
		{"unknown user", "bank", url.Values{"scope": {"openid"}, "login_hint": {"nobody"}}, 400, "unknown_user_id"},
		{"no openid", "bank", url.Values{"scope": {"read"}, "login_hint": {"alice"}}, 400, "invalid_request"},
		{"scope not allowed", "bank", url.Values{"scope": {"openid admin"}, "login_hint": {"alice"}}, 400, "invalid_scope"},
		{"unknown resource", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "resource": {"https://nowhere.example"}}, 400, "invalid_target"},
		{"long binding message", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "binding_message": {strings.Repeat("x", 101)}}, 400, "invalid_binding_message"},
		{"control in binding message", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "binding_message": {"a\nb"}}, 400, "invalid_binding_message"},
		{"requested_expiry not a number", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "requested_expiry": {"soon"}}, 400, "invalid_request"},
		{"requested_expiry too long", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "requested_expiry": {"86400"}}, 400, "invalid_request"},
		{"id_token_hint of another client", "bank", url.Values{"scope": {"openid"}, "id_token_hint": {idToken}}, 400, "invalid_request"},
		{"forged login_hint_token", "bank", url.Values{"scope": {"openid"}, "login_hint_token": {"a.b.c"}}, 400, "invalid_request"},
		{"signed request", "bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}, "request": {"a.b.c"}}, 400, "invalid_request"},
		{"ping without a notification token", "bank-ping", url.Values{"scope": {"openid"}, "login_hint": {"alice"}}, 400, "invalid_request"},
		{"client without the grant", "web", url.Values{"scope": {"openid"}, "login_hint": {"alice"}}, 400, "unauthorized_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := bankSecret
			if tc.client == "web" {
				secret = webSecret
			}
			wantOAuthError(t, ts.do(http.MethodPost, "/bc-authorize", tc.form, [2]string{tc.client, secret}), tc.status, tc.code)
		})
	}
	wantOAuthError(t, ts.do(http.MethodPost, "/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"alice"}}, [2]string{"bank", "wrong"}), 401, "invalid_client")
	wantOAuthError(t, ts.pollCIBA("bank", ""), 400, "invalid_request")
	wantOAuthError(t, ts.pollCIBA("bank", "made-up"), 400, "invalid_grant")
	// Another client's auth_req_id.
	id := ts.bcAuthorize("bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}}).body["auth_req_id"].(string)
	wantOAuthError(t, ts.pollCIBA("bank-ping", id), 400, "invalid_grant")

	meta := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if meta.body["backchannel_authentication_endpoint"] != testIssuer+"/bc-authorize" || !strings.Contains(meta.raw, ciba.GrantType) ||
		meta.body["backchannel_user_code_parameter_supported"] != false {
		t.Fatalf("discovery: %s", meta.raw)
	}
	off := newFlowServer(t, nil)
	if meta := off.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}); strings.Contains(meta.raw, "backchannel_authentication") {
		t.Fatal("CIBA advertised while off")
	}
}
