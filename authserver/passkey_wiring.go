package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/passkey"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Passkeys (WebAuthn): package passkey runs the ceremonies and keeps the rules; this file
// gives it the server's sessions, pages and interactions. A passkey is registered on the
// /passkeys page by a signed-in user (linked from the consent page), and signs in on the
// login page's second form, which resumes the interaction like the password form does.

const (
	// pathPasskeyLogin finishes a passkey sign-in from the login page.
	pathPasskeyLogin = "/login/passkey"
	// pathPasskeys is the signed-in user's passkeys page: list, add, remove.
	pathPasskeys = "/passkeys"
	// pathPasskeyScript is the pages' script calling navigator.credentials.
	pathPasskeyScript = "/assets/passkey.js"
)

// PasskeysConfig turns passkeys on (off when nil).
type PasskeysConfig struct {
	// Config is the relying party: RP ID and origins default to the issuer's host and origin.
	passkey.Config
	// PhishingResistantACR is an acr value that only a passkey sign-in satisfies: a request
	// asking for it (acr_values or an acr claim request) makes a password-only session sign in
	// with a passkey first. It is added to acr_values_supported.
	PhishingResistantACR string
}

// passkeyDefaults fills and checks the passkeys configuration.
func (c *Config) passkeyDefaults() error {
	if c.Passkeys == nil {
		return nil
	}
	if c.Delegated.LoginURL != "" {
		return errors.New("passkeys: sign-in is delegated (delegated_login login_url), so the login page passkeys sign in on is never shown; " +
			"let the login app offer passkeys and report them in its accept (amr [\"hwk\"] or [\"swk\"], and the acr it earns)")
	}
	p := *c.Passkeys
	var err error
	if p.Config, err = p.Config.WithDefaults(c.Issuer); err != nil {
		return err
	}
	if v := p.PhishingResistantACR; v != "" && !slices.Contains(c.ACRValues, v) {
		c.ACRValues = append(slices.Clone(c.ACRValues), v)
	}
	c.Passkeys = &p
	return nil
}

// newPasskeys builds the ceremonies, or nil when passkeys are off.
func (s *Server) newPasskeys() (*passkey.Service, error) {
	if s.cfg.Passkeys == nil {
		return nil, nil
	}
	return passkey.New(s.cfg.Passkeys.Config, s.st, s.deps.Sealer, s.deps.Sealer.DeriveKey("passkey user handle"), s.now)
}

func (s *Server) passkeyRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.passkeys == nil {
		return
	}
	routes[base+pathPasskeyLogin] = s.handlePasskeyLogin
	routes[base+pathPasskeys] = s.handlePasskeys
	routes[base+pathPasskeyScript] = ui.ServePasskeyScript
}

// passkeyRequired reports whether req asks for the phishing-resistant acr.
func (s *Server) passkeyRequired(req *authRequest) bool {
	if s.cfg.Passkeys == nil || s.cfg.Passkeys.PhishingResistantACR == "" {
		return false
	}
	claimed, _ := req.Claims.acrRequest()
	v := s.cfg.Passkeys.PhishingResistantACR
	return slices.Contains(req.ACRValues, v) || slices.Contains(claimed, v)
}

// acrSatisfied reports whether a sign-in with amr earns acr v: the phishing-resistant value
// only with a passkey, every other configured value always.
func (s *Server) acrSatisfied(v string, amr []string) bool {
	if s.cfg.Passkeys != nil && v == s.cfg.Passkeys.PhishingResistantACR && v != "" {
		return passkey.PhishingResistant(amr)
	}
	return slices.Contains(s.cfg.ACRValues, v)
}

// acrForSession is acrFor for a sign-in with amr: the first requested acr value it earns.
func (s *Server) acrForSession(req *authRequest, amr []string) string {
	claimed, _ := req.Claims.acrRequest()
	for _, v := range append(slices.Clone(req.ACRValues), claimed...) {
		if s.acrSatisfied(v, amr) {
			return v
		}
	}
	return ""
}

