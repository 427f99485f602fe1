package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Front-channel fixtures: web requires the session (iss and sid), two does not, idle has a
// URI but no grant in the sessions below, and spa has no URI.
const (
	webFrontchannel  = "https://app.example.test/logout/front"
	twoRedirect      = "https://two.example.test/cb"
	twoFrontchannel  = "https://two.example.test/logout?tenant=1"
	idleFrontchannel = "https://idle.example.test/logout"
)

func newFrontchannelServer(t *testing.T, wrap func(store.Store) store.Store) *testServer {
	return newFlowServerOpts(t, serverOptions{wrap: wrap, edit: func(c *Config) {
		for i := range c.Clients {
			if c.Clients[i].ID == "web" {
				c.Clients[i].FrontchannelLogoutURI, c.Clients[i].FrontchannelLogoutSessionRequired = webFrontchannel, true
			}
		}
		c.Clients = append(c.Clients,
			ClientConfig{ID: "two", Name: "Two", Secret: webSecret, GrantTypes: []string{"authorization_code"},
				RedirectURIs: []string{twoRedirect}, Resources: []string{jwtResource}, FrontchannelLogoutURI: twoFrontchannel},
			ClientConfig{ID: "idle", Secret: webSecret, GrantTypes: []string{"authorization_code"},
				RedirectURIs: []string{"https://idle.example.test/cb"}, Resources: []string{jwtResource}, FrontchannelLogoutURI: idleFrontchannel},
		)
	}})
}

// signInTo signs the browser in to a client (code flow, redeemed: that makes the grant) and
// returns the ID token's sid.
func (b *browser) signInTo(t *testing.T, clientID, redirect string) string {
	t.Helper()
	code := b.signIn(authURL(url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"openid read"}})).Get("code")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {testVerifier}}
	auth := [2]string{clientID, webSecret}
	if clientID == "spa" { // public: identified, not authenticated
		auth, form["client_id"] = [2]string{}, []string{clientID}
	}
	res := b.ts.do(http.MethodPost, "/token", form, auth)
	idt, _ := res.body["id_token"].(string)
	if res.status != http.StatusOK || idt == "" {
		t.Fatalf("redeem for %s: %d %s", clientID, res.status, res.raw)
	}
	sid, _ := jwtClaims(t, idt)["sid"].(string)
	if sid == "" {
		t.Fatal("ID token without sid")
	}
	return sid
}

// signOut confirms an RP-initiated logout with query q.
func (b *browser) signOut(t *testing.T, q url.Values) page {
	t.Helper()
	confirm := b.do(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil)
	if confirm.status != http.StatusOK {
		t.Fatalf("confirmation: %d %s", confirm.status, confirm.body)
	}
	return b.submit(confirm, url.Values{"decision": {"approve"}})
}

// frontchannelPage is what a test reads from the sign-out page.
type frontchannelPage struct {
	frames     []string // iframe srcs, in order
	refresh    string   // meta refresh content
	continueTo string   // the Continue link
	frameSrc   string   // the CSP's frame-src
}

func readFrontchannelPage(t *testing.T, p page) frontchannelPage {
	t.Helper()
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-out page: %d %q %s", p.status, p.header.Get("Content-Type"), p.body)
	}
	// Parsed as a browser without JavaScript does: the meta refresh (the way on without the
	// page's script) is inside <noscript>.
	doc, err := html.ParseWithOptions(strings.NewReader(p.body), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	var out frontchannelPage
	for n := range doc.Descendants() {
		switch {
		case n.Type != html.ElementNode:
		case n.Data == "iframe":
			out.frames = append(out.frames, attr(n, "src"))
		case n.Data == "meta" && attr(n, "http-equiv") == "refresh":
			out.refresh = attr(n, "content")
		case n.Data == "a" && attr(n, "id") == "continue":
			out.continueTo = attr(n, "href")
		}
	}
	for _, d := range strings.Split(p.header.Get("Content-Security-Policy"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "frame-src "); ok {
			out.frameSrc = v
		}
	}
	return out
}

