package remote

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// docServer serves JSON documents by path and records the paths asked for.
type docServer struct {
	*httptest.Server
	mu    sync.Mutex
	docs  map[string]func(w http.ResponseWriter)
	asked []string
}

func newDocServer(t *testing.T) *docServer {
	s := &docServer{docs: map[string]func(http.ResponseWriter){}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.Path)
		h := s.docs[r.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *docServer) json(path string, doc any) {
	b, _ := json.Marshal(doc)
	s.raw(path, "application/json; charset=utf-8", string(b))
}

func (s *docServer) raw(path, contentType, body string) {
	s.docs[path] = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}
}

func TestDiscover(t *testing.T) {
	const rfc8414, oidc = "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"
	tests := []struct {
		name      string
		issuer    string // appended to the server URL
		setup     func(s *docServer, base string)
		wantErr   string
		wantAsked []string
	}{
		{
			name:   "RFC 8414 at the root",
			issuer: "",
			setup: func(s *docServer, base string) {
				s.json(rfc8414, map[string]any{"issuer": base, "jwks_uri": base + "/jwks", "introspection_endpoint": base + "/introspect"})
			},
			wantAsked: []string{rfc8414},
		},
		{
			name:   "RFC 8414 inserts the well-known segment before the issuer path",
			issuer: "/tenants/a",
			setup: func(s *docServer, base string) {
				s.json(rfc8414+"/tenants/a", map[string]any{"issuer": base + "/tenants/a", "jwks_uri": base + "/jwks"})
			},
			wantAsked: []string{rfc8414 + "/tenants/a"},
		},
		{
			name:   "terminating slash of the issuer path is removed, the issuer compared as configured",
			issuer: "/tenants/b/",
			setup: func(s *docServer, base string) {
				s.json(rfc8414+"/tenants/b", map[string]any{"issuer": base + "/tenants/b/"})
			},
			wantAsked: []string{rfc8414 + "/tenants/b"},
		},
		{
			name:   "OIDC fallback appends to a path-bearing issuer",
			issuer: "/realms/demo",
			setup: func(s *docServer, base string) {
				s.json("/realms/demo"+oidc, map[string]any{"issuer": base + "/realms/demo", "jwks_uri": base + "/certs"})
			},
			wantAsked: []string{rfc8414 + "/realms/demo", "/realms/demo" + oidc},
		},
		{
			name:   "RFC 8414 document of another issuer falls through to a matching OIDC one",
			issuer: "/x",
			setup: func(s *docServer, base string) {
				s.json(rfc8414+"/x", map[string]any{"issuer": base})
				s.json("/x"+oidc, map[string]any{"issuer": base + "/x"})
			},
			wantAsked: []string{rfc8414 + "/x", "/x" + oidc},
		},
		{
			name:   "issuer mismatch everywhere",
			issuer: "/x",
			setup: func(s *docServer, base string) {
				s.json(rfc8414+"/x", map[string]any{"issuer": base + "/y"})
				s.json("/x"+oidc, map[string]any{"issuer": base + "/x/"})
			},
			wantErr: "document is for issuer",
		},
		{
			name:    "nothing published",
			wantErr: "status 404",
		},
		{
			name: "not JSON",
			setup: func(s *docServer, base string) {
				s.raw(rfc8414, "text/html", `{"issuer":"`+base+`"}`)
				s.raw(oidc, "text/html", "<html>login</html>")
			},
			wantErr: "is not JSON",
		},
		{
			name: "malformed JSON",
			setup: func(s *docServer, base string) {
				s.raw(rfc8414, "application/json", `{"issuer":`)
			},
			wantErr: "unexpected end of JSON",
		},
		{
			name: "huge body",
			setup: func(s *docServer, base string) {
				s.raw(rfc8414, "application/json", `{"issuer":"`+base+`","pad":"`+strings.Repeat("a", maxMetadataBytes)+`"}`)
			},
			wantErr: "too large",
		},
		{
			name: "jwks_uri that is not an http(s) URL",
			setup: func(s *docServer, base string) {
				s.json(rfc8414, map[string]any{"issuer": base, "jwks_uri": "file:///etc/passwd"})
			},
			wantErr: "jwks_uri",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newDocServer(t)
			if tt.setup != nil {
				tt.setup(s, s.URL)
			}
			md, err := Discover(context.Background(), s.Client(), s.URL+tt.issuer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.Issuer != s.URL+tt.issuer {
				t.Errorf("issuer = %q", md.Issuer)
			}
			if strings.Join(s.asked, " ") != strings.Join(tt.wantAsked, " ") {
				t.Errorf("asked %q, want %q", s.asked, tt.wantAsked)
			}
		})
	}
}

func TestDiscoverMetadataFields(t *testing.T) {
	s := newDocServer(t)
	s.json("/.well-known/oauth-authorization-server", map[string]any{
		"issuer": s.URL, "jwks_uri": s.URL + "/jwks", "introspection_endpoint": s.URL + "/introspect",
		"token_endpoint": s.URL + "/token", "dpop_signing_alg_values_supported": []string{"ES256"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
	})
	md, err := Discover(context.Background(), s.Client(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if md.JWKSURI != s.URL+"/jwks" || md.IntrospectionEndpoint != s.URL+"/introspect" || md.TokenEndpoint != s.URL+"/token" ||
		len(md.DPoPSigningAlgValuesSupported) != 1 || len(md.IntrospectionEndpointAuthMethodsSupported) != 1 {
		t.Errorf("metadata = %+v", md)
	}
}

func TestDiscoverRejectsBadIssuers(t *testing.T) {
	s := newDocServer(t)
	for _, issuer := range []string{"", "not a url", "ftp://" + s.Listener.Addr().String(), s.URL + "?tenant=a", s.URL + "#frag", "/relative"} {
		if _, err := Discover(context.Background(), s.Client(), issuer); err == nil {
			t.Errorf("Discover(%q) succeeded", issuer)
		}
	}
	if len(s.asked) != 0 {
		t.Errorf("bad issuers caused requests: %q", s.asked)
	}
}
