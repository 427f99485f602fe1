package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// logoutRequest is a validated RP-initiated logout request, sealed into the confirmation form.
type logoutRequest struct {
	ID          string `json:"id"`
	ClientID    string `json:"client_id,omitempty"`
	RedirectURI string `json:"redirect_uri,omitempty"`
	State       string `json:"state,omitempty"`
	SessionID   string `json:"sid,omitempty"`
	Exp         int64  `json:"exp"`
	// UILocales is the request's ui_locales (RP-Initiated Logout §2): the pages' languages.
	UILocales string `json:"ui_locales,omitempty"`
}

const logoutAD = "caddy-oauth logout v1"

// handleEndSession is OpenID Connect RP-Initiated Logout 1.0: it validates the request, asks
// the user to confirm, then ends the session, revokes the session's grants and returns to the
// client's registered post_logout_redirect_uri.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if err := parsePostForm(w, r); err != nil {
			s.logoutError(w, r, oautherr.As(err))
			return
		}
		if r.PostForm.Has("interaction") {
			s.confirmLogout(w, r)
			return
		}
	}
	q, err := authorizationParams(w, r)
	if err != nil {
		s.logoutError(w, r, oautherr.As(err))
		return
	}
	lr, client, e := s.parseLogout(r, q)
	if e != nil {
		s.logoutError(w, r, e)
		return
	}
	sess, err := s.currentSession(r.Context(), r)
	if err != nil {
		s.logoutError(w, r, oautherr.Server(err))
		return
	}
	if sess == nil {
		// Nothing to end: no need to ask.
		s.finishLogout(w, r, lr)
		return
	}
	lr.SessionID = sess.ID
	sealed, err := s.sealLogout(lr)
	if err != nil {
		s.logoutError(w, r, oautherr.Server(err))
		return
	}
	pages, _ := s.pages(r, lr.UILocales)
	page := ui.LogoutPage{
		Page: ui.Page{
			Action:      s.endpoint(pathEndSession),
			CSRFToken:   s.csrfToken(w, r, "l:"+lr.ID),
			Interaction: sealed,
		},
		Account: sess.account.Username,
	}
	if client != nil {
		page.ClientName = clientName(client)
	}
	if lr.RedirectURI != "" {
		page.FormActions = []string{lr.RedirectURI}
	}
	s.logRender(pages.Logout(w, http.StatusOK, page))
}

// parseLogout validates id_token_hint, client_id and post_logout_redirect_uri (RP-Initiated
// Logout §2, §3): a redirect needs an identified client and an exactly registered URI.
func (s *Server) parseLogout(r *http.Request, q url.Values) (*logoutRequest, *store.Client, *oautherr.Error) {
	lr := &logoutRequest{ID: newJTI(), ClientID: q.Get("client_id"), State: q.Get("state"), Exp: s.now().Add(s.cfg.InteractionTTL).Unix()}
	if v := q.Get("ui_locales"); len(v) <= 256 {
		lr.UILocales = v
	}
	if hint := q.Get("id_token_hint"); hint != "" {
		claims, err := s.verifyIDToken(hint)
		if err != nil {
			return nil, nil, oautherr.Request("id_token_hint is not an ID token issued by this server")
		}
		auds := claims.audiences()
		switch {
		case lr.ClientID != "" && !slices.Contains(auds, lr.ClientID):
			return nil, nil, oautherr.Request("client_id does not match the id_token_hint")
		case lr.ClientID == "" && len(auds) > 0:
			lr.ClientID = auds[0]
		}
	}
	var client *store.Client
	if lr.ClientID != "" {
		c, err := s.lookups.GetClient(r.Context(), lr.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, oautherr.Request("the client is unknown")
		} else if err != nil {
			return nil, nil, oautherr.Server(err)
		}
		client = c
	}
	if uri := q.Get("post_logout_redirect_uri"); uri != "" {
		if client == nil {
			return nil, nil, oautherr.Request("post_logout_redirect_uri needs id_token_hint or client_id")
		}
		if !slices.Contains(client.PostLogoutRedirectURIs, uri) {
			return nil, nil, oautherr.Request("post_logout_redirect_uri is not registered for this client")
		}
		lr.RedirectURI = uri
	}
	return lr, client, nil
}

// confirmLogout handles the confirmation page's answer.
func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request) {
	lr := s.openLogout(r.PostForm.Get("interaction"))
	if lr == nil {
		s.renderExpired(w, r)
		return
	}
	if !s.checkCSRF(r, r.PostForm, "l:"+lr.ID) {
		s.logoutError(w, r, &oautherr.Error{Code: oautherr.InvalidRequest, Description: "the form was not sent from this browser's sign-out page", Status: http.StatusForbidden})
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		pages, _ := s.pages(r, lr.UILocales)
		s.logRender(pages.LoggedOut(w, http.StatusOK, ui.LoggedOutPage{Cancelled: true, Back: s.lookupClientBack(r.Context(), lr.ClientID)}))
		return
	}
	ctx := r.Context()
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.logoutError(w, r, oautherr.Server(err))
		return
	}
	frames := s.frontchannelFrames(ctx, sess)
	if sess != nil {
		s.sessionEnding(ctx, sess.Subject, sess.ID)
		n, err := s.st.RevokeSessionGrants(ctx, sess.ID)
		if err != nil {
			s.logoutError(w, r, oautherr.Server(err))
			return
		}
		s.log.Info("signed out", zap.String("sub", sess.Subject), zap.String("sid", sess.ID),
			zap.String("client_id", lr.ClientID), zap.Int("grants_revoked", n))
		s.clearGateway()
		if err := s.endSession(ctx, w, sess); err != nil {
			s.logoutError(w, r, oautherr.Server(err))
			return
		}
	}
	s.finishLogoutFrontchannel(w, r, lr, frames)
}

// finishLogout returns to the client, or shows the signed-out page.
func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	if lr.RedirectURI == "" {
		// No post_logout_redirect_uri: lead back to the application when it is known.
		pages, _ := s.pages(r, lr.UILocales)
		s.logRender(pages.LoggedOut(w, http.StatusOK, ui.LoggedOutPage{Back: s.lookupClientBack(r.Context(), lr.ClientID)}))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, postLogoutRedirect(lr), http.StatusSeeOther)
}

// postLogoutRedirect is the client's post_logout_redirect_uri with the request's state.
func postLogoutRedirect(lr *logoutRequest) string {
	u, _ := url.Parse(lr.RedirectURI) // registered and validated
	if lr.State != "" {
		q := u.Query()
		q.Set("state", lr.State)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (s *Server) logoutError(w http.ResponseWriter, r *http.Request, e *oautherr.Error) {
	if e.Code == oautherr.ServerError {
		s.log.Error("logout failed", zap.Error(e.Cause))
	}
	kind := ui.ErrorLogout
	if e.Status >= http.StatusInternalServerError {
		kind = ui.ErrorFailed
	}
	s.showError(w, r, e.Status, kind, e, "", ui.Back{})
}

func (s *Server) sealLogout(lr *logoutRequest) (string, error) { return s.sealJSON(lr, logoutAD) }

func (s *Server) openLogout(v string) *logoutRequest {
	var lr logoutRequest
	if !s.openJSON(v, logoutAD, &lr) || lr.ID == "" || s.now().Unix() > lr.Exp {
		return nil
	}
	return &lr
}
