package authserver

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Delegated login and consent ("bring your own login app", package delegated): where the
// login (consent) page would be rendered, the browser goes to the app with a challenge
// instead; the app answers through the API, and the browser comes back to the callback,
// which starts the session (or records the consent) and resumes the interaction like the
// built-in pages do.

// newDelegated builds the API, or nil when nothing is delegated.
func (s *Server) newDelegated() *delegated.API {
	if !s.cfg.Delegated.Enabled() {
		return nil
	}
	return &delegated.API{
		Config:      s.cfg.Delegated,
		Issuer:      s.cfg.Issuer,
		Base:        s.basePath(),
		CallbackURL: s.endpoint(delegated.PathCallback),
		Sealer:      s.deps.Sealer,
		Replay:      s.st,
		Now:         s.now,
		Unavailable: s.unavailable,
		Decided: func(kind string, d *delegated.Decision, c *delegated.Context) {
			fields := []zap.Field{zap.String("kind", kind), zap.String("client_id", c.Client.ClientID)}
			switch {
			case d.Reject != nil:
				s.audit.Event(audit.DelegatedRejected, append(fields, zap.String("error", d.Reject.Error))...)
			case d.Login != nil:
				s.audit.Event(audit.DelegatedAccepted, append(fields, zap.String("sub", d.Login.Subject), zap.Strings("amr", d.Login.AMR), zap.String("acr", d.Login.ACR))...)
			default:
				s.audit.Event(audit.DelegatedAccepted, append(fields, zap.String("sub", c.Subject), zap.Strings("scopes", d.Consent.GrantScope), zap.Strings("resources", d.Consent.GrantAudience))...)
			}
		},
	}
}

func (s *Server) delegatedRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.delegated == nil {
		return
	}
	routes[base+delegated.PathCallback] = s.handleDelegatedCallback
	if s.delegated.Login() {
		// The login page is never shown, but its POST path would still check a local
		// account's password: turn it off (passkeys are refused by the configuration, the
		// account pages' sign-in in accountRoutes).
		routes[base+pathLogin] = s.handleSignInDelegated
	}
}

// handleSignInDelegated answers the built-in credential paths while sign-in is delegated:
// the server accepts no password of its own then, the login app alone signs people in
// (Hydra's model). The path stays the server's, so nothing behind it in Caddy answers it.
func (s *Server) handleSignInDelegated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost {
		s.audit.Event(audit.SignInFailed, zap.String("remote_ip", s.clientIP(r)), zap.String("reason", "sign-in is delegated"), zap.String("path", r.URL.Path))
	}
	s.showError(w, r, http.StatusForbidden, ui.ErrorDelegated,
		oautherr.New(oautherr.AccessDenied, "sign-in is delegated to the login app"), "", ui.Back{})
}

// delegatedPurpose ties a challenge to the browser it was issued to: an HMAC of the
// browser's CSRF cookie, so a redirect_to link sent to someone else's browser is refused.
func delegatedPurpose(in *interaction) string { return "delegated:" + in.ID }

// delegate sends the browser to the app with a challenge of kind for in.
func (s *Server) delegate(w http.ResponseWriter, r *http.Request, kind string, client *store.Client, in *interaction, sess *userSession) {
	raw, err := json.Marshal(in)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	req := in.Req
	c := delegated.Context{
		Client:            delegated.Client{ClientID: client.ID, ClientName: client.Name},
		RequestedScope:    nonNil(req.Scopes),
		RequestedAudience: nonNil(req.Resources),
		Prompt:            req.Prompt,
		MaxAge:            req.MaxAge,
		OIDCContext: delegated.OIDCContext{UILocales: strings.Fields(req.UILocales), LoginHint: req.LoginHint,
			ACRValues: req.ACRValues, IDTokenHintSubject: req.HintSubject},
	}
	if kind == delegated.KindConsent {
		c.RequestedScope = nonNil(req.consentScopes())
	}
	if sess != nil {
		c.Subject, c.AMR, c.ACR = sess.Subject, sess.AMR, sess.ACR
	}
	if in.Device != nil {
		c.DeviceUserCode = in.Device.UserCode
	}
	if in.CIBA != nil {
		c.CIBA = &delegated.CIBAContext{Subject: in.CIBA.Subject, BindingMessage: in.CIBA.BindingMessage}
	}
	binding := s.csrfToken(w, r, delegatedPurpose(in))
	to, err := s.delegated.Issue(kind, binding, raw, c, time.Unix(in.Exp, 0))
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: req.target()})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// handleDelegatedCallback resumes an interaction with the app's decision (the redirect_to URL
// the API answered).
func (s *Server) handleDelegatedCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	v := s.delegated.Open(r.URL.Query().Get("verifier"))
	var in interaction
	if v == nil || json.Unmarshal(v.Interaction, &in) != nil || in.Req == nil || in.ID == "" || s.now().Unix() > in.Exp {
		s.renderExpired(w, r)
		return
	}
	cookie := s.cookieValue(r, csrfCookie)
	if cookie == "" || !hmac.Equal([]byte(s.csrfMAC(cookie, delegatedPurpose(&in))), []byte(v.Binding)) {
		s.renderError(w, http.StatusForbidden, "This sign-in was started in another browser",
			oautherr.Request("The sign-in must finish in the browser it started in (cookies may be blocked). Go back to the application and start again."))
		return
	}
	if err := s.delegated.Spend(ctx, v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.renderExpired(w, r)
			return
		}
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	client, err := s.lookups.GetClient(ctx, in.Req.ClientID)
	if err != nil || client.Disabled {
		s.renderExpired(w, r)
		return
	}
	switch d := v.Decision; {
	case d.Reject != nil:
		if in.Device != nil || in.CIBA != nil {
			s.decline(w, r, &in, d.Reject.ErrorDescription)
			return
		}
		s.authFail(w, r, &authError{err: d.RejectError(), to: in.Req.target()})
	case d.Login != nil:
		s.delegatedLogin(w, r, client, &in, d.Login)
	case d.Consent != nil:
		s.delegatedConsent(w, r, client, &in, v.Context.Subject, d.Consent)
	default:
		s.renderExpired(w, r)
	}
}

