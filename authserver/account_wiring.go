package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/selfservice"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Account self-service (issue 14 §7): package selfservice serves the pages; this file gives
// it the server's sessions, CSRF tokens, sign-in and password rules, and the management
// service, so a user's own revocation is exactly an operator's.

// pathAccount is the overview page; the others are below it (/account/password, /apps,
// /sessions, /login).
const pathAccount = "/account"

// AccountPagesConfig configures the self-service pages: on unless Disabled.
type AccountPagesConfig struct {
	Disabled bool
}

// accountRoutes adds the account pages to routes, unless they are off.
func (s *Server) accountRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.cfg.AccountPages.Disabled {
		return
	}
	pages := selfservice.New(selfservice.Deps{
		Core:       accountCore{s},
		Store:      s.st,
		Revoker:    s.manage,
		UI:         s.ui,
		Audit:      s.audit,
		Logger:     s.log.Named("account"),
		Path:       base + pathAccount,
		URL:        s.endpoint(pathAccount),
		SignOutURL: s.endpoint(pathEndSession),
		IdleTTL:    s.cfg.SessionIdleTTL,
		Now:        s.now,
		// The password rule lives in spec; the form and its messages only show it.
		MinPasswordLen: spec.MinNewPasswordLen,
	})
	for path, h := range pages.Routes() {
		routes[path] = h
	}
	if s.delegated.Login() {
		// The account pages' sign-in checks passwords: the login app signs people in instead.
		// The other pages serve a browser the app signed in.
		routes[base+pathAccount+"/login"] = s.handleSignInDelegated
	}
}

// accountCore is the authorization server as package selfservice sees it.
type accountCore struct{ s *Server }

var _ selfservice.Core = accountCore{}

func (c accountCore) Session(ctx context.Context, r *http.Request) (*selfservice.Session, error) {
	sess, err := c.s.currentSession(ctx, r)
	if err != nil || sess == nil {
		return nil, err
	}
	return &selfservice.Session{ID: sess.ID, Subject: sess.Subject, Username: sess.account.Username,
		AuthTime: sess.AuthTime, AMR: sess.AMR}, nil
}

func (c accountCore) CSRFToken(w http.ResponseWriter, r *http.Request, purpose string) string {
	return c.s.csrfToken(w, r, purpose)
}

func (c accountCore) CheckCSRF(r *http.Request, token, purpose string) bool {
	return token != "" && c.s.checkCSRF(r, url.Values{"csrf_token": {token}}, purpose)
}

func (c accountCore) SignIn(w http.ResponseWriter, r *http.Request, username, password string) error {
	s := c.s
	if s.delegated.Login() {
		// Not routed here then (accountRoutes); a second lock.
		return &selfservice.Refusal{Status: http.StatusForbidden, Message: msgPasswordExternal, Reason: "delegated"}
	}
	username = account.NormalizeUsername(username)
	if username == "" || password == "" {
		return &selfservice.Refusal{Status: http.StatusBadRequest, Message: "login.error.missing", Reason: "incomplete"}
	}
	acc, refusal, err := s.passwordAttempt(r, username, password)
	if refusal != nil || err != nil {
		return cmpErr(refusal, err)
	}
	sess, err := s.startSession(r.Context(), w, r, acc, sessionStart{AMR: []string{"pwd"}})
	if err != nil {
		return err
	}
	s.observer.SignIn("success")
	s.audit.Event(audit.SignInSucceeded, zap.String("sub", acc.Subject), zap.String("sid", sess.ID),
		zap.String("remote_ip", s.clientIP(r)), zap.Strings("amr", []string{"pwd"}), zap.String("via", "account"))
	return nil
}

// cmpErr returns the refusal when there is one (a typed nil must not become a non-nil error).
func cmpErr(refusal *selfservice.Refusal, err error) error {
	if refusal != nil {
		return refusal
	}
	return err
}

// passwordAttempt is checkPassword for the account pages: a throttled or wrong attempt is
// a Refusal with the login page's messages (which never tell whether the account exists).
func (s *Server) passwordAttempt(r *http.Request, username, password string) (*store.Account, *selfservice.Refusal, error) {
	acc, wait, err := s.checkPassword(r, username, password, "")
	if err == nil {
		return acc, nil, nil
	}
	// The login page's messages, in the request's language.
	_, loc := s.pages(r, "")
	switch {
	case errors.Is(err, errThrottled):
		return nil, &selfservice.Refusal{Status: http.StatusTooManyRequests, Message: loc.Text(msgThrottled, "wait", loc.Wait(wait)),
			Reason: "throttled", RetryAfter: wait}, nil
	case errors.Is(err, account.ErrInvalidCredentials):
		return nil, &selfservice.Refusal{Status: http.StatusUnauthorized, Message: loc.Text(msgBadCredentials), Reason: "wrong_password"}, nil
	}
	return nil, nil, err
}

// Why a password cannot be changed on the account pages.
const (
	msgPasswordConfigured = "account.password.configured"
	msgPasswordExternal   = "account.password.external"
)

func (c accountCore) PasswordManaged(ctx context.Context, se *selfservice.Session) (string, error) {
	switch {
	case c.s.deps.Accounts != nil, c.s.delegated.Login():
		// With sign-in delegated, the login app checks passwords, never this one.
		return msgPasswordExternal, nil
	case c.s.configuredAccount(account.NormalizeUsername(se.Username)):
		// The next start would put the configured password back.
		return msgPasswordConfigured, nil
	}
	return "", nil
}

