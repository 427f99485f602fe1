package logout

// OpenID Connect Front-Channel Logout 1.0: the sign-out page of the authorization server
// loads each client's frontchannel_logout_uri in an iframe, so the client, in the user's
// browser and with its own cookies, ends its session too.

import (
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// FrontchannelURL is the URL the sign-out page frames for client when the login session sid
// of issuer ends, or "" when the client registered no frontchannel_logout_uri. A client that
// requires the session gets iss and sid added to the query (Front-Channel Logout §2, §4), its
// own query parameters kept; the URI was validated at registration (spec: absolute, no
// fragment).
func FrontchannelURL(client *store.Client, issuer, sid string) string {
	if client == nil || client.FrontchannelLogoutURI == "" {
		return ""
	}
	if !client.FrontchannelLogoutSessionRequired {
		return client.FrontchannelLogoutURI
	}
	u, err := url.Parse(client.FrontchannelLogoutURI)
	if err != nil {
		return "" // never stored: spec refuses it; framing a broken URL would help nobody
	}
	q := u.Query()
	q.Set("iss", issuer)
	q.Set("sid", sid)
	u.RawQuery = q.Encode()
	return u.String()
}
