package authserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Messages of the login page. One message for every failed sign-in, so the page never tells
// whether an account exists.
// They are catalog keys (authserver/ui/locales).
const (
	msgBadCredentials = "login.error.bad_credentials"
	msgThrottled      = "login.error.throttled"
	msgMissing        = "login.error.missing"
)

// pageForm reads a page's POSTed form and the interaction it continues, checking the CSRF
// token. It answers the request itself and returns nil when any of that fails.
func (s *Server) pageForm(w http.ResponseWriter, r *http.Request) (url.Values, *interaction, *store.Client) {
	if err := parsePostForm(w, r); err != nil {
		e := oautherr.As(err)
		s.showError(w, r, e.Status, "", e, "", ui.Back{})
		return nil, nil, nil
	}
	in := s.openInteraction(r.PostForm.Get("interaction"))
	if in == nil {
		s.renderExpired(w, r)
		return nil, nil, nil
	}
	if !s.checkCSRF(r, r.PostForm, "i:"+in.ID) {
		s.showError(w, r, http.StatusForbidden, ui.ErrorCSRF,
			oautherr.Request("the form was not sent from this browser's sign-in page"), in.Req.UILocales, ui.Back{})
		return nil, nil, nil
	}
	client, err := s.lookups.GetClient(r.Context(), in.Req.ClientID)
	if err != nil || client.Disabled {
		s.renderExpired(w, r)
		return nil, nil, nil
	}
	return r.PostForm, in, client
}

// handleLogin checks the login page's credentials, starts a session and resumes the request.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	form, in, client := s.pageForm(w, r)
	if in == nil {
		return
	}
	if form.Get("decision") == "deny" {
		s.decline(w, r, in, "the user cancelled the sign-in")
		return
	}
	username := account.NormalizeUsername(form.Get("username"))
	password := form.Get("password")
	if username == "" || password == "" {
		s.renderLogin(w, r, client, in, http.StatusBadRequest, username, msgMissing)
		return
	}
	acc, wait, err := s.checkPassword(r, username, password, client.ID)
	switch {
	case errors.Is(err, errThrottled):
		w.Header().Set("Retry-After", retryAfter(wait))
		s.renderLogin(w, r, client, in, http.StatusTooManyRequests, username, msgThrottled, "wait", wait)
		return
	case errors.Is(err, account.ErrInvalidCredentials):
		s.renderLogin(w, r, client, in, http.StatusUnauthorized, username, msgBadCredentials)
		return
	case err != nil:
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	sess, err := s.startSession(r.Context(), w, r, acc, sessionStart{AMR: []string{"pwd"}})
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	s.signedIn(w, r, client, in, sess)
}

// signedIn ends every sign-in of an interaction (password, passkey, delegated): the success
// is observed and audited (with extra fields), and the interaction resumes in a new request,
// which carries the new session's cookie (Post/Redirect/Get).
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, sess *userSession, extra ...zap.Field) {
	s.observer.SignIn("success")
	s.audit.Event(audit.SignInSucceeded, append([]zap.Field{zap.String("sub", sess.Subject), zap.String("sid", sess.ID),
		zap.String("client_id", client.ID), zap.String("remote_ip", s.clientIP(r)), zap.Strings("amr", sess.AMR)}, extra...)...)
	in.LoginSID = sess.ID
	sealed, err := s.sealInteraction(in)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	http.Redirect(w, r, s.endpoint(pathResume)+"?"+url.Values{"interaction": {sealed}}.Encode(), http.StatusSeeOther)
}

// errThrottled: checkPassword refused to check a password (too many failures).
var errThrottled = errors.New("too many failed sign-in attempts")

