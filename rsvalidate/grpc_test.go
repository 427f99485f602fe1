package rsvalidate

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

func TestIsGRPC(t *testing.T) {
	tests := []struct {
		contentType string
		protoMajor  int
		want        bool
	}{
		{"application/grpc", 2, true},
		{"application/grpc+proto", 2, true},
		{"application/grpc+json", 2, true},
		{"application/grpc; charset=utf-8", 2, true},
		{"Application/GRPC", 2, true},
		{"application/grpc", 3, true},
		{"application/grpc", 1, false}, // gRPC needs HTTP/2: this is no gRPC client
		{"application/grpc-web", 2, false},
		{"application/grpc-web+proto", 2, false},
		{"application/grpc-web-text", 2, false},
		{"application/grpcx", 2, false},
		{"application/json", 2, false},
		{"", 2, false},
		{"application/grp", 2, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/svc/Method", nil)
		r.ProtoMajor = tt.protoMajor
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		if got := IsGRPC(r); got != tt.want {
			t.Errorf("IsGRPC(%q, HTTP/%d) = %v, want %v", tt.contentType, tt.protoMajor, got, tt.want)
		}
	}
}

func TestGRPCCode(t *testing.T) {
	tests := []struct{ status, want int }{
		{0, GRPCUnauthenticated},
		{http.StatusUnauthorized, GRPCUnauthenticated},
		{http.StatusForbidden, GRPCPermissionDenied},
		{http.StatusBadRequest, GRPCInvalidArgument},
		{http.StatusTooManyRequests, GRPCResourceExhausted},
		{http.StatusServiceUnavailable, GRPCUnavailable},
		{http.StatusInternalServerError, GRPCInternal},
		{http.StatusBadGateway, GRPCInternal},
	}
	for _, tt := range tests {
		if got := GRPCCode(tt.status); got != tt.want {
			t.Errorf("GRPCCode(%d) = %d, want %d", tt.status, got, tt.want)
		}
	}
}

func TestGRPCMessage(t *testing.T) {
	tests := []struct {
		code, desc, want string
	}{
		{"invalid_token", "access token expired", "invalid_token: access token expired"},
		{"insufficient_scope", "", "insufficient_scope"},
		{"", "access token required", "access token required"},
		{"", "", ""},
		{"invalid_request", "100% wrong", "invalid_request: 100%25 wrong"},
		{"invalid_request", "line\r\nbreak\ttab", "invalid_request: line%0D%0Abreak%09tab"},
		{"invalid_request", "été ✓", "invalid_request: %C3%A9t%C3%A9 %E2%9C%93"},
		{"invalid_request", "bad \xff byte", "invalid_request: bad %EF%BF%BD byte"},
		{"x", "~ and \x7f", "x: ~ and %7F"},
	}
	for _, tt := range tests {
		got := GRPCMessage(tt.code, tt.desc)
		if got != tt.want {
			t.Errorf("GRPCMessage(%q, %q) = %q, want %q", tt.code, tt.desc, got, tt.want)
		}
		// Percent-decoding gives back the text (gRPC's escapes are URL escapes).
		text := strings.TrimPrefix(strings.Trim(tt.code+": "+tt.desc, " "), ": ")
		text = strings.TrimSuffix(text, ":")
		if dec, err := url.PathUnescape(got); err != nil || dec != strings.ToValidUTF8(text, "\uFFFD") {
			t.Errorf("GRPCMessage(%q, %q) = %q decodes to %q (%v), want %q", tt.code, tt.desc, got, dec, err, text)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] > 0x7e {
				t.Errorf("GRPCMessage(%q, %q) = %q has byte %#x", tt.code, tt.desc, got, got[i])
			}
		}
	}
}

// grpcReq is a gRPC call as Go's HTTP/2 server hands it to handlers.
func grpcReq(headers ...string) *http.Request {
	r := req(headers...)
	r.Method = http.MethodPost
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set("Content-Type", "application/grpc")
	return r
}

