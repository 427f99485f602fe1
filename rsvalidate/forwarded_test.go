package rsvalidate

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginalRequest(t *testing.T) {
	traefik := map[string]string{
		"X-Forwarded-Method": "POST",
		"X-Forwarded-Proto":  "https",
		"X-Forwarded-Host":   "api.example.com",
		"X-Forwarded-Uri":    "/v1/items/a%2Fb?q=1,2",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := make(map[string]string, len(base))
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	nginxURL := map[string]string{"X-Original-Method": "DELETE", "X-Original-URL": "https://api.example.com:8443/v1/x?y"}
	nginxURI := map[string]string{
		"X-Original-Method": "GET", "X-Original-URI": "/v1/x", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "127.0.0.1:8080",
	}
	envoyHdr := map[string]string{"X-Forwarded-Proto": "https"}

	tests := []struct {
		name      string
		trusted   bool
		prefix    string
		target    string // the auth request's own target (Envoy)
		method    string // and method
		header    map[string]string
		repeat    string // a header sent twice
		want      ForwardedRequest
		wantPath  string // URL.Path
		wantEsc   string // URL.EscapedPath()
		wantQuery string
		wantErr   string
	}{
		{name: "traefik", trusted: true, header: traefik,
			want:     ForwardedRequest{Method: "POST", Scheme: "https", Host: "api.example.com"},
			wantPath: "/v1/items/a/b", wantEsc: "/v1/items/a%2Fb", wantQuery: "q=1,2"},
		{name: "untrusted sender: the same headers are not believed", trusted: false, header: traefik,
			wantErr: "trusted proxy"},
		{name: "untrusted sender without headers", trusted: false, header: nil, wantErr: "trusted proxy"},
		{name: "untrusted Envoy-style request", trusted: false, prefix: "/ext_authz", target: "/ext_authz/v1", header: envoyHdr,
			wantErr: "trusted proxy"},
		{name: "nothing describes the original", trusted: true, header: map[string]string{"X-Forwarded-Proto": "https"},
			wantErr: "not described"},
		{name: "traefik without host", trusted: true, header: with(traefik, "X-Forwarded-Host", ""),
			wantErr: "X-Forwarded-Host is missing"},
		{name: "traefik without uri", trusted: true, header: with(traefik, "X-Forwarded-Uri", ""),
			wantErr: "X-Forwarded-Uri is missing"},
		{name: "traefik with proto list", trusted: true, header: with(traefik, "X-Forwarded-Proto", "https, http"),
			wantErr: "original scheme"},
		{name: "repeated method", trusted: true, header: traefik, repeat: "X-Forwarded-Method",
			wantErr: "sent more than once"},
		{name: "host list", trusted: true, header: with(traefik, "X-Forwarded-Host", "a.example, b.example"),
			wantErr: "original host"},
		{name: "bad method", trusted: true, header: with(traefik, "X-Forwarded-Method", "GE T"), wantErr: "not an HTTP method"},
		{name: "scheme other than http(s)", trusted: true, header: with(traefik, "X-Forwarded-Proto", "ftp"), wantErr: "original scheme"},
		{name: "absolute URI", trusted: true, header: with(traefik, "X-Forwarded-Uri", "https://evil.example/x"),
			wantErr: "want a path and query"},
		{name: "URI with fragment", trusted: true, header: with(traefik, "X-Forwarded-Uri", "/x#y"), wantErr: "want a path and query"},
		{name: "URI too long", trusted: true, header: with(traefik, "X-Forwarded-Uri", "/"+strings.Repeat("a", 9000)),
			wantErr: "longer than"},
		{name: "both families: a client's X-Original-URI behind Traefik", trusted: true,
			header: with(traefik, "X-Original-URI", "/public"), wantErr: "one family only"},
		{name: "both families: a client's X-Forwarded-Uri behind nginx", trusted: true,
			header: with(nginxURI, "X-Forwarded-Uri", "/public"), wantErr: "one family only"},
		{name: "nginx X-Original-URL", trusted: true, header: nginxURL,
			want:     ForwardedRequest{Method: "DELETE", Scheme: "https", Host: "api.example.com:8443"},
			wantPath: "/v1/x", wantEsc: "/v1/x", wantQuery: "y"},
		{name: "nginx X-Original-URL with a bare origin", trusted: true,
			header:   with(nginxURL, "X-Original-URL", "http://api.example.com"),
			want:     ForwardedRequest{Method: "DELETE", Scheme: "http", Host: "api.example.com"},
			wantPath: "/", wantEsc: "/"},
		{name: "nginx X-Original-URL and agreeing X-Original-URI", trusted: true,
			header:   with(nginxURL, "X-Original-URI", "/v1/x?y"),
			want:     ForwardedRequest{Method: "DELETE", Scheme: "https", Host: "api.example.com:8443"},
			wantPath: "/v1/x", wantEsc: "/v1/x", wantQuery: "y"},
		{name: "nginx X-Original-URL and disagreeing X-Original-URI", trusted: true,
			header: with(nginxURL, "X-Original-URI", "/v1/other"), wantErr: "different requests"},
		{name: "nginx X-Original-URL relative", trusted: true, header: with(nginxURL, "X-Original-URL", "/v1/x"),
			wantErr: "absolute http(s) URL"},
		{name: "nginx X-Original-URL with userinfo", trusted: true,
			header: with(nginxURL, "X-Original-URL", "https://u:p@api.example.com/"), wantErr: "absolute http(s) URL"},
		{name: "nginx X-Original-URL of another scheme", trusted: true,
			header: with(nginxURL, "X-Original-URL", "ws://api.example.com/"), wantErr: "original scheme"},
		{name: "nginx without method", trusted: true, header: with(nginxURL, "X-Original-Method", ""),
			wantErr: "X-Original-Method is missing"},
		{name: "nginx X-Original-URI with X-Forwarded-Proto and -Host", trusted: true, header: nginxURI,
			want:     ForwardedRequest{Method: "GET", Scheme: "http", Host: "127.0.0.1:8080"},
			wantPath: "/v1/x", wantEsc: "/v1/x"},
		{name: "nginx X-Original-URI without host", trusted: true, header: with(nginxURI, "X-Forwarded-Host", ""),
			wantErr: "X-Forwarded-Host is missing"},
		{name: "envoy: the request itself behind the prefix", trusted: true, prefix: "/ext_authz", method: "PATCH",
			target: "/ext_authz/v1/items%2F1?a=b", header: envoyHdr,
			want:     ForwardedRequest{Method: "PATCH", Scheme: "https", Host: "api.example.com"},
			wantPath: "/v1/items/1", wantEsc: "/v1/items%2F1", wantQuery: "a=b"},
		{name: "envoy: the prefix is a whole segment", trusted: true, prefix: "/ext_authz", target: "/ext_authzv1/x",
			header: envoyHdr, wantErr: "does not start with the path prefix"},
		{name: "envoy: another path", trusted: true, prefix: "/ext_authz", target: "/v1/x", header: envoyHdr,
			wantErr: "does not start with the path prefix"},
		{name: "envoy: no X-Forwarded-Proto", trusted: true, prefix: "/ext_authz", target: "/ext_authz/v1", header: nil,
			wantErr: "X-Forwarded-Proto is missing"},
		{name: "envoy: a client's X-Forwarded-Uri passed along", trusted: true, prefix: "/ext_authz", target: "/ext_authz/v1",
			header: with(envoyHdr, "X-Forwarded-Uri", "/public"), wantErr: "path_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "/auth"
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "http://auth.internal"+target, nil)
			if tt.prefix != "" {
				r.Host = "api.example.com"
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.repeat != "" {
				r.Header.Add(tt.repeat, r.Header.Get(tt.repeat))
			}
			got, err := OriginalRequest(r, tt.trusted, tt.prefix)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q (got %+v)", err, tt.wantErr, got)
				}
				if !tt.trusted && !errors.Is(err, ErrUntrustedProxy) {
					t.Errorf("err = %v, want ErrUntrustedProxy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tt.want.Method || got.Scheme != tt.want.Scheme || got.Host != tt.want.Host {
				t.Errorf("got %s %s://%s, want %s %s://%s", got.Method, got.Scheme, got.Host, tt.want.Method, tt.want.Scheme, tt.want.Host)
			}
			if got.URL.Path != tt.wantPath || got.URL.EscapedPath() != tt.wantEsc || got.URL.RawQuery != tt.wantQuery {
				t.Errorf("URL path %q escaped %q query %q, want %q %q %q",
					got.URL.Path, got.URL.EscapedPath(), got.URL.RawQuery, tt.wantPath, tt.wantEsc, tt.wantQuery)
			}
			if got.URL.Host != "" || got.URL.Scheme != "" {
				t.Errorf("URL %v: want origin-form only", got.URL)
			}
		})
	}
}

