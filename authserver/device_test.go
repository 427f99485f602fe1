package authserver

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/device"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

// Device fixtures: a public TV app and a confidential set-top box, both given the device
// code grant.
const tvSecret = "Tv9Bx2Lm7Nc4Vz8Kd1Hs6Jf0Gt5Ry3Ue8Io2Pa7SqWe"

func newDeviceServer(t testing.TB, o serverOptions) *testServer {
	edit := o.edit
	o.edit = func(c *Config) {
		c.Clients = append(c.Clients,
			ClientConfig{ID: "tv", GrantTypes: []string{device.GrantType, "refresh_token"},
				Scopes: []string{"openid", "profile", "offline_access", "read"}, Resources: []string{jwtResource}},
			ClientConfig{ID: "box", Secret: tvSecret, GrantTypes: []string{device.GrantType},
				Scopes: []string{"openid", "read"}, Resources: []string{jwtResource}},
		)
		if edit != nil {
			edit(c)
		}
	}
	return newFlowServerOpts(t, o)
}

// startDevice asks for device and user codes as the tv client.
func (ts *testServer) startDevice(extra url.Values) map[string]any {
	ts.t.Helper()
	form := url.Values{"client_id": {"tv"}, "scope": {"openid profile offline_access read"}, "resource": {jwtResource}}
	for k, v := range extra {
		form[k] = v
	}
	res := ts.do(http.MethodPost, "/device_authorization", form, [2]string{})
	if res.status != http.StatusOK {
		ts.t.Fatalf("device authorization: %d %s", res.status, res.raw)
	}
	return res.body
}

// pollDevice asks the token endpoint for the tokens of a device code as the tv client.
func (ts *testServer) pollDevice(deviceCode string) response {
	ts.t.Helper()
	return ts.do(http.MethodPost, "/token", url.Values{"grant_type": {device.GrantType}, "client_id": {"tv"},
		"device_code": {deviceCode}}, [2]string{})
}

