// Command tokenbench is a small closed-loop HTTP load generator for benchmarking the
// authorization server on this machine: a fixed number of workers, each sending one request
// at a time over keep-alive connections, for a duration or a request count.
//
// It only talks to loopback addresses: the URL host must be a loopback IP or "localhost",
// and the dialer refuses any other address, so a typo cannot turn it on a real host.
//
//	tokenbench -name jwt -c 32 -d 10s -basic id:secret -pid 1234 \
//	    -body 'grant_type=client_credentials&resource=https://api.test' http://127.0.0.1:8080/token
//
// It prints a human-readable report and one machine-readable line:
//
//	RESULT name=jwt requests=N errors=E rps=R p50_ms=A p99_ms=B rss_kib=K
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds keep a mistyped flag from turning a benchmark into a runaway load test.
const (
	maxConcurrency = 1024
	maxDuration    = 5 * time.Minute
	maxRequests    = 10_000_000
	maxBodyRead    = 1 << 20
)

type options struct {
	name        string
	target      *url.URL
	method      string
	body        []byte
	contentType string
	basicUser   string
	basicPass   string
	headers     http.Header
	expect      []byte
	concurrency int
	duration    time.Duration
	requests    int64
	timeout     time.Duration
	pid         int
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tokenbench:", err)
		os.Exit(2)
	}
	res := run(opts)
	rss, rssErr := readRSS(opts.pid)
	report(os.Stdout, opts, res, rss, rssErr)
}

type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want Name: value", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("tokenbench", flag.ContinueOnError)
	o := &options{headers: http.Header{}}
	var body, bodyFile, basic, expect string
	fs.StringVar(&o.name, "name", "run", "scenario name shown in the report")
	fs.StringVar(&o.method, "method", "", "HTTP method (default GET, or POST when -body is set)")
	fs.StringVar(&body, "body", "", "request body, sent as-is with every request")
	fs.StringVar(&bodyFile, "body-file", "", "read the request body from this file (keeps tokens off the command line)")
	fs.StringVar(&o.contentType, "content-type", "application/x-www-form-urlencoded", "Content-Type of -body")
	fs.StringVar(&basic, "basic", "", "HTTP Basic credentials as id:secret (form-encoded per RFC 6749 §2.3.1)")
	fs.Var(headerFlags(o.headers), "H", "extra request header 'Name: value' (repeatable)")
	fs.StringVar(&expect, "expect", "", "a 2xx response whose body lacks this substring counts as an error")
	fs.IntVar(&o.concurrency, "c", 32, "number of concurrent workers (connections)")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to run (ignored when -n is set)")
	fs.Int64Var(&o.requests, "n", 0, "total number of requests (0: run for -d)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.IntVar(&o.pid, "pid", 0, "process whose VmRSS is reported after the run (0: none)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tokenbench [flags] http://127.0.0.1:PORT/path")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, errors.New("exactly one target URL is required")
	}
	target, err := loopbackURL(fs.Arg(0))
	if err != nil {
		return nil, err
	}
	o.target = target
	switch {
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return nil, fmt.Errorf("-c must be within 1..%d", maxConcurrency)
	case o.requests < 0 || o.requests > maxRequests:
		return nil, fmt.Errorf("-n must be within 0..%d", maxRequests)
	case o.requests == 0 && (o.duration <= 0 || o.duration > maxDuration):
		return nil, fmt.Errorf("-d must be within (0, %s]", maxDuration)
	case o.timeout <= 0 || o.timeout > time.Minute:
		return nil, errors.New("-timeout must be within (0, 1m]")
	}
	switch {
	case body != "" && bodyFile != "":
		return nil, errors.New("-body and -body-file are exclusive")
	case body != "":
		o.body = []byte(body)
	case bodyFile != "":
		if o.body, err = os.ReadFile(bodyFile); err != nil {
			return nil, err
		}
		o.body = bytes.TrimRight(o.body, "\r\n")
	}
	if o.method == "" {
		o.method = http.MethodGet
		if o.body != nil {
			o.method = http.MethodPost
		}
	}
	if basic != "" {
		id, secret, ok := strings.Cut(basic, ":")
		if !ok {
			return nil, errors.New("-basic wants id:secret")
		}
		// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
		o.basicUser, o.basicPass = url.QueryEscape(id), url.QueryEscape(secret)
	}
	if expect != "" {
		o.expect = []byte(expect)
	}
	return o, nil
}

// loopbackURL accepts only http(s) URLs whose host is a loopback IP or localhost.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("target %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("target %q: only loopback hosts are allowed", raw)
	}
	return u, nil
}

// loopbackOnly is a dialer Control hook: the connection is refused unless the resolved
// address is loopback (e.g. "localhost" resolving somewhere else).
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback address %s", address)
	}
	return nil
}

type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of every completed request, successful or not
	errors    int64
	byReason  map[string]int64
}

type worker struct {
	latencies []time.Duration
	errors    map[string]int64
}

