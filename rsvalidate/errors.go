package rsvalidate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of RFC 6750 §3.1 and RFC 9449 §7.1 and §9.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
	CodeInvalidDPoPProof  = "invalid_dpop_proof"
	CodeUseDPoPNonce      = "use_dpop_nonce"
	// codeUnavailable answers 503 (RFC 6749 §4.1.2.1 vocabulary); no challenge goes with it.
	codeUnavailable = "temporarily_unavailable"
)

// Error is a refused request, answered by WriteError.
type Error struct {
	Status      int    // 400, 401, 403, 503
	Code        string // invalid_request, invalid_token, insufficient_scope, invalid_dpop_proof, use_dpop_nonce; "" for a bare 401 challenge (no credentials, RFC 6750 §3.1)
	Description string
	Scope       string // for insufficient_scope
	Cause       error  // logged only
	// scheme is the challenge that carries the error ("Bearer" or "DPoP"); "" → every one.
	scheme string
}

func (e *Error) Error() string {
	s := "rsvalidate: " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// WriteError answers e: status, WWW-Authenticate challenge(s) as separate header lines,
// DPoP-Nonce when due, JSON body {"error","error_description"}, Cache-Control: no-store.
func (v *Validator) WriteError(w http.ResponseWriter, e *Error) { v.writeError(w, e, false) }

// WriteErrorFor answers e in the form r's client understands: a gRPC status for a gRPC call
// (IsGRPC), with the same challenge headers; otherwise as WriteError. A WebSocket handshake
// gets the plain HTTP answer, so no connection is upgraded. Use it only where the answer goes
// to the client: to a forward-auth subrequest the gRPC form, HTTP 200, would read as a pass;
// answer those with WriteError.
func (v *Validator) WriteErrorFor(w http.ResponseWriter, r *http.Request, e *Error) {
	v.writeError(w, e, IsGRPC(r))
}

func (v *Validator) writeError(w http.ResponseWriter, e *Error, grpc bool) {
	h := w.Header()
	status := e.Status
	if status == 0 {
		status = http.StatusUnauthorized
	}
	// Challenges answer authentication and authorization refusals only, not server failures.
	if status == http.StatusUnauthorized || status == http.StatusBadRequest || status == http.StatusForbidden {
		for _, c := range v.challenges(e) {
			h.Add("WWW-Authenticate", c)
		}
	}
	// A fresh nonce lets the client retry at once after a nonce-related refusal (RFC 9449 §9).
	if v.nonces != nil && (e.Code == CodeUseDPoPNonce || e.Code == CodeInvalidDPoPProof) {
		h.Set("DPoP-Nonce", v.nonces.Current())
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter(e.Cause)) // the issuer or the store will likely be back: clients retry
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if grpc {
		desc := e.Description
		if desc == "" && e.Code == "" {
			desc = "access token required"
		}
		writeGRPCStatus(w, status, e.Code, desc)
		return
	}
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// challenges lists the WWW-Authenticate values for e: Bearer unless DPoP is required, DPoP
// when a verifier is configured. The error goes in the challenge of the scheme it concerns.
func (v *Validator) challenges(e *Error) []string {
	required, _ := v.dpopRequired(context.Background())
	bearer := v.dpop == nil || !required
	dpop := v.dpop != nil
	target := e.scheme
	if target == "Bearer" && !bearer || target == "DPoP" && !dpop {
		target = ""
	}
	out := make([]string, 0, 2)
	if bearer {
		out = append(out, v.challenge("Bearer", e, target == "" || target == "Bearer"))
	}
	if dpop {
		out = append(out, v.challenge("DPoP", e, target == "" || target == "DPoP"))
	}
	return out
}

func (v *Validator) challenge(scheme string, e *Error, withError bool) string {
	var b strings.Builder
	b.WriteString(scheme)
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuotable(&b, value)
		b.WriteByte('"')
	}
	if withError && e.Code != "" {
		param("error", e.Code)
		if e.Description != "" {
			param("error_description", e.Description)
		}
		if e.Scope != "" {
			param("scope", e.Scope)
		}
	}
	if scheme == "DPoP" {
		param("algs", strings.Join(v.dpopAlgs, " "))
	}
	if v.cfg.ResourceMetadataURL != "" {
		param("resource_metadata", v.cfg.ResourceMetadataURL)
	}
	return b.String()
}

// writeQuotable writes s with every character outside RFC 6750 §3's %x20-21 / %x23-5B /
// %x5D-7E replaced, so a value can never break out of its quoted string.
func writeQuotable(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b.WriteByte(c)
	}
}

// retryAfter is the Retry-After of a 503: what the cause knows (a remote issuer's open
// circuit breaker: the rest of its cool-down), else 5 seconds.
func retryAfter(cause error) string {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(cause, &r) {
		if d := r.RetryAfter(); d > 0 {
			return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
		}
	}
	return "5"
}
