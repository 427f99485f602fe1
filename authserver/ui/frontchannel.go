package ui

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// FrontchannelLogoutPage is the sign-out page of OpenID Connect Front-Channel Logout 1.0: it
// loads each client's logout URL in a hidden iframe, so every client the user signed in to
// ends its own session, then continues to ContinueURL.
//
// With JavaScript, an inline script continues as soon as every iframe has loaded, or after
// WaitSeconds when one hangs. Without it, a meta refresh continues RefreshSeconds after the
// page and its frames loaded (browsers start the refresh timer at the load event, which a hung
// frame delays), and the user can always select Continue. Without a ContinueURL the page
// itself tells the user they are signed out.
type FrontchannelLogoutPage struct {
	Title  string
	Frames []LogoutFrame
	// ContinueURL is where the browser goes next: the client's registered
	// post_logout_redirect_uri (with its state). The caller validated it; it is a
	// template.URL so a native app's private-use scheme is not rewritten, and the renderer
	// still refuses script-running schemes.
	ContinueURL template.URL
	// RefreshSeconds is the meta refresh delay; 0 means DefaultLogoutRefreshSeconds.
	RefreshSeconds int
	// WaitSeconds is how long the script waits for frames that do not load; 0 means
	// DefaultLogoutWaitSeconds.
	WaitSeconds int
}

// LogoutFrame is one client's front-channel logout iframe.
type LogoutFrame struct {
	ClientName string
	// URL is the client's frontchannel_logout_uri (with iss and sid when it asked for them):
	// an absolute http(s) URL.
	URL string
}

// DefaultLogoutRefreshSeconds is how long the page waits, without JavaScript, for the
// iframes before it continues: long enough for a client's logout URL to answer, short enough
// that nobody waits for a hung one.
const DefaultLogoutRefreshSeconds = 2

// DefaultLogoutWaitSeconds is how long the script waits for a client's logout URL that does
// not answer before the browser continues anyway: a hung client must not trap the user.
const DefaultLogoutWaitSeconds = 5

// FrontchannelLogout renders the front-channel sign-out page. Its Content-Security-Policy
// frame-src lists exactly the origins of the frames, and nothing else may be framed.
func (r *Renderer) FrontchannelLogout(w http.ResponseWriter, status int, p FrontchannelLogoutPage) error {
	if len(p.Frames) == 0 {
		return fail(w, errors.New("ui: a front-channel logout page needs at least one frame"))
	}
	var frames []string
	for _, f := range p.Frames {
		origin, ok := cspSource(f.URL)
		if !ok || !(strings.HasPrefix(origin, "https://") || strings.HasPrefix(origin, "http://")) {
			return fail(w, errors.New("ui: a front-channel logout frame must be an absolute http(s) URL"))
		}
		if !slices.Contains(frames, origin) {
			frames = append(frames, origin)
		}
	}
	if p.ContinueURL != "" {
		if _, ok := cspSource(string(p.ContinueURL)); !ok {
			return fail(w, errors.New("ui: the front-channel logout page's continue URL must be an absolute URL of a safe scheme"))
		}
	}
	if p.RefreshSeconds <= 0 {
		p.RefreshSeconds = DefaultLogoutRefreshSeconds
	}
	if p.WaitSeconds <= 0 {
		p.WaitSeconds = DefaultLogoutWaitSeconds
	}
	key := "logged_out.title"
	if p.ContinueURL != "" {
		key = "frontchannel.title"
	}
	// The script only moves on sooner; without a place to go there is nothing to run.
	csp := policy{formAction: formActionSources(nil), frames: frames, script: p.ContinueURL != ""}
	return r.renderWith(w, status, pageFrontchannelLogout, r.title(p.Title, key), p, csp)
}
