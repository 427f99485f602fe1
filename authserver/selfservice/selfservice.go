// Package selfservice serves the account pages of a signed-in end user: who is signed in,
// changing the password, the applications the user allowed (and removing their access), and
// the user's sign-in sessions (and ending them).
//
// It knows the authorization server only through Core (sessions, CSRF tokens, sign-in and
// password checks, names of clients and resources, the shared pages), Store (what it lists)
// and Revoker (the management service, so a user's revocation is exactly an operator's:
// the same store calls, revocation events for gateways, back-channel logout, caches dropped).
//
// Every page needs a sign-in: without one the browser is sent to <prefix>/login, which
// returns to the page asked for. The return target is a fixed section name, never a URL, so
// there is no open redirect. Every form carries a CSRF token bound to the session; every
// change is an audit event.
package selfservice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	useragent "github.com/medama-io/go-useragent"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Session is the browser's signed-in session as the pages see it.
type Session struct {
	ID       string
	Subject  string
	Username string
	AuthTime time.Time
	AMR      []string
}

// Refusal is a request refused for a reason the user can act on: the page is shown again
// with Message and Status (and Retry-After when RetryAfter is set). Reason names it in the
// audit log (e.g. "wrong_password", "throttled", "invalid_password").
type Refusal struct {
	Status     int
	Message    string
	Reason     string
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Message }

// Core is the authorization server as the account pages see it.
type Core interface {
	// Session returns the browser's live session, or nil when nobody is signed in.
	Session(ctx context.Context, r *http.Request) (*Session, error)
	// CSRFToken returns the token binding a form to this browser and purpose (setting the
	// browser's CSRF cookie when it has none); CheckCSRF verifies a posted one.
	CSRFToken(w http.ResponseWriter, r *http.Request, purpose string) string
	CheckCSRF(r *http.Request, token, purpose string) bool
	// SignIn checks a username and password exactly as the login page does (throttling,
	// audit) and starts a session; a *Refusal for wrong, missing or throttled credentials.
	SignIn(w http.ResponseWriter, r *http.Request, username, password string) error
	// PasswordManaged returns why the account's password cannot be changed here (declared in
	// the configuration, or kept by an external account source), or "" when it can.
	PasswordManaged(ctx context.Context, s *Session) (string, error)
	// ChangePassword checks current (throttled like a sign-in), applies the password rules to
	// next, stores it, and ends the account's other sessions and the grants not made in this
	// one; a *Refusal when the user must fix something.
	ChangePassword(ctx context.Context, r *http.Request, s *Session, current, next string) error
	// ForgetSession clears this browser's session cookie (its session was ended).
	ForgetSession(w http.ResponseWriter)
	// ClientName and ResourceName name a client and a resource for people ("" if unknown).
	ClientName(ctx context.Context, clientID string) string
	ResourceName(ctx context.Context, identifier string) string
	// ClientIP is the user's address for the audit log.
	ClientIP(r *http.Request) string
}

// Store is what the pages list.
type Store interface {
	ListConsents(ctx context.Context, q store.ConsentQuery) ([]*store.Consent, error)
	ListGrants(ctx context.Context, q store.GrantQuery) ([]*store.Grant, error)
	ListSessions(ctx context.Context, subject string) ([]*store.Session, error)
	GetSession(ctx context.Context, id string) (*store.Session, error)
}

// Revoker revokes as an operator does (package manage's Service).
type Revoker interface {
	RevokeConsents(ctx context.Context, subject, clientID string) (int, error)
	RevokeGrants(ctx context.Context, f manage.GrantFilter) (int, error)
	RevokeSessions(ctx context.Context, subject, sessionID string) (int, error)
}