// TestWriteErrorForGRPC: a gRPC call's refusal is a Trailers-Only answer (HTTP 200, no body)
// with the status and the same challenges a plain HTTP client gets; other requests get the
// plain answer unchanged.
func TestWriteErrorForGRPC(t *testing.T) {
	f := fixtures(t)
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t, f)
	cfg.DPoP = newVerifier(t, nonces)
	v := mustNew(t, cfg)

	tests := []struct {
		name       string
		err        *Error
		wantStatus int
		wantMsg    string
		challenge  bool
		nonce      bool
	}{
		{"no token", &Error{Status: http.StatusUnauthorized, Description: "access token required"},
			GRPCUnauthenticated, "access token required", true, false},
		{"invalid token", invalidToken("access token expired", nil),
			GRPCUnauthenticated, "invalid_token: access token expired", true, false},
		{"insufficient scope", &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Description: "requires scope write", Scope: "write"},
			GRPCPermissionDenied, "insufficient_scope: requires scope write", true, false},
		{"invalid request", invalidRequest("more than one Authorization header"),
			GRPCInvalidArgument, "invalid_request: more than one Authorization header", true, false},
		{"nonce", &Error{Status: http.StatusUnauthorized, Code: CodeUseDPoPNonce, Description: "nonce required", scheme: "DPoP"},
			GRPCUnauthenticated, "use_dpop_nonce: nonce required", true, true},
		{"unavailable", unavailable(nil),
			GRPCUnavailable, "temporarily_unavailable: authorization server unavailable", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			v.WriteErrorFor(w, grpcReq(), tt.err)
			h := w.Header()
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Errorf("HTTP %d with %d body bytes, want 200 and none (Trailers-Only)", w.Code, w.Body.Len())
			}
			if ct := h.Get("Content-Type"); ct != "application/grpc" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := h.Get("Grpc-Status"); got != strconv.Itoa(tt.wantStatus) {
				t.Errorf("grpc-status %q, want %d", got, tt.wantStatus)
			}
			if got := h.Get("Grpc-Message"); got != GRPCMessage("", tt.wantMsg) {
				t.Errorf("grpc-message %q, want %q", got, tt.wantMsg)
			}
			chall := h.Values("WWW-Authenticate")
			if tt.challenge != (len(chall) > 0) {
				t.Errorf("WWW-Authenticate %q, want present = %v", chall, tt.challenge)
			}
			// The challenge is the plain HTTP answer's, word for word.
			if plain := written(v, tt.err).Header().Values("WWW-Authenticate"); joinLines(plain) != joinLines(chall) {
				t.Errorf("gRPC challenges %q differ from HTTP's %q", chall, plain)
			}
			if got := h.Get("DPoP-Nonce") != ""; got != tt.nonce {
				t.Errorf("DPoP-Nonce present = %v, want %v", got, tt.nonce)
			}
		})
	}

	t.Run("not gRPC: plain HTTP", func(t *testing.T) {
		web := grpcReq()
		web.Header.Set("Content-Type", "application/grpc-web+proto")
		h1 := req("Content-Type", "application/grpc")
		for _, r := range []*http.Request{req(), web, h1} {
			w := httptest.NewRecorder()
			v.WriteErrorFor(w, r, invalidToken("access token expired", nil))
			if w.Code != http.StatusUnauthorized || w.Header().Get("Grpc-Status") != "" || !strings.Contains(w.Body.String(), `"invalid_token"`) {
				t.Errorf("%s %q: %d %v %s", r.Proto, r.Header.Get("Content-Type"), w.Code, w.Header(), w.Body)
			}
		}
	})
}

func TestWriteUnavailable(t *testing.T) {
	w := httptest.NewRecorder()
	WriteUnavailable(w, grpcReq())
	if w.Code != http.StatusOK || w.Header().Get("Grpc-Status") != "14" || w.Body.Len() != 0 ||
		!strings.HasPrefix(w.Header().Get("Grpc-Message"), "temporarily_unavailable: ") || w.Header().Get("Retry-After") == "" {
		t.Errorf("gRPC: %d %v %q", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	WriteUnavailable(w, req())
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Grpc-Status") != "" || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), "cannot be validated") {
		t.Errorf("HTTP: %d %v %q", w.Code, w.Header(), w.Body)
	}
}