// checkPassword is the one password check: the login page, the account pages' sign-in and
// the current password of a password change all come here, so they count against the same
// limits (login_limits) and are observed and audited alike. It returns the account, or
// errThrottled with the wait, account.ErrInvalidCredentials, or the account source's
// failure. clientID names the client in the audit log ("" for the account pages).
func (s *Server) checkPassword(r *http.Request, username, password, clientID string) (*store.Account, time.Duration, error) {
	ip := s.clientIP(r)
	// Begin may first wait a few seconds when the username is being guessed, the same for
	// every username, existing or not.
	attempt, wait := s.limiter.Begin(username, ip)
	if attempt == nil {
		s.observer.SignIn("throttled")
		s.audit.Event(audit.SignInThrottled, zap.String("client_id", clientID), zap.String("remote_ip", ip), zap.Duration("retry_after", wait))
		return nil, wait, errThrottled
	}
	// Checked even if the client has gone meanwhile, so that every admitted guess counts.
	acc, err := s.accounts.Authenticate(context.WithoutCancel(r.Context()), username, password)
	switch {
	case errors.Is(err, account.ErrInvalidCredentials):
		attempt.Failed()
		s.observer.SignIn("invalid_credentials")
		// The username is not logged: people type passwords into it by mistake.
		s.audit.Event(audit.SignInFailed, zap.String("client_id", clientID), zap.String("remote_ip", ip))
		return nil, 0, err
	case err != nil:
		// A failing account source is not a failed guess: the reserved attempt just expires.
		s.observer.SignIn("error")
		return nil, 0, err
	}
	attempt.Succeeded()
	return acc, 0, nil
}

// retryAfter is a Retry-After value for wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return fmt.Sprint(max(1, int((wait+time.Second-1)/time.Second)))
}

// handleConsent records the consent page's decision and finishes the request.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	form, in, client := s.pageForm(w, r)
	if in == nil {
		return
	}
	ctx := r.Context()
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	if sess == nil || (in.LoginSID != "" && in.LoginSID != sess.ID) {
		// Signed out (or in as someone else) in another tab meanwhile: sign in again.
		in.LoginSID = ""
		s.renderLogin(w, r, client, in, http.StatusOK, in.Req.LoginHint, "")
		return
	}
	if form.Get("decision") == "switch_account" {
		// "Not you?": the session no longer serves this request; whoever signs in now does.
		in.LoginSID, in.SwitchAccount = "", true
		s.renderLogin(w, r, client, in, http.StatusOK, "", "")
		return
	}
	if form.Get("decision") != "approve" {
		s.decline(w, r, in, "the user denied the request")
		return
	}
	if form.Get("remember") == "1" {
		if err := s.rememberConsent(r, sess.Subject, client.ID, in.Req); err != nil {
			s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
			return
		}
	}
	in.Consented = true
	in.LoginSID = sess.ID
	s.proceed(w, r, client, in, false)
}

// rememberConsent adds the request's scopes and resources to what the account already
// allowed the client.
func (s *Server) rememberConsent(r *http.Request, subject, clientID string, req *authRequest) error {
	c, err := s.st.GetConsent(r.Context(), subject, clientID)
	if errors.Is(err, store.ErrNotFound) {
		c = &store.Consent{Subject: subject, ClientID: clientID}
	} else if err != nil {
		return err
	}
	for _, sc := range req.consentScopes() {
		if !slices.Contains(c.Scopes, sc) {
			c.Scopes = append(c.Scopes, sc)
		}
	}
	for _, res := range req.Resources {
		if !slices.Contains(c.Resources, res) {
			c.Resources = append(c.Resources, res)
		}
	}
	if err := s.st.UpsertConsent(r.Context(), c); err != nil {
		return err
	}
	s.audit.Event(audit.ConsentGiven, zap.String("sub", subject), zap.String("client_id", clientID),
		zap.Strings("scopes", req.consentScopes()), zap.Strings("resources", req.Resources))
	return nil
}

// clientIP is the address login throttling counts against: Deps.ClientIP (Caddy's trusted-proxy
// aware client IP) or the peer address.
func (s *Server) clientIP(r *http.Request) string {
	if s.deps.ClientIP != nil {
		if ip := s.deps.ClientIP(r); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
