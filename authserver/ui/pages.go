package ui

// Page is what every interactive page (login, consent, logout confirmation) carries.
type Page struct {
	// Title is the page title and heading; empty uses the page's default.
	Title string
	// Action is the URL the form posts to; empty posts back to the current URL.
	Action      string
	CSRFToken   string
	Interaction string
	// FormActions lists URLs (usually the client's redirect_uri) whose origins the
	// Content-Security-Policy form-action directive must allow besides 'self':
	// Chromium applies form-action to the redirect that follows a submission, so
	// without them the final 303 to the client is blocked. Only the origin of each is
	// used; entries that are not absolute URLs are ignored.
	FormActions []string
}

// LoginPage asks for the end user's credentials.
type LoginPage struct {
	Page
	ClientName string
	// Client is the application's registered logo and links (a non-https logo is not shown).
	Client ClientInfo
	// Username prefills the username field (e.g. from login_hint or a failed attempt).
	Username string
	// Error is shown above the form and announced to assistive technology.
	Error string
	// Notice is shown above the form when there is no error (e.g. a passkey is required).
	Notice string
	// Passkey, when set, is the second form: sign in with a passkey (passkeys are on).
	Passkey *PasskeyForm
}

// PasskeyForm is a form whose submission runs a WebAuthn ceremony in the page's script
// (passkey.js): Options is the JSON for navigator.credentials.create or .get, State the
// sealed ceremony state posted back as passkey_state with the answer as credential. The
// form stays hidden unless the script runs in a browser with WebAuthn.
type PasskeyForm struct {
	Action  string
	Options string
	State   string
	// Script is the URL of passkey.js, loaded with the response's CSP nonce.
	Script string
	// Required marks a sign-in that only a passkey satisfies (a phishing-resistant acr).
	Required bool
}

// PasskeysPage lists the signed-in user's passkeys and adds one (Account empty: nobody is
// signed in here). Its first form (Register) adds a passkey; each listed passkey has a
// remove form (action=remove, id).
type PasskeysPage struct {
	Page
	Account  string
	Passkeys []Passkey
	Register *PasskeyForm
	// Error is shown above the form; Added confirms a passkey was just added.
	Error string
	Added bool
	// ContinueURL leads back to the sign-in in progress that linked here.
	ContinueURL string
}

// Passkey is one registered passkey on the passkeys page.
type Passkey struct {
	ID   string
	Name string
	// Synced: the passkey is backup eligible (synced between devices).
	Synced   bool
	Created  string
	LastUsed string
}

// Scope is one requested scope as shown on the consent page.
type Scope struct {
	Name string
	// Description is what the user reads; empty uses the standard description of a
	// well-known scope, or the name itself.
	Description string
}

// Resource is one protected resource (RFC 8707) the client asks access to.
type Resource struct {
	Identifier string
	Name       string
}

// ConsentPage asks the end user to grant scopes and resources to a client.
type ConsentPage struct {
	Page
	ClientName string
	ClientID   string
	// Client is the application's registered logo and links (a non-https logo is not shown).
	Client ClientInfo
	// Account names the signed-in user (e.g. username or email).
	Account string
	// RememberDefault ticks "Remember this decision" from the start (off by default).
	RememberDefault bool
	// SwitchAccount offers "Not you? Use another account": a second form, after the consent
	// form, posting the same csrf_token and interaction with decision=switch_account, which
	// shows the login page again for this request.
	SwitchAccount bool
	Scopes        []Scope
	Resources     []Resource
	// UserCode, for a device authorization, is the code the user checks against the device's
	// screen before allowing it (RFC 8628 §5.4).
	UserCode string
	// BindingMessage, for a CIBA request, is what the asking application shows too, so the
	// user can tell it is this request (CIBA Core §7.1).
	BindingMessage string
	// PasskeysURL, when set, links to the passkeys page to add one (and come back).
	PasskeysURL string
}

// DevicePage asks for the user code a device shows (RFC 8628 §3.3). The form posts
// user_code with the CSRF token; there is no interaction yet.
type DevicePage struct {
	Page
	// UserCode prefills the input (from verification_uri_complete or a failed attempt).
	UserCode string
	// Error is shown above the form and announced to assistive technology.
	Error string
}

// DeviceOutcome is how a device authorization ended on the user's side.
type DeviceOutcome string

