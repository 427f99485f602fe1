package authserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzEndpoints throws arbitrary bodies and Basic credentials at every POST endpoint: the
// answer must always be a standard response, never a panic or a 5xx.
func FuzzEndpoints(f *testing.F) {
	f.Add("/token", "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test", "svc", svcSecret)
	f.Add("/token", "grant_type=client_credentials&scope=%00%ff&resource=%", "svc", "x")
	f.Add("/introspect", "token=a.b.c", "svc", svcSecret)
	f.Add("/revoke", "token=eyJhbGciOiJub25lIn0.e30.&token_type_hint=refresh_token", "svc", svcSecret)
	f.Add("/token", "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&grant_type=client_credentials", "", "")
	ts := newTestServer(f)
	f.Fuzz(func(t *testing.T, path, body, user, pass string) {
		if !ts.srv.OwnsPath(path) {
			path = "/token"
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body.String())
		}
	})
}