func TestFrontchannelLogoutPage(t *testing.T) {
	ts := newFrontchannelServer(t, nil)
	b := ts.browser()
	sid := b.signInTo(t, "web", webRedirect)
	if got := b.signInTo(t, "two", twoRedirect); got != sid {
		t.Fatalf("second sign-in in the same browser: sid %q, want %q", got, sid)
	}
	b.signInTo(t, "spa", spaRedirect) // no front-channel URI: no frame
	// Another browser of the same user signs in to idle: another session, not framed here.
	other := ts.browser()
	otherSID := other.signInTo(t, "idle", "https://idle.example.test/cb")
	if otherSID == sid {
		t.Fatal("two browsers share a session")
	}

	got := readFrontchannelPage(t, b.signOut(t, url.Values{"client_id": {"web"},
		"post_logout_redirect_uri": {"https://app.example.test/bye"}, "state": {"s 1"}}))
	wantWeb := webFrontchannel + "?" + url.Values{"iss": {testIssuer}, "sid": {sid}}.Encode()
	// One frame per client, in client ID order.
	if want := []string{twoFrontchannel, wantWeb}; !slices.Equal(got.frames, want) {
		t.Fatalf("iframes %q, want %q", got.frames, want)
	}
	u, _ := url.Parse(got.frames[1])
	if u.Query().Get("iss") != testIssuer || u.Query().Get("sid") != sid {
		t.Errorf("web's frame says iss %q sid %q", u.Query().Get("iss"), u.Query().Get("sid"))
	}
	if got.frameSrc != "https://two.example.test https://app.example.test" {
		t.Errorf("CSP frame-src %q", got.frameSrc)
	}
	const bye = "https://app.example.test/bye?state=s+1"
	if got.continueTo != bye || got.refresh != "2;url="+bye {
		t.Errorf("continues to %q (refresh %q), want %q", got.continueTo, got.refresh, bye)
	}

	// The session is over and its grants revoked, as without front-channel logout.
	if p := b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil); callback(t, p, webRedirect).Get("error") != "login_required" {
		t.Error("session survived the sign-out")
	}
	grants, err := ts.srv.st.ListGrants(context.Background(), store.GrantQuery{Subject: "alice-sub"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.SessionID == sid {
			t.Errorf("grant of %s in the ended session is live", g.ClientID)
		}
	}

	// The other browser's session has idle: its sign-out, without a redirect, frames idle only
	// and shows the signed-out page itself.
	got = readFrontchannelPage(t, other.signOut(t, url.Values{}))
	if !slices.Equal(got.frames, []string{idleFrontchannel}) || got.frameSrc != "https://idle.example.test" {
		t.Errorf("other session: iframes %q, frame-src %q", got.frames, got.frameSrc)
	}
	if got.continueTo != "" || got.refresh != "" {
		t.Errorf("a sign-out without post_logout_redirect_uri continues to %q (refresh %q)", got.continueTo, got.refresh)
	}
}

// A session whose clients registered no front-channel URI ends as before: straight back to
// the client.
func TestFrontchannelLogoutWithoutURIs(t *testing.T) {
	ts := newFrontchannelServer(t, nil)
	b := ts.browser()
	b.signInTo(t, "spa", spaRedirect)
	done := b.signOut(t, url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {"https://app.example.test/bye"}})
	if done.status != http.StatusSeeOther || done.location != "https://app.example.test/bye" {
		t.Fatalf("sign-out: %d %q %s", done.status, done.location, done.body)
	}
}

// failingSessionClients fails every read of which clients a session had.
type failingSessionClients struct{ store.Store }

var errSessionClients = errors.New("session clients unavailable")

func (f failingSessionClients) SessionClientIDs(context.Context, string) ([]string, error) {
	return nil, errSessionClients
}

// A store failure while listing the session's clients does not keep the user signed in: the
// sign-out goes on, without frames.
func TestFrontchannelLogoutStoreFailure(t *testing.T) {
	ts := newFrontchannelServer(t, func(st store.Store) store.Store { return failingSessionClients{st} })
	b := ts.browser()
	code := b.signIn(authURL(nil)).Get("code")
	if res := ts.redeem(code, nil); res.status != http.StatusOK {
		t.Fatalf("redeem: %s", res.raw)
	}
	done := b.signOut(t, url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {"https://app.example.test/bye"}})
	if done.status != http.StatusSeeOther || done.location != "https://app.example.test/bye" {
		t.Fatalf("sign-out: %d %q", done.status, done.location)
	}
	if p := b.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil); callback(t, p, webRedirect).Get("error") != "login_required" {
		t.Error("session survived the sign-out")
	}
}

func TestDiscoveryFrontchannelLogout(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if res.body["frontchannel_logout_supported"] != true || res.body["frontchannel_logout_session_supported"] != true {
		t.Errorf("discovery: frontchannel_logout_supported %v, frontchannel_logout_session_supported %v",
			res.body["frontchannel_logout_supported"], res.body["frontchannel_logout_session_supported"])
	}
}