const (
	DeviceApproved DeviceOutcome = "approved"
	DeviceDenied   DeviceOutcome = "denied"
	// DeviceExpired: the code expired or was decided meanwhile (e.g. in another tab).
	DeviceExpired DeviceOutcome = "expired"
)

// Key is the catalog prefix of the outcome's title and text ("device_result.approved", …).
func (p DeviceResultPage) Key() string {
	prefix := "device_result."
	if p.Backchannel {
		prefix = "ciba_result."
	}
	switch p.Outcome {
	case DeviceApproved, DeviceDenied:
		return prefix + string(p.Outcome)
	}
	return prefix + string(DeviceExpired)
}

// DeviceResultPage tells the user the outcome; they return to their device. Backchannel
// words it for a CIBA request (the application that asked, not a device).
type DeviceResultPage struct {
	Outcome     DeviceOutcome
	Backchannel bool
}

// CIBAListPage lists the signed-in user's pending CIBA requests (Account empty: nobody is
// signed in here).
type CIBAListPage struct {
	Account  string
	Requests []CIBARequest
}

// CIBARequest is one pending request on the list, linking to its consent page.
type CIBARequest struct {
	ClientName     string
	BindingMessage string
	Link           string
}

// LogoutPage confirms an RP-initiated logout.
type LogoutPage struct {
	Page
	ClientName string
	Account    string
}

// LoggedOutPage tells the end user the logout is done, or, with Cancelled, that they chose
// to stay signed in.
type LoggedOutPage struct {
	// Title overrides the page's title.
	Title     string
	Cancelled bool
	// Back leads back to the application (its client_uri) when one is known; else the
	// page links to the branding's home page when there is one.
	Back Back
}

// Back is the way back from a page: an application's client_uri and its name.
type Back struct {
	URL  string
	Name string
}

// ErrorKind picks the plain explanation an error page gives (error.title.<kind> and
// error.explain.<kind> in the catalogs); "" gives the general one.
type ErrorKind string

const (
	// ErrorRejected: the application's authorization request is invalid.
	ErrorRejected ErrorKind = "rejected"
	// ErrorExpired: the interaction expired or was used already.
	ErrorExpired ErrorKind = "expired"
	// ErrorCSRF: the form was not sent from this browser's page.
	ErrorCSRF ErrorKind = "csrf"
	// ErrorOtherAccount: the request names another account than the signed-in one.
	ErrorOtherAccount ErrorKind = "other_account"
	// ErrorLogout: the application's logout request is invalid.
	ErrorLogout ErrorKind = "logout"
	// ErrorFailed: the server failed.
	ErrorFailed ErrorKind = "failed"
	// ErrorDelegated: a built-in sign-in path while sign-in is delegated to a login app.
	ErrorDelegated ErrorKind = "delegated"
)

// ErrorPage shows an error that cannot be sent back to the client: a plain explanation for
// people, a way back, and the technical code and description in a collapsed detail.
type ErrorPage struct {
	// Title overrides the kind's title.
	Title string
	Kind  ErrorKind
	// Code is the OAuth error code (e.g. invalid_request), Description its technical text.
	Code        string
	Description string
	// Back is the application's client_uri when the client is known; empty links to the
	// branding's home page, if any.
	Back Back
}

// Explain is the catalog key of the page's explanation.
func (p ErrorPage) Explain() string {
	if p.Kind == "" || !Lang(DefaultLanguage).Has("error.explain."+string(p.Kind)) {
		return "error.explain.default"
	}
	return "error.explain." + string(p.Kind)
}

// Param is one field of a form_post authorization response.
type Param struct {
	Name  string
	Value string
}

// FormPostPage is an OAuth 2.0 Form Post Response Mode page: it POSTs Params to Action,
// the client's redirect_uri, which must be an absolute http or https URL.
type FormPostPage struct {
	Action string
	Params []Param
}

// DescribeScopes turns scope names into consent-page entries with the standard English
// descriptions; unknown scopes are described by their name. Leave Description empty instead
// to have the consent page describe a scope in its own language (Localizer.DescribeScope).
func DescribeScopes(names []string) []Scope {
	scopes := make([]Scope, len(names))
	for i, n := range names {
		scopes[i] = Scope{Name: n, Description: Lang(DefaultLanguage).DescribeScope(n)}
	}
	return scopes
}