// Deps is what the pages are built on.
type Deps struct {
	Core    Core
	Store   Store
	Revoker Revoker
	UI      *ui.Renderer
	Audit   audit.Log
	Logger  *zap.Logger
	// Path is the request path of the overview page (e.g. "/account", below the issuer's
	// path); URL is its absolute URL, which links and redirects use.
	Path string
	URL  string
	// SignOutURL is the end-session endpoint linked as "Sign out" ("" for none).
	SignOutURL string
	// IdleTTL hides sessions unused for that long (they no longer sign anybody in).
	IdleTTL time.Duration
	// MinPasswordLen is the shortest new password Core.ChangePassword accepts, shown on the
	// password form (the rule is the server's).
	MinPasswordLen int
	Now            func() time.Time
}

// Pages serves the account pages. Make it with New.
type Pages struct{ d Deps }

// New returns the pages over d.
func New(d Deps) *Pages {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	return &Pages{d: d}
}

// Sub-paths of the pages below Deps.Path, and the return targets of the sign-in page.
const (
	pathLogin    = "/login"
	pathPassword = "/password"
	pathApps     = "/apps"
	pathSessions = "/sessions"
)

// sections maps a return target to its page.
var sections = map[string]string{"password": pathPassword, "apps": pathApps, "sessions": pathSessions}

// Audit events of the account pages (the README lists them with package audit's).
const (
	EventPasswordChanged      = "account.password_changed"
	EventPasswordChangeFailed = "account.password_change_failed"
	EventAppRemoved           = "account.app_removed"
	EventSessionEnded         = "account.session_ended"
)

// Routes returns the pages by request path.
func (p *Pages) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		p.d.Path:                p.overview,
		p.d.Path + pathLogin:    p.login,
		p.d.Path + pathPassword: p.password,
		p.d.Path + pathApps:     p.apps,
		p.d.Path + pathSessions: p.sessions,
	}
}

// Notices shown after a change (the redirect names one by key, never by text): catalog keys
// of package ui, worded in the page's language.
var notices = map[string]string{
	"password": "account.notice.password",
	"app":      "account.notice.app",
	"session":  "account.notice.session",
}

func (p *Pages) nav() ui.AccountNav {
	return ui.AccountNav{Overview: p.d.URL, Password: p.d.URL + pathPassword, Apps: p.d.URL + pathApps,
		Sessions: p.d.URL + pathSessions, SignOut: p.d.SignOutURL}
}

// page starts the data of a section's page for the signed-in session.
func (p *Pages) page(w http.ResponseWriter, r *http.Request, s *Session, section ui.AccountSection, action string) ui.AccountPage {
	return ui.AccountPage{Section: section, Nav: p.nav(), Account: s.Username, Subject: s.Subject,
		CSRFToken: p.d.Core.CSRFToken(w, r, csrfPurpose(s)), Action: action,
		Notice: notices[r.URL.Query().Get("done")], MinPasswordLen: p.d.MinPasswordLen}
}

func csrfPurpose(s *Session) string { return "account:" + s.ID }

// loginPurpose binds the sign-in form of the account pages.
const loginPurpose = "account-login"

// session returns the signed-in session or answers the request itself (a redirect to the
// sign-in page that returns to section, or an error) and returns nil.
func (p *Pages) session(w http.ResponseWriter, r *http.Request, section string) *Session {
	s, err := p.d.Core.Session(r.Context(), r)
	if err != nil {
		p.fail(w, r, err)
		return nil
	}
	if s == nil {
		target := p.d.URL + pathLogin
		if section != "" {
			target += "?" + url.Values{"return": {section}}.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
	return s
}

// allow answers 405 unless r's method is one of methods (GET implies HEAD).
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) || (r.Method == http.MethodHead && slices.Contains(methods, http.MethodGet)) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}

// maxFormBytes bounds the pages' form bodies: a few short fields.
const maxFormBytes = 16 << 10