// passkeyLoginForm is the login page's passkey form, or nil when passkeys are off (or the
// ceremony cannot start, which only costs the form).
func (s *Server) passkeyLoginForm(binding string) *ui.PasskeyForm {
	if s.passkeys == nil {
		return nil
	}
	c, err := s.passkeys.BeginLogin(binding)
	if err != nil {
		s.log.Error("starting a passkey sign-in failed", zap.Error(err))
		return nil
	}
	return &ui.PasskeyForm{Action: s.endpoint(pathPasskeyLogin), Options: c.Options, State: c.State, Script: s.endpoint(pathPasskeyScript)}
}

// passkeysLink is the consent page's link to add a passkey (and come back), for a session
// that did not sign in with one.
func (s *Server) passkeysLink(sess *userSession, sealed string) string {
	if s.passkeys == nil || passkey.PhishingResistant(sess.AMR) {
		return ""
	}
	return s.endpoint(pathPasskeys) + "?" + url.Values{"interaction": {sealed}}.Encode()
}

// Messages of the passkey pages.
const (
	msgPasskeyFailed   = "login.error.passkey_failed"
	msgPasskeyExpired  = "login.error.passkey_expired"
	msgPasskeyRequired = "login.notice.passkey_required"
	msgPasskeyNoScript = "login.error.passkey_no_script"
)

// handlePasskeyLogin finishes a passkey sign-in from the login page: on success it starts a
// session with the passkey's amr and resumes the interaction.
func (s *Server) handlePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	form, in, client := s.pageForm(w, r)
	if in == nil {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	response := form.Get("credential")
	if response == "" {
		s.renderLogin(w, r, client, in, http.StatusBadRequest, "", msgPasskeyNoScript)
		return
	}
	res, err := s.passkeys.FinishLogin(context.WithoutCancel(ctx), form.Get("passkey_state"), form.Get("csrf_token"), []byte(response))
	if err == nil {
		err = s.passkeyAccountUsable(ctx, res.Subject)
	}
	if err != nil {
		msg, status, ok := passkeyFailure(err)
		if !ok {
			s.observer.SignIn("error")
			s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
			return
		}
		s.observer.SignIn("invalid_credentials")
		fields := []zap.Field{zap.String("client_id", client.ID), zap.String("remote_ip", ip), zap.String("method", "passkey"), zap.String("reason", err.Error())}
		if res != nil {
			fields = append(fields, zap.String("passkey_id", res.Passkey.ID))
		}
		s.audit.Event(audit.SignInFailed, fields...)
		s.renderLogin(w, r, client, in, status, "", msg)
		return
	}
	acc, err := s.accounts.Account(ctx, res.Subject)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	sess, err := s.startSession(ctx, w, r, acc, sessionStart{AMR: res.AMR, PasskeyID: res.Passkey.ID})
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	s.signedIn(w, r, client, in, sess, zap.String("passkey_id", res.Passkey.ID))
}

// errPasskeyAccount: the passkey is fine but its account is gone or disabled.
var errPasskeyAccount = errors.New("the passkey's account is disabled or deleted")

func (s *Server) passkeyAccountUsable(ctx context.Context, subject string) error {
	acc, err := s.accounts.Account(ctx, subject)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, account.ErrDisabled), err == nil && acc.Disabled:
		return errPasskeyAccount
	}
	return err
}

// passkeyFailure maps a refused passkey to the page's message and status; ok is false for
// a server failure.
func passkeyFailure(err error) (msg string, status int, ok bool) {
	switch {
	case errors.Is(err, passkey.ErrExpired):
		return msgPasskeyExpired, http.StatusBadRequest, true
	case errors.Is(err, passkey.ErrRejected), errors.Is(err, passkey.ErrUnknownCredential), errors.Is(err, passkey.ErrRevoked),
		errors.Is(err, passkey.ErrCloned), errors.Is(err, errPasskeyAccount):
		return msgPasskeyFailed, http.StatusUnauthorized, true
	case errors.Is(err, passkey.ErrDuplicate):
		return "passkeys.error.exists", http.StatusConflict, true
	}
	return "", 0, false
}

