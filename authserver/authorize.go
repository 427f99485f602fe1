package authserver

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/passkey"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// interaction is an authorization request in progress: it travels sealed (AES-GCM under the
// master key) through the login and consent pages, so no server-side state is needed until a
// code is issued, and every instance sharing the master key can continue it.
type interaction struct {
	ID  string       `json:"id"`
	Req *authRequest `json:"req"`
	Exp int64        `json:"exp"`
	// LoginSID is the session signed in during this interaction: it satisfies prompt=login,
	// select_account, max_age and id_token_hint for this request.
	LoginSID string `json:"login_sid,omitempty"`
	// Consented is set when the user allowed this request on the consent page.
	Consented bool `json:"consented,omitempty"`
	// Device, when set, makes the interaction approve a device (device_wiring.go) instead of
	// issuing an authorization code.
	Device *deviceInteraction `json:"device,omitempty"`
	// CIBA, when set, makes it answer a CIBA request (ciba_wiring.go).
	CIBA *cibaInteraction `json:"ciba,omitempty"`
	// SwitchAccount is set when the user chose "Use another account" on the consent page:
	// the current session no longer serves this request until someone signs in for it.
	SwitchAccount bool `json:"switch_account,omitempty"`
}

const interactionAD = "caddy-oauth interaction v1"

func (s *Server) sealInteraction(in *interaction) (string, error) {
	return s.sealJSON(in, interactionAD)
}

// openInteraction returns the interaction of a page's form or resume link, or nil when it is
// missing, forged or expired.
func (s *Server) openInteraction(v string) *interaction {
	var in interaction
	if !s.openJSON(v, interactionAD, &in) || in.Req == nil || in.ID == "" || s.now().Unix() > in.Exp {
		return nil
	}
	return &in
}

// sealJSON encrypts v for a round trip through the browser (a hidden field or a link),
// bound to purpose ad.
func (s *Server) sealJSON(v any, ad string) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := s.deps.Sealer.Seal(plain, []byte(ad))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openJSON reverses sealJSON into out; false for anything missing, oversized or forged.
func (s *Server) openJSON(v, ad string, out any) bool {
	if v == "" || len(v) > 16<<10 {
		return false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	plain, err := s.deps.Sealer.Open(sealed, []byte(ad))
	return err == nil && json.Unmarshal(plain, out) == nil
}

// target is where the response to the request goes; nil for a request without a redirect
// URI (a device's), whose errors are shown on a page.
func (a *authRequest) target() *responseTarget {
	if a.RedirectURI == "" {
		return nil
	}
	return &responseTarget{RedirectURI: a.RedirectURI, Mode: a.ResponseMode, State: a.State, ClientID: a.ClientID}
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q, err := authorizationParams(w, r)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.As(err)})
		return
	}
	q, perr := s.securedParams(r.Context(), q)
	if perr != nil {
		s.authFail(w, r, perr)
		return
	}
	req, client, aerr := s.parseAuthRequest(r.Context(), q)
	if aerr != nil {
		s.authFail(w, r, aerr)
		return
	}
	in := &interaction{ID: newJTI(), Req: req, Exp: s.now().Add(s.cfg.InteractionTTL).Unix()}
	s.proceed(w, r, client, in, false)
}

// handleResume continues an interaction after the login page (Post/Redirect/Get).
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	in := s.openInteraction(r.URL.Query().Get("interaction"))
	if in == nil {
		s.renderExpired(w, r)
		return
	}
	client, err := s.lookups.GetClient(r.Context(), in.Req.ClientID)
	if err != nil || client.Disabled {
		s.renderExpired(w, r)
		return
	}
	s.proceed(w, r, client, in, true)
}

