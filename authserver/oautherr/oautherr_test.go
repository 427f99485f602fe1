package oautherr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// allowed is RFC 6749 §5.2's error_description: 1*( %x20-21 / %x23-5B / %x5D-7E ).
var allowed = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]*$`)

// TestDescriptionStaysInRFC6749Charset: whatever text a description holds, every rendering
// sends only the characters RFC 6749 §5.2 allows, bounded in length.
func TestDescriptionStaysInRFC6749Charset(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"plain":          {"scope is malformed", "scope is malformed"},
		"every allowed":  {" !#[]~azAZ09<>&'()*+,-./:;=?@^_`{|}", " !#[]~azAZ09<>&'()*+,-./:;=?@^_`{|}"},
		"quote":          {`say "hi"`, "say ?hi?"},
		"backslash":      {`a\b`, "a?b"},
		"CR LF":          {"a\r\nSet-Cookie: x=1", "a??Set-Cookie: x=1"},
		"tab and NUL":    {"a\tb\x00c", "a?b?c"},
		"DEL":            {"a\x7fb", "a?b"},
		"non-ASCII":      {"Core §5.5 ünï 漢字", "Core ?5.5 ?n? ??"},
		"invalid UTF-8":  {"a\xff\xfeb", "a??b"},
		"empty":          {"", ""},
		"too long":       {strings.Repeat("x", 1000), strings.Repeat("x", maxDescriptionLen)},
		"cut in a rune":  {strings.Repeat("x", maxDescriptionLen-1) + "é", strings.Repeat("x", maxDescriptionLen-1) + "?"},
		"script element": {"<script>alert(1)</script>", "<script>alert(1)</script>"}, // allowed characters; not quoting input is the endpoints' rule
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := &Error{Code: InvalidRequest, Description: tc.in}
			if got := e.SafeDescription(); got != tc.want {
				t.Errorf("SafeDescription = %q, want %q", got, tc.want)
			}

			rec := httptest.NewRecorder()
			Write(rec, e)
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != InvalidRequest || body["error_description"] != tc.want || !allowed.MatchString(body["error_description"]) {
				t.Errorf("Write: %s", rec.Body.String())
			}
			if _, has := body["error_description"]; has != (tc.want != "") {
				t.Errorf("Write: error_description present = %v for %q", has, tc.want)
			}

			if raw, err := json.Marshal(e); err != nil || json.Unmarshal(raw, &body) != nil || body["error_description"] != tc.want {
				t.Errorf("json.Marshal: %s %v", raw, err)
			}

			if p := e.Params(); p.Get("error") != InvalidRequest || p.Get("error_description") != tc.want || p.Has("error_description") != (tc.want != "") {
				t.Errorf("Params = %v", p)
			}

			ch := e.ChallengeParams()
			m := regexp.MustCompile(`^error="invalid_request"(?:, error_description="([^"\\]*)")?$`).FindStringSubmatch(ch)
			if m == nil || m[1] != tc.want {
				t.Errorf("ChallengeParams = %q", ch)
			}
		})
	}
}

func TestWriteHeadersAndNoCode(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, &Error{Status: http.StatusUnauthorized, WWWAuthenticate: `Bearer realm="x"`})
	if rec.Code != http.StatusUnauthorized || rec.Body.Len() != 0 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="x"` {
		t.Errorf("no-code challenge: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if (&Error{}).ChallengeParams() != "" {
		t.Error("ChallengeParams without a code must be empty")
	}
	rec = httptest.NewRecorder()
	Write(rec, Server(nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Cache-Control") != "no-store" || !strings.Contains(rec.Body.String(), `"server_error"`) {
		t.Errorf("server error: %d %v %s", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestClassifyAndRetryAfter(t *testing.T) {
	down := errors.New("connection refused")
	isDown := func(err error) bool { return errors.Is(err, down) }
	if e := Classify(fmt.Errorf("store: %w", down), isDown); e.Code != TemporarilyUnavailable || e.Status != http.StatusServiceUnavailable {
		t.Errorf("database down: %+v", e)
	}
	if e := Classify(errors.New("bug"), isDown); e.Code != ServerError || e.Status != http.StatusInternalServerError {
		t.Errorf("a bug: %+v", e)
	}
	if e := Classify(Request("bad"), isDown); e.Code != InvalidRequest {
		t.Errorf("a refusal is left alone: %+v", e)
	}
	if e := Classify(fmt.Errorf("store: %w", down), nil); e.Code != ServerError {
		t.Errorf("no classifier: %+v", e)
	}
	w := httptest.NewRecorder()
	Write(w, Unavailable(down))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" || !strings.Contains(w.Body.String(), TemporarilyUnavailable) {
		t.Errorf("503 answer: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	Write(w, Request("bad"))
	if w.Header().Get("Retry-After") != "" {
		t.Errorf("a 400 asks for a retry: %v", w.Header())
	}
}