// handlePasskeys is the signed-in user's passkeys page: GET shows the list and the form to
// add one; POST adds (action=register) or removes (action=remove) one, then shows the page
// again (Post/Redirect/Get). An interaction parameter (from the consent page) adds a link
// back to it.
func (s *Server) handlePasskeys(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var form url.Values
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		form = r.URL.Query()
	case http.MethodPost:
		if err := parsePostForm(w, r); err != nil {
			e := oautherr.As(err)
			s.showError(w, r, e.Status, "", e, "", ui.Back{})
			return
		}
		form = r.PostForm
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.showError(w, r, http.StatusMethodNotAllowed, "", oautherr.Request("use GET or POST"), "", ui.Back{})
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
		return
	}
	var cont string
	if v := form.Get("interaction"); v != "" && s.openInteraction(v) != nil {
		cont = v
	}
	if sess == nil {
		pages, _ := s.pages(r, "")
		s.logRender(pages.Passkeys(w, http.StatusOK, ui.PasskeysPage{}))
		return
	}
	purpose := "passkeys:" + sess.ID
	if r.Method != http.MethodPost {
		s.renderPasskeys(w, r, sess, cont, purpose, http.StatusOK, "", form.Get("added") == "1")
		return
	}
	if !s.checkCSRF(r, form, purpose) {
		s.showError(w, r, http.StatusForbidden, ui.ErrorCSRF,
			oautherr.Request("the form was not sent from this browser's passkeys page"), "", ui.Back{})
		return
	}
	next := s.endpoint(pathPasskeys)
	q := url.Values{}
	if cont != "" {
		q.Set("interaction", cont)
	}
	switch form.Get("action") {
	case "remove":
		err := s.st.RevokePasskey(ctx, sess.Subject, form.Get("id"), s.now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
			return
		}
		if err == nil {
			s.audit.Event(audit.PasskeyRevoked, zap.String("sub", sess.Subject), zap.String("passkey_id", form.Get("id")), zap.String("by", "user"))
			if err := s.endPasskeySessions(ctx, sess.Subject, form.Get("id")); err != nil {
				s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
				return
			}
		}
	default:
		if form.Get("credential") == "" {
			s.renderPasskeys(w, r, sess, cont, purpose, http.StatusBadRequest, "passkeys.error.no_script", false)
			return
		}
		p, err := s.passkeys.FinishRegistration(context.WithoutCancel(ctx), s.passkeyAccount(sess), form.Get("passkey_state"),
			form.Get("csrf_token"), []byte(form.Get("credential")), form.Get("name"))
		if err != nil {
			msg, status, ok := passkeyFailure(err)
			if !ok {
				s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
				return
			}
			if errors.Is(err, passkey.ErrRejected) {
				msg = "passkeys.error.rejected"
			}
			s.log.Info("a passkey registration was refused", zap.String("sub", sess.Subject), zap.Error(err))
			s.renderPasskeys(w, r, sess, cont, purpose, status, msg, false)
			return
		}
		s.audit.Event(audit.PasskeyRegistered, zap.String("sub", sess.Subject), zap.String("passkey_id", p.ID),
			zap.Bool("backup_eligible", p.BackupEligible), zap.String("attachment", p.Attachment))
		q.Set("added", "1")
	}
	if len(q) > 0 {
		next += "?" + q.Encode()
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) passkeyAccount(sess *userSession) passkey.Account {
	display, _ := sess.account.Claims["name"].(string)
	return passkey.Account{Subject: sess.Subject, Name: sess.account.Username, DisplayName: display}
}

func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, sess *userSession, cont, purpose string, status int, message string, added bool) {
	csrf := s.csrfToken(w, r, purpose)
	page := ui.PasskeysPage{
		Page:    ui.Page{Action: s.endpoint(pathPasskeys), CSRFToken: csrf, Interaction: cont},
		Account: sess.account.Username,
		Error:   message,
		Added:   added,
	}
	if cont != "" {
		page.ContinueURL = s.endpoint(pathResume) + "?" + url.Values{"interaction": {cont}}.Encode()
	}
	list, err := s.st.ListPasskeys(r.Context(), sess.Subject)
	if err != nil {
		s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
		return
	}
	for _, p := range list {
		if p.RevokedAt.IsZero() {
			page.Passkeys = append(page.Passkeys, ui.Passkey{ID: p.ID, Name: p.Name, Synced: p.BackupEligible,
				Created: p.CreatedAt.Format(time.DateOnly), LastUsed: dateOrEmpty(p.LastUsedAt)})
		}
	}
	c, err := s.passkeys.BeginRegistration(r.Context(), s.passkeyAccount(sess), csrf)
	if err != nil {
		s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, oautherr.Server(err), "", ui.Back{})
		return
	}
	page.Register = &ui.PasskeyForm{Action: s.endpoint(pathPasskeys), Options: c.Options, State: c.State, Script: s.endpoint(pathPasskeyScript)}
	pages, _ := s.pages(r, "")
	s.logRender(pages.Passkeys(w, status, page))
}

func dateOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// PasskeyView is a passkey as management shows it (no key material).
type PasskeyView struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Attachment     string    `json:"attachment,omitempty"`
	Transports     []string  `json:"transports,omitempty"`
	BackupEligible bool      `json:"backup_eligible"`
	UserVerified   bool      `json:"user_verified"`
	SignCount      uint32    `json:"sign_count"`
	CloneWarning   bool      `json:"clone_warning"`
	CreatedAt      time.Time `json:"created_at"`
	LastUsedAt     time.Time `json:"last_used_at,omitzero"`
	Revoked        bool      `json:"revoked"`
	RevokedAt      time.Time `json:"revoked_at,omitzero"`
}

// ErrPasskeyNotFound: the account has no such active passkey.
var ErrPasskeyNotFound = errors.New("no such passkey")

// ListPasskeys returns the passkeys of the account with username, revoked ones included.
func (s *Server) ListPasskeys(ctx context.Context, username string) ([]PasskeyView, error) {
	acc, err := s.passkeyOwner(ctx, username)
	if err != nil {
		return nil, err
	}
	list, err := s.st.ListPasskeys(ctx, acc.Subject)
	if err != nil {
		return nil, err
	}
	views := make([]PasskeyView, 0, len(list))
	for _, p := range list {
		views = append(views, PasskeyView{ID: p.ID, Name: p.Name, Attachment: p.Attachment, Transports: p.Transports,
			BackupEligible: p.BackupEligible, UserVerified: p.UserVerified, SignCount: p.SignCount, CloneWarning: p.CloneWarning,
			CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt, Revoked: !p.RevokedAt.IsZero(), RevokedAt: p.RevokedAt})
	}
	return views, nil
}

// RevokePasskey revokes a passkey of the account with username: it never signs in again,
// and the sessions it signed in end with their grants (endPasskeySessions).
func (s *Server) RevokePasskey(ctx context.Context, username, id string) error {
	acc, err := s.passkeyOwner(ctx, username)
	if err != nil {
		return err
	}
	if err := s.st.RevokePasskey(ctx, acc.Subject, id, s.now()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s of %s", ErrPasskeyNotFound, id, acc.Username)
	} else if err != nil {
		return err
	}
	s.audit.Event(audit.PasskeyRevoked, zap.String("sub", acc.Subject), zap.String("passkey_id", id), zap.String("by", "admin"))
	return s.endPasskeySessions(ctx, acc.Subject, id)
}

// endPasskeySessions ends the live sessions of subject that signed in with passkey id, as an
// operator's sign-out of each does (package manage): back-channel logout to their clients,
// their grants revoked with every token, revocation events for the gateways. A passkey is
// revoked because it may be lost or copied; whoever holds it keeps nothing it obtained.
func (s *Server) endPasskeySessions(ctx context.Context, subject, id string) error {
	sessions, err := s.st.ListSessions(ctx, subject)
	if err != nil {
		return fmt.Errorf("the passkey is revoked, but ending its sessions failed: %w", err)
	}
	ended := 0
	for _, se := range sessions {
		if se.PasskeyID == "" || se.PasskeyID != id {
			continue
		}
		if _, err := s.manage.RevokeSessions(ctx, "", se.ID); err != nil && !errors.Is(err, manage.ErrNotFound) {
			return fmt.Errorf("the passkey is revoked, but ending its sessions failed: %w", err)
		}
		ended++
	}
	if ended > 0 {
		s.log.Info("sessions of a revoked passkey ended", zap.String("sub", subject), zap.String("passkey_id", id), zap.Int("sessions", ended))
	}
	return nil
}

func (s *Server) passkeyOwner(ctx context.Context, username string) (*store.Account, error) {
	name := account.NormalizeUsername(username)
	if name == "" {
		return nil, fmt.Errorf("%w: a username is required", ErrInvalidAccount)
	}
	acc, err := s.st.GetAccountByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrAccountNotFound, name)
	}
	return acc, err
}
