package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
)

// TestCIBAThroughDelegatedApp: with sign-in and consent handed to a login app, a CIBA
// request is approved there. The user opens the approval link; the app is asked to sign in
// the user the request names and then to consent, its contexts carrying that user and the
// binding message; the poll then gets tokens for that user. A login accept for anyone else
// is refused at the API.
func TestCIBAThroughDelegatedApp(t *testing.T) {
	app := newLoginApp(t)
	ts := newCIBAServerOpts(t, "https://bank.example/cb", "https://bank.example/cb", serverOptions{edit: func(c *Config) {
		c.Delegated = delegated.Config{LoginURL: app.srv.URL + "/login", ConsentURL: app.srv.URL + "/consent", APISecret: delegatedSecret}
	}})
	app.attach(ts)

	res := ts.bcAuthorize("bank", cibaForm)
	if res.status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %s", res.status, res.raw)
	}
	authReqID := res.body["auth_req_id"].(string)
	if r := ts.pollCIBA("bank", authReqID); r.body["error"] != "authorization_pending" {
		t.Fatalf("poll before the approval: %d %s", r.status, r.raw)
	}

	b := ts.browser()
	p := b.do(http.MethodGet, testIssuer+"/ciba?request="+ts.pendingID(t), nil)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, app.srv.URL+"/login?login_challenge=") {
		t.Fatalf("approval link: %d %q %s", p.status, p.location, p.body)
	}
	// Someone else signed in at the app: refused, the challenge stays usable.
	ch := "?login_challenge=" + url.QueryEscape(challengeOf(t, p.location))
	if st, out := rawCall(t, app, http.MethodPut, "/delegated/login/accept"+ch, `{"subject":"ext-carol-42"}`); st != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Errorf("login accept for another user than the request's: %d %v", st, out)
	}

	app.users["alice"] = [2]string{"alice at the app", "alice-sub"}
	p = app.run(b, p, approveAs("alice", "alice at the app"))
	if p.status != http.StatusOK || !strings.Contains(p.body, "approved") {
		t.Fatalf("after the app: %d %s", p.status, p.body)
	}
	if len(app.contexts) != 2 {
		t.Fatalf("the app read %d contexts, want login and consent", len(app.contexts))
	}
	for _, c := range app.contexts {
		if c.CIBA == nil || c.CIBA.Subject != "alice-sub" || c.CIBA.BindingMessage != "Pay 42 EUR to Acme" || c.Client.ClientID != "bank" {
			t.Errorf("%s context: %+v (ciba %+v)", c.Kind, c, c.CIBA)
		}
	}
	if c := app.contexts[1]; c.Kind != "consent" || c.Subject != "alice-sub" || c.ACR != "urn:example:mfa" {
		t.Errorf("consent context: %+v", c)
	}

	tok := ts.pollCIBA("bank", authReqID)
	if tok.status != http.StatusOK {
		t.Fatalf("poll after the approval: %d %s", tok.status, tok.raw)
	}
	id := ts.verifyIDToken(tok.body["id_token"].(string), "RS256")
	if id["sub"] != "alice-sub" {
		t.Fatalf("ID token: %v", id)
	}
	if amr, _ := id["amr"].([]any); len(amr) != 2 || amr[0] != "pwd" || amr[1] != "otp" {
		t.Errorf("ID token amr: %v, want the app's", id["amr"])
	}

	// A rejection at the app denies the request.
	res = ts.bcAuthorize("bank", cibaForm)
	denied := res.body["auth_req_id"].(string)
	b2 := ts.browser()
	p = app.run(b2, b2.do(http.MethodGet, testIssuer+"/ciba?request="+ts.pendingID(t), nil), func(string) url.Values { return url.Values{"decision": {"deny"}} })
	if p.status != http.StatusOK {
		t.Fatalf("after the app's reject: %d %s", p.status, p.body)
	}
	if r := ts.pollCIBA("bank", denied); r.body["error"] != "access_denied" {
		t.Fatalf("poll after the reject: %d %s", r.status, r.raw)
	}
}