// TestForwardedRequestStandsForTheOriginal: the request validated is the original's method,
// URL and Host with the auth request's credentials, and never the proxy's TLS connection.
func TestForwardedRequestStandsForTheOriginal(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "https://auth.internal/auth", strings.NewReader("body"))
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set("Authorization", "DPoP tok")
	r.Header.Set("DPoP", "proof")
	r.Header.Set("X-Forwarded-Method", "PUT")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "api.example.com")
	r.Header.Set("X-Forwarded-Uri", "/v1/x?y=1")
	if r.TLS == nil {
		t.Fatal("test request should have TLS state")
	}
	f, err := OriginalRequest(r, true, "")
	if err != nil {
		t.Fatal(err)
	}
	o := f.Request(r)
	if o.Method != "PUT" || o.Host != "api.example.com" || o.URL.String() != "/v1/x?y=1" || o.RequestURI != "/v1/x?y=1" {
		t.Errorf("got %s %s %s (RequestURI %s)", o.Method, o.Host, o.URL, o.RequestURI)
	}
	if o.ProtoMajor != 1 {
		t.Errorf("protocol %s: the original's is unknown, answers must be plain HTTP/1.1", o.Proto)
	}
	if o.TLS != nil || o.Body != http.NoBody || o.ContentLength != 0 {
		t.Errorf("TLS %v body %v length %d: want none", o.TLS, o.Body, o.ContentLength)
	}
	if o.Header.Get("Authorization") != "DPoP tok" || o.Header.Get("DPoP") != "proof" {
		t.Errorf("credentials not carried over: %v", o.Header)
	}
	o.Header.Set("Authorization", "changed")
	if r.Header.Get("Authorization") != "DPoP tok" {
		t.Error("the copy shares its headers with the auth request")
	}
}