func run(o *options) result {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		MaxConnsPerHost:     o.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	hc := &http.Client{
		Transport: transport,
		Timeout:   o.timeout,
		// A redirect is a wrong endpoint, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	ctx := context.Background()
	cancel := context.CancelFunc(func() {})
	if o.requests == 0 {
		ctx, cancel = context.WithTimeout(ctx, o.duration)
	}
	defer cancel()

	// With -n, workers take tickets from a shared counter so exactly n requests are sent.
	var issued atomic.Int64
	next := func() bool {
		if ctx.Err() != nil {
			return false
		}
		return o.requests == 0 || issued.Add(1) <= o.requests
	}

	workers := make([]worker, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &workers[i]
		w.errors = map[string]int64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for next() {
				t0 := time.Now()
				reason := do(ctx, hc, o, &buf)
				if reason == "canceled" {
					return // the deadline cut this request short; it is not a sample
				}
				w.latencies = append(w.latencies, time.Since(t0))
				if reason != "" {
					w.errors[reason]++
				}
			}
		}()
	}
	wg.Wait()

	res := result{elapsed: time.Since(start), byReason: map[string]int64{}}
	for _, w := range workers {
		res.latencies = append(res.latencies, w.latencies...)
		for reason, n := range w.errors {
			res.byReason[reason] += n
			res.errors += n
		}
	}
	slices.Sort(res.latencies)
	return res
}

// do sends one request and returns "" on success or a short reason for the failure.
func do(ctx context.Context, hc *http.Client, o *options, buf *[]byte) string {
	var body io.Reader
	if o.body != nil {
		body = bytes.NewReader(o.body)
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.target.String(), body)
	if err != nil {
		return "request"
	}
	for name, values := range o.headers {
		req.Header[name] = values
	}
	if o.body != nil {
		req.Header.Set("Content-Type", o.contentType)
	}
	if o.basicUser != "" {
		req.SetBasicAuth(o.basicUser, o.basicPass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "canceled"
		}
		return "transport"
	}
	defer resp.Body.Close()
	// Drain the body so the connection goes back to the keep-alive pool.
	*buf = (*buf)[:0]
	b := bytes.NewBuffer(*buf)
	_, err = io.Copy(b, io.LimitReader(resp.Body, maxBodyRead))
	*buf = b.Bytes()
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return "canceled"
		}
		return "read"
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "status " + strconv.Itoa(resp.StatusCode)
	case o.expect != nil && !bytes.Contains(*buf, o.expect):
		return "unexpected body"
	}
	return ""
}

// readRSS returns the VmRSS of pid in KiB, as the kernel reports it in /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("no -pid given")
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strings.CutSuffix(strings.TrimSpace(rest), " kB")
			return strconv.ParseInt(strings.TrimSpace(kib), 10, 64)
		}
	}
	return 0, errors.New("VmRSS not found")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func report(w io.Writer, o *options, res result, rssKiB int64, rssErr error) {
	n := len(res.latencies)
	rps := float64(n) / res.elapsed.Seconds()
	p50, p99 := percentile(res.latencies, 0.50), percentile(res.latencies, 0.99)
	var maxLat time.Duration
	if n > 0 {
		maxLat = res.latencies[n-1]
	}
	fmt.Fprintf(w, "scenario   %s\n", o.name)
	fmt.Fprintf(w, "command    %s\n", shellQuote(os.Args))
	fmt.Fprintf(w, "target     %s %s, concurrency %d\n", o.method, o.target, o.concurrency)
	fmt.Fprintf(w, "requests   %d in %s\n", n, res.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "throughput %.1f req/s\n", rps)
	fmt.Fprintf(w, "latency    p50 %s ms, p99 %s ms, max %s ms\n", ms(p50), ms(p99), ms(maxLat))
	reasons := make([]string, 0, len(res.byReason))
	for reason, count := range res.byReason {
		reasons = append(reasons, fmt.Sprintf("%s: %d", reason, count))
	}
	slices.Sort(reasons)
	fmt.Fprintf(w, "errors     %d %s\n", res.errors, strings.Join(reasons, ", "))
	rss := "-1"
	if rssErr == nil {
		rss = strconv.FormatInt(rssKiB, 10)
		fmt.Fprintf(w, "rss        %.1f MiB (pid %d, after the run)\n", float64(rssKiB)/1024, o.pid)
	} else {
		fmt.Fprintf(w, "rss        unknown (%v)\n", rssErr)
	}
	fmt.Fprintf(w, "RESULT name=%s requests=%d errors=%d rps=%.1f p50_ms=%s p99_ms=%s rss_kib=%s\n",
		o.name, n, res.errors, rps, ms(p50), ms(p99), rss)
}

// shellQuote renders args so the printed command can be pasted back into a shell. Secrets
// passed with -basic are masked: the report must not leak credentials.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	maskNext := false
	for i, a := range args {
		switch {
		case maskNext:
			a = maskSecret(a)
			maskNext = false
		case a == "-basic" || a == "--basic":
			maskNext = true
		case strings.HasPrefix(a, "-basic=") || strings.HasPrefix(a, "--basic="):
			flagName, v, _ := strings.Cut(a, "=")
			a = flagName + "=" + maskSecret(v)
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`&|;<>(){}*?!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func maskSecret(basic string) string {
	id, _, _ := strings.Cut(basic, ":")
	return id + ":***"
}
