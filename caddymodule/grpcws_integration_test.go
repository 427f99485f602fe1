package caddymodule

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop/dpoptest"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
)

// grpcUpstream is a gRPC server (the standard health service) that records the metadata of
// every call it gets.
type grpcUpstream struct {
	addr string
	mu   sync.Mutex
	seen []metadata.MD
}

func startGRPCUpstream(t *testing.T) *grpcUpstream {
	t.Helper()
	u := &grpcUpstream{}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		u.mu.Lock()
		u.seen = append(u.seen, md.Copy())
		u.mu.Unlock()
		return next(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0") // held from now on: no port race
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	u.addr = l.Addr().String()
	return u
}

// calls returns the metadata of the calls the upstream got so far.
func (u *grpcUpstream) calls() []metadata.MD {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]metadata.MD(nil), u.seen...)
}

// bearerCreds sends an access token with every call, as gRPC per-RPC credentials do. It asks
// for no transport security: the test's h2c gateway is plaintext on loopback.
type bearerCreds string

func (c bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(c)}, nil
}
func (bearerCreds) RequireTransportSecurity() bool { return false }

// dpopCreds sends a DPoP-bound token with a fresh proof for every call: htm POST, htu the
// gateway's origin and the call's /package.Service/Method path.
type dpopCreds struct {
	prover        *dpopProver
	origin, token string
	nonce         string
}

func (c *dpopCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok {
		return nil, errors.New("no request info")
	}
	proof := c.prover.ProofWith(c.prover.t, http.MethodPost, c.origin+ri.Method, dpoptest.Options{AccessToken: c.token, Nonce: c.nonce})
	return map[string]string{"authorization": "DPoP " + c.token, "dpop": proof}, nil
}
func (*dpopCreds) RequireTransportSecurity() bool { return false }

// wsEcho is a WebSocket echo server; it records the handshake headers it got.
type wsEcho struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func startWSEcho(t *testing.T) *wsEcho {
	t.Helper()
	e := &wsEcho{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.headers = append(e.headers, r.Header.Clone())
		e.mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"echo"}})
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(e.Server.Close)
	return e
}

func (e *wsEcho) handshakes() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]http.Header(nil), e.headers...)
}

