// Package oautherr is the OAuth 2.0 error model (RFC 6749 §5.2, RFC 6750 §3, RFC 9449 §7)
// and its renderings: JSON (Write), authorization response parameters (Params), challenge
// parameters (ChallengeParams) and the text of an error page (SafeDescription). Every endpoint
// answers errors through it so codes, statuses, headers and the description's characters stay
// exact.
package oautherr

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Error codes used by the endpoints.
const (
	InvalidRequest          = "invalid_request"
	InvalidClient           = "invalid_client"
	InvalidGrant            = "invalid_grant"
	UnauthorizedClient      = "unauthorized_client"
	UnsupportedGrantType    = "unsupported_grant_type"
	InvalidScope            = "invalid_scope"
	InvalidTarget           = "invalid_target"
	UnsupportedTokenType    = "unsupported_token_type"
	InvalidDPoPProof        = "invalid_dpop_proof"
	UseDPoPNonce            = "use_dpop_nonce"
	ServerError             = "server_error"
	TemporarilyUnavailable  = "temporarily_unavailable"
	InvalidToken            = "invalid_token"
	InsufficientScope       = "insufficient_scope"
	AccessDenied            = "access_denied"
	UnsupportedResponseType = "unsupported_response_type"

	// OpenID Connect Core §3.1.2.6 authentication errors.
	InteractionRequired      = "interaction_required"
	LoginRequired            = "login_required"
	AccountSelectionRequired = "account_selection_required"
	ConsentRequired          = "consent_required"
	InvalidRequestURI        = "invalid_request_uri"
	InvalidRequestObject     = "invalid_request_object"
	RequestNotSupported      = "request_not_supported"
	RequestURINotSupported   = "request_uri_not_supported"
	RegistrationNotSupported = "registration_not_supported"

	// Polling grants: the device authorization grant (RFC 8628 §3.5) and CIBA (§11).
	AuthorizationPending = "authorization_pending"
	SlowDown             = "slow_down"
	ExpiredToken         = "expired_token"
)

// Error is an OAuth error response.
type Error struct {
	Code string
	// Description is a fixed text for developers: it names parameters but never quotes
	// request values. It leaves this package only through SafeDescription.
	Description string
	// Status is the HTTP status; 0 means 400.
	Status int
	// WWWAuthenticate, when set, is sent as the WWW-Authenticate header.
	WWWAuthenticate string
	// DPoPNonce, when set, is sent as the DPoP-Nonce header (RFC 9449 §8: use_dpop_nonce).
	DPoPNonce string
	// Cause is logged, never sent to the client.
	Cause error
}

func (e *Error) Error() string {
	if e.Description != "" {
		return e.Code + ": " + e.Description
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Cause }

// maxDescriptionLen bounds an error_description. Ours are one short sentence; anything longer
// can only be input that slipped into one.
const maxDescriptionLen = 256

// SafeDescription returns e's description as it may be sent (SafeText).
func (e *Error) SafeDescription() string { return SafeText(e.Description) }

// SafeText keeps an error text inside the characters RFC 6749 §5.2 allows in error_description
// (%x20-21 / %x23-5B / %x5D-7E): every other character — quotes, backslashes, control
// characters such as CR and LF, anything non-ASCII — becomes '?', and the text is cut to
// maxDescriptionLen bytes. Every response that carries a description (JSON, redirect, form
// post, WWW-Authenticate, error page) goes through it, so that a description which quotes
// request input by mistake can still not break a header, a quoted-string or a page.
func SafeText(s string) string {
	if len(s) > maxDescriptionLen {
		s = s[:maxDescriptionLen]
	}
	if !strings.ContainsFunc(s, notAllowed) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // an invalid byte comes as utf8.RuneError: not allowed either
		if notAllowed(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func notAllowed(r rune) bool {
	return r < 0x20 || r > 0x7E || r == '"' || r == '\\'
}

// MarshalJSON is the error response body (RFC 6749 §5.2), so that even an Error encoded
// outside Write carries only the safe description.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Code        string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.SafeDescription()})
}

// Params are the error parameters of an authorization response (RFC 6749 §4.1.2.1).
func (e *Error) Params() url.Values {
	params := url.Values{"error": {e.Code}}
	if d := e.SafeDescription(); d != "" {
		params.Set("error_description", d)
	}
	return params
}

// ChallengeParams are the error auth-params of a WWW-Authenticate challenge (RFC 6750 §3),
// "" without an error code. The description is safe inside a quoted-string.
func (e *Error) ChallengeParams() string {
	if e.Code == "" {
		return ""
	}
	params := `error="` + e.Code + `"`
	if d := e.SafeDescription(); d != "" {
		params += `, error_description="` + d + `"`
	}
	return params
}

// New returns an Error with status 400.
func New(code, description string) *Error {
	return &Error{Code: code, Description: description, Status: http.StatusBadRequest}
}

// Request is shorthand for an invalid_request error.
func Request(description string) *Error { return New(InvalidRequest, description) }

// Client returns invalid_client with 401. When basic is true the challenge names the Basic
// scheme, as RFC 6749 §5.2 requires when the client tried HTTP Basic authentication.
func Client(description string, basic bool) *Error {
	e := &Error{Code: InvalidClient, Description: description, Status: http.StatusUnauthorized}
	if basic {
		e.WWWAuthenticate = `Basic realm="oauth", charset="UTF-8"`
	}
	return e
}

// Server wraps an internal failure: the client sees server_error without details.
func Server(cause error) *Error {
	return &Error{Code: ServerError, Description: "the server could not complete the request", Status: http.StatusInternalServerError, Cause: cause}
}

// As returns err as an *Error, wrapping anything else as a server error.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Server(err)
}

// Unavailable is the answer to a request the database (or another service it needs) could
// not serve: 503 temporarily_unavailable, which clients retry.
func Unavailable(cause error) *Error {
	return &Error{Code: TemporarilyUnavailable, Status: http.StatusServiceUnavailable, Cause: cause,
		Description: "the server is temporarily unable to handle the request; try again shortly"}
}

// Classify returns err as the *Error to answer: an internal failure that unavailable
// recognises as the database failing becomes Unavailable instead of a server error. Every
// endpoint answers through it, so the rule is one.
func Classify(err error, unavailable func(error) bool) *Error {
	e := As(err)
	if e.Code == ServerError && unavailable != nil && unavailable(err) {
		return Unavailable(e.Cause)
	}
	return e
}

// Write sends err as a JSON error response with Cache-Control: no-store (and Retry-After on a
// 503).
func Write(w http.ResponseWriter, err error) {
	e := As(err)
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	h := w.Header()
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.WWWAuthenticate != "" {
		h.Set("WWW-Authenticate", e.WWWAuthenticate)
	}
	if e.DPoPNonce != "" {
		h.Set("DPoP-Nonce", e.DPoPNonce)
	}
	if e.Code == "" {
		// RFC 6750 §3.1: a request without credentials gets the challenge and no error code.
		h.Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}
