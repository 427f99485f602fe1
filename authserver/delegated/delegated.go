// Package delegated hands the sign-in and consent steps of authorization requests to an
// external app ("bring your own login app"), in the model of ORY Hydra's login and consent
// challenges and oidc-provider's interactions.
//
// When the authorization server needs the user to sign in (or to consent), it redirects the
// browser to the configured login (consent) URL with a login_challenge (consent_challenge).
// The app reads the challenge's context from the API, does whatever it does with the user,
// then accepts or rejects the challenge through the API, which answers a redirect_to URL. The
// app sends the browser there, and the authorization server resumes the request: it starts a
// session with the subject, amr and acr the app gave and issues a code, or it sends the error
// to the client.
//
// A challenge is sealed (AES-GCM under the server's master key, bound to the issuer and the
// challenge's kind), so it carries the interaction it continues and needs no server-side
// state until it is used. It expires with the interaction or after Config.TTL, whichever
// comes first, and can be accepted or rejected once (ReplayStore). The redirect_to URL
// carries a verifier sealed the same way, usable once and only in the browser the challenge
// was issued to (the binding the server puts in the challenge and checks at the callback).
//
// The package owns the challenges, the verifiers and the API; what an interaction is, how a
// session starts and how the request resumes is the authorization server's (it calls Issue
// and Open, and serves the callback).
package delegated

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Kinds of challenge.
const (
	KindLogin   = "login"
	KindConsent = "consent"
)

const (
	// DefaultTTL is how long a challenge may wait for the app's answer by default.
	DefaultTTL = 10 * time.Minute
	// MinTTL and MaxTTL bound Config.TTL.
	MinTTL = 10 * time.Second
	MaxTTL = time.Hour
	// MinSecretLen is the shortest API secret accepted (bytes): 256 bits in base64 is 43.
	MinSecretLen = 32
	// MaxSubjectLen bounds the subject an app may give (OIDC Core §2: at most 255 ASCII).
	MaxSubjectLen = 255
	// maxBody bounds accept and reject bodies.
	maxBody = 64 << 10
	// maxSealed bounds a presented challenge or verifier.
	maxSealed = 16 << 10
)

// ShadowPrefix starts the username of the accounts the server creates for the subjects an
// app signs in, so they never collide with a local username (which has no colon rule but
// is normalized; the prefix marks the account as the app's).
const ShadowPrefix = "delegated:"

// ShadowUsername is the username of the account kept for subject.
func ShadowUsername(subject string) string { return ShadowPrefix + subject }

// IsShadow reports whether acc is an account kept for an app's subject.
func IsShadow(acc *store.Account) bool { return strings.HasPrefix(acc.Username, ShadowPrefix) }

// Config turns delegation on: LoginURL hands sign-in to the app, ConsentURL consent. Either
// may be set alone (consent then stays on the built-in page, or sign-in does).
type Config struct {
	// LoginURL receives the browser with ?login_challenge=… when the user must sign in.
	LoginURL string `json:"login_url,omitempty"`
	// ConsentURL receives the browser with ?consent_challenge=… when consent is needed.
	ConsentURL string `json:"consent_url,omitempty"`
	// APISecret authenticates the app at the API (Authorization: Bearer <secret>), at least
	// MinSecretLen bytes. Required when LoginURL or ConsentURL is set.
	APISecret string `json:"api_secret,omitempty"`
	// TTL bounds how long a challenge waits for the app (default DefaultTTL; it never
	// outlives the interaction).
	TTL time.Duration `json:"ttl,omitempty"`
}

// Enabled reports whether sign-in or consent is delegated.
func (c *Config) Enabled() bool { return c.LoginURL != "" || c.ConsentURL != "" }

// Validate checks the settings and fills in defaults. It is the one rule for every way of
// configuring delegation (Caddyfile, JSON, library). With placeholders, an API secret holding
// a placeholder that only resolves at run time is tolerated.
func (c *Config) Validate(placeholders bool) error {
	if !c.Enabled() {
		if c.APISecret != "" || c.TTL != 0 {
			return errors.New("delegated_login: set login_url or consent_url")
		}
		return nil
	}
	for name, v := range map[string]string{"login_url": c.LoginURL, "consent_url": c.ConsentURL} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("delegated_login %s %q: want an absolute http(s) URL without fragment", name, v)
		}
	}
	if len(c.APISecret) < MinSecretLen && !(placeholders && strings.Contains(c.APISecret, "{")) {
		return fmt.Errorf("delegated_login api_secret: want at least %d characters (e.g. openssl rand -base64 32)", MinSecretLen)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < MinTTL || c.TTL > MaxTTL {
		return fmt.Errorf("delegated_login ttl %s: want between %s and %s", c.TTL, MinTTL, MaxTTL)
	}
	return nil
}