// form reads a posted form and checks its CSRF token for purpose; it answers the request
// itself and returns nil when either fails.
func (p *Pages) form(w http.ResponseWriter, r *http.Request, purpose string) url.Values {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		p.renderError(w, r, http.StatusUnsupportedMediaType, "", "invalid_request", "The form must be sent as application/x-www-form-urlencoded.")
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "", "invalid_request", "The form could not be read.")
		return nil
	}
	for _, v := range r.PostForm {
		if len(v) > 1 {
			p.renderError(w, r, http.StatusBadRequest, "", "invalid_request", "A form field is repeated.")
			return nil
		}
	}
	if !p.d.Core.CheckCSRF(r, r.PostForm.Get("csrf_token"), purpose) {
		p.renderError(w, r, http.StatusForbidden, ui.ErrorCSRF, "invalid_request",
			"The form was not sent from this browser's account page (cookies may be blocked, or you signed in again meanwhile). Open the page again and retry.")
		return nil
	}
	return r.PostForm
}

// fail answers an internal failure without details (they are logged).
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.d.Logger.Error("account page failed", zap.Error(err))
	p.renderError(w, r, http.StatusInternalServerError, "", "server_error", "The request could not be completed. Try again later.")
}

// pages is the renderer in the request's language: ui_locales on the URL first, then
// Accept-Language.
func (p *Pages) pages(r *http.Request) *ui.Renderer {
	pages, _ := p.d.UI.For(ui.ChooseLanguage(r.URL.Query().Get("ui_locales"), r.Header.Get("Accept-Language")))
	return pages
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page ui.AccountPage) {
	p.logRender(p.pages(r).Account(w, status, page))
}

func (p *Pages) logRender(err error) {
	if err != nil {
		p.d.Logger.Error("rendering an account page failed", zap.Error(err))
	}
}

// renderError shows an error page; description is the technical detail (in English).
func (p *Pages) renderError(w http.ResponseWriter, r *http.Request, status int, kind ui.ErrorKind, code, description string) {
	p.logRender(p.pages(r).Error(w, status, ui.ErrorPage{Kind: kind, Code: code, Description: description}))
}

// renderLogin shows the shared login page, posting to action.
func (p *Pages) renderLogin(w http.ResponseWriter, r *http.Request, status int, action, username, message string) {
	pages := p.pages(r)
	p.logRender(pages.Login(w, status, ui.LoginPage{
		Page:     ui.Page{Title: pages.Localizer().Text("account.login.title"), Action: action, CSRFToken: p.d.Core.CSRFToken(w, r, loginPurpose)},
		Username: username, Error: message,
	}))
}

// renderSignedOut shows the signed-out page titled by the catalog key title.
func (p *Pages) renderSignedOut(w http.ResponseWriter, r *http.Request, title string) {
	pages := p.pages(r)
	p.logRender(pages.LoggedOut(w, http.StatusOK, ui.LoggedOutPage{Title: pages.Localizer().Text(title)}))
}

// done redirects after a change (post/redirect/get), naming the notice to show.
func (p *Pages) done(w http.ResponseWriter, r *http.Request, path, notice string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.d.URL+path+"?done="+notice, http.StatusSeeOther)
}

func (p *Pages) overview(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	s := p.session(w, r, "")
	if s == nil {
		return
	}
	page := p.page(w, r, s, ui.AccountOverview, "")
	page.SignedInAt, page.Methods = s.AuthTime, ui.DescribeMethods(s.AMR)
	p.render(w, r, http.StatusOK, page)
}

