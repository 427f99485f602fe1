package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// authRequest is a validated authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1). It
// travels sealed through the login and consent pages, so its fields are exported for JSON.
type authRequest struct {
	ClientID string `json:"client_id"`
	// RedirectURI is where the response goes; RedirectParam says whether the request named it
	// (the token request must then repeat it, RFC 6749 §4.1.3).
	RedirectURI         string   `json:"redirect_uri"`
	RedirectParam       bool     `json:"redirect_param,omitempty"`
	ResponseMode        string   `json:"response_mode"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	Scopes              []string `json:"scopes,omitempty"`
	Resources           []string `json:"resources,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              *int64   `json:"max_age,omitempty"`
	LoginHint           string   `json:"login_hint,omitempty"`
	// HintSubject is the sub of a valid id_token_hint (as this client sees it).
	HintSubject string   `json:"hint_sub,omitempty"`
	ACRValues   []string `json:"acr_values,omitempty"`
	// UILocales are the end user's preferred languages (OIDC Core §3.1.2.1).
	UILocales []string `json:"ui_locales,omitempty"`
	DPoPJKT   string   `json:"dpop_jkt,omitempty"`
	// Claims is the claims request parameter (OIDC Core §5.5), nil when absent.
	Claims *claimsRequest `json:"claims,omitempty"`
}

// consentScopes are the scopes the user is asked about: those requested, plus those whose
// claims the claims parameter asks for.
func (a *authRequest) consentScopes() []string {
	out := slices.Clone(a.Scopes)
	for _, sc := range a.Claims.impliedScopes() {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func (a *authRequest) hasPrompt(p string) bool { return slices.Contains(a.Prompt, p) }

// authError is a failed authorization request. With a verified redirect target it is sent to
// the client (RFC 6749 §4.1.2.1); without one it is shown to the user and never redirected.
type authError struct {
	err *oautherr.Error
	// to is the verified response target, nil when the client or redirect URI is not verified.
	to *responseTarget
}

func (e *authError) Error() string { return e.err.Error() }

// responseTarget is a verified redirect URI, the response mode to use with it and the state
// to echo.
type responseTarget struct {
	RedirectURI string
	Mode        string
	State       string
	// ClientID names the client a JWT response (JARM) is signed for.
	ClientID string
}

// Response modes (OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode).
const (
	modeQuery    = "query"
	modeFragment = "fragment"
	modeFormPost = "form_post"
)

// identityScopes are the OIDC scopes that release claims at userinfo (OIDC Core §5.4), not
// permissions at a resource server.
var identityScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

func isIdentityScope(sc string) bool { return slices.Contains(identityScopes, sc) }

var validPrompts = []string{"none", "login", "consent", "select_account"}

// authorizationParams reads the parameters of an authorization request: the query of a GET,
// the form body of a POST (OIDC Core §3.1.2.1). Repeating a parameter other than resource is an
// error (RFC 6749 §3.1).
func authorizationParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	switch r.Method {
	case http.MethodGet: // not HEAD: answering it would issue a code nobody receives
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, oautherr.Request("the query string is malformed")
		}
		return q, checkRepeats(q)
	case http.MethodPost:
		if err := parseFormBody(w, r); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	default:
		w.Header().Set("Allow", "GET, POST")
		return nil, &oautherr.Error{Code: oautherr.InvalidRequest, Description: "the authorization endpoint accepts GET and POST", Status: http.StatusMethodNotAllowed}
	}
}