// TestResourceGRPCAndWebSocket runs gRPC (h2c) and WebSocket upstreams behind oauth_resource
// and reverse_proxy in a real Caddy, with real grpc-go and WebSocket clients.
func TestResourceGRPCAndWebSocket(t *testing.T) {
	tc := newTestCaddy(t)
	grpcUp := startGRPCUpstream(t)
	wsUp := startWSEcho(t)
	deadIssuer := "http://127.0.0.1:" + freePort(t) // nothing listens there
	// Caddy serves h2c next to HTTP/1.1 on the plain-HTTP site: gRPC clients speak HTTP/2
	// with prior knowledge, WebSocket clients HTTP/1.1.
	globals := strings.TrimSuffix(tc.globals(), "}\n") + "servers {\n protocols h1 h2 h2c\n }\n}\n"
	cf := globals + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/grpc
		resource %[1]s/ws
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			scopes read write
			resources %[1]s/grpc %[1]s/ws
		}
	}
	@grpc path /grpc.health.v1.Health/*
	handle @grpc {
		oauth_resource {
			resource %[1]s/grpc
			issuer %[1]s
			scopes read
			header_up X-Subject {oauth.sub}
			dpop_nonce %[7]s
		}
		reverse_proxy h2c://%[4]s
	}
	@dead path /dead/*
	handle @dead {
		uri strip_prefix /dead
		oauth_resource {
			resource %[1]s/dead
			issuer %[5]s
		}
		reverse_proxy h2c://%[4]s
	}
	handle /ws {
		oauth_resource {
			resource %[1]s/ws
			issuer %[1]s
			scopes read
		}
		reverse_proxy %[6]s
	}
	handle /ws-browser {
		oauth_resource {
			resource %[1]s/ws
			issuer %[1]s
			scopes read
			token_in_subprotocol
		}
		reverse_proxy %[6]s
	}
}`, tc.issuer, tc.storage(), testSecret, grpcUp.addr, deadIssuer, wsUp.URL, testMasterKey)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	tokenURL := tc.issuer + "/token"
	gateway := strings.TrimPrefix(tc.issuer, "http://")

	t.Run("gRPC", func(t *testing.T) {
		reader := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/grpc", "read")
		writer := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/grpc", "write")
		conn, err := grpc.NewClient(gateway, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := healthpb.NewHealthClient(conn)

		// check calls Health/Check with opts; it returns the error and the response metadata.
		check := func(t *testing.T, opts ...grpc.CallOption) (error, metadata.MD, metadata.MD) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var header, trailer metadata.MD
			opts = append(opts, grpc.Header(&header), grpc.Trailer(&trailer))
			resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, opts...)
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health = %v", resp.GetStatus())
			}
			return err, header, trailer
		}

		t.Run("valid token: OK, and the upstream never sees it", func(t *testing.T) {
			before := len(grpcUp.calls())
			if err, _, _ := check(t, grpc.PerRPCCredentials(bearerCreds(reader))); err != nil {
				t.Fatalf("Check: %v", err)
			}
			calls := grpcUp.calls()
			if len(calls) != before+1 {
				t.Fatalf("upstream got %d calls, want %d", len(calls), before+1)
			}
			md := calls[len(calls)-1]
			if got := md.Get("authorization"); len(got) != 0 {
				t.Errorf("upstream saw authorization %q", got)
			}
			if got := md.Get("x-subject"); len(got) != 1 || got[0] != "demo-service" {
				t.Errorf("upstream x-subject = %q, want demo-service", got)
			}
		})

		refusals := []struct {
			name      string
			creds     grpc.CallOption
			code      codes.Code
			challenge string // in WWW-Authenticate
			message   string // in the status message
		}{
			{"no token", nil, codes.Unauthenticated,
				`Bearer resource_metadata="` + tc.issuer + `/.well-known/oauth-protected-resource/grpc"`, "access token required"},
			{"invalid token", grpc.PerRPCCredentials(bearerCreds("not-a-real-token")), codes.Unauthenticated,
				`Bearer error="invalid_token"`, "invalid_token: invalid access token"},
			{"token without the required scope", grpc.PerRPCCredentials(bearerCreds(writer)), codes.PermissionDenied,
				`error="insufficient_scope"`, "insufficient_scope"},
			{"malformed token", grpc.PerRPCCredentials(bearerCreds("bad token%")), codes.InvalidArgument,
				`error="invalid_request"`, "invalid_request: malformed access token"},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				before := len(grpcUp.calls())
				var opts []grpc.CallOption
				if tt.creds != nil {
					opts = append(opts, tt.creds)
				}
				err, header, trailer := check(t, opts...)
				st, _ := grpcstatus.FromError(err)
				if st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
					t.Fatalf("status %v %q, want %v with %q", st.Code(), st.Message(), tt.code, tt.message)
				}
				// A Trailers-Only answer: grpc-go puts its metadata in the trailer and has
				// no header metadata (it would, had the headers come in a frame of their own).
				if len(header) != 0 {
					t.Errorf("header metadata %v: the refusal was not Trailers-Only", header)
				}
				chall := strings.Join(trailer.Get("www-authenticate"), "\n")
				if !strings.Contains(chall, tt.challenge) {
					t.Errorf("www-authenticate %q, want %q", chall, tt.challenge)
				}
				if n := len(grpcUp.calls()); n != before {
					t.Errorf("the upstream got the refused call")
				}
			})
		}

		t.Run("DPoP: the nonce challenge reaches the client, which retries", func(t *testing.T) {
			prover := newDPoPProver(t)
			bound := prover.token(tc.issuer, "demo-service", testSecret, tc.issuer+"/grpc")
			creds := &dpopCreds{prover: prover, origin: tc.issuer, token: bound}
			err, _, trailer := check(t, grpc.PerRPCCredentials(creds))
			st, _ := grpcstatus.FromError(err)
			nonce := trailer.Get("dpop-nonce")
			if st.Code() != codes.Unauthenticated || !strings.HasPrefix(st.Message(), "use_dpop_nonce") || len(nonce) != 1 {
				t.Fatalf("first call: %v %q, dpop-nonce %q; want Unauthenticated use_dpop_nonce with a nonce", st.Code(), st.Message(), nonce)
			}
			if chall := strings.Join(trailer.Get("www-authenticate"), "\n"); !strings.Contains(chall, `DPoP error="use_dpop_nonce"`) {
				t.Errorf("www-authenticate %q", chall)
			}
			creds.nonce = nonce[0]
			before := len(grpcUp.calls())
			if err, _, _ := check(t, grpc.PerRPCCredentials(creds)); err != nil {
				t.Fatalf("retry with the nonce: %v", err)
			}
			calls := grpcUp.calls()
			if len(calls) != before+1 {
				t.Fatalf("upstream got %d calls, want %d", len(calls), before+1)
			}
			if md := calls[len(calls)-1]; len(md.Get("authorization")) != 0 || len(md.Get("dpop")) != 0 {
				t.Errorf("upstream saw credentials: %v", md)
			}
		})

		t.Run("issuer unreachable: UNAVAILABLE", func(t *testing.T) {
			before := len(grpcUp.calls())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var trailer metadata.MD
			err := conn.Invoke(ctx, "/dead/grpc.health.v1.Health/Check", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{},
				grpc.PerRPCCredentials(bearerCreds(reader)), grpc.Trailer(&trailer))
			st, _ := grpcstatus.FromError(err)
			if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "temporarily_unavailable") {
				t.Fatalf("status %v %q, want Unavailable temporarily_unavailable", st.Code(), st.Message())
			}
			if ra := trailer.Get("retry-after"); len(ra) != 1 {
				t.Errorf("retry-after %q", ra)
			}
			if n := len(grpcUp.calls()); n != before {
				t.Errorf("the upstream got the refused call")
			}
		})
	})

	t.Run("WebSocket", func(t *testing.T) {
		reader := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/ws", "read")
		writer := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/ws", "write")
		wsURL := "ws://" + gateway + "/ws"
		dial := func(t *testing.T, header http.Header) (*websocket.Conn, *http.Response, error) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"echo"}})
		}

		t.Run("valid token: the echo round-trips, the upstream never sees the token", func(t *testing.T) {
			before := len(wsUp.handshakes())
			c, resp, err := dial(t, http.Header{"Authorization": {"Bearer " + reader}})
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, resp)
			}
			defer c.CloseNow()
			if c.Subprotocol() != "echo" {
				t.Errorf("subprotocol %q", c.Subprotocol())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, msg := range []string{"hello", "again"} {
				if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.Read(ctx)
				if err != nil || string(got) != msg {
					t.Fatalf("echo = %q, %v; want %q", got, err, msg)
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
			hs := wsUp.handshakes()
			if len(hs) != before+1 {
				t.Fatalf("upstream got %d handshakes, want %d", len(hs), before+1)
			}
			if auth := hs[len(hs)-1].Get("Authorization"); auth != "" {
				t.Errorf("upstream saw Authorization %q", auth)
			}
		})

		t.Run("DPoP: htm GET, htu the handshake's http URL", func(t *testing.T) {
			prover := newDPoPProver(t)
			bound := prover.token(tc.issuer, "demo-service", testSecret, tc.issuer+"/ws")
			for _, tt := range []struct {
				htu  string
				pass bool
			}{
				{tc.issuer + "/ws", true},
				// RFC 9449's htu is the HTTP target URI: the ws:// spelling names no HTTP request.
				{wsURL, false},
			} {
				c, resp, err := dial(t, http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {prover.proof(http.MethodGet, tt.htu, bound)}})
				if tt.pass {
					if err != nil {
						t.Fatalf("htu %s: %v", tt.htu, err)
					}
					c.Close(websocket.StatusNormalClosure, "")
					continue
				}
				if err == nil {
					c.CloseNow()
					t.Fatalf("htu %s: the handshake succeeded", tt.htu)
				}
				if resp == nil || resp.StatusCode != http.StatusUnauthorized ||
					!strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), "\n"), `DPoP error="invalid_dpop_proof"`) {
					t.Fatalf("htu %s: %v %v, want 401 invalid_dpop_proof", tt.htu, resp, err)
				}
			}
		})

		t.Run("browser: token in the subprotocol, stripped before the upstream", func(t *testing.T) {
			entry := rsvalidate.SubprotocolTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(reader))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			before := len(wsUp.handshakes())
			c, resp, err := websocket.Dial(ctx, "ws://"+gateway+"/ws-browser", &websocket.DialOptions{Subprotocols: []string{entry, "echo"}})
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, resp)
			}
			defer c.CloseNow()
			if c.Subprotocol() != "echo" {
				t.Errorf("subprotocol %q, want echo", c.Subprotocol())
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != "hi" {
				t.Fatalf("echo = %q, %v", got, err)
			}
			c.Close(websocket.StatusNormalClosure, "")
			hs := wsUp.handshakes()
			if len(hs) != before+1 {
				t.Fatalf("upstream got %d handshakes, want %d", len(hs), before+1)
			}
			if got := hs[len(hs)-1].Values("Sec-Websocket-Protocol"); strings.Join(got, ",") != "echo" {
				t.Errorf("upstream saw Sec-WebSocket-Protocol %q, want echo alone", got)
			}

			// Off where token_in_subprotocol is not set: the token is not looked for.
			c, resp, err = websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{entry, "echo"}})
			if err == nil {
				c.CloseNow()
				t.Fatal("/ws accepted a subprotocol token")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("/ws: %v %v, want 401", resp, err)
			}
		})

		refusals := []struct {
			name      string
			header    http.Header
			status    int
			challenge string
		}{
			{"no token: 401, no upgrade", nil, http.StatusUnauthorized, `Bearer resource_metadata=`},
			{"invalid token: 401", http.Header{"Authorization": {"Bearer not-a-real-token"}}, http.StatusUnauthorized, `error="invalid_token"`},
			{"insufficient scope: 403", http.Header{"Authorization": {"Bearer " + writer}}, http.StatusForbidden, `error="insufficient_scope"`},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				before := len(wsUp.handshakes())
				c, resp, err := dial(t, tt.header)
				if err == nil {
					c.CloseNow()
					t.Fatal("the handshake succeeded")
				}
				if resp == nil {
					t.Fatalf("no HTTP answer: %v", err)
				}
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if up := resp.Header.Get("Upgrade"); up != "" {
					t.Errorf("Upgrade %q in a refusal", up)
				}
				if chall := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n"); !strings.Contains(chall, tt.challenge) {
					t.Errorf("WWW-Authenticate %q, want %q", chall, tt.challenge)
				}
				if len(wsUp.handshakes()) != before {
					t.Error("the upstream got the refused handshake")
				}
			})
		}
	})
}
