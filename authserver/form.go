package authserver

import (
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
)

// maxFormBytes bounds a request body: OAuth requests are small, and a client assertion or a
// handful of resource indicators fit easily.
const maxFormBytes = 64 << 10

// repeatable lists the parameters that may appear more than once (RFC 8707 resource);
// RFC 6749 §3.1/§3.2 forbids repeating any other.
var repeatable = map[string]bool{"resource": true}

// parsePostForm checks the method, then parses the body (parseFormBody). Query-string
// parameters are ignored on POST endpoints: credentials and tokens must not travel in URLs.
func parsePostForm(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &oautherr.Error{Code: oautherr.InvalidRequest, Description: "the endpoint accepts only POST", Status: http.StatusMethodNotAllowed}
	}
	return parseFormBody(w, r)
}

// parseFormBody checks the content type, parses the body into r.PostForm with a size limit
// and rejects repeated parameters.
func parseFormBody(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return oautherr.Request("the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &oautherr.Error{Code: oautherr.InvalidRequest, Description: "the request body is too large", Status: http.StatusRequestEntityTooLarge}
		}
		return oautherr.Request("the request body is not a valid form")
	}
	return checkRepeats(r.PostForm)
}

// checkRepeats enforces RFC 6749 §3.1/§3.2: no parameter but resource may appear twice. The
// description does not name the parameter: its name is request input too.
func checkRepeats(v url.Values) error {
	for name, values := range v {
		if len(values) > 1 && !repeatable[name] {
			return oautherr.Request("a parameter is repeated: only resource may appear more than once")
		}
	}
	return nil
}

// formValue returns the single body value of name ("" when absent).
func formValue(f url.Values, name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
