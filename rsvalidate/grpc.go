package rsvalidate

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// gRPC status codes a refusal maps to (google.rpc.Code; the gRPC wire values).
const (
	GRPCInvalidArgument   = 3
	GRPCPermissionDenied  = 7
	GRPCResourceExhausted = 8
	GRPCInternal          = 13
	GRPCUnavailable       = 14
	GRPCUnauthenticated   = 16
)

// IsGRPC reports whether r is a gRPC call: HTTP/2 (or later) with Content-Type application/grpc,
// application/grpc+<codec> or either with parameters. gRPC-Web (application/grpc-web…) is not:
// its clients read plain HTTP refusals and map the status themselves.
func IsGRPC(r *http.Request) bool {
	if r.ProtoMajor < 2 {
		return false // gRPC runs over HTTP/2 only; anything else claiming it gets plain HTTP
	}
	ct := r.Header.Get("Content-Type")
	const prefix = "application/grpc"
	if len(ct) < len(prefix) || !strings.EqualFold(ct[:len(prefix)], prefix) {
		return false
	}
	rest := ct[len(prefix):]
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}

// GRPCCode is the gRPC status code for a refusal's HTTP status, as google.rpc.Code pairs them:
// 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED,
// 503 UNAVAILABLE, any other 5xx INTERNAL. A status 0 is 401, as in WriteError.
func GRPCCode(httpStatus int) int {
	switch httpStatus {
	case 0, http.StatusUnauthorized:
		return GRPCUnauthenticated
	case http.StatusForbidden:
		return GRPCPermissionDenied
	case http.StatusTooManyRequests:
		return GRPCResourceExhausted
	case http.StatusServiceUnavailable:
		return GRPCUnavailable
	}
	if httpStatus >= 400 && httpStatus < 500 {
		return GRPCInvalidArgument
	}
	return GRPCInternal
}

// GRPCMessage is the grpc-message value for an OAuth error code and description
// ("invalid_token: access token expired"), percent-encoded as the gRPC HTTP/2 protocol
// requires: UTF-8, every byte outside %x20-7E and '%' itself as %XX. Invalid UTF-8 becomes
// U+FFFD, so a client always decodes valid text.
func GRPCMessage(code, description string) string {
	msg := description
	if code != "" && description != "" {
		msg = code + ": " + description
	} else if code != "" {
		msg = code
	}
	msg = strings.ToValidUTF8(msg, string(utf8.RuneError))
	var b strings.Builder
	b.Grow(len(msg))
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// writeGRPCStatus answers a gRPC call with a Trailers-Only response: HTTP 200 and a single
// HEADERS frame carrying grpc-status and grpc-message, ended with END_STREAM. No body may be
// written: Go's HTTP/2 server then sends the headers with END_STREAM when the handler returns,
// which gRPC clients read as the call's status. Headers already set on w (WWW-Authenticate,
// DPoP-Nonce, Retry-After) go in the same frame, where the client's trailing metadata has them.
func writeGRPCStatus(w http.ResponseWriter, httpStatus int, code, description string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(GRPCCode(httpStatus)))
	if msg := GRPCMessage(code, description); msg != "" {
		h.Set("Grpc-Message", msg)
	}
	w.WriteHeader(http.StatusOK)
}

// WriteUnavailable answers a request that cannot be validated at all (the issuer or its store
// cannot be reached, nothing valid is cached): 503 with Retry-After, or UNAVAILABLE for a gRPC
// call (so, like WriteErrorFor, never for a forward-auth subrequest, where 200 reads as a
// pass). It fails closed: the request never goes on.
func WriteUnavailable(w http.ResponseWriter, r *http.Request) {
	const desc = "authorization server unavailable: access tokens cannot be validated"
	w.Header().Set("Retry-After", "5")
	if IsGRPC(r) {
		writeGRPCStatus(w, http.StatusServiceUnavailable, codeUnavailable, desc)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(desc + "\n"))
}
