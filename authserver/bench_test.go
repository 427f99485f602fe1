package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The token endpoint's own cost per request, without HTTP transport: what the load benchmark
// in bench/ measures end to end.
func benchmarkToken(b *testing.B, resource string) {
	ts := newTestServer(b)
	body := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"read"}}.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", svcSecret)
			rec := httptest.NewRecorder()
			ts.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		}
	})
}

func BenchmarkTokenJWT(b *testing.B)    { benchmarkToken(b, jwtResource) }
func BenchmarkTokenOpaque(b *testing.B) { benchmarkToken(b, opqResource) }

func benchmarkIntrospect(b *testing.B, resource string) {
	ts := newTestServer(b)
	token := ts.mustToken("svc", svcSecret, resource, "read")
	body := url.Values{"token": {token}}.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, testIssuer+"/introspect", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", svcSecret)
			rec := httptest.NewRecorder()
			ts.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
				b.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		}
	})
}

func BenchmarkIntrospectJWT(b *testing.B)    { benchmarkIntrospect(b, jwtResource) }
func BenchmarkIntrospectOpaque(b *testing.B) { benchmarkIntrospect(b, opqResource) }
