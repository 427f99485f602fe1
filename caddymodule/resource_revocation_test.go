package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver/ssftest"
)

// signAccessToken signs an RFC 9068 access token with the fake transmitter's key, as its
// issuer would.
func signAccessToken(t *testing.T, ft *ssftest.Transmitter, resource string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": ft.Issuer, "aud": resource, "sub": "alice", "client_id": "app",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ft.Key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", ft.KID))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

func statusWith(t *testing.T, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitStatus(t *testing.T, u, token string, want int) {
	t.Helper()
	ssftest.WaitFor(t, fmt.Sprintf("%s to answer %d", u, want), func() bool { return statusWith(t, u, token) == want })
}

// TestResourceRevocationStream runs a real Caddy gateway subscribed to a (fake) transmitter:
// revocations of a jti, a grant and a session refuse exactly the covered tokens; two sites
// share one subscription but each has its own fail-closed bound; a reload keeps the revoked
// set and the stream; stopping Caddy deletes the stream.
func TestResourceRevocationStream(t *testing.T) {
	tc := newTestCaddy(t)
	ft := ssftest.New(t)
	lenient := "http://127.0.0.1:" + freePort(t)
	strict := "http://127.0.0.1:" + freePort(t)
	site := func(addr, extra string) string {
		return fmt.Sprintf(`%[1]s {
	oauth_resource {
		resource %[1]s/api
		issuer %[2]s
		revocation_stream {
			client %[3]s %[4]s
			%[5]s
		}
		outbound_allow_private
	}
	respond "ok"
}
`, addr, ft.Issuer, ft.ClientID, ft.Secret, extra)
	}
	cf := tc.globals() + site(lenient, "") + site(strict, "fail_closed_after 300ms")
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}

	tokens := map[string]map[string]any{
		"by jti":     {"jti": "jti-revoked"},
		"by grant":   {"jti": "j2", "grant_id": "grant-revoked"},
		"by session": {"jti": "j3", "grant_id": "g3", "sid": "sid-revoked"},
		"untouched":  {"jti": "j4", "grant_id": "g4", "sid": "s4"},
	}
	signed := map[string]map[string]string{} // site -> name -> token
	for _, gw := range []string{lenient, strict} {
		signed[gw] = map[string]string{}
		for name, claims := range tokens {
			signed[gw][name] = signAccessToken(t, ft, gw+"/api", claims)
			// The strict site answers 503 until its first poll succeeded (a gateway that never
			// caught up is down from its start).
			waitStatus(t, gw+"/api/x", signed[gw][name], http.StatusOK)
		}
	}

	ft.Push("e1", ft.Sign(ssftest.Spec{JTI: "e1", Kind: secevent.KindJTI, Value: "jti-revoked"}))
	ft.Push("e2", ft.Sign(ssftest.Spec{JTI: "e2", Kind: secevent.KindGrant, Value: "grant-revoked"}))
	ft.Push("e3", ft.Sign(ssftest.Spec{JTI: "e3", Kind: secevent.KindSession, Value: "sid-revoked"}))
	// A SET for another gateway's client changes nothing here.
	ft.Push("e4", ft.Sign(ssftest.Spec{JTI: "e4", Kind: secevent.KindJTI, Value: "j4", Aud: []string{"other-gateway"}}))
	for _, gw := range []string{lenient, strict} {
		for _, name := range []string{"by jti", "by grant", "by session"} {
			waitStatus(t, gw+"/api/x", signed[gw][name], http.StatusUnauthorized)
		}
		if got := statusWith(t, gw+"/api/x", signed[gw]["untouched"]); got != 200 {
			t.Errorf("%s: untouched token: %d", gw, got)
		}
	}
	if _, _, created, _ := ft.State(); created != 1 {
		t.Errorf("%d streams created, want 1 shared by both sites", created)
	}

	// Outage: both keep the revoked set; the strict site fails closed after its bound.
	ft.SetDown(true)
	waitStatus(t, strict+"/api/x", signed[strict]["untouched"], http.StatusServiceUnavailable)
	if got := statusWith(t, lenient+"/api/x", signed[lenient]["untouched"]); got != 200 {
		t.Errorf("lenient site during the outage: %d", got)
	}
	if got := statusWith(t, lenient+"/api/x", signed[lenient]["by jti"]); got != 401 {
		t.Errorf("lenient site forgot a revocation during the outage: %d", got)
	}
	ft.SetDown(false)
	waitStatus(t, strict+"/api/x", signed[strict]["untouched"], http.StatusOK)

	// A reload keeps the subscription, its revoked set and its stream.
	adapted, err := adapt(cf)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(adapted, true); err != nil {
		t.Fatal(err)
	}
	if got := statusWith(t, lenient+"/api/x", signed[lenient]["by jti"]); got != 401 {
		t.Errorf("after reload: revoked token answered %d", got)
	}
	ft.Push("e5", ft.Sign(ssftest.Spec{JTI: "e5", Kind: secevent.KindJTI, Value: "j4"}))
	waitStatus(t, lenient+"/api/x", signed[lenient]["untouched"], http.StatusUnauthorized)
	if _, _, created, _ := ft.State(); created != 1 {
		t.Errorf("after reload: %d streams created, want 1", created)
	}

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(ft.Issuer + "\x00" + ft.ClientID + "\x00" + ft.Secret))
	if refs, ok := gatewayState.References("ssf\x00" + hex.EncodeToString(sum[:]) + "\x00private"); ok {
		t.Errorf("subscription still referenced %d times after stop", refs)
	}
	if n := ft.LiveStreams(); n != 0 {
		t.Errorf("%d streams left at the transmitter after stop", n)
	}
}

// TestResourceRevocationStreamInProcessIssuer: for an issuer served by the same Caddy the
// option is ignored: no subscription, tokens validate in-process.
func TestResourceRevocationStreamInProcessIssuer(t *testing.T) {
	tc := newTestCaddy(t)
	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api
		client svc {
			secret %[3]s
			grant_types client_credentials
			resources %[1]s/api
		}
	}
	oauth_resource /api/* {
		resource %[1]s/api
		issuer %[1]s
		revocation_stream {
			client svc %[3]s
		}
	}
	respond "ok"
}
`, tc.issuer, tc.storage(), testSecret)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	tok := requestToken(t, tc.issuer+"/token", "svc", testSecret, tc.issuer+"/api", "")
	if got := statusWith(t, tc.issuer+"/api/x", tok); got != 200 {
		t.Fatalf("in-process issuer: %d", got)
	}
	found := false
	gatewayState.Range(func(k, _ any) bool {
		if s, _ := k.(string); len(s) > 4 && s[:4] == "ssf\x00" {
			found = true
		}
		return !found
	})
	if found {
		t.Error("a revocation stream subscription exists for an in-process issuer")
	}
}