// FuzzOriginalRequest: whatever a proxy (or a client through it) puts in the forwarded
// headers, the answer is a clear error or an origin-form request with a valid method,
// scheme and host — never a panic, never a URL naming another origin.
func FuzzOriginalRequest(f *testing.F) {
	f.Add("GET", "https", "api.example.com", "/v1/x?y=1", "", "", "")
	f.Add("", "http", "", "", "POST", "https://api.example.com:8443/a%2Fb?c", "")
	f.Add("", "http", "h:1", "", "GET", "", "/x")
	f.Add("PUT", "", "", "//evil.example/x", "", "http://[::1]:80", "/")
	f.Fuzz(func(t *testing.T, fm, fp, fh, fu, om, ourl, ouri string) {
		r := httptest.NewRequest(http.MethodGet, "/auth", nil)
		for name, v := range map[string]string{
			"X-Forwarded-Method": fm, "X-Forwarded-Proto": fp, "X-Forwarded-Host": fh, "X-Forwarded-Uri": fu,
			"X-Original-Method": om, "X-Original-URL": ourl, "X-Original-URI": ouri,
		} {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		for _, prefix := range []string{"", "/auth"} {
			got, err := OriginalRequest(r, true, prefix)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			if !isToken(got.Method) || (got.Scheme != "http" && got.Scheme != "https") || !validForwardedHost(got.Host) {
				t.Fatalf("accepted %+v", got)
			}
			if got.URL.Scheme != "" || got.URL.Host != "" || !strings.HasPrefix(got.URL.RequestURI(), "/") {
				t.Fatalf("URL %q is not origin-form", got.URL)
			}
			_ = got.Request(r)
		}
	})
}