// delegatedLogin starts a session for the subject the app signed in, then resumes.
func (s *Server) delegatedLogin(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, a *delegated.LoginAccept) {
	ctx := r.Context()
	if in.Req.HintSubject != "" && in.Req.HintSubject != s.subjectFor(client, a.Subject) {
		s.authFail(w, r, &authError{err: oautherr.New(oautherr.LoginRequired, "the signed-in user is not the one id_token_hint names"), to: in.Req.target()})
		return
	}
	acc, err := s.delegatedAccount(ctx, a)
	if errors.Is(err, account.ErrDisabled) {
		s.authFail(w, r, &authError{err: oautherr.New(oautherr.AccessDenied, "the account is disabled"), to: in.Req.target()})
		return
	} else if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	ttl := s.cfg.SessionTTL
	if !a.Remember {
		// Only for this interaction: the session ends when the interaction would, and its
		// cookie with the browser.
		ttl = max(time.Unix(in.Exp, 0).Sub(s.now()), time.Minute)
	} else if a.RememberFor > 0 && a.RememberFor < int64(ttl/time.Second) {
		ttl = time.Duration(a.RememberFor) * time.Second
	}
	sess, err := s.startSession(ctx, w, r, acc, sessionStart{AMR: a.AMR, ACR: a.ACR, TTL: ttl, BrowserOnly: !a.Remember})
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	in.Req.Claims = in.Req.Claims.withExtra(a.IDTokenClaims)
	s.signedIn(w, r, client, in, sess, zap.Bool("delegated", true))
}

// delegatedAccount returns the account for the app's subject. A subject the server does not
// know gets an account of its own (username delegated:<subject>, no password) holding the
// claims the app gave; the app's later sign-ins update them. A subject of a local account is
// that account (its claims stay the configuration's).
func (s *Server) delegatedAccount(ctx context.Context, a *delegated.LoginAccept) (*store.Account, error) {
	acc, err := s.st.GetAccount(ctx, a.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		acc = &store.Account{Subject: a.Subject, Username: delegated.ShadowUsername(a.Subject), Claims: maps.Clone(a.Claims)}
		if err := s.st.UpsertAccount(ctx, acc); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case acc.Disabled:
		return nil, account.ErrDisabled
	case delegated.IsShadow(acc) && a.Claims != nil:
		acc.Claims = maps.Clone(a.Claims)
		if err := s.st.UpsertAccount(ctx, acc); err != nil {
			return nil, err
		}
	}
	// Sessions are read back through the account source.
	got, err := s.accounts.Account(ctx, a.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("delegated login: the account source does not serve the store's accounts")
	}
	return got, err
}

// delegatedConsent records what the app's user allowed and resumes.
func (s *Server) delegatedConsent(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, subject string, c *delegated.ConsentAccept) {
	sess, err := s.currentSession(r.Context(), r)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	if sess == nil || sess.Subject != subject || (in.LoginSID != "" && in.LoginSID != sess.ID) {
		// Signed out (or in as someone else) meanwhile: sign in again.
		in.LoginSID = ""
		s.renderLogin(w, r, client, in, http.StatusOK, in.Req.LoginHint, "")
		return
	}
	in.Req.Scopes = c.GrantScope
	in.Req.Resources = c.GrantAudience
	in.Req.Claims = in.Req.Claims.withExtra(c.IDTokenClaims)
	if c.Remember {
		if err := s.rememberConsent(r, sess.Subject, client.ID, in.Req); err != nil {
			s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
			return
		}
	}
	in.Consented = true
	in.LoginSID = sess.ID
	s.proceed(w, r, client, in, false)
}
