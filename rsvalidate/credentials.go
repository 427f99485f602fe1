package rsvalidate

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

const (
	// maxTokenLen bounds the access tokens (and proofs) looked at; real ones are a few KiB.
	maxTokenLen = 16 << 10
	// maxFormBody bounds the form body searched for an access_token (RFC 6750 §2.2). A longer
	// body is passed on untouched and not searched.
	maxFormBody = 64 << 10
)

// credential is the access token of a request and how it came.
type credential struct {
	scheme string // "Bearer" or "DPoP"
	token  string
	proof  string // the DPoP header, with the DPoP scheme
}

// credentials extracts the request's single access token (RFC 6750 §2, RFC 9449 §7). A zero
// credential means there is none; with an error, the scheme is set when it is known. An Authorization header of another scheme is not ours and
// is ignored, as is the DPoP scheme when DPoP is not configured.
func (v *Validator) credentials(r *http.Request) (credential, *Error) {
	var c credential
	methods := 0
	switch auth := r.Header["Authorization"]; {
	case len(auth) > 1:
		return c, invalidRequest("more than one Authorization header")
	case len(auth) == 1:
		scheme, token, _ := strings.Cut(auth[0], " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			c.scheme = "Bearer"
		case strings.EqualFold(scheme, "DPoP") && v.dpop != nil:
			c.scheme = "DPoP"
		}
		if c.scheme != "" {
			methods++
			c.token = strings.TrimLeft(token, " ")
		}
	}
	if v.cfg.AllowQueryToken && strings.Contains(r.URL.RawQuery, "access_token") {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if e := takeOne(&c, q["access_token"], &methods); e != nil {
			return c, e
		}
	}
	if v.cfg.AllowBodyToken && r.Method == http.MethodPost && isForm(r) {
		if e := takeOne(&c, formTokens(r), &methods); e != nil {
			return c, e
		}
	}
	if v.cfg.AllowSubprotocolToken && IsWebSocket(r) {
		tokens, e := subprotocolTokens(r)
		if e == nil && len(tokens) > 1 {
			e = invalidRequest("more than one access token subprotocol")
		}
		if e != nil {
			return c, e
		}
		_ = takeOne(&c, tokens, &methods) // at most one token: no error
	}
	if methods > 1 {
		return credential{}, invalidRequest("more than one method of sending the access token")
	}
	if methods == 0 {
		return c, nil
	}
	if e := checkTokenSyntax(c.token); e != nil {
		return c, e
	}
	if c.scheme == "DPoP" {
		proofs := r.Header["Dpop"]
		if len(proofs) != 1 || proofs[0] == "" || len(proofs[0]) > maxTokenLen {
			return c, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidDPoPProof,
				Description: "exactly one DPoP proof header required", scheme: "DPoP"}
		}
		c.proof = proofs[0]
	}
	return c, nil
}

// takeOne records the token of a query or body credential.
func takeOne(c *credential, tokens []string, methods *int) *Error {
	switch len(tokens) {
	case 0:
		return nil
	case 1:
		*methods++
		c.scheme, c.token = "Bearer", tokens[0]
		return nil
	default:
		return invalidRequest("more than one access_token parameter")
	}
}

func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// formTokens reads the access_token parameters of a form body and restores the body for the
// handlers after us. A body longer than maxFormBody is not searched.
func formTokens(r *http.Request) []string {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	// Whatever was read goes back in front of the unread rest.
	r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > maxFormBody || !bytes.Contains(buf, []byte("access_token")) {
		return nil
	}
	form, _ := url.ParseQuery(string(buf))
	return form["access_token"]
}

type readCloser struct {
	io.Reader
	io.Closer
}

// checkTokenSyntax accepts RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func checkTokenSyntax(token string) *Error {
	if token == "" {
		return invalidRequest("empty access token")
	}
	if len(token) > maxTokenLen {
		return invalidToken("invalid access token", nil)
	}
	end := len(token)
	for end > 1 && token[end-1] == '=' {
		end--
	}
	for i := range end {
		if !b64tokenChars[token[i]] {
			return invalidRequest("malformed access token")
		}
	}
	return nil
}

// b64tokenChars is a lookup table: the check runs over every byte of every token.
var b64tokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

func invalidRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: desc}
}
