package spec

import (
	"net/url"
	"strings"
)

// checkLogout applies OpenID Connect Back-Channel Logout 1.0 §2.2 and Front-Channel Logout
// 1.0 §2 to the client's logout URIs: absolute https URLs (http on loopback, for development,
// as for every URL a client publishes), a query allowed, no fragment; a *_session_required
// flag needs its URI; and the front-channel URI shares the scheme, host and port of a
// redirect URI, so the page the server frames belongs to the client that signed the user in.
func (c Client) checkLogout(Env) error {
	for _, l := range []struct {
		uriField, flagField string
		uri                 string
		sessionRequired     bool
	}{
		{"backchannel_logout_uri", "backchannel_logout_session_required", c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired},
		{"frontchannel_logout_uri", "frontchannel_logout_session_required", c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired},
	} {
		if l.uri == "" {
			if l.sessionRequired {
				return errorf(CodeInvalidClientMetadata, l.flagField, "", "needs %s", l.uriField)
			}
			continue
		}
		if len(l.uri) > maxURILength {
			return errorf(CodeInvalidClientMetadata, l.uriField, "", "is longer than %d bytes", maxURILength)
		}
		if err := validateWebURL(l.uriField, l.uri); err != nil {
			return err
		}
	}
	if c.FrontchannelLogoutURI != "" && !c.sharesRedirectOrigin(c.FrontchannelLogoutURI) {
		return errorf(CodeInvalidClientMetadata, "frontchannel_logout_uri", c.FrontchannelLogoutURI,
			"must have the scheme, host and port of one of the redirect_uris (Front-Channel Logout §2)")
	}
	return nil
}

// sharesRedirectOrigin reports whether uri has the origin of one of the client's redirect
// URIs. On loopback the port is ignored when redirect URIs match on any loopback port (public
// clients, RFC 8252 §7.3, or the opt-in), since the client's port is then not fixed.
func (c Client) sharesRedirectOrigin(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	anyLoopbackPort := c.IsPublic() || c.RedirectURIAnyLoopbackPort
	for _, raw := range c.RedirectURIs {
		r, err := url.Parse(raw)
		if err != nil || !strings.EqualFold(r.Scheme, u.Scheme) || !strings.EqualFold(r.Hostname(), u.Hostname()) {
			continue
		}
		if portOf(r) == portOf(u) || (anyLoopbackPort && IsLoopbackHost(u.Hostname())) {
			return true
		}
	}
	return false
}

// portOf is the URL's port, the scheme's default when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