// ChangePassword implements selfservice.Core. After the change the account is signed out
// everywhere but here: its other sessions end (back-channel logout to their clients) and every
// grant not made in this session is revoked with its tokens, as an operator's revocation
// does. A password is changed because it may have leaked; whoever used it elsewhere loses
// that access. Consents stay, so the user is not asked again after signing back in.
func (c accountCore) ChangePassword(ctx context.Context, r *http.Request, se *selfservice.Session, current, next string) error {
	s := c.s
	if msg, err := c.PasswordManaged(ctx, se); err != nil {
		return err
	} else if msg != "" {
		return &selfservice.Refusal{Status: http.StatusForbidden, Message: msg, Reason: "managed"}
	}
	if err := spec.ValidateNewPassword(next); err != nil {
		// The catalog message states the rules in the page's language; the log has err.
		s.log.Debug("new password refused", zap.Error(err))
		return &selfservice.Refusal{Status: http.StatusBadRequest, Message: "account.password.not_allowed", Reason: "invalid_password"}
	}
	acc, refusal, err := s.passwordAttempt(r, account.NormalizeUsername(se.Username), current)
	if refusal != nil {
		if refusal.Reason == "wrong_password" {
			refusal.Message = "account.password.wrong"
		}
		return refusal
	} else if err != nil {
		return err
	}
	if acc.Subject != se.Subject {
		// The username now names another account (deleted and recreated meanwhile).
		return &selfservice.Refusal{Status: http.StatusConflict, Message: "account.password.changed_meanwhile", Reason: "account_changed"}
	}
	hash, err := account.HashPassword(next)
	if err != nil {
		return &selfservice.Refusal{Status: http.StatusBadRequest, Message: "account.password.not_allowed", Reason: "invalid_password"}
	}
	// Read again right before writing, so a concurrent change of other fields is kept.
	stored, err := s.st.GetAccount(ctx, se.Subject)
	if err != nil {
		return err
	}
	stored.PasswordHash = hash
	if err := s.st.UpsertAccount(ctx, stored); err != nil {
		return err
	}
	sessions, grants, err := s.endOtherAccess(ctx, se.Subject, se.ID)
	s.log.Info("password changed by its user", zap.String("sub", se.Subject), zap.String("sid", se.ID),
		zap.Int("sessions_ended", sessions), zap.Int("grants_revoked", grants))
	if err != nil {
		return fmt.Errorf("the password is changed, but ending the other sessions failed: %w", err)
	}
	return nil
}

// endOtherAccess ends every session of subject but keep and revokes every grant not made in
// keep, through the management service (back-channel logout, revocation events, caches).
func (s *Server) endOtherAccess(ctx context.Context, subject, keep string) (sessions, grants int, err error) {
	all, err := s.st.ListSessions(ctx, subject)
	if err != nil {
		return 0, 0, err
	}
	for _, se := range all {
		if se.ID == keep {
			continue
		}
		n, err := s.manage.RevokeSessions(ctx, "", se.ID)
		if err != nil && !errors.Is(err, manage.ErrNotFound) {
			return sessions, grants, err
		}
		sessions += n
	}
	live, err := s.st.ListGrants(ctx, store.GrantQuery{Subject: subject})
	if err != nil {
		return sessions, grants, err
	}
	for _, g := range live {
		if keep != "" && g.SessionID == keep {
			continue
		}
		n, err := s.manage.RevokeGrants(ctx, manage.GrantFilter{GrantID: g.ID})
		if err != nil && !errors.Is(err, manage.ErrNotFound) {
			return sessions, grants, err
		}
		grants += n
	}
	return sessions, grants, nil
}

func (c accountCore) ForgetSession(w http.ResponseWriter) { c.s.setCookie(w, sessionCookie, "", -1) }

func (c accountCore) ClientName(ctx context.Context, clientID string) string {
	client, err := c.s.lookups.GetClient(ctx, clientID)
	if err != nil {
		return ""
	}
	return clientName(client)
}

func (c accountCore) ResourceName(ctx context.Context, identifier string) string {
	r, err := c.s.lookups.resourceByIdentifier(ctx, identifier)
	if err != nil {
		return ""
	}
	return r.Name
}

func (c accountCore) RenderLogin(w http.ResponseWriter, status int, action, csrfToken, username, message string) {
	c.s.logRender(c.s.ui.Login(w, status, ui.LoginPage{
		Page:     ui.Page{Title: "Sign in to your account", Action: action, CSRFToken: csrfToken},
		Username: username, Error: message,
	}))
}

func (c accountCore) RenderError(w http.ResponseWriter, status int, title, code, description string) {
	c.s.logRender(c.s.ui.Error(w, status, ui.ErrorPage{Title: title, Code: code, Description: description}))
}

func (c accountCore) RenderSignedOut(w http.ResponseWriter, title string) {
	c.s.logRender(c.s.ui.LoggedOut(w, http.StatusOK, ui.LoggedOutPage{Title: title}))
}

func (c accountCore) ClientIP(r *http.Request) string { return c.s.clientIP(r) }