// proceed decides what a request needs next — the login page, the consent page, or a code —
// and answers it.
func (s *Server) proceed(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, resumed bool) {
	ctx := r.Context()
	req := in.Req
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: req.target()})
		return
	}
	if code, why := s.loginNeeded(req, client, sess, in); code != "" {
		if req.hasPrompt("none") {
			s.authFail(w, r, &authError{err: oautherr.New(code, why), to: req.target()})
			return
		}
		username := req.LoginHint
		if username == "" && sess != nil && !in.SwitchAccount {
			username = sess.account.Username
		}
		s.renderLogin(w, r, client, in, http.StatusOK, username, "")
		return
	}
	if cibaWrongUser(in, sess) {
		// Only the user the request names may answer it.
		s.showError(w, r, http.StatusForbidden, ui.ErrorOtherAccount,
			oautherr.New(oautherr.AccessDenied, "the request names another account"), req.UILocales, clientBack(client))
		return
	}
	consent, err := s.consentNeeded(ctx, req, client, sess, in)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: req.target()})
		return
	}
	if consent {
		if req.hasPrompt("none") {
			s.authFail(w, r, &authError{err: oautherr.New(oautherr.ConsentRequired, "the user has not consented to this request"), to: req.target()})
			return
		}
		s.renderConsent(w, r, client, in, sess)
		return
	}
	if resumed || in.Consented {
		// A sealed interaction is a capability: let it produce one code only.
		if err := s.st.UseOnce(ctx, "interaction:"+in.ID, time.Unix(in.Exp, 0)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				s.renderExpired(w, r)
				return
			}
			s.authFail(w, r, &authError{err: oautherr.Server(err), to: req.target()})
			return
		}
	}
	if in.Device != nil {
		s.finishDevice(w, r, in, sess)
		return
	}
	if in.CIBA != nil {
		s.finishCIBA(w, r, in, sess)
		return
	}
	code, err := s.issueCode(ctx, client, req, sess)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: req.target()})
		return
	}
	s.respond(w, r, req.target(), url.Values{"code": {code}})
}

// loginNeeded returns the OIDC error code to answer under prompt=none (and a description) when
// the user must sign in first, or "" when the session serves this request.
func (s *Server) loginNeeded(req *authRequest, client *store.Client, sess *userSession, in *interaction) (string, string) {
	switch {
	case sess == nil:
		return oautherr.LoginRequired, "the user is not signed in"
	case in.SwitchAccount && in.LoginSID == "":
		return oautherr.LoginRequired, "the user chose another account"
	case s.passkeyRequired(req) && !passkey.PhishingResistant(sess.AMR):
		// Before LoginSID: a password sign-in during this very interaction is not enough.
		return oautherr.LoginRequired, "the requested acr needs a passkey sign-in"
	case in.LoginSID != "":
		if in.LoginSID == sess.ID {
			return "", ""
		}
		return oautherr.LoginRequired, "the session changed during sign-in"
	case req.hasPrompt("login"):
		return oautherr.LoginRequired, "prompt=login"
	case req.hasPrompt("select_account"):
		return oautherr.AccountSelectionRequired, "prompt=select_account"
	case req.MaxAge != nil && s.now().Sub(sess.AuthTime) > time.Duration(*req.MaxAge)*time.Second:
		return oautherr.LoginRequired, "the sign-in is older than max_age"
	case req.HintSubject != "" && req.HintSubject != s.subjectFor(client, sess.Subject):
		return oautherr.LoginRequired, "the signed-in user is not the one id_token_hint names"
	case req.Claims.requiredSubject() != "" && req.Claims.requiredSubject() != s.subjectFor(client, sess.Subject):
		return oautherr.LoginRequired, "the signed-in user is not the one the claims parameter names"
	case req.LoginHint != "" && req.hasPrompt("none") && !strings.EqualFold(req.LoginHint, sess.account.Username):
		return oautherr.AccountSelectionRequired, "the signed-in user is not the one login_hint names"
	}
	return "", ""
}

// consentNeeded: prompt=consent always asks; first-party clients (skip_consent) otherwise
// never do; for the others a remembered consent covering every requested scope and resource
// answers.
func (s *Server) consentNeeded(ctx context.Context, req *authRequest, client *store.Client, sess *userSession, in *interaction) (bool, error) {
	switch {
	case in.Consented:
		return false, nil
	case req.hasPrompt("consent"):
		return true, nil // asked for explicitly, even by a first-party client
	case client.SkipConsent:
		return false, nil
	}
	c, err := s.st.GetConsent(ctx, sess.Subject, client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return !isSubset(req.consentScopes(), c.Scopes) || !isSubset(req.Resources, c.Resources), nil
}

func isSubset(items, set []string) bool {
	for _, it := range items {
		if !slices.Contains(set, it) {
			return false
		}
	}
	return true
}

// issueCode stores a new authorization code for the signed-in user and returns its value.
func (s *Server) issueCode(ctx context.Context, client *store.Client, req *authRequest, sess *userSession) (string, error) {
	now := s.now()
	code := newTokenValue()
	c := &store.AuthorizationCode{
		Hash:                hashToken(code),
		ClientID:            req.ClientID,
		Subject:             sess.Subject,
		SessionID:           sess.ID,
		Scopes:              req.Scopes,
		Resources:           req.Resources,
		Nonce:               req.Nonce,
		AuthTime:            sess.AuthTime,
		AMR:                 sess.AMR,
		ACR:                 cmp.Or(sess.ACR, s.acrForSession(req, sess.AMR)), // a delegated sign-in's own acr first
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		DPoPJKT:             req.DPoPJKT,
		GrantID:             newJTI(),
		Claims:              req.Claims.encode(),
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.codeTTL(client)),
	}
	if req.RedirectParam {
		c.RedirectURI = req.RedirectURI
	}
	if err := s.st.CreateAuthorizationCode(ctx, c); err != nil {
		return "", err
	}
	return code, nil
}