// login is the sign-in page of the account pages: the shared login page, posting here.
func (p *Pages) login(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	ret := r.URL.Query().Get("return")
	if _, ok := sections[ret]; !ok {
		ret = ""
	}
	target := p.d.URL + sections[ret]
	action := p.d.URL + pathLogin
	if ret != "" {
		action += "?" + url.Values{"return": {ret}}.Encode()
	}
	if r.Method != http.MethodPost {
		s, err := p.d.Core.Session(r.Context(), r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if s != nil {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		p.renderLogin(w, r, http.StatusOK, action, "", "")
		return
	}
	form := p.form(w, r, loginPurpose)
	if form == nil {
		return
	}
	if form.Get("decision") == "deny" {
		p.renderSignedOut(w, r, "account.not_signed_in")
		return
	}
	username := form.Get("username")
	err := p.d.Core.SignIn(w, r, username, form.Get("password"))
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		if refusal.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(max(1, int((refusal.RetryAfter+time.Second-1)/time.Second))))
		}
		p.renderLogin(w, r, refusal.Status, action, username, refusal.Message)
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// section starts a section page that shows on GET and changes on POST: it answers the
// request itself (405, the sign-in redirect, a bad form) and returns a nil session when it
// did. On POST, form is the posted form with its CSRF token checked.
func (p *Pages) section(w http.ResponseWriter, r *http.Request, section string) (s *Session, form url.Values) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return nil, nil
	}
	if s = p.session(w, r, section); s == nil || r.Method != http.MethodPost {
		return s, nil
	}
	if form = p.form(w, r, csrfPurpose(s)); form == nil {
		return nil, nil
	}
	return s, form
}

func (p *Pages) password(w http.ResponseWriter, r *http.Request) {
	s, form := p.section(w, r, "password")
	if s == nil {
		return
	}
	ctx := r.Context()
	managed, err := p.d.Core.PasswordManaged(ctx, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if form == nil {
		page := p.page(w, r, s, ui.AccountPassword, p.d.URL+pathPassword)
		page.PasswordManaged = managed
		p.render(w, r, http.StatusOK, page)
		return
	}
	refuse := func(status int, message string) {
		page := p.page(w, r, s, ui.AccountPassword, p.d.URL+pathPassword)
		page.PasswordManaged, page.Error = managed, message
		p.render(w, r, status, page)
	}
	current, next := form.Get("current_password"), form.Get("new_password")
	switch {
	case managed != "":
		refuse(http.StatusForbidden, managed)
		return
	case current == "" || next == "":
		refuse(http.StatusBadRequest, "account.password.incomplete")
		return
	case next != form.Get("confirm_password"):
		refuse(http.StatusBadRequest, "account.password.mismatch")
		return
	case next == current:
		refuse(http.StatusBadRequest, "account.password.same")
		return
	}
	ip := p.d.Core.ClientIP(r)
	err = p.d.Core.ChangePassword(context.WithoutCancel(ctx), r, s, current, next)
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		p.d.Audit.Event(EventPasswordChangeFailed, zap.String("sub", s.Subject), zap.String("sid", s.ID),
			zap.String("reason", refusal.Reason), zap.String("remote_ip", ip))
		if refusal.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(max(1, int((refusal.RetryAfter+time.Second-1)/time.Second))))
		}
		refuse(refusal.Status, refusal.Message)
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	p.d.Audit.Event(EventPasswordChanged, zap.String("sub", s.Subject), zap.String("sid", s.ID), zap.String("remote_ip", ip))
	p.done(w, r, "", "password")
}

func (p *Pages) apps(w http.ResponseWriter, r *http.Request) {
	s, form := p.section(w, r, "apps")
	if s == nil {
		return
	}
	ctx := r.Context()
	status, message := http.StatusOK, ""
	if form != nil {
		removed, err := p.removeApp(ctx, r, s, form.Get("client_id"))
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if removed {
			p.done(w, r, pathApps, "app")
			return
		}
		status, message = http.StatusNotFound, "account.apps.gone"
	}
	apps, err := p.listApps(ctx, s.Subject)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	page := p.page(w, r, s, ui.AccountApps, p.d.URL+pathApps)
	page.Apps, page.Error = apps, message
	p.render(w, r, status, page)
}

