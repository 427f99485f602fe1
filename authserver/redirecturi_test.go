package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLoopbackRedirectPort: RFC 8252 §7.3 lets a native app's loopback redirect URI use any
// port; RFC 9700 §4.1.3 wants exact matching for everyone else. So the port may vary for
// public clients and for clients that opted in, never for "localhost", and never elsewhere
// in the URI.
func TestLoopbackRedirectPort(t *testing.T) {
	registered := []string{"http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb", "http://127.0.0.1:3000/fixed"}
	ts := newTestServerWith(t, func(c *Config) {
		c.Clients = append(c.Clients,
			ClientConfig{ID: "native", GrantTypes: []string{"authorization_code"}, RedirectURIs: registered,
				PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}},
			ClientConfig{ID: "confidential", Secret: webSecret, GrantTypes: []string{"authorization_code"}, RedirectURIs: registered},
			ClientConfig{ID: "opted-in", Secret: webSecret, GrantTypes: []string{"authorization_code"}, RedirectURIs: registered,
				RedirectURIAnyLoopbackPort: true},
		)
	})
	anyPort := map[string]bool{"native": true, "confidential": false, "opted-in": true}
	cases := []struct {
		uri string
		// exact: the URI is registered as is; portOnly: it differs from one only in the port.
		exact, portOnly bool
	}{
		{"http://127.0.0.1/cb", true, false},
		{"http://127.0.0.1:53127/cb", false, true},
		{"http://[::1]/cb", true, false},
		{"http://[::1]:53127/cb", false, true},
		{"http://127.0.0.1:3000/fixed", true, false},
		{"http://127.0.0.1:4000/fixed", false, true},
		{"http://127.0.0.1/fixed", false, true},
		{"http://localhost/cb", true, false},
		{"http://localhost:53127/cb", false, false}, // RFC 8252 §8.3: no leeway for localhost
		{"http://127.0.0.1:53127/other", false, false},
		{"http://127.0.0.1:53127/cb?x=1", false, false},
		{"http://127.0.0.2:53127/cb", false, false},
		{"https://127.0.0.1:53127/cb", false, false},
	}
	for client, portMayVary := range anyPort {
		for _, tc := range cases {
			want := tc.exact || (tc.portOnly && portMayVary)
			t.Run(client+" "+tc.uri, func(t *testing.T) {
				q := url.Values{"client_id": {client}, "redirect_uri": {tc.uri}, "response_type": {"code"},
					"code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"}}
				p := ts.browser().do(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
				accepted := p.status == http.StatusOK && strings.Contains(p.body, `name="password"`)
				if accepted != want {
					t.Fatalf("accepted = %v, want %v (%d %s)", accepted, want, p.status, p.body)
				}
				if !want && (p.status != http.StatusBadRequest || p.location != "") {
					t.Fatalf("a refused redirect_uri must get the error page, never a redirect: %d %q", p.status, p.location)
				}
			})
		}
	}

	// post_logout_redirect_uris match exactly, even for a public client (no session here, so
	// an accepted one is redirected to at once).
	for uri, want := range map[string]int{"http://127.0.0.1/bye": http.StatusSeeOther, "http://127.0.0.1:53127/bye": http.StatusBadRequest} {
		q := url.Values{"client_id": {"native"}, "post_logout_redirect_uri": {uri}}
		p := ts.browser().do(http.MethodGet, testIssuer+"/end_session?"+q.Encode(), nil)
		if p.status != want || (want == http.StatusSeeOther) != (p.location == uri) {
			t.Errorf("end_session to %s: %d %q, want %d", uri, p.status, p.location, want)
		}
	}
}