// acrFor returns the first requested acr value this server satisfies — from acr_values
// (voluntary, OIDC Core §3.1.2.1) or the claims parameter's acr value(s) (§5.5.1.1) — or "".
func (s *Server) acrFor(req *authRequest) string {
	claimed, _ := req.Claims.acrRequest()
	for _, v := range append(slices.Clone(req.ACRValues), claimed...) {
		if slices.Contains(s.cfg.ACRValues, v) {
			return v
		}
	}
	return ""
}

// respond sends an authorization response (success or error) to a verified redirect URI in
// the request's response mode, always with iss (RFC 9207).
func (s *Server) respond(w http.ResponseWriter, r *http.Request, to *responseTarget, params url.Values) {
	if to.State != "" {
		params.Set("state", to.State)
	}
	params.Set("iss", s.cfg.Issuer)
	mode, signed := jwtModeBase(to.Mode)
	if signed {
		// JARM §2.1: the parameters travel inside one signed JWT, the response parameter.
		jwt, err := s.jarmResponse(r.Context(), to, params)
		if err != nil {
			s.log.Error("signing an authorization response (JARM) failed", zap.String("client_id", to.ClientID), zap.Error(err))
			s.showError(w, r, http.StatusInternalServerError, ui.ErrorFailed, &oautherr.Error{Code: oautherr.ServerError, Description: "the server could not sign the response for this application"}, "", ui.Back{})
			return
		}
		params = url.Values{"response": {jwt}}
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	switch mode {
	case modeFormPost:
		page := ui.FormPostPage{Action: to.RedirectURI}
		for _, name := range sortedKeys(params) {
			page.Params = append(page.Params, ui.Param{Name: name, Value: params.Get(name)})
		}
		pages, _ := s.pages(r, "")
		s.logRender(pages.FormPost(w, http.StatusOK, page))
	case modeFragment:
		http.Redirect(w, r, to.RedirectURI+"#"+params.Encode(), http.StatusSeeOther)
	default:
		u, _ := url.Parse(to.RedirectURI) // registered and validated
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// authFail answers a failed authorization request: to the client when its redirect URI is
// verified, otherwise on an error page (never a redirect to an unverified URI).
func (s *Server) authFail(w http.ResponseWriter, r *http.Request, e *authError) {
	if e.err.Status >= http.StatusInternalServerError || e.err.Code == oautherr.ServerError {
		s.log.Error("authorization request failed", zap.Error(e.err))
		if s.unavailable(e.err.Cause) {
			e.err = oautherr.Unavailable(nil)
		} else {
			e.err = &oautherr.Error{Code: oautherr.ServerError, Description: "the server could not complete the request", Status: http.StatusInternalServerError}
		}
	}
	if e.to != nil {
		s.respond(w, r, e.to, e.err.Params())
		return
	}
	status := e.err.Status
	if status == http.StatusUnauthorized {
		status = http.StatusBadRequest
	}
	kind := ui.ErrorRejected
	if status >= http.StatusInternalServerError {
		kind = ui.ErrorFailed
	}
	// The client may be known even when its redirect URI is not: its client_uri is a
	// registered way back, unlike the unverified redirect URI.
	s.showError(w, r, status, kind, e.err, "", s.lookupClientBack(r.Context(), requestClientID(r)))
}

// requestClientID is the client_id an authorization request names in its query or form, ""
// when there is none.
func requestClientID(r *http.Request) string {
	if id := r.URL.Query().Get("client_id"); id != "" {
		return id
	}
	if r.PostForm != nil {
		return r.PostForm.Get("client_id")
	}
	return ""
}

// renderError shows e on the error page (status 0 means 400), with the description
// oautherr allows to be sent, like every other rendering of an OAuth error. It renders in
// English with title; showError (pages_wiring.go) renders for people, in their language.
func (s *Server) renderError(w http.ResponseWriter, status int, title string, e *oautherr.Error) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.logRender(s.ui.Error(w, status, ui.ErrorPage{Title: title, Code: e.Code, Description: e.SafeDescription()}))
}

// unavailable reports whether err is the database (or the network to it) failing: a timeout,
// a network error, or what the store classifies as its database being down, restarting, full
// or overloaded. Those are answered temporarily_unavailable (RFC 6749 §4.1.2.1), not
// server_error: the client should retry.
func (s *Server) unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return true
	}
	c, ok := s.deps.Store.(store.ErrorClassifier)
	return ok && c.Unavailable(err)
}