// listApps merges the user's consents and live grants by client: what each app may do, and
// since when.
func (p *Pages) listApps(ctx context.Context, subject string) ([]ui.AccountApp, error) {
	consents, err := p.d.Store.ListConsents(ctx, store.ConsentQuery{Subject: subject})
	if err != nil {
		return nil, err
	}
	grants, err := p.d.Store.ListGrants(ctx, store.GrantQuery{Subject: subject})
	if err != nil {
		return nil, err
	}
	type entry struct {
		app       ui.AccountApp
		scopes    []string
		resources []string
	}
	byClient := map[string]*entry{}
	get := func(clientID string) *entry {
		e := byClient[clientID]
		if e == nil {
			e = &entry{app: ui.AccountApp{ClientID: clientID}}
			byClient[clientID] = e
		}
		return e
	}
	for _, c := range consents {
		e := get(c.ClientID)
		e.app.Remembered = true
		e.app.GrantedAt = cmp.Or(c.UpdatedAt, c.CreatedAt)
		e.scopes, e.resources = c.Scopes, c.Resources
	}
	for _, g := range grants {
		e := get(g.ClientID)
		e.app.Grants++
		if e.app.Remembered {
			continue
		}
		if g.CreatedAt.After(e.app.GrantedAt) {
			e.app.GrantedAt = g.CreatedAt
		}
		e.scopes = appendNew(e.scopes, g.Scopes...)
		e.resources = appendNew(e.resources, g.Resources...)
	}
	apps := make([]ui.AccountApp, 0, len(byClient))
	for _, e := range byClient {
		e.app.ClientName = p.d.Core.ClientName(ctx, e.app.ClientID)
		for _, name := range e.scopes {
			// Described in the page's language by the renderer.
			e.app.Scopes = append(e.app.Scopes, ui.Scope{Name: name})
		}
		for _, id := range e.resources {
			e.app.Resources = append(e.app.Resources, ui.Resource{Identifier: id, Name: p.d.Core.ResourceName(ctx, id)})
		}
		apps = append(apps, e.app)
	}
	slices.SortFunc(apps, func(a, b ui.AccountApp) int {
		return cmp.Or(cmp.Compare(strings.ToLower(cmp.Or(a.ClientName, a.ClientID)), strings.ToLower(cmp.Or(b.ClientName, b.ClientID))),
			cmp.Compare(a.ClientID, b.ClientID))
	})
	return apps, nil
}

