// Package outbound is the one way this project fetches a URL named by someone else (a client's
// jwks_uri, a client ID metadata document) or posts to one (a back-channel logout URI): a
// total timeout, a body size limit, no redirects
// to other hosts, https only, and a dialer that refuses private, loopback, link-local and other
// non-global addresses after DNS resolution, so a client cannot aim the server at its own
// network (SSRF). AllowPrivate lifts the address and scheme rules for development and for
// deployments whose clients live on a private network.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"code.dny.dev/ssrf"
)

// Defaults for the zero values of Options.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBytes = 1 << 20
	// maxRedirects bounds a same-host redirect chain.
	maxRedirects = 5
)

// Errors a fetch can end with; match them with errors.Is.
var (
	// ErrForbiddenAddress: the host resolved to an address that is not publicly routable.
	ErrForbiddenAddress = errors.New("address not allowed")
	// ErrScheme: the URL is not https (or http with AllowPrivate).
	ErrScheme = errors.New("URL scheme not allowed")
	// ErrRedirect: the server redirected where the policy does not follow.
	ErrRedirect = errors.New("redirect not followed")
	// ErrTooLarge: the body is longer than MaxBytes.
	ErrTooLarge = errors.New("response body too large")
	// ErrTimeout: the whole fetch took longer than Timeout.
	ErrTimeout = errors.New("fetch timed out")
	// ErrStatus: the final answer was not 200 OK (Get) or not 2xx (Post); see StatusError
	// for the code.
	ErrStatus = errors.New("unexpected status")
)

// Redirects decides what happens to a 3xx answer.
type Redirects int

const (
	// RefuseRedirects ends the fetch with ErrRedirect (the default).
	RefuseRedirects Redirects = iota
	// SameHostRedirects follows redirects to the same scheme, host and port only.
	SameHostRedirects
)

// Options configure a Fetcher. The zero value is the strict default.
type Options struct {
	// AllowPrivate permits private, loopback, link-local and other non-global addresses, and
	// plain http URLs. Off by default.
	AllowPrivate bool
	// Timeout bounds the whole fetch: dial, TLS, headers and body (default 10 s).
	Timeout time.Duration
	// MaxBytes is the largest body accepted (default 1 MiB).
	MaxBytes int64
	// Redirects is the redirect policy (default RefuseRedirects).
	Redirects Redirects
	// RootCAs verifies server certificates; nil means the system roots.
	RootCAs *x509.CertPool
}

// Fetcher fetches URLs under one set of Options. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client
}

// New returns a Fetcher for opts.
func New(opts Options) *Fetcher {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	f := &Fetcher{opts: opts}
	f.client = &http.Client{
		Transport:     newTransport(opts),
		Timeout:       opts.Timeout,
		CheckRedirect: f.checkRedirect,
	}
	return f
}

// newTransport builds a transport whose every connection passes the address check. Proxy is
// nil on purpose: through an HTTP(S)_PROXY the dialer would only ever see the proxy's address.
func newTransport(opts Options) *http.Transport {
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		// Control runs on every resolved address just before connecting, so DNS answers
		// (and rebinding between lookups) cannot slip a private address past the check.
		dialer.Control = ssrf.New(ssrf.WithAnyPort()).Safe
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
}

// StatusError is the error for a final answer other than 200 OK.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("%s %d", ErrStatus, e.Code) }

// Is makes errors.Is(err, ErrStatus) true.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// Response is a successful fetch (200 OK) or post (2xx).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// URL is the final URL, after any followed redirect.
	URL *url.URL
}

// Get fetches rawURL with accept as the Accept header and returns the body of a 200 answer.
// Errors wrap the Err* values above.
func (f *Fetcher) Get(ctx context.Context, rawURL, accept string) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if err := f.checkScheme(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	if err := inTime(ctx); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: resp.StatusCode}
	}
	body, err := ReadLimited(resp.Body, f.opts.MaxBytes)
	if err == nil {
		err = inTime(ctx)
	}
	if err != nil {
		return nil, classify(err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL}, nil
}

// Post sends form as an application/x-www-form-urlencoded POST to rawURL under the same
// guards as Get (address check, scheme, timeout) and succeeds on a 2xx answer; any other
// status is a StatusError. The status alone decides: a 2xx answer whose body is longer than
// MaxBytes is still a success (the receiver did its part), with the body cut at MaxBytes. A
// 307/308 redirect is never followed, even to the same host, since it would resend the form:
// a POST is refused at a redirect whatever the policy.
func (f *Fetcher) Post(ctx context.Context, rawURL string, form url.Values) (*Response, error) {
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	// What a POST did is told by its status, which a long answer must not hide.
	reply, err := f.send(ctx, http.MethodPost, rawURL, header, []byte(form.Encode()), true)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, &StatusError{Code: reply.Status}
	}
	return &Response{StatusCode: reply.Status, Header: reply.Header, Body: reply.Body}, nil
}

// ReadLimited reads at most limit bytes; a longer stream is ErrTooLarge, returned with its
// first limit bytes (it reads limit+1 to tell "exactly limit" from "more").
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return body[:limit], fmt.Errorf("%w (over %d bytes)", ErrTooLarge, limit)
	}
	return body, nil
}

// checkScheme allows https, and http only where private addresses are allowed (local
// development); a plaintext fetch of a key set or client document over the internet could be
// altered on the way.
func (f *Fetcher) checkScheme(u *url.URL) error {
	switch {
	case u.Host == "":
		return fmt.Errorf("outbound: %w: not an absolute URL", ErrScheme)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && f.opts.AllowPrivate:
		return nil
	}
	return fmt.Errorf("outbound: %w: %q", ErrScheme, u.Scheme)
}

// checkRedirect applies the redirect policy; every hop is dialled through the same guard.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if f.opts.Redirects != SameHostRedirects || via[0].Method != http.MethodGet {
		return fmt.Errorf("%w: redirects are refused", ErrRedirect)
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("%w: to another host", ErrRedirect)
	}
	return nil
}

// inTime fails a fetch whose deadline passed, whatever came back: net/http can hand over an
// answer that raced the cancellation of a timed-out request (with TLS the close_notify reaches
// the server before the socket closes, and the empty 200 its cancelled handler writes can still
// be read). Such an answer says nothing about the resource.
func inTime(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return classify(err)
	}
	return nil
}

// classify maps transport errors onto the package's error values, keeping the cause.
func classify(err error) error {
	switch {
	case errors.Is(err, ssrf.ErrProhibitedIP), errors.Is(err, ssrf.ErrProhibitedNetwork):
		return fmt.Errorf("outbound: %w: %v", ErrForbiddenAddress, err)
	case errors.Is(err, ErrRedirect), errors.Is(err, ErrTooLarge):
		return fmt.Errorf("outbound: %w", err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("outbound: %w: %v", ErrTimeout, err)
	}
	return fmt.Errorf("outbound: %w", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
