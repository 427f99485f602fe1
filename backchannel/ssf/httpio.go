package ssf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"go.uber.org/zap"
)

// apiError is an error answer: {"error": code, "error_description": description}. The
// description is fixed text: it never quotes request values.
type apiError struct {
	status      int
	code        string
	description string
	// cause is logged, never sent.
	cause error
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

func badRequest(description string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", description: description}
}

var (
	errNotFound = &apiError{status: http.StatusNotFound, code: "not_found", description: "no such stream"}
	errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", description: "the request body is too large"}
	errNotJSON  = &apiError{status: http.StatusUnsupportedMediaType, code: "invalid_request", description: "the request body must be application/json"}
	errTooMany  = &apiError{status: http.StatusTooManyRequests, code: "too_many_requests", description: "too many concurrent polls of this client"}
)

// writeJSON answers v with status; SSF answers are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers err: an *apiError as it says, anything else as a logged 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		s.log.Error("shared signals request failed", zap.String("path", r.URL.Path), zap.Error(err))
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	if e.cause != nil {
		s.log.Debug("shared signals request refused", zap.String("path", r.URL.Path), zap.String("error", e.code), zap.Error(e.cause))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssf"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

// methodNotAllowed answers 405 with the allowed methods.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "method not allowed"})
}

// authenticate runs Deps.Auth and maps its refusals to 401 and 403.
func (s *Server) authenticate(r *http.Request) (string, error) {
	clientID, err := s.deps.Auth(r)
	switch {
	case err == nil && clientID != "":
		return clientID, nil
	case errors.Is(err, ErrForbidden):
		return "", &apiError{status: http.StatusForbidden, code: "access_denied",
			description: "the client is not a resource server client (no introspect link)", cause: err}
	case err == nil || errors.Is(err, ErrUnauthenticated):
		return "", &apiError{status: http.StatusUnauthorized, code: "invalid_client",
			description: "client authentication failed", cause: err}
	default:
		return "", err
	}
}

// readJSON decodes the request body (application/json, at most maxBodyBytes) into v. An
// empty body decodes as {}.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errNotJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case err != nil:
		return &apiError{status: http.StatusBadRequest, code: "invalid_request", description: "the request body could not be read", cause: err}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		e := badRequest("the request body is not a JSON object of the expected shape")
		e.cause = err
		return e
	}
	if dec.More() {
		return badRequest("the request body has data after the JSON object")
	}
	return nil
}
