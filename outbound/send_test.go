package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSend: any method, the body and headers reach the server, and every status comes back
// with its body; the guard, scheme and size rules are those of Get.
func TestSend(t *testing.T) {
	srv := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(body) != `{"a":1}` || r.Header.Get("Authorization") != "Basic eA==" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not_found"}`))
	})
	hdr := http.Header{"Authorization": {"Basic eA=="}, "Content-Type": {"application/json"}}
	for _, c := range []struct {
		name    string
		opts    Options
		url     string
		want    int
		wantErr error
	}{
		{"allowed", Options{AllowPrivate: true}, srv.URL, http.StatusNotFound, nil},
		{"loopback refused", Options{}, strings.Replace(srv.URL, "http:", "https:", 1), 0, ErrForbiddenAddress},
		{"plain http refused", Options{}, srv.URL, 0, ErrScheme},
		{"too large", Options{AllowPrivate: true, MaxBytes: 5}, srv.URL, 0, ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			reply, err := New(c.opts).Send(context.Background(), http.MethodPost, c.url, hdr, []byte(`{"a":1}`))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reply.Status != c.want || string(reply.Body) != `{"error":"not_found"}` || reply.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("reply %d %q", reply.Status, reply.Body)
			}
		})
	}
}
