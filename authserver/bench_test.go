package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/internal/benchcpu"
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

// BenchmarkCodeFlowWithSession is a returning user's sign-in as the server sees it: an
// authorization request answered from the session and remembered consent (code stored), then
// the code redeemed (grant, refresh token and JWT access-token jti stored, RS256 ID token).
func BenchmarkCodeFlowWithSession(b *testing.B) {
	ts := newFlowServer(b, nil)
	br := ts.browser()
	br.signIn(authURL(nil))
	target := authURL(url.Values{"prompt": {"none"}})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := br.do(http.MethodGet, target, nil)
		u, _ := url.Parse(p.location)
		res := ts.redeem(u.Query().Get("code"), nil)
		if res.status != http.StatusOK {
			b.Fatalf("%d %s", res.status, res.raw)
		}
	}
}

// BenchmarkRefreshRotation refreshes along one family: each refresh rotates the token
// (conditional update + insert in one transaction) and mints access and ID tokens, the ID
// token with the OIDC default RS256 and with ES256 (the client's id_token_signed_response_alg).
func BenchmarkRefreshRotation(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run("id_token="+alg, func(b *testing.B) { benchmarkRefresh(b, alg) })
	}
}

func benchmarkRefresh(b *testing.B, idAlg string) {
	ts := newFlowServer(b, func(c *Config) {
		for i := range c.Clients {
			if c.Clients[i].ID == "web" {
				c.Clients[i].IDTokenSignedResponseAlg = idAlg
			}
		}
	})
	rt := ts.redeem(ts.browser().signIn(authURL(nil)).Get("code"), nil).body["refresh_token"].(string)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := ts.refresh(rt, nil)
		if res.status != http.StatusOK {
			b.Fatalf("%d %s", res.status, res.raw)
		}
		rt = res.body["refresh_token"].(string)
	}
}

// BenchmarkActiveAccessTokenCached is what an in-process gateway (oauth_resource with this
// server as its issuer) pays per request for a repeated JWT: the cache hit, expiry and
// revocation checks, and the copy handed out.
func BenchmarkActiveAccessTokenCached(b *testing.B) {
	ts := newTestServer(b)
	token := ts.mustToken("svc", svcSecret, jwtResource, "read")
	ctx := b.Context()
	if info, err := ts.srv.ActiveAccessToken(ctx, token); err != nil || info == nil {
		b.Fatal(info, err)
	}
	ts.srv.gateway.Wait()
	b.ReportAllocs()
	stop := benchcpu.Start(b)
	for b.Loop() {
		if info, err := ts.srv.ActiveAccessToken(ctx, token); err != nil || info == nil {
			b.Fatal(info, err)
		}
	}
	stop()
}
