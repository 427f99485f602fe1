package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPostSendsForm(t *testing.T) {
	type seen struct{ method, ctype, token string }
	got := make(chan seen, 1)
	srv := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.PostForm.Get("logout_token")}
		w.WriteHeader(http.StatusOK)
	})
	resp, err := New(Options{AllowPrivate: true}).Post(context.Background(), srv.URL, url.Values{"logout_token": {"a.b+c/d"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Post = %v, %v", resp, err)
	}
	s := <-got
	if s.method != http.MethodPost || s.ctype != "application/x-www-form-urlencoded" || s.token != "a.b+c/d" {
		t.Fatalf("server saw %+v", s)
	}
}

func TestPostStatus(t *testing.T) {
	cases := []struct {
		code    int
		wantErr bool
	}{
		{http.StatusOK, false},
		{http.StatusNoContent, false},
		{http.StatusAccepted, false},
		{http.StatusBadRequest, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusFound, true}, // a redirect is never followed
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			srv := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
				if c.code == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(c.code)
			})
			resp, err := New(Options{AllowPrivate: true, Redirects: SameHostRedirects}).Post(context.Background(), srv.URL, url.Values{"a": {"b"}})
			if !c.wantErr {
				if err != nil || resp.StatusCode != c.code {
					t.Fatalf("Post = %v, %v", resp, err)
				}
				return
			}
			if c.code == http.StatusFound {
				if !errors.Is(err, ErrRedirect) {
					t.Fatalf("Post = %v, want ErrRedirect", err)
				}
				if n := srv.hits.Load(); n != 1 {
					t.Errorf("server reached %d times, want 1 (the redirect not followed)", n)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != c.code {
				t.Fatalf("Post = %v, want StatusError %d", err, c.code)
			}
		})
	}
}

// TestPostGuards: Post refuses what Get refuses, before sending anything.
func TestPostGuards(t *testing.T) {
	plain := serve(t, false, text("ok"))
	cases := []struct {
		name    string
		opts    Options
		url     string
		wantErr error
	}{
		{"loopback without AllowPrivate", Options{}, "https://127.0.0.1:" + port(plain) + "/", ErrForbiddenAddress},
		{"link-local metadata service", Options{}, "https://169.254.169.254/", ErrForbiddenAddress},
		{"plain http without AllowPrivate", Options{}, plain.URL, ErrScheme},
		{"relative URL", Options{AllowPrivate: true}, "/logout", ErrScheme},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts).Post(context.Background(), c.url, url.Values{"a": {"b"}})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Post = %v, want %v", err, c.wantErr)
			}
		})
	}
	if n := plain.hits.Load(); n != 0 {
		t.Errorf("server reached %d times, want 0", n)
	}
}

func TestPostLimits(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	endlessError := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		endless(w, r)
	}
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		wantErr error
	}{
		// A 2xx answer is a success however long its body: the receiver did its part (a
		// logout token must not be sent again because the answer was chatty).
		{"endless body after 200", endless, nil},
		{"endless body after 500", endlessError, ErrStatus},
		{"hanging receiver", hang, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := serve(t, false, c.handler)
			start := time.Now()
			resp, err := New(Options{AllowPrivate: true, MaxBytes: 1024, Timeout: 300 * time.Millisecond}).Post(context.Background(), srv.URL, url.Values{"a": {"b"}})
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("Post = %v, want %v", err, c.wantErr)
			}
			if err == nil && len(resp.Body) != 1024 {
				t.Errorf("body of %d bytes, want it cut at MaxBytes (1024)", len(resp.Body))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("giving up took %v", d)
			}
		})
	}
}