// parseAuthRequest validates an authorization request. The order matters: until the client
// and its redirect URI are verified, errors go to the user, never to a URI from the request.
func (s *Server) parseAuthRequest(ctx context.Context, q url.Values) (*authRequest, *store.Client, *authError) {
	page := func(e *oautherr.Error) *authError { return &authError{err: e} }
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, nil, page(oautherr.Request("client_id is required"))
	}
	client, err := s.lookups.GetClient(ctx, clientID)
	var document *clientidmeta.Error
	if errors.As(err, &document) {
		// A client ID URL whose document is unusable: say why, on the page (its redirect URIs
		// are unverified).
		return nil, nil, page(oautherr.New(oautherr.InvalidClient, document.Description))
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && client.Disabled) {
		return nil, nil, page(oautherr.New(oautherr.InvalidClient, "the client is unknown or disabled"))
	} else if err != nil {
		return nil, nil, page(oautherr.Server(err))
	}
	req := &authRequest{ClientID: client.ID, State: q.Get("state")}
	redirect := q.Get("redirect_uri")
	switch {
	case redirect != "":
		if !redirectURIMatches(client, redirect) {
			return nil, nil, page(oautherr.Request("redirect_uri is not registered for this client"))
		}
		req.RedirectURI, req.RedirectParam = redirect, true
	case len(client.RedirectURIs) == 1 && !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		// RFC 6749 §3.1.2.3: optional with one registered URI; OIDC always requires it.
		req.RedirectURI = client.RedirectURIs[0]
	default:
		return nil, nil, page(oautherr.Request("redirect_uri is required"))
	}

	// From here on, errors go to the verified redirect URI.
	to := &responseTarget{RedirectURI: req.RedirectURI, Mode: modeQuery, State: req.State, ClientID: client.ID}
	fail := func(e *oautherr.Error) (*authRequest, *store.Client, *authError) {
		return nil, nil, &authError{err: e, to: to}
	}
	switch mode := q.Get("response_mode"); mode {
	case "", modeQuery:
	case modeFragment, modeFormPost, modeQueryJWT, modeFragmentJWT, modeFormPostJWT:
		to.Mode = mode
	case modeJWT:
		to.Mode = modeQueryJWT // JARM §2.3.4: the default JWT mode of response_type code
	default:
		return fail(oautherr.Request("response_mode must be query, fragment, form_post, jwt, query.jwt, fragment.jwt or form_post.jwt"))
	}
	if _, signed := jwtModeBase(to.Mode); !signed && s.policy(client).RequireJWTResponse {
		return fail(oautherr.Request("this client must ask for a JWT-secured authorization response (JARM): response_mode=jwt"))
	}
	req.ResponseMode = to.Mode
	// securedParams has replaced request and request_uri by what they stand for: here they
	// can only have come from inside a request object or a pushed request (RFC 9101 §4).
	switch {
	case q.Has("request"), q.Has("request_uri"):
		return fail(oautherr.New(oautherr.InvalidRequestObject, "a request object or pushed request must not contain request or request_uri"))
	case q.Has("registration"):
		return fail(oautherr.New(oautherr.RegistrationNotSupported, "the registration parameter is not supported"))
	}
	switch rt := q.Get("response_type"); rt {
	case "":
		return fail(oautherr.Request("response_type is required"))
	case "code":
	default:
		return fail(oautherr.New(oautherr.UnsupportedResponseType, "unsupported response_type: only code is supported"))
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		return fail(oautherr.New(oautherr.UnauthorizedClient, "the client is not allowed to use the authorization code grant"))
	}
	scopes, ok := parseScope(q.Get("scope"))
	if !ok {
		return fail(oautherr.New(oautherr.InvalidScope, "scope is malformed"))
	}
	for _, sc := range scopes {
		if !allowedBy(client.Scopes, sc) {
			return fail(oautherr.New(oautherr.InvalidScope, "scope names a scope the client may not request"))
		}
	}
	req.Scopes = dropUnusableOffline(client, scopes)
	if e := s.checkAuthResources(ctx, client, q["resource"], req); e != nil {
		return fail(e)
	}
	if e := s.checkPKCE(client, q, req); e != nil {
		return fail(e)
	}
	if e := parsePrompt(q.Get("prompt"), req); e != nil {
		return fail(e)
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fail(oautherr.Request("max_age must be a non-negative integer"))
		}
		req.MaxAge = &n
	}
	req.Nonce = q.Get("nonce")
	req.LoginHint = q.Get("login_hint")
	req.ACRValues = strings.Fields(q.Get("acr_values"))
	req.UILocales = strings.Fields(q.Get("ui_locales"))
	if hint := q.Get("id_token_hint"); hint != "" {
		sub, err := s.idTokenHintSubject(hint, client.ID)
		if err != nil {
			return fail(oautherr.Request("id_token_hint is not a valid ID token issued by this server to this client"))
		}
		req.HintSubject = sub
	}
	cr, cerr := parseClaimsRequest(q.Get("claims"))
	if cerr != nil {
		return fail(cerr)
	}
	// Filtered here so that neither the consent page nor the stored grant ever names a claim
	// the client may not have; released claims are checked again (issueIDToken, userinfo).
	req.Claims = cr.forClient(client)
	if _, essential := cr.acrRequest(); essential && s.acrFor(req) == "" {
		// OIDC Core §5.5.1.1: an essential acr that cannot be met is a failed authentication.
		return fail(oautherr.New(oautherr.AccessDenied, "none of the essential acr values requested can be satisfied"))
	}
	if jkt := q.Get("dpop_jkt"); jkt != "" {
		if !isThumbprint(jkt) {
			return fail(oautherr.Request("dpop_jkt must be a base64url SHA-256 JWK thumbprint"))
		}
		req.DPoPJKT = jkt
	}
	return req, client, nil
}

// dropUnusableOffline removes offline_access from scopes when the client cannot get refresh
// tokens: OIDC Core §11 lets the server ignore it, and it cannot be honoured here.
func dropUnusableOffline(client *store.Client, scopes []string) []string {
	if slices.Contains(scopes, "offline_access") && !slices.Contains(client.GrantTypes, "refresh_token") {
		return slices.DeleteFunc(scopes, func(sc string) bool { return sc == "offline_access" })
	}
	return scopes
}

