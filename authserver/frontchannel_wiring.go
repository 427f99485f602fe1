package authserver

import (
	"context"
	"errors"
	"html/template"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
	"github.com/caddy-oauth/caddy-oauth/backchannel/logout"
)

// OpenID Connect Front-Channel Logout 1.0: when the user confirms the sign-out, the page that
// follows loads the frontchannel_logout_uri of every client the ended session signed in to,
// in hidden iframes, then continues to the post-logout redirect (backchannel/logout builds
// the URLs, ui renders the page).

// maxLogoutFrames bounds the iframes of one sign-out page (and its CSP header); a session
// with more clients than that is not a real user's.
const maxLogoutFrames = 50

// frontchannelMetadata is what discovery says about front-channel logout (§3).
type frontchannelMetadata struct {
	FrontchannelLogoutSupported        bool `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported bool `json:"frontchannel_logout_session_supported"`
}

func frontchannelDiscovery() frontchannelMetadata {
	return frontchannelMetadata{FrontchannelLogoutSupported: true, FrontchannelLogoutSessionSupported: true}
}

// frontchannelFrames lists the logout iframes of the clients that had a grant in the session.
// Failing to read them must not keep the user signed in, so an
// error is logged and the sign-out goes on without frames.
func (s *Server) frontchannelFrames(ctx context.Context, sess *userSession) []ui.LogoutFrame {
	if sess == nil {
		return nil
	}
	ids, err := s.st.SessionClientIDs(ctx, sess.ID)
	if err != nil {
		s.log.Error("front-channel logout: listing the session's clients failed", zap.String("sid", sess.ID), zap.Error(err))
		return nil
	}
	var frames []ui.LogoutFrame
	for _, id := range ids {
		c, err := s.lookups.GetClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since: nobody left to tell
		} else if err != nil {
			s.log.Error("front-channel logout: reading a client failed", zap.String("client_id", id), zap.Error(err))
			continue
		}
		if u := logout.FrontchannelURL(c, s.cfg.Issuer, sess.ID); u != "" {
			frames = append(frames, ui.LogoutFrame{ClientName: clientName(c), URL: u})
		}
		if len(frames) == maxLogoutFrames {
			s.log.Warn("front-channel logout: too many clients in one session, the rest are not framed",
				zap.String("sid", sess.ID), zap.Int("clients", len(ids)))
			break
		}
	}
	return frames
}

// finishLogoutFrontchannel ends a confirmed sign-out: through the front-channel logout page
// when the session's clients asked for it, else as finishLogout does.
func (s *Server) finishLogoutFrontchannel(w http.ResponseWriter, r *http.Request, lr *logoutRequest, frames []ui.LogoutFrame) {
	if len(frames) == 0 {
		s.finishLogout(w, r, lr)
		return
	}
	page := ui.FrontchannelLogoutPage{Frames: frames}
	if lr.RedirectURI != "" {
		// A registered post_logout_redirect_uri, checked by parseLogout.
		page.ContinueURL = template.URL(postLogoutRedirect(lr))
	}
	pages, _ := s.pages(r, lr.UILocales)
	s.logRender(pages.FrontchannelLogout(w, http.StatusOK, page))
}
