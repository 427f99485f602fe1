package rsvalidate

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver/revoked"
)

// revokedSet adapts the gateway's real revoked set to Revocations (as ssfreceiver does).
type revokedSet struct {
	*revoked.Set
	err error
}

func (r *revokedSet) Revoked(token string, info *TokenInfo) bool {
	grantID, _ := info.Claims["grant_id"].(string)
	sid, _ := info.Claims["sid"].(string)
	return r.Set.Revoked(token, info.JTI, grantID, sid)
}

func (r *revokedSet) Err() error { return r.err }

func b64Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestRevocationsRefuseTokens: a token valid by signature and claims, and already cached as
// valid, is refused with invalid_token once its jti, hash, grant or session is revoked;
// tokens not covered still pass; a stale stream (Err) fails with 503.
func TestRevocationsRefuseTokens(t *testing.T) {
	f := fixtures(t)
	jwt := func(mods ...func(map[string]any)) string { return signJWT(t, f.es, "at+jwt", claims(mods...)) }
	opaqueInfo := &TokenInfo{Issuer: testIssuer, Subject: "alice", Audience: []string{testResource},
		ExpiresAt: testNow.Add(time.Hour), Claims: map[string]any{"grant_id": "g-opaque"}}
	for _, c := range []struct {
		name       string
		token      string
		kind       string
		value      string
		wantStatus int
	}{
		{"jti", jwt(set("jti", "j-1")), secevent.KindJTI, "j-1", 401},
		{"other jti", jwt(set("jti", "j-2")), secevent.KindJTI, "j-1", 200},
		{"grant", jwt(set("jti", "j-3"), set("grant_id", "g-1")), secevent.KindGrant, "g-1", 401},
		{"other grant", jwt(set("jti", "j-4"), set("grant_id", "g-2")), secevent.KindGrant, "g-1", 200},
		{"session", jwt(set("jti", "j-5"), set("sid", "s-1")), secevent.KindSession, "s-1", 401},
		{"no sid claim", jwt(set("jti", "j-6")), secevent.KindSession, "s-1", 200},
		{"opaque by hash", "opaque-1", secevent.KindTokenHash, b64Hash("opaque-1"), 401},
		{"opaque by grant", "opaque-1", secevent.KindGrant, "g-opaque", 401},
		{"other opaque", "opaque-1", secevent.KindTokenHash, b64Hash("opaque-2"), 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := &revokedSet{Set: revoked.New(clock)}
			cfg := baseConfig(t, f)
			cfg.Introspector = &fakeIntrospector{tokens: map[string]*TokenInfo{"opaque-1": opaqueInfo}}
			cfg.Revocations = rs
			v := mustNew(t, cfg)
			r := req("Authorization", "Bearer "+c.token)
			if _, e := v.Authenticate(r); e != nil {
				t.Fatalf("before the revocation: %v", e)
			}
			if v.verified != nil {
				v.verified.Wait() // the JWT is now a cache hit
			}
			rs.Add(c.kind, c.value, testNow.Add(time.Hour))
			_, e := v.Authenticate(r)
			status := 200
			if e != nil {
				status = e.Status
			}
			if status != c.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, c.wantStatus, e)
			}
			if status == 401 {
				if h := written(v, e).Header().Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
					t.Errorf("challenge %q", h)
				}
			}
		})
	}
}

func TestRevocationsUnavailableFailsClosed(t *testing.T) {
	f := fixtures(t)
	cfg := baseConfig(t, f)
	rs := &revokedSet{Set: revoked.New(clock), err: fmt.Errorf("%w: stream down", ErrUnavailable)}
	cfg.Revocations = rs
	v := mustNew(t, cfg)
	r := req("Authorization", "Bearer "+signJWT(t, f.es, "at+jwt", claims()))
	_, e := v.Authenticate(r)
	if e == nil || e.Status != http.StatusServiceUnavailable || !errors.Is(e, ErrUnavailable) {
		t.Fatalf("stale stream: %v", e)
	}
	rs.err = nil
	if _, e := v.Authenticate(r); e != nil {
		t.Fatalf("after recovery: %v", e)
	}
}
