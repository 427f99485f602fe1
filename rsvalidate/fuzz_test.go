package rsvalidate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzAuthenticate feeds arbitrary credentials (header, DPoP proof, query, form body) through
// extraction, JWT header/claims parsing, introspection and challenge writing: no input may
// panic, every refusal must be a well-formed answer, and nothing but the one valid token
// may pass.
func FuzzAuthenticate(f *testing.F) {
	fk := fixtures(f)
	cfg := baseConfig(f, fk)
	cfg.AllowQueryToken, cfg.AllowBodyToken, cfg.AcceptPlainJWT = true, true, true
	cfg.Introspector = &fakeIntrospector{tokens: map[string]*TokenInfo{"opaque-ok": {
		Issuer: testIssuer, Subject: "alice", Audience: []string{testResource}, ExpiresAt: testNow.Add(time.Hour)}}}
	v := mustNew(f, cfg)
	good := signJWT(f, fk.es, "at+jwt", claims())
	bound := signJWT(f, fk.es, "at+jwt", claims(set("cnf", map[string]any{"jkt": fk.dpopJKT})))
	f.Add("Bearer "+good, "", "", "")
	f.Add("DPoP "+bound, proof(f, fk.dpop, "GET", testURL, bound), "", "")
	f.Add("bearer opaque-ok", "", "", "")
	f.Add("", "", "access_token="+good, "")
	f.Add("", "", "", "access_token=opaque-ok&x=%zz")
	f.Add("Bearer eyJhbGciOiJFUzI1NiJ9.e30.", "", "", "")
	f.Add("Bearer "+strings.Replace(good, ".", "..", 1), "x", "access_token", "access_token=a&access_token=b")
	f.Add("DPoP a.b.c", "a.b.c", "", "")
	f.Fuzz(func(t *testing.T, auth, proofHdr, query, body string) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Scheme: "https", Host: "api.example", Path: "/v1/items", RawQuery: query},
			Host:   "api.example",
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:   io.NopCloser(strings.NewReader(body)),
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if proofHdr != "" {
			r.Header.Set("DPoP", proofHdr)
		}
		id, e := v.Authenticate(r)
		if e == nil {
			if id == nil || id.Subject != "alice" || !slices.Contains(id.Audience, testResource) {
				t.Fatalf("accepted a foreign identity %+v", id)
			}
			return
		}
		if id != nil {
			t.Fatal("identity and error")
		}
		w := httptest.NewRecorder()
		v.WriteError(w, e)
		switch w.Code {
		case 400, 401, 403, 503:
		default:
			t.Fatalf("status %d", w.Code)
		}
		for _, c := range w.Header().Values("WWW-Authenticate") {
			if strings.ContainsAny(c, "\r\n\\") {
				t.Fatalf("unsafe challenge %q", c)
			}
		}
	})
}

// FuzzParseClaims: claims are parsed only after a signature verifies, so fuzz them directly.
func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"x","aud":["a",1],"exp":1e10,"cnf":{"jkt":"k"},"scp":["a"]}`))
	f.Add([]byte(`{"exp":-0.5,"nbf":"1","cnf":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		info, err := parseClaims(payload)
		if err == nil && info == nil {
			t.Fatal("nil info without error")
		}
	})
}