func (s *Server) renderExpired(w http.ResponseWriter, r *http.Request) {
	s.showError(w, r, http.StatusBadRequest, ui.ErrorExpired,
		oautherr.Request("the interaction expired or was already used"), "", ui.Back{})
}

func (s *Server) logRender(err error) {
	if err != nil {
		s.log.Error("rendering a page failed", zap.Error(err))
	}
}

// formActions lists the origins a page's form may lead to: the response goes to the client's
// redirect URI after a 303, and Chromium applies CSP form-action to that redirect.
func formActions(req *authRequest) []string {
	u, err := url.Parse(req.RedirectURI)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// renderLogin shows the login page. message is a catalog key (or "" for none) with its
// arguments: pairs of placeholder name and value, a time.Duration value worded as a wait.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, status int, username, message string, args ...any) {
	if s.delegated.Login() {
		sess, _ := s.currentSession(r.Context(), r) // only informs the app
		s.delegate(w, r, delegated.KindLogin, client, in, sess)
		return
	}
	sealed, err := s.sealInteraction(in)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	pages, loc := s.pages(r, in.Req.UILocales)
	page := ui.LoginPage{
		Page: ui.Page{
			Action:      s.endpoint(pathLogin),
			CSRFToken:   s.csrfToken(w, r, "i:"+in.ID),
			Interaction: sealed,
			FormActions: formActions(in.Req),
		},
		ClientName: clientName(client),
		Client:     clientInfo(client),
		Username:   username,
		Error:      localize(loc, message, args...),
	}
	page.Passkey = s.passkeyLoginForm(page.CSRFToken)
	if page.Passkey != nil && s.passkeyRequired(in.Req) {
		page.Passkey.Required = true
		if page.Error == "" {
			page.Notice = localize(loc, msgPasskeyRequired)
		}
	}
	s.logRender(pages.Login(w, status, page))
}

// localize is the message key in loc's language with args (a time.Duration worded as a
// wait); "" stays "", and text that is not a key is kept as it is.
func localize(loc ui.Localizer, key string, args ...any) string {
	if key == "" || !loc.Has(key) {
		return key
	}
	for i, a := range args {
		if d, ok := a.(time.Duration); ok {
			args[i] = loc.Wait(d)
		}
	}
	return loc.Text(key, args...)
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, client *store.Client, in *interaction, sess *userSession) {
	if s.delegated.Consent() {
		s.delegate(w, r, delegated.KindConsent, client, in, sess)
		return
	}
	sealed, err := s.sealInteraction(in)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err), to: in.Req.target()})
		return
	}
	pages, loc := s.pages(r, in.Req.UILocales)
	page := ui.ConsentPage{
		Page: ui.Page{
			Action:      s.endpoint(pathConsent),
			CSRFToken:   s.csrfToken(w, r, "i:"+in.ID),
			Interaction: sealed,
			FormActions: formActions(in.Req),
		},
		ClientName:      clientName(client),
		ClientID:        client.ID,
		Client:          clientInfo(client),
		Account:         sess.account.Username,
		Scopes:          s.consentScopes(loc, in.Req.consentScopes()),
		RememberDefault: s.cfg.ConsentRememberDefault,
		// A CIBA request names its user; anyone else cannot answer it anyway.
		SwitchAccount: in.CIBA == nil,
	}
	if in.Device == nil && in.CIBA == nil {
		page.PasskeysURL = s.passkeysLink(sess, sealed)
	}
	if in.Device != nil {
		page.UserCode = in.Device.UserCode
	}
	if in.CIBA != nil {
		page.BindingMessage = in.CIBA.BindingMessage
	}
	for _, id := range in.Req.Resources {
		name := id
		if res, err := s.lookups.resourceByIdentifier(r.Context(), id); err == nil && res.Name != "" {
			name = res.Name
		}
		page.Resources = append(page.Resources, ui.Resource{Identifier: id, Name: s.resourceName(loc, id, name)})
	}
	s.logRender(pages.Consent(w, http.StatusOK, page))
}

func clientName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
