package rsvalidate

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestIssuerOf(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hdr := seg(`{"alg":"ES256"}`)
	for _, tt := range []struct {
		name, token, want string
		ok                bool
	}{
		{"jwt", hdr + "." + seg(`{"iss":"https://a.example","sub":"x"}`) + ".sig", "https://a.example", true},
		{"no iss", hdr + "." + seg(`{"sub":"x"}`) + ".sig", "", false},
		{"iss not a string", hdr + "." + seg(`{"iss":7}`) + ".sig", "", false},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", "", false},
		{"two dots missing", hdr + "." + seg(`{"iss":"x"}`), "", false},
		{"four segments", hdr + "." + seg(`{"iss":"x"}`) + ".a.b", "", false},
		{"bad base64", hdr + ".!!!.sig", "", false},
		{"not JSON", hdr + "." + seg("nope") + ".sig", "", false},
		{"huge payload", hdr + "." + strings.Repeat("A", 40000) + ".sig", "", false},
		{"empty", "", "", false},
	} {
		got, ok := IssuerOf(tt.token)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: IssuerOf = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAudienceAndClaimNames: an issuer that knows the resource by another name and uses
// other claim names (Azure AD style: aud api://orders, oid, azp, scp array).
func TestAudienceAndClaimNames(t *testing.T) {
	f := fixtures(t)
	cfg := baseConfig(t, f)
	cfg.Audience = "api://orders"
	cfg.Claims = ClaimNames{Subject: "oid", Scope: "scp", ClientID: "azp"}
	cfg.AuthorizationServers = []string{testIssuer, "https://other.example"}
	v := mustNew(t, cfg)
	azure := func(mods ...func(map[string]any)) string {
		base := []func(map[string]any){set("aud", "api://orders"), set("oid", "user-oid"), set("azp", "spa"),
			set("scp", []any{"orders.read", "orders.write"}), del("scope")}
		return signJWT(t, f.es, "at+jwt", claims(append(base, mods...)...))
	}
	id, e := v.Authenticate(req("Authorization", "Bearer "+azure()))
	if e != nil {
		t.Fatal(e)
	}
	if id.Subject != "user-oid" || id.ClientID != "spa" || strings.Join(id.Scopes, " ") != "orders.read orders.write" {
		t.Errorf("identity = sub %q client %q scopes %v", id.Subject, id.ClientID, id.Scopes)
	}
	for name, tok := range map[string]string{
		"aud is the resource, not this issuer's audience": signJWT(t, f.es, "at+jwt", claims()),
		"mapped subject not a string":                     azure(set("oid", 7)),
		"mapped scope not a string or array":              azure(set("scp", map[string]any{"x": 1})),
	} {
		if _, e := v.Authenticate(req("Authorization", "Bearer "+tok)); e == nil || e.Code != CodeInvalidToken {
			t.Errorf("%s: %v, want invalid_token", name, e)
		}
	}
	if md := string(v.Metadata()); !strings.Contains(md, `"authorization_servers":["`+testIssuer+`","https://other.example"]`) ||
		!strings.Contains(md, `"resource":"`+testResource+`"`) {
		t.Errorf("metadata = %s", md)
	}
}

// TestUnavailableAsksForARetry: a 503 (issuer or store unreachable) carries Retry-After and no
// challenge; a 401 carries a challenge and no Retry-After.
func TestUnavailableAsksForARetry(t *testing.T) {
	f := fixtures(t)
	cfg := baseConfig(t, f)
	cfg.Keys.(*memKeys).err = ErrUnavailable
	v := mustNew(t, cfg)
	_, e := v.Authenticate(req("Authorization", "Bearer "+signJWT(t, f.es, "at+jwt", claims())))
	if e == nil || e.Status != 503 {
		t.Fatalf("error = %v, want 503", e)
	}
	w := httptest.NewRecorder()
	v.WriteError(w, e)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("503 answer: %d, headers %v", w.Code, w.Header())
	}
	w = httptest.NewRecorder()
	v.WriteError(w, invalidToken("x", nil))
	if w.Header().Get("Retry-After") != "" || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("401 answer headers %v", w.Header())
	}
	// A cause that knows when to retry (an issuer's open circuit breaker) sets it, in whole
	// seconds rounded up.
	for d, want := range map[time.Duration]string{7200 * time.Millisecond: "8", time.Second: "1", 0: "5"} {
		w = httptest.NewRecorder()
		v.WriteError(w, unavailable(fmt.Errorf("%w: %w", ErrUnavailable, retryIn(d))))
		if got := w.Header().Get("Retry-After"); w.Code != 503 || got != want {
			t.Errorf("cause retrying in %v: %d Retry-After %q, want 503 %q", d, w.Code, got, want)
		}
	}
}

type retryIn time.Duration

func (r retryIn) Error() string             { return "circuit open" }
func (r retryIn) RetryAfter() time.Duration { return time.Duration(r) }