// approveDevice plays the user: the verification page with the code, sign-in, then the
// consent page, which must show the code, answered with decision. It returns the last page.
func (b *browser) approveDevice(verificationURI, userCode, decision string) page {
	b.ts.t.Helper()
	p := b.do(http.MethodGet, verificationURI+"?"+url.Values{"user_code": {userCode}}.Encode(), nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `value="`+userCode+`"`) {
		b.ts.t.Fatalf("verification page: %d, want the form prefilled with the code: %s", p.status, p.body)
	}
	p = b.submit(p, url.Values{"user_code": {userCode}}) // the user confirms the prefilled code
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	}
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="user-code">`+userCode+`<`) {
		b.ts.t.Fatalf("consent page: %d, want it to show the user code: %s", p.status, p.body)
	}
	return b.submit(p, url.Values{"decision": {decision}})
}

// enterUserCode submits code on the verification page.
func (b *browser) enterUserCode(code string) page {
	b.ts.t.Helper()
	return b.submit(b.do(http.MethodGet, testIssuer+"/device", nil), url.Values{"user_code": {code}})
}

var userCodePattern = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceFlowEndToEnd(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	deviceCode, _ := start["device_code"].(string)
	userCode, _ := start["user_code"].(string)
	if len(deviceCode) < 43 || !userCodePattern.MatchString(userCode) {
		t.Fatalf("codes: device %q user %q", deviceCode, userCode)
	}
	if start["verification_uri"] != testIssuer+"/device" ||
		start["verification_uri_complete"] != testIssuer+"/device?user_code="+userCode ||
		start["expires_in"] != float64(600) || start["interval"] != float64(5) {
		t.Fatalf("device authorization response: %v", start)
	}

	wantOAuthError(t, ts.pollDevice(deviceCode), http.StatusBadRequest, "authorization_pending")
	// Polling again at once: slow_down, and the interval grows to 10 s for every later poll.
	wantOAuthError(t, ts.pollDevice(deviceCode), http.StatusBadRequest, "slow_down")
	ts.now.Add(7)
	wantOAuthError(t, ts.pollDevice(deviceCode), http.StatusBadRequest, "slow_down")
	ts.now.Add(15)
	wantOAuthError(t, ts.pollDevice(deviceCode), http.StatusBadRequest, "authorization_pending")

	// The user types the code in lower case with a space instead of the dash: still theirs.
	done := ts.browser().approveDevice(testIssuer+"/device", userCode, "approve")
	if done.status != http.StatusOK || !strings.Contains(done.body, "Device connected") {
		t.Fatalf("after approval: %d %s", done.status, done.body)
	}

	ts.now.Add(20)
	res := ts.pollDevice(deviceCode)
	if res.status != http.StatusOK {
		t.Fatalf("tokens: %d %s", res.status, res.raw)
	}
	at := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	id := ts.verifyIDToken(res.body["id_token"].(string), "RS256")
	if at["sub"] != "alice-sub" || fmt.Sprint(at["aud"]) != "["+jwtResource+" "+testIssuer+"/userinfo]" || at["client_id"] != "tv" || at["scope"] != "openid profile read" {
		t.Errorf("access token claims: %v", at)
	}
	if id["sub"] != "alice-sub" || id["aud"] != "tv" || id["name"] != nil && id["name"] != "Alice Liddell" || id["nonce"] != nil {
		t.Errorf("ID token claims: %v", id)
	}
	if _, ok := id["sid"]; ok {
		t.Errorf("a device's ID token names the browser session of the approving user: %v", id)
	}
	if res.body["scope"] != "openid profile offline_access read" || res.body["refresh_token"] == nil {
		t.Errorf("token response: %v", res.body)
	}
	// Once.
	wantOAuthError(t, ts.pollDevice(deviceCode), http.StatusBadRequest, "invalid_grant")

	// The refresh token works for the public client.
	ref := ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"},
		"refresh_token": {res.body["refresh_token"].(string)}}, [2]string{})
	if ref.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", ref.status, ref.raw)
	}
}

func TestDeviceUserCodeTypedLoosely(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	userCode := start["user_code"].(string)
	b := ts.browser()
	p := b.do(http.MethodGet, testIssuer+"/device", nil)
	typed := " " + strings.ToLower(strings.Replace(userCode, "-", " ", 1)) + " "
	p = b.submit(p, url.Values{"user_code": {typed}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("a code typed in lower case with a space: %d %s", p.status, p.body)
	}
}

func TestDeviceDenied(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	done := ts.browser().approveDevice(testIssuer+"/device", start["user_code"].(string), "deny")
	if done.status != http.StatusOK || !strings.Contains(done.body, "Access denied") {
		t.Fatalf("after denial: %d %s", done.status, done.body)
	}
	wantOAuthError(t, ts.pollDevice(start["device_code"].(string)), http.StatusBadRequest, "access_denied")
	ts.now.Add(10)
	wantOAuthError(t, ts.pollDevice(start["device_code"].(string)), http.StatusBadRequest, "access_denied")

	// Cancelling the sign-in denies as well.
	start = ts.startDevice(nil)
	b := ts.browser()
	p := b.enterUserCode(start["user_code"].(string))
	p = b.submit(p, url.Values{"decision": {"deny"}})
	if !strings.Contains(p.body, "Access denied") {
		t.Fatalf("cancelled sign-in: %d %s", p.status, p.body)
	}
	wantOAuthError(t, ts.pollDevice(start["device_code"].(string)), http.StatusBadRequest, "access_denied")
}

func TestDeviceCodeExpires(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	ts.now.Add(601)
	wantOAuthError(t, ts.pollDevice(start["device_code"].(string)), http.StatusBadRequest, "expired_token")
	// The user is told the code expired; no sign-in is asked for it.
	b := ts.browser()
	p := b.enterUserCode(start["user_code"].(string))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid") {
		t.Fatalf("expired code entered: %d %s", p.status, p.body)
	}
}

// TestDeviceApprovedAfterExpiry: a user who signs in too slowly is told the code expired,
// and the device learns expired_token.
func TestDeviceApprovedAfterExpiry(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	b := ts.browser()
	p := b.enterUserCode(start["user_code"].(string))
	p = b.follow(b.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}}))
	ts.now.Add(590)
	// The interaction lives no longer than the code: past it, the consent form is expired.
	ts.now.Add(20)
	p = b.submit(p, url.Values{"decision": {"approve"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
		t.Fatalf("approval after expiry: %d %s", p.status, p.body)
	}
	wantOAuthError(t, ts.pollDevice(start["device_code"].(string)), http.StatusBadRequest, "expired_token")
}

func TestDeviceAuthorizationErrors(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	cases := []struct {
		name   string
		form   url.Values
		auth   [2]string
		status int
		code   string
	}{
		{"unknown client", url.Values{"client_id": {"nobody"}}, [2]string{}, 401, "invalid_client"},
		{"wrong secret", url.Values{}, [2]string{"box", "wrong"}, 401, "invalid_client"},
		{"no client", url.Values{}, [2]string{}, 401, "invalid_client"},
		{"client without the grant", url.Values{"client_id": {"spa"}}, [2]string{}, 400, "unauthorized_client"},
		{"scope not allowed", url.Values{"client_id": {"tv"}, "scope": {"write"}}, [2]string{}, 400, "invalid_scope"},
		{"malformed scope", url.Values{"client_id": {"tv"}, "scope": {"read\x01"}}, [2]string{}, 400, "invalid_scope"},
		{"unknown resource", url.Values{"client_id": {"tv"}, "resource": {"https://unknown.example/"}}, [2]string{}, 400, "invalid_target"},
		{"relative resource", url.Values{"client_id": {"tv"}, "resource": {"/api"}}, [2]string{}, 400, "invalid_target"},
		{"unlinked resource", url.Values{"client_id": {"tv"}, "resource": {opqResource}}, [2]string{}, 400, "invalid_target"},
		{"repeated scope", url.Values{"client_id": {"tv"}, "scope": {"read", "openid"}}, [2]string{}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, ts.do(http.MethodPost, "/device_authorization", tc.form, tc.auth), tc.status, tc.code)
		})
	}
	if res := ts.do(http.MethodGet, "/device_authorization", nil, [2]string{}); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", res.status)
	}
	// A confidential client authenticates; the default resource stands in.
	res := ts.do(http.MethodPost, "/device_authorization", url.Values{"scope": {"read"}}, [2]string{"box", tvSecret})
	if res.status != http.StatusOK {
		t.Fatalf("confidential client: %d %s", res.status, res.raw)
	}
}

func TestDeviceTokenErrors(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	code := start["device_code"].(string)
	grant := func(form url.Values, auth [2]string) response {
		form.Set("grant_type", device.GrantType)
		return ts.do(http.MethodPost, "/token", form, auth)
	}
	wantOAuthError(t, grant(url.Values{"client_id": {"tv"}}, [2]string{}), 400, "invalid_request")
	wantOAuthError(t, grant(url.Values{"client_id": {"tv"}, "device_code": {"nope"}}, [2]string{}), 400, "invalid_grant")
	wantOAuthError(t, grant(url.Values{"client_id": {"tv"}, "device_code": {strings.Repeat("x", 5000)}}, [2]string{}), 400, "invalid_grant")
	// Another client's device code is unknown to this one.
	wantOAuthError(t, grant(url.Values{"device_code": {code}}, [2]string{"box", tvSecret}), 400, "invalid_grant")
	// A client without the grant.
	wantOAuthError(t, grant(url.Values{"client_id": {"spa"}, "device_code": {code}}, [2]string{}), 400, "unauthorized_client")
	// The user code is not a device code.
	wantOAuthError(t, grant(url.Values{"client_id": {"tv"}, "device_code": {start["user_code"].(string)}}, [2]string{}), 400, "invalid_grant")
}

// TestDeviceRedemptionRace: an approved device code polled by many requests at once gives
// tokens once, on one SQLite file and on PostgreSQL, across two instances.
func TestDeviceRedemptionRace(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			a := newDeviceServer(t, serverOptions{driver: driver, dsn: dsn})
			b := newDeviceServer(t, serverOptions{driver: driver, dsn: dsn})
			start := a.startDevice(nil)
			// Approved at the other instance.
			b.browser().approveDevice(testIssuer+"/device", start["user_code"].(string), "approve")
			const n = 16
			results := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				srv := a
				if i%2 == 1 {
					srv = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = srv.pollDevice(start["device_code"].(string))
				}()
			}
			wg.Wait()
			wins := 0
			for _, r := range results {
				switch {
				case r.status == http.StatusOK:
					wins++
				case r.body["error"] != "invalid_grant":
					t.Errorf("loser: %d %s", r.status, r.raw)
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d concurrent polls got tokens, want 1", wins, n)
			}
		})
	}
}

// TestDeviceUserCodeGuessesThrottled: wrong codes from one network are refused after the
// login limits, with Retry-After; malformed input is not a guess and does not count.
func TestDeviceUserCodeGuessesThrottled(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{edit: func(c *Config) { c.LoginFailuresPerIP = 3; c.LoginFailuresPerAccount = 3 }})
	start := ts.startDevice(nil)
	b := ts.browserAt("198.51.100.7:4000")
	guess := func(code string) page {
		return b.submit(b.do(http.MethodGet, testIssuer+"/device", nil), url.Values{"user_code": {code}})
	}
	for range 5 {
		if p := guess("AAAA-0000"); p.status != http.StatusBadRequest { // not a base-20 code
			t.Fatalf("malformed code: %d", p.status)
		}
	}
	for i := range 3 {
		if p := guess("BBBB-BBBB"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid") {
			t.Fatalf("wrong code %d: %d %s", i, p.status, p.body)
		}
	}
	p := guess(start["user_code"].(string))
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many incorrect codes") {
		t.Fatalf("after 3 wrong codes even the right one is refused for now: %d %v %s", p.status, p.header, p.body)
	}
	// Another network is not held back by this one.
	other := ts.browserAt("203.0.113.9:4000")
	p = other.submit(other.do(http.MethodGet, testIssuer+"/device", nil), url.Values{"user_code": {start["user_code"].(string)}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("another network: %d %s", p.status, p.body)
	}
}

func TestDevicePageNeedsCSRF(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{})
	start := ts.startDevice(nil)
	b := ts.browser()
	p := b.do(http.MethodPost, testIssuer+"/device", url.Values{"user_code": {start["user_code"].(string)}})
	if p.status != http.StatusForbidden || strings.Contains(p.body, `name="password"`) {
		t.Fatalf("a cross-site code submission: %d %s", p.status, p.body)
	}
}

func TestDeviceGrantOff(t *testing.T) {
	ts := newDeviceServer(t, serverOptions{edit: func(c *Config) { c.DeviceAuthorization.Disabled = true }})
	res := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{})
	if _, ok := res.body["device_authorization_endpoint"]; ok || strings.Contains(res.raw, device.GrantType) {
		t.Fatalf("discovery advertises the device grant while it is off: %s", res.raw)
	}
	if ts.srv.OwnsPath("/device_authorization") || ts.srv.OwnsPath("/device") {
		t.Fatal("device endpoints are served while the grant is off")
	}
	wantOAuthError(t, ts.pollDevice("x"), 400, "unsupported_grant_type")
}

func TestDeviceConfigRules(t *testing.T) {
	cases := []struct {
		name string
		cfg  DeviceConfig
		want string
	}{
		{"short ttl", DeviceConfig{Config: device.Config{TTL: time.Second}}, "ttl"},
		{"long ttl", DeviceConfig{Config: device.Config{TTL: 2 * time.Hour}}, "ttl"},
		{"fractional interval", DeviceConfig{Config: device.Config{Interval: 1500 * time.Millisecond}}, "interval"},
		{"weak mask", DeviceConfig{Config: device.Config{UserCodeMask: "****"}}, "bits"},
		{"unknown charset", DeviceConfig{Config: device.Config{UserCodeCharset: "emoji"}}, "charset"},
		{"relative verification uri", DeviceConfig{VerificationURI: "/activate"}, "verification_uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	ok := DeviceConfig{Config: device.Config{UserCodeCharset: "digits", UserCodeMask: "***-***-***"}, VerificationURI: "https://example.test/activate"}
	if err := ok.withDefaults(); err != nil {
		t.Fatal(err)
	}
	ts := newDeviceServer(t, serverOptions{edit: func(c *Config) { c.DeviceAuthorization = ok }})
	start := ts.startDevice(nil)
	if !regexp.MustCompile(`^\d{3}-\d{3}-\d{3}$`).MatchString(start["user_code"].(string)) ||
		start["verification_uri"] != "https://example.test/activate" {
		t.Fatalf("configured format: %v", start)
	}
}
