package logout

import (
	"net/url"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestFrontchannelURL(t *testing.T) {
	const issuer, sid = "https://as.example/tenant a", "sid/with+plus&amp"
	cases := []struct {
		name   string
		client *store.Client
		want   string
	}{
		{"no client", nil, ""},
		{"no uri", &store.Client{ID: "c", FrontchannelLogoutSessionRequired: true}, ""},
		{"uri as registered", &store.Client{ID: "c", FrontchannelLogoutURI: "https://rp.example/fc?x=1"}, "https://rp.example/fc?x=1"},
		{"session required", &store.Client{ID: "c", FrontchannelLogoutURI: "https://rp.example/fc", FrontchannelLogoutSessionRequired: true},
			"https://rp.example/fc?iss=https%3A%2F%2Fas.example%2Ftenant+a&sid=sid%2Fwith%2Bplus%26amp"},
		{"session required keeps the client's query", &store.Client{ID: "c", FrontchannelLogoutURI: "https://rp.example/fc?tenant=7", FrontchannelLogoutSessionRequired: true},
			"https://rp.example/fc?iss=https%3A%2F%2Fas.example%2Ftenant+a&sid=sid%2Fwith%2Bplus%26amp&tenant=7"},
		{"session required replaces a registered iss", &store.Client{ID: "c", FrontchannelLogoutURI: "https://rp.example/fc?iss=forged", FrontchannelLogoutSessionRequired: true},
			"https://rp.example/fc?iss=https%3A%2F%2Fas.example%2Ftenant+a&sid=sid%2Fwith%2Bplus%26amp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := FrontchannelURL(tc.client, issuer, sid)
			if got != tc.want {
				t.Fatalf("FrontchannelURL = %q, want %q", got, tc.want)
			}
			if got == "" || !tc.client.FrontchannelLogoutSessionRequired {
				return
			}
			// What the client reads back is exactly the issuer and the session.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if q := u.Query(); q.Get("iss") != issuer || q.Get("sid") != sid {
				t.Errorf("decoded iss %q sid %q", q.Get("iss"), q.Get("sid"))
			}
		})
	}
}
