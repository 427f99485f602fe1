package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080/token", true},
		{"http://127.8.9.10/token", true},
		{"http://[::1]:9000/", true},
		{"http://localhost:9000/", true},
		{"http://10.0.0.1/token", false},
		{"http://192.168.1.1/token", false},
		{"https://example.com/token", false},
		{"ftp://127.0.0.1/", false},
		{"http://127.0.0.1.example.com/", false},
	}
	for _, tt := range tests {
		_, err := loopbackURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("loopbackURL(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestLoopbackOnlyDialControl(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80":   true,
		"[::1]:80":       true,
		"10.1.2.3:80":    false,
		"93.184.216.1:1": false,
	} {
		if err := loopbackOnly("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestParseFlagsBounds(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"http://127.0.0.1:1/"}, true},
		{[]string{"-c", "0", "http://127.0.0.1:1/"}, false},
		{[]string{"-c", "5000", "http://127.0.0.1:1/"}, false},
		{[]string{"-d", "1h", "http://127.0.0.1:1/"}, false},
		{[]string{"-n", "100", "-d", "0", "http://127.0.0.1:1/"}, true},
		{[]string{"-n", "-1", "http://127.0.0.1:1/"}, false},
		{[]string{"-basic", "nocolon", "http://127.0.0.1:1/"}, false},
		{[]string{"-body", "a", "-body-file", "f", "http://127.0.0.1:1/"}, false},
		{[]string{"http://10.0.0.1/"}, false},
		{[]string{}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) error = %v, want ok=%v", tt.args, err, tt.ok)
		}
	}
}

func TestShellQuoteMasksBasicSecret(t *testing.T) {
	got := shellQuote([]string{"tokenbench", "-basic", "svc:s3cret", "-basic=svc:other", "-body", "a=b&c=d"})
	if strings.Contains(got, "s3cret") || strings.Contains(got, "other") {
		t.Fatalf("secret leaked: %s", got)
	}
	if want := `tokenbench -basic 'svc:***' '-basic=svc:***' -body 'a=b&c=d'`; got != want {
		t.Fatalf("shellQuote = %s, want %s", got, want)
	}
}

// TestRunCountsRequestsAndErrors drives a real loopback server: exactly -n requests are sent,
// non-2xx statuses and bodies missing -expect are counted as errors, and credentials
// (form-encoded before Basic encoding, RFC 6749 §2.3.1) and body reach the server.
func TestRunCountsRequestsAndErrors(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		user, pass, _ := r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		if user != "svc+1" || pass != "p" || string(body) != "token=x" || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch n % 4 {
		case 0:
			w.WriteHeader(http.StatusTooManyRequests)
		case 1:
			io.WriteString(w, `{"active":false}`)
		default:
			io.WriteString(w, `{"active":true}`)
		}
	}))
	defer srv.Close()

	o, err := parseFlags([]string{"-n", "40", "-c", "4", "-basic", "svc 1:p", "-body", "token=x",
		"-expect", `"active":true`, srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	res := run(o)
	if got := len(res.latencies); got != 40 || hits.Load() != 40 {
		t.Fatalf("samples %d, server hits %d, want 40 each", got, hits.Load())
	}
	if res.errors != 20 || res.byReason["status 429"] != 10 || res.byReason["unexpected body"] != 10 {
		t.Fatalf("errors = %d %v, want 10 x status 429 and 10 x unexpected body", res.errors, res.byReason)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	o, err := parseFlags([]string{"-d", "200ms", "-c", "2", srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := run(o)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("run took %s, want about 200ms", took)
	}
	if len(res.latencies) == 0 || res.errors != 0 {
		t.Fatalf("samples %d errors %d, want some samples and no errors", len(res.latencies), res.errors)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(s, 0.5); p != 51*time.Millisecond && p != 50*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p := percentile(s, 0.99); p != 99*time.Millisecond && p != 100*time.Millisecond {
		t.Errorf("p99 = %s", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %s", p)
	}
}
