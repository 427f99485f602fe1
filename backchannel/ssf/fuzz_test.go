package ssf

import (
	"net/http"
	"testing"
	"time"
)

// FuzzRequestBodies sends arbitrary bodies to the endpoints that parse one (stream creation
// and polling) as an authenticated receiver: every answer is a 2xx or a 4xx, never a 5xx or
// a panic, whatever the JSON says (maxEvents of any size or sign, acks of unknown or huge
// IDs, setErrs of any shape).
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{}`, ``, `{"maxEvents":0,"ack":["a"]}`, `{"maxEvents":-1}`, `{"maxEvents":1e9}`,
		`{"ack":[1,2]}`, `{"setErrs":{"x":{"err":"invalid_key","description":"d"}}}`,
		`{"returnImmediately":true,"maxEvents":3}`, `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["x"]}`,
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://gw.example/push"}}`, `[]`, `null`, `{"a":1}{}`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	fx := newFixture(f, Options{LongPollWait: time.Millisecond})
	stream := fx.createStream("gw1", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	f.Fuzz(func(t *testing.T, body string, poll bool) {
		fx.t = t
		path := "/tenant/ssf/streams"
		if poll {
			path = pollPath(stream)
		}
		status, _, out := fx.do(http.MethodPost, path, "gw1", "application/json", []byte(body))
		if status >= 500 {
			t.Fatalf("POST %s with %q answered %d %s", path, body, status, out)
		}
	})
}
