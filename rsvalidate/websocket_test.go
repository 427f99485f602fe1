package rsvalidate

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestIsWebSocket(t *testing.T) {
	tests := []struct {
		method string
		header []string
		want   bool
	}{
		{"GET", []string{"Upgrade", "websocket", "Connection", "Upgrade"}, true},
		{"GET", []string{"Upgrade", "WebSocket"}, true},
		{"GET", []string{"Upgrade", "h2c, websocket"}, true},
		{"GET", []string{"Upgrade", "h2c"}, false},
		{"GET", nil, false},
		{"CONNECT", []string{":protocol", "websocket"}, true}, // RFC 8441 as Go's HTTP/2 server hands it on
		{"CONNECT", nil, false},
	}
	for _, tt := range tests {
		r := req(tt.header...)
		r.Method = tt.method
		if got := IsWebSocket(r); got != tt.want {
			t.Errorf("IsWebSocket(%s %q) = %v, want %v", tt.method, tt.header, got, tt.want)
		}
	}
}

func TestAuthenticateSubprotocolToken(t *testing.T) {
	f := fixtures(t)
	tok := signJWT(t, f.es, "at+jwt", claims())
	entry := func(token string) string {
		return SubprotocolTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
	}
	// handshake is a WebSocket upgrade offering the given subprotocols.
	handshake := func(headers ...string) func(*testing.T) *http.Request {
		return func(*testing.T) *http.Request {
			return req(append([]string{"Upgrade", "websocket", "Connection", "Upgrade"}, headers...)...)
		}
	}
	allow := func(c *Config) { c.AllowSubprotocolToken = true }
	reqErr := func(desc string) []string {
		return []string{bearerErr("invalid_request", desc), dpopErr("invalid_request", desc)}
	}
	runAuthCases(t, []authCase{
		{name: "token subprotocol", cfg: allow, req: handshake("Sec-WebSocket-Protocol", "chat, "+entry(tok)),
			check: func(t *testing.T, id *Identity) {
				if id.Subject != "alice" || id.Scheme != "Bearer" {
					t.Errorf("identity %+v", id)
				}
			}},
		{name: "token subprotocol on its own header line", cfg: allow,
			req: handshake("Sec-WebSocket-Protocol", "chat", "Sec-WebSocket-Protocol", entry(tok))},
		{name: "off by default", req: handshake("Sec-WebSocket-Protocol", "chat, "+entry(tok)),
			status: 401, challenges: bare},
		{name: "only on WebSocket handshakes", cfg: allow,
			req:    func(*testing.T) *http.Request { return req("Sec-WebSocket-Protocol", "chat, "+entry(tok)) },
			status: 401, challenges: bare},
		{name: "not base64url", cfg: allow, req: handshake("Sec-WebSocket-Protocol", SubprotocolTokenPrefix+"a/b="),
			status: 400, code: "invalid_request", challenges: reqErr("access token subprotocol is not unpadded base64url")},
		{name: "two tokens", cfg: allow, req: handshake("Sec-WebSocket-Protocol", entry(tok)+", "+entry(tok)),
			status: 400, code: "invalid_request", challenges: reqErr("more than one access token subprotocol")},
		{name: "and an Authorization header", cfg: allow,
			req:    handshake("Authorization", "Bearer "+tok, "Sec-WebSocket-Protocol", "chat, "+entry(tok)),
			status: 400, code: "invalid_request", challenges: reqErr("more than one method of sending the access token")},
		{name: "decoded token is not a b64token", cfg: allow, req: handshake("Sec-WebSocket-Protocol", entry("a b")),
			status: 400, code: "invalid_request",
			challenges: []string{bearerErr("invalid_request", "malformed access token"), bareDPoP}},
		{name: "invalid token", cfg: allow, req: handshake("Sec-WebSocket-Protocol", entry("not.a.jwt")),
			status: 401, code: "invalid_token", challenges: invalidBearer("invalid access token")},
	})
}

func TestStripSubprotocolToken(t *testing.T) {
	tok := SubprotocolTokenPrefix + "YWJj"
	tests := []struct {
		name string
		in   []string
		want []string // nil: no header
	}{
		{"token and a protocol", []string{"chat, " + tok}, []string{"chat"}},
		{"token first, two protocols", []string{tok + ",chat ,  v2.chat"}, []string{"chat, v2.chat"}},
		{"separate lines", []string{"chat", tok}, []string{"chat"}},
		{"token alone", []string{tok}, nil},
		{"no token: untouched", []string{"chat,v2"}, []string{"chat,v2"}},
		{"no header", nil, nil},
	}
	for _, tt := range tests {
		r := req()
		for _, v := range tt.in {
			r.Header.Add("Sec-WebSocket-Protocol", v)
		}
		StripSubprotocolToken(r)
		got := r.Header.Values("Sec-WebSocket-Protocol")
		if joinLines(got) != joinLines(tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzHandshake feeds arbitrary Sec-WebSocket-Protocol values through subprotocol token
// extraction and answers the refusals as gRPC statuses: no panic, only the valid token passes,
// every gRPC answer is a well-formed status, and stripping leaves no token entry behind.
func FuzzHandshake(f *testing.F) {
	fk := fixtures(f)
	cfg := baseConfig(f, fk)
	cfg.AllowSubprotocolToken = true
	v := mustNew(f, cfg)
	good := signJWT(f, fk.es, "at+jwt", claims())
	f.Add("chat, " + SubprotocolTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(good)))
	f.Add(SubprotocolTokenPrefix + "a/b=,chat")
	f.Add(SubprotocolTokenPrefix + ", ,," + SubprotocolTokenPrefix + "YQ")
	f.Add(SubprotocolTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte("a\r\nb%\xff")))
	f.Fuzz(func(t *testing.T, protocols string) {
		r := grpcReq("Upgrade", "websocket", "Sec-WebSocket-Protocol", protocols)
		id, e := v.Authenticate(r)
		if e == nil {
			if id == nil || id.Subject != "alice" {
				t.Fatalf("accepted a foreign identity %+v", id)
			}
		} else {
			w := httptest.NewRecorder()
			v.WriteErrorFor(w, r, e)
			code, err := strconv.Atoi(w.Header().Get("Grpc-Status"))
			if w.Code != http.StatusOK || err != nil || !slices.Contains([]int{3, 7, 14, 16}, code) {
				t.Fatalf("HTTP %d, grpc-status %q", w.Code, w.Header().Get("Grpc-Status"))
			}
			msg := w.Header().Get("Grpc-Message")
			for i := 0; i < len(msg); i++ {
				if msg[i] < 0x20 || msg[i] > 0x7e {
					t.Fatalf("grpc-message %q", msg)
				}
			}
		}
		StripSubprotocolToken(r)
		for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
			for p := range strings.SplitSeq(v, ",") {
				if strings.HasPrefix(strings.TrimSpace(p), SubprotocolTokenPrefix) {
					t.Fatalf("token entry left in %q", v)
				}
			}
		}
	})
}
