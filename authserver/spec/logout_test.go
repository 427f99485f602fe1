package spec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// webClient is a confidential client signing users in at https://rp.example.
func webClient() Client {
	return Client{ID: "rp", Secret: "s", GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"https://rp.example/cb", "http://127.0.0.1:8080/cb"}}
}

func withLogout(f func(*Client)) Client {
	c := webClient()
	f(&c)
	return c
}

func TestLogoutURIRefusals(t *testing.T) {
	long := "https://rp.example/" + strings.Repeat("a", maxURILength)
	cases := []struct {
		name  string
		c     Client
		field string
	}{
		{"back-channel session without uri", withLogout(func(c *Client) { c.BackchannelLogoutSessionRequired = true }), "backchannel_logout_session_required"},
		{"front-channel session without uri", withLogout(func(c *Client) { c.FrontchannelLogoutSessionRequired = true }), "frontchannel_logout_session_required"},
		{"back-channel relative", withLogout(func(c *Client) { c.BackchannelLogoutURI = "/logout" }), "backchannel_logout_uri"},
		{"back-channel http off loopback", withLogout(func(c *Client) { c.BackchannelLogoutURI = "http://rp.example/logout" }), "backchannel_logout_uri"},
		{"back-channel fragment", withLogout(func(c *Client) { c.BackchannelLogoutURI = "https://rp.example/logout#x" }), "backchannel_logout_uri"},
		{"back-channel user info", withLogout(func(c *Client) { c.BackchannelLogoutURI = "https://u:p@rp.example/logout" }), "backchannel_logout_uri"},
		{"back-channel other scheme", withLogout(func(c *Client) { c.BackchannelLogoutURI = "ftp://rp.example/logout" }), "backchannel_logout_uri"},
		{"back-channel too long", withLogout(func(c *Client) { c.BackchannelLogoutURI = long }), "backchannel_logout_uri"},
		{"front-channel http off loopback", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "http://rp.example/logout" }), "frontchannel_logout_uri"},
		{"front-channel fragment", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "https://rp.example/logout#x" }), "frontchannel_logout_uri"},
		{"front-channel too long", withLogout(func(c *Client) { c.FrontchannelLogoutURI = long }), "frontchannel_logout_uri"},
		{"front-channel other host", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "https://evil.example/logout" }), "frontchannel_logout_uri"},
		{"front-channel other port", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "https://rp.example:8443/logout" }), "frontchannel_logout_uri"},
		{"front-channel loopback other port (exact matching)", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "http://127.0.0.1:9090/logout" }), "frontchannel_logout_uri"},
		{"front-channel without redirect uris", withLogout(func(c *Client) { c.RedirectURIs = nil; c.FrontchannelLogoutURI = "https://rp.example/logout" }), "frontchannel_logout_uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeClient(tc.c, Env{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *spec.Error", err)
			}
			if e.Field != tc.field || e.Code != CodeInvalidClientMetadata {
				t.Fatalf("err = %v (field %q code %q), want field %q code %q", err, e.Field, e.Code, tc.field, CodeInvalidClientMetadata)
			}
			if e.Value != "" && strings.Contains(e.Description(), e.Value) {
				t.Errorf("Description %q quotes the value %q", e.Description(), e.Value)
			}
		})
	}
}

func TestLogoutURIAccepted(t *testing.T) {
	cases := []struct {
		name string
		c    Client
	}{
		{"both, with query and session", withLogout(func(c *Client) {
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://rp.example/bc?tenant=1", true
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = "https://rp.example/fc?tenant=1", true
		})},
		{"back-channel on another host than the redirects", withLogout(func(c *Client) { c.BackchannelLogoutURI = "https://backend.rp.example/bc" })},
		{"back-channel http on loopback", withLogout(func(c *Client) { c.BackchannelLogoutURI = "http://localhost:9000/bc" })},
		{"front-channel explicit default port", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "https://RP.example:443/fc" })},
		{"front-channel loopback on the redirect's port", withLogout(func(c *Client) { c.FrontchannelLogoutURI = "http://127.0.0.1:8080/fc" })},
		{"front-channel loopback any port opt-in", withLogout(func(c *Client) {
			c.RedirectURIAnyLoopbackPort, c.FrontchannelLogoutURI = true, "http://127.0.0.1:9090/fc"
		})},
		{"front-channel loopback, public client", Client{ID: "native", RedirectURIs: []string{"http://127.0.0.1/cb"},
			FrontchannelLogoutURI: "http://127.0.0.1:5173/fc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NormalizeClient(tc.c, Env{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The four fields travel through every shape a client takes: JSON metadata (RFC 7591 names),
// the normalized client, the stored row and back.
func TestLogoutMetadataRoundTrip(t *testing.T) {
	in := `{"client_id":"rp","client_secret":"s","redirect_uris":["https://rp.example/cb"],
		"backchannel_logout_uri":"https://rp.example/bc","backchannel_logout_session_required":true,
		"frontchannel_logout_uri":"https://rp.example/fc?x=1","frontchannel_logout_session_required":true}`
	var m ClientMetadata
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	c, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	n, err := NormalizeClient(c, Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ClientRecord(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.BackchannelLogoutURI != "https://rp.example/bc" || !rec.BackchannelLogoutSessionRequired ||
		rec.FrontchannelLogoutURI != "https://rp.example/fc?x=1" || !rec.FrontchannelLogoutSessionRequired {
		t.Fatalf("record = %+v", rec)
	}
	out, err := json.Marshal(MetadataOf(rec, nil))
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	if err := json.Unmarshal(out, &shown); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"backchannel_logout_uri": "https://rp.example/bc", "backchannel_logout_session_required": true,
		"frontchannel_logout_uri": "https://rp.example/fc?x=1", "frontchannel_logout_session_required": true,
	} {
		if shown[k] != want {
			t.Errorf("%s = %v, want %v (in %s)", k, shown[k], want, out)
		}
	}
}