// checkAuthResources validates RFC 8707 resource parameters of an authorization request and
// the resource scopes against them. Several resources may be granted at once; each access
// token later names one.
func (s *Server) checkAuthResources(ctx context.Context, client *store.Client, resources []string, req *authRequest) *oautherr.Error {
	var allowed [][]string // AllowedScopes of each resource in play
	for _, id := range resources {
		res, err := s.resolveResource(ctx, client, []string{id})
		if err != nil {
			return oautherr.As(err)
		}
		if !slices.Contains(req.Resources, res.Identifier) {
			req.Resources = append(req.Resources, res.Identifier)
			allowed = append(allowed, res.AllowedScopes)
		}
	}
	var noDefault *oautherr.Error // why no default resource stands in for the parameter
	if len(resources) == 0 {
		// RFC 8707 §2: the client's default resource stands in, recorded so that the consent
		// page names it and the code is for it.
		res, err := s.defaultResource(ctx, client)
		if err == nil {
			req.Resources = []string{res.Identifier}
			allowed = append(allowed, res.AllowedScopes)
		} else if !errors.As(err, &noDefault) {
			return oautherr.Server(err)
		}
	}
	for _, sc := range req.Scopes {
		if isIdentityScope(sc) {
			continue
		}
		ok := false
		for _, list := range allowed {
			ok = ok || allowedBy(list, sc)
		}
		if !ok && noDefault != nil {
			return noDefault // a resource scope needs a resource: say how to name one
		}
		if !ok {
			return oautherr.New(oautherr.InvalidScope, "scope names a scope no requested resource accepts")
		}
	}
	return nil
}

// checkPKCE enforces RFC 7636 as RFC 9700 §2.1.1 wants it: S256, required for public clients
// and, unless a confidential client opted out, for everyone.
func (s *Server) checkPKCE(client *store.Client, q url.Values, req *authRequest) *oautherr.Error {
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	strict := s.policy(client).RequirePKCES256 // FAPI 2.0: S256, always
	if challenge == "" {
		if method != "" {
			return oautherr.Request("code_challenge_method without code_challenge")
		}
		if client.TokenEndpointAuthMethod == "none" || !client.PKCEOptional || strict {
			return oautherr.Request("code_challenge is required (PKCE, S256)")
		}
		return nil
	}
	switch method {
	case "S256":
	case "plain":
		if !s.cfg.AllowPlainPKCE || strict {
			return oautherr.Request("code_challenge_method plain is not allowed: use S256")
		}
	case "":
		// RFC 7636 §4.3 defaults to plain, which is off unless allowed: say so instead of
		// silently accepting a downgraded challenge.
		if !s.cfg.AllowPlainPKCE || strict {
			return oautherr.Request("code_challenge_method is required: use S256")
		}
		method = "plain"
	default:
		return oautherr.Request("code_challenge_method must be S256")
	}
	if !validPKCEValue(challenge) {
		return oautherr.Request("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	req.CodeChallenge, req.CodeChallengeMethod = challenge, method
	return nil
}

// validPKCEValue checks RFC 7636 §4.1/§4.2 syntax of a code_verifier or code_challenge.
func validPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func parsePrompt(param string, req *authRequest) *oautherr.Error {
	if param == "" {
		return nil
	}
	for _, p := range strings.Fields(param) {
		if !slices.Contains(validPrompts, p) {
			return oautherr.Request("prompt has an unsupported value: use none, login, consent or select_account")
		}
		if !slices.Contains(req.Prompt, p) {
			req.Prompt = append(req.Prompt, p)
		}
	}
	if slices.Contains(req.Prompt, "none") && len(req.Prompt) > 1 {
		return oautherr.Request("prompt none cannot be combined with other values")
	}
	return nil
}

// redirectURIMatches is exact string matching (RFC 9700 §4.1.3), with the one exception of
// RFC 8252 §7.3 for clients that may use it (loopbackPortMayVary): for loopback IP redirect
// URIs the port may vary, because native apps listen on an ephemeral port.
func redirectURIMatches(client *store.Client, uri string) bool {
	if slices.Contains(client.RedirectURIs, uri) {
		return true
	}
	if !loopbackPortMayVary(client) {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopbackIP(u.Hostname()) {
		return false
	}
	for _, reg := range client.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Hostname() != u.Hostname() {
			continue
		}
		if ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery && u.Fragment == "" && u.User == nil {
			return true
		}
	}
	return false
}

// loopbackPortMayVary: the port exemption is for native apps, which are public clients (RFC
// 8252 §8.4); a confidential client gets it only by opting in.
func loopbackPortMayVary(client *store.Client) bool {
	return client.TokenEndpointAuthMethod == "none" || client.RedirectURIAnyLoopbackPort
}

// isLoopbackIP: RFC 8252 §8.3 wants loopback IP literals, not "localhost", for port leeway.
func isLoopbackIP(host string) bool {
	return host != "localhost" && IsLoopbackHost(host)
}

// isThumbprint checks the shape of an RFC 7638 SHA-256 thumbprint in base64url.
func isThumbprint(v string) bool {
	if len(v) != 43 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
