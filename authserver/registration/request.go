package registration

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

// request is a registration or update request body: client metadata, and optionally a
// software statement whose claims override it (RFC 7591 §2.3).
type request struct {
	spec.ClientMetadata
	SoftwareStatement string `json:"software_statement,omitempty"`
}

// readRequest reads the JSON body of a registration or update request. RFC 7591 §3.2.2
// answers every registration error with 400 and a JSON error, so a body that is not a JSON
// object of client metadata (wrong content type, too large, malformed) is
// invalid_client_metadata rather than a bare 415 or 413 that a registration client would not
// parse. Unknown members are ignored (RFC 7591 §2) and so never stored.
func readRequest(r *http.Request) (*request, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return nil, metadataError("the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, metadataError("the request body is too large")
	case err != nil:
		return nil, metadataError("the request body could not be read")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, metadataError("the request body must be a JSON object")
	}
	var req request
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, metadataError("the request body is not valid client metadata JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, metadataError("the request body must hold one JSON object")
	}
	return &req, nil
}

// applyStatement verifies the request's software statement, if any, and lets its claims
// override the request's metadata (RFC 7591 §2.3: the statement's values take precedence).
func (h *Handler) applyStatement(req *request) error {
	if req.SoftwareStatement == "" {
		if h.cfg.RequireSoftwareStatement {
			return newError(codeInvalidStatement, "software_statement: is required")
		}
		return nil
	}
	claims, err := h.statements.verify(req.SoftwareStatement)
	if err != nil {
		return err
	}
	// Decoding onto the request replaces exactly the members the statement carries.
	if err := json.Unmarshal(claims, &req.ClientMetadata); err != nil {
		return newError(codeInvalidStatement, "software_statement: its claims are not valid client metadata")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func escapePathSegment(s string) string { return url.PathEscape(s) }