// Client is the client of a challenge, as the app may show it.
type Client struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name,omitempty"`
}

// OIDCContext are the request's OpenID Connect parameters that concern the user interface.
type OIDCContext struct {
	UILocales []string `json:"ui_locales,omitempty"`
	LoginHint string   `json:"login_hint,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
	// IDTokenHintSubject is the sub of a valid id_token_hint: accept only this subject.
	IDTokenHintSubject string `json:"id_token_hint_subject,omitempty"`
}

// Context is what the app learns about a challenge (GET).
type Context struct {
	Challenge string `json:"challenge"`
	// Kind is login or consent.
	Kind   string `json:"kind"`
	Client Client `json:"client"`
	// RequestedScope and RequestedAudience (resource indicators) are what the client asked
	// for; a consent accept grants a subset of them.
	RequestedScope    []string    `json:"requested_scope"`
	RequestedAudience []string    `json:"requested_access_token_audience"`
	Prompt            []string    `json:"prompt,omitempty"`
	MaxAge            *int64      `json:"max_age,omitempty"`
	OIDCContext       OIDCContext `json:"oidc_context"`
	// Subject is, for consent, the signed-in user; for login, the user of a live session
	// that did not serve the request (prompt=login, max_age, another account hinted).
	Subject string `json:"subject,omitempty"`
	// AMR and ACR are the consent's sign-in's.
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
	// Skip is always false: the server asks the app only when a live session (or a
	// remembered consent) does not already serve the request. It is here for apps written
	// against Hydra.
	Skip bool `json:"skip"`
	// Device is the user code of a device authorization (RFC 8628) this sign-in approves.
	DeviceUserCode string `json:"device_user_code,omitempty"`
	// CIBA is set when the sign-in (and consent) approves a CIBA request: only the user it
	// names may sign in, and the consent page must show its binding message.
	CIBA *CIBAContext `json:"ciba,omitempty"`
	// ExpiresAt is when the challenge expires (Unix seconds).
	ExpiresAt int64 `json:"expires_at"`
}

// CIBAContext describes the backchannel authentication request (OpenID CIBA Core) a
// challenge approves.
type CIBAContext struct {
	// Subject is the user the request names (the subject a login accept must give).
	Subject string `json:"subject"`
	// BindingMessage is the text the client's device shows, for the user to compare.
	BindingMessage string `json:"binding_message,omitempty"`
}

// LoginAccept is the body of a login accept.
type LoginAccept struct {
	// Subject is the user's stable identifier (the sub, before any pairwise mapping).
	Subject string `json:"subject"`
	// AMR and ACR describe how the user signed in (the ID token's amr and acr).
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
	// Remember keeps the session for RememberFor seconds (0: the server's session TTL),
	// so later requests skip the app; without it the session serves this request's
	// interaction and ends with the browser.
	Remember    bool  `json:"remember,omitempty"`
	RememberFor int64 `json:"remember_for,omitempty"`
	// Claims are the user's standard OIDC claims (name, email …), kept with the subject
	// and released per scope at userinfo and in ID tokens asked for by the claims parameter.
	Claims map[string]any `json:"claims,omitempty"`
	// IDTokenClaims are added to the ID tokens of this authorization (also on refresh).
	IDTokenClaims map[string]any `json:"id_token_claims,omitempty"`
}

// ConsentAccept is the body of a consent accept.
type ConsentAccept struct {
	// GrantScope and GrantAudience are what the user allowed: subsets of the requested
	// ones; absent means everything requested.
	GrantScope    []string `json:"grant_scope,omitempty"`
	GrantAudience []string `json:"grant_access_token_audience,omitempty"`
	// Remember records the consent, so the same request later skips the app.
	Remember bool `json:"remember,omitempty"`
	// IDTokenClaims are added to the ID tokens of this authorization.
	IDTokenClaims map[string]any `json:"id_token_claims,omitempty"`
}

// Reject is the body of a reject: the OAuth error the client receives.
type Reject struct {
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// rejectCodes are the errors an app may end a request with (RFC 6749 §4.1.2.1, OIDC Core
// §3.1.2.6).
var rejectCodes = []string{oautherr.AccessDenied, oautherr.LoginRequired, oautherr.ConsentRequired,
	oautherr.InteractionRequired, oautherr.AccountSelectionRequired, oautherr.TemporarilyUnavailable}

// Decision is the app's answer, carried by a verifier to the callback.
type Decision struct {
	Login   *LoginAccept   `json:"login,omitempty"`
	Consent *ConsentAccept `json:"consent,omitempty"`
	Reject  *Reject        `json:"reject,omitempty"`
}

// RejectError is the OAuth error of a reject.
func (d *Decision) RejectError() *oautherr.Error {
	return oautherr.New(d.Reject.Error, d.Reject.ErrorDescription)
}

// challenge is the sealed content of a challenge.
type challenge struct {
	ID      string          `json:"id"`
	Exp     int64           `json:"exp"`
	Binding string          `json:"b"`
	In      json.RawMessage `json:"in"`
	Context Context         `json:"ctx"`
}

// Verified is an opened verifier: the interaction it resumes and the app's decision.
type Verified struct {
	Kind        string
	ChallengeID string
	// Binding must match the browser's (the server checks it).
	Binding     string
	Interaction json.RawMessage
	// Context holds only the challenge's Kind, Client and Subject.
	Context  Context
	Decision Decision
	exp      time.Time
}

type verifier struct {
	Kind string `json:"k"`
	challenge
	Decision Decision `json:"d"`
}

// ReplayStore makes challenges and verifiers single-use (store.ReplayStore).
type ReplayStore interface {
	UseOnce(ctx context.Context, key string, expiresAt time.Time) error
}

// Paths below the issuer.
const (
	PathLogin    = "/delegated/login"
	PathConsent  = "/delegated/consent"
	PathCallback = "/delegated/callback"
)

// API serves the app's API and makes challenges and verifiers.
type API struct {
	Config Config
	// Issuer binds challenges to this server; Base is its path ("" or "/…") and
	// CallbackURL the absolute URL of PathCallback.
	Issuer      string
	Base        string
	CallbackURL string
	Sealer      *sealer.Sealer
	Replay      ReplayStore
	Now         func() time.Time
	// Unavailable classifies store errors as an outage (503) rather than a failure (500).
	Unavailable func(error) bool
	// Decided, when set, hears every accept and reject (audit).
	Decided func(kind string, d *Decision, c *Context)
}

// Login and Consent report what is delegated.
func (a *API) Login() bool   { return a != nil && a.Config.LoginURL != "" }
func (a *API) Consent() bool { return a != nil && a.Config.ConsentURL != "" }

func (a *API) challengeAD(kind string) []byte {
	return []byte("caddy-oauth delegated challenge v1\x00" + kind + "\x00" + a.Issuer)
}

func (a *API) verifierAD() []byte {
	return []byte("caddy-oauth delegated verifier v1\x00" + a.Issuer)
}

// Issue makes a challenge of kind for the interaction (its JSON) bound to the browser
// (binding), and returns the app's URL to redirect the browser to. exp is when the
// interaction expires; the challenge expires then or after Config.TTL.
func (a *API) Issue(kind, binding string, interaction json.RawMessage, c Context, exp time.Time) (string, error) {
	target := a.Config.LoginURL
	param := "login_challenge"
	if kind == KindConsent {
		target, param = a.Config.ConsentURL, "consent_challenge"
	}
	if limit := a.Now().Add(a.Config.TTL); exp.After(limit) {
		exp = limit
	}
	c.Kind = kind
	c.ExpiresAt = exp.Unix()
	ch := challenge{ID: randomID(), Exp: exp.Unix(), Binding: binding, In: interaction, Context: c}
	sealed, err := a.seal(ch, a.challengeAD(kind))
	if err != nil {
		return "", err
	}
	u, err := url.Parse(target) // validated
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set(param, sealed)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Open reads a verifier from the callback: nil when it is missing, forged or expired.
// Spend it before acting on it.
func (a *API) Open(v string) *Verified {
	var vf verifier
	if !a.open(v, a.verifierAD(), &vf) || a.Now().Unix() > vf.Exp || vf.ID == "" {
		return nil
	}
	return &Verified{Kind: vf.Kind, ChallengeID: vf.ID, Binding: vf.Binding, Interaction: vf.In,
		Context: vf.Context, Decision: vf.Decision, exp: time.Unix(vf.Exp, 0)}
}

// Spend makes the verifier single-use: store.ErrConflict when it was used already.
func (a *API) Spend(ctx context.Context, v *Verified) error {
	return a.Replay.UseOnce(ctx, "delegated verifier:"+v.ChallengeID, v.exp.Add(time.Minute))
}

func (a *API) seal(v any, ad []byte) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := a.Sealer.Seal(plain, ad)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (a *API) open(v string, ad []byte, out any) bool {
	if v == "" || len(v) > maxSealed {
		return false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	plain, err := a.Sealer.Open(sealed, ad)
	return err == nil && json.Unmarshal(plain, out) == nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Owns reports whether path is one of the API's endpoints.
func (a *API) Owns(path string) bool {
	rest, ok := strings.CutPrefix(path, a.Base)
	if !ok {
		return false
	}
	switch rest {
	case PathLogin, PathLogin + "/accept", PathLogin + "/reject",
		PathConsent, PathConsent + "/accept", PathConsent + "/reject":
		return true
	}
	return false
}

// API errors (JSON {"error", "error_description"}).
const (
	ErrInvalidChallenge = "invalid_challenge"
	ErrExpiredChallenge = "expired_challenge"
	ErrUsedChallenge    = "used_challenge"
)

func apiError(status int, code, description string) *oautherr.Error {
	return &oautherr.Error{Code: code, Description: description, Status: status}
}

// ServeHTTP serves the API:
//
//	GET  {base}/delegated/login?login_challenge=…           → Context
//	PUT  {base}/delegated/login/accept?login_challenge=…    LoginAccept → {"redirect_to"}
//	PUT  {base}/delegated/login/reject?login_challenge=…    Reject → {"redirect_to"}
//	GET  {base}/delegated/consent?consent_challenge=…       → Context
//	PUT  {base}/delegated/consent/accept?consent_challenge=… ConsentAccept → {"redirect_to"}
//	PUT  {base}/delegated/consent/reject?consent_challenge=… Reject → {"redirect_to"}
//
// POST is accepted wherever PUT is. Every call needs Authorization: Bearer <api_secret>.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.Owns(r.URL.Path) {
		oautherr.Write(w, apiError(http.StatusNotFound, oautherr.InvalidRequest, "no such API endpoint"))
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, a.Base)
	rest = strings.TrimPrefix(rest, "/delegated/")
	kind, action, _ := strings.Cut(rest, "/")
	if !a.authenticated(r) {
		e := apiError(http.StatusUnauthorized, oautherr.InvalidToken, "the API needs Authorization: Bearer <api_secret>")
		e.WWWAuthenticate = `Bearer realm="delegated", error="invalid_token"`
		oautherr.Write(w, e)
		return
	}
	wantMethod := http.MethodPut
	if action == "" {
		wantMethod = http.MethodGet
	}
	if r.Method != wantMethod && !(wantMethod == http.MethodPut && r.Method == http.MethodPost) {
		w.Header().Set("Allow", wantMethod)
		oautherr.Write(w, apiError(http.StatusMethodNotAllowed, oautherr.InvalidRequest, "use "+wantMethod))
		return
	}
	ch, err := a.readChallenge(r, kind)
	if err != nil {
		oautherr.Write(w, err)
		return
	}
	if action == "" {
		writeJSON(w, http.StatusOK, ch.Context)
		return
	}
	var d Decision
	switch {
	case action == "reject":
		d.Reject = &Reject{}
		err = decodeBody(r, d.Reject)
		if err == nil {
			err = checkReject(d.Reject)
		}
	case kind == KindLogin:
		d.Login = &LoginAccept{}
		err = decodeBody(r, d.Login)
		if err == nil {
			err = checkLogin(d.Login, &ch.Context)
		}
	default:
		d.Consent = &ConsentAccept{}
		err = decodeBody(r, d.Consent)
		if err == nil {
			err = checkConsent(d.Consent, &ch.Context)
		}
	}
	if err != nil {
		oautherr.Write(w, err)
		return
	}
	// Single use: only the first answer counts, whatever it was.
	if err := a.Replay.UseOnce(r.Context(), "delegated challenge:"+ch.ID, time.Unix(ch.Exp, 0).Add(time.Minute)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			oautherr.Write(w, apiError(http.StatusConflict, ErrUsedChallenge, "the challenge was already accepted or rejected"))
			return
		}
		oautherr.Write(w, oautherr.Classify(oautherr.Server(err), a.Unavailable))
		return
	}
	if a.Decided != nil {
		a.Decided(kind, &d, &ch.Context)
	}
	// The verifier needs of the context only who consented: it stays short in the URL.
	vf := verifier{Kind: kind, challenge: *ch, Decision: d}
	vf.Context = Context{Kind: kind, Client: ch.Context.Client, Subject: ch.Context.Subject}
	sealed, err := a.seal(vf, a.verifierAD())
	if err != nil {
		oautherr.Write(w, oautherr.Server(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect_to": a.CallbackURL + "?" + url.Values{"verifier": {sealed}}.Encode()})
}

// authenticated compares the bearer secret in constant time (of hashes, so not even the
// secret's length leaks).
func (a *API) authenticated(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(a.Config.APISecret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (a *API) readChallenge(r *http.Request, kind string) (*challenge, error) {
	param := kind + "_challenge"
	v := r.URL.Query().Get(param)
	if v == "" {
		return nil, apiError(http.StatusBadRequest, oautherr.InvalidRequest, param+" is missing")
	}
	var ch challenge
	if !a.open(v, a.challengeAD(kind), &ch) || ch.ID == "" {
		return nil, apiError(http.StatusNotFound, ErrInvalidChallenge, "the "+param+" is not one this server issued (or is for another kind or issuer)")
	}
	if a.Now().Unix() > ch.Exp {
		return nil, apiError(http.StatusGone, ErrExpiredChallenge, "the "+param+" has expired; the user must start again at the application")
	}
	ch.Context.Challenge = v
	return &ch, nil
}

func decodeBody(r *http.Request, out any) error {
	if r.ContentLength == 0 && r.Body == http.NoBody {
		return nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return oautherr.Request("the body must be a JSON object of the documented fields: " + oautherr.SafeText(err.Error()))
	}
	return nil
}

func checkReject(rj *Reject) error {
	if rj.Error == "" {
		rj.Error = oautherr.AccessDenied
	}
	if !slices.Contains(rejectCodes, rj.Error) {
		return oautherr.Request("error must be one of " + strings.Join(rejectCodes, ", "))
	}
	if len(rj.ErrorDescription) > 512 || oautherr.SafeText(rj.ErrorDescription) != rj.ErrorDescription {
		return oautherr.Request("error_description must be at most 512 printable ASCII characters without \" or \\")
	}
	return nil
}

func checkLogin(l *LoginAccept, ctx *Context) error {
	if l.Subject == "" || len(l.Subject) > MaxSubjectLen || !utf8.ValidString(l.Subject) ||
		strings.IndexFunc(l.Subject, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return oautherr.Request(fmt.Sprintf("subject must be 1 to %d characters without spaces or control characters", MaxSubjectLen))
	}
	if ctx.CIBA != nil && l.Subject != ctx.CIBA.Subject {
		// Refused before the challenge is spent: the app may sign in the right user still.
		return oautherr.Request("the CIBA request names another user (ciba.subject): only that user may approve it")
	}
	if l.RememberFor < 0 {
		return oautherr.Request("remember_for must be a non-negative number of seconds")
	}
	for _, v := range append(slices.Clone(l.AMR), l.ACR) {
		if len(v) > 255 || oautherr.SafeText(v) != v || strings.Contains(v, " ") {
			return oautherr.Request("amr values and acr must be short printable strings without spaces")
		}
	}
	if err := account.ValidateClaims(l.Claims); err != nil {
		return oautherr.Request("claims: " + oautherr.SafeText(err.Error()))
	}
	return checkIDTokenClaims(l.IDTokenClaims)
}

func checkConsent(c *ConsentAccept, ctx *Context) error {
	if c.GrantScope == nil {
		c.GrantScope = slices.Clone(ctx.RequestedScope)
	}
	if c.GrantAudience == nil {
		c.GrantAudience = slices.Clone(ctx.RequestedAudience)
	}
	for _, s := range c.GrantScope {
		if !slices.Contains(ctx.RequestedScope, s) {
			return oautherr.New(oautherr.InvalidScope, "grant_scope may only hold requested scopes, not "+oautherr.SafeText(s))
		}
	}
	for _, s := range c.GrantAudience {
		if !slices.Contains(ctx.RequestedAudience, s) {
			return oautherr.New(oautherr.InvalidTarget, "grant_access_token_audience may only hold requested resources, not "+oautherr.SafeText(s))
		}
	}
	return checkIDTokenClaims(c.IDTokenClaims)
}

func checkIDTokenClaims(c map[string]any) error {
	if err := account.ValidateClaims(c); err != nil {
		return oautherr.Request("id_token_claims: " + oautherr.SafeText(err.Error()))
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