func appendNew(list []string, values ...string) []string {
	for _, v := range values {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// removeApp withdraws the user's consent to clientID and revokes the user's grants to it,
// with every token issued under them, the way an operator does. It reports false when the
// user gave that client nothing: another user's grants are never looked at.
func (p *Pages) removeApp(ctx context.Context, r *http.Request, s *Session, clientID string) (bool, error) {
	if clientID == "" || len(clientID) > 1024 {
		return false, nil
	}
	ctx = context.WithoutCancel(ctx) // half a revocation helps nobody
	consents, err := p.d.Store.ListConsents(ctx, store.ConsentQuery{Subject: s.Subject, ClientID: clientID})
	if err != nil {
		return false, err
	}
	grants, err := p.d.Store.ListGrants(ctx, store.GrantQuery{Subject: s.Subject, ClientID: clientID})
	if err != nil {
		return false, err
	}
	if len(consents) == 0 && len(grants) == 0 {
		return false, nil
	}
	if len(consents) > 0 {
		if _, err := p.d.Revoker.RevokeConsents(ctx, s.Subject, clientID); err != nil {
			return false, err
		}
	}
	revoked := 0
	for _, g := range grants {
		if g.Subject != s.Subject || g.ClientID != clientID { // the store filtered; be sure
			continue
		}
		n, err := p.d.Revoker.RevokeGrants(ctx, manage.GrantFilter{GrantID: g.ID})
		if err != nil && !errors.Is(err, manage.ErrNotFound) {
			return false, err
		}
		revoked += n
	}
	p.d.Audit.Event(EventAppRemoved, zap.String("sub", s.Subject), zap.String("sid", s.ID), zap.String("client_id", clientID),
		zap.Int("consents", len(consents)), zap.Int("grants_revoked", revoked), zap.String("remote_ip", p.d.Core.ClientIP(r)))
	return true, nil
}

func (p *Pages) sessions(w http.ResponseWriter, r *http.Request) {
	s, form := p.section(w, r, "sessions")
	if s == nil {
		return
	}
	ctx := r.Context()
	status, message := http.StatusOK, ""
	if form != nil {
		ended, err := p.endSession(ctx, r, s, form.Get("session_id"))
		if err != nil {
			p.fail(w, r, err)
			return
		}
		switch {
		case ended && form.Get("session_id") == s.ID:
			// This browser's own session: it is signed out now.
			p.d.Core.ForgetSession(w)
			p.renderSignedOut(w, r, "account.signed_out")
			return
		case ended:
			p.done(w, r, pathSessions, "session")
			return
		}
		status, message = http.StatusNotFound, "account.sessions.gone"
	}
	list, err := p.listSessions(ctx, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	page := p.page(w, r, s, ui.AccountSessions, p.d.URL+pathSessions)
	page.Sessions, page.Error = list, message
	p.render(w, r, status, page)
}

// listSessions returns the user's live sessions, this browser's first.
func (p *Pages) listSessions(ctx context.Context, s *Session) ([]ui.AccountSession, error) {
	all, err := p.d.Store.ListSessions(ctx, s.Subject)
	if err != nil {
		return nil, err
	}
	now := p.d.Now()
	var list []ui.AccountSession
	for _, se := range all {
		if !p.live(se, now) {
			continue
		}
		list = append(list, ui.AccountSession{ID: se.ID, CreatedAt: se.CreatedAt, LastSeenAt: se.LastSeenAt, ExpiresAt: se.ExpiresAt,
			Methods: ui.DescribeMethods(se.AMR), Device: describeAgent(se.UserAgent), IP: se.RemoteIP, Current: se.ID == s.ID})
	}
	slices.SortStableFunc(list, func(a, b ui.AccountSession) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	return list, nil
}

// agents parses User-Agent headers, built on first use (package useragent's embedded data).
var agents = sync.OnceValue(useragent.NewParser)

// describeAgent names the browser of a User-Agent header for people: "Firefox on Windows",
// "Safari", "iOS"; "" when it tells nothing.
func describeAgent(header string) string {
	if header == "" {
		return ""
	}
	ua := agents().Parse(header)
	browser, os := string(ua.Browser()), string(ua.OS())
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	}
	return os
}

// live reports whether se still signs anybody in (not expired, not idle too long).
func (p *Pages) live(se *store.Session, now time.Time) bool {
	return now.Before(se.ExpiresAt) && (p.d.IdleTTL <= 0 || now.Sub(se.LastSeenAt) <= p.d.IdleTTL)
}

// endSession ends one of the user's own sessions as an operator would (back-channel logout
// to its clients, its grants revoked). It reports false for a session that is not the
// user's, or no longer live: those look the same.
func (p *Pages) endSession(ctx context.Context, r *http.Request, s *Session, id string) (bool, error) {
	if id == "" || len(id) > 256 {
		return false, nil
	}
	ctx = context.WithoutCancel(ctx)
	se, err := p.d.Store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if se.Subject != s.Subject || !p.live(se, p.d.Now()) {
		return false, nil
	}
	if _, err := p.d.Revoker.RevokeSessions(ctx, "", id); err != nil && !errors.Is(err, manage.ErrNotFound) {
		return false, err
	}
	p.d.Audit.Event(EventSessionEnded, zap.String("sub", s.Subject), zap.String("sid", s.ID), zap.String("ended_sid", id),
		zap.Bool("this_browser", id == s.ID), zap.String("remote_ip", p.d.Core.ClientIP(r)))
	return true, nil
}
