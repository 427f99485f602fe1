package authserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkDevicePoll is a device's poll of the token endpoint while pending device
// authorizations pile up: the cost of a poll must not grow with them (it is one indexed
// UPDATE by the device code's hash). Compare the pending=10 and pending=1000 results of one
// run; polls/s is reported per sub-benchmark.
func BenchmarkDevicePoll(b *testing.B) {
	for _, pending := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			ts := newDeviceServer(b, serverOptions{})
			bodies := make([]string, pending)
			for i := range bodies {
				res := ts.do(http.MethodPost, "/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid"}}, [2]string{})
				if res.status != http.StatusOK {
					b.Fatalf("device authorization: %d %s", res.status, res.raw)
				}
				bodies[i] = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"tv"},
					"device_code": {res.body["device_code"].(string)}}.Encode()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(bodies[i%pending]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				ts.srv.ServeHTTP(rec, req)
				// Pending, or slow_down for a code polled again within its interval.
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "authorization_pending") && !strings.Contains(rec.Body.String(), "slow_down") {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "polls/s")
		})
	}
}

// BenchmarkCIBAPoll is BenchmarkDevicePoll for CIBA: a poll-mode client's token request while
// pending requests pile up (one indexed UPDATE by the auth_req_id's hash).
func BenchmarkCIBAPoll(b *testing.B) {
	for _, pending := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			ts := newCIBAServer(b, "https://bank.example/cb", "https://bank.example/cb")
			bodies := make([]string, pending)
			for i := range bodies {
				res := ts.bcAuthorize("bank", url.Values{"scope": {"openid"}, "login_hint": {"alice"}})
				if res.status != http.StatusOK {
					b.Fatalf("bc-authorize: %d %s", res.status, res.raw)
				}
				bodies[i] = url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {res.body["auth_req_id"].(string)}}.Encode()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(bodies[i%pending]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("bank", bankSecret)
				rec := httptest.NewRecorder()
				ts.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "authorization_pending") && !strings.Contains(rec.Body.String(), "slow_down") {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "polls/s")
		})
	}
}
