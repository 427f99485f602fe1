package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Reply is the answer to Send, whatever its status: protocols such as the Shared Signals
// Framework give 201, 204, 401 and 404 answers a meaning the caller acts on.
type Reply struct {
	Status int
	Header http.Header
	// Body is at most MaxBytes long: ErrTooLarge otherwise, except for Post, which returns the
	// answer with the body cut and Truncated set.
	Body      []byte
	Truncated bool
}

// Send makes one request (any method, an optional body with its content type, extra headers
// such as Authorization) under the Fetcher's guard, timeout, size limit and redirect policy,
// and returns the answer of any status. ctx may shorten the Fetcher's timeout, never lengthen it.
func (f *Fetcher) Send(ctx context.Context, method, rawURL string, header http.Header, body []byte) (*Reply, error) {
	return f.send(ctx, method, rawURL, header, body, false)
}

// send is Send; with cutLong, an answer longer than MaxBytes is returned cut (Truncated)
// instead of failing with ErrTooLarge.
func (f *Fetcher) send(ctx context.Context, method, rawURL string, header http.Header, body []byte, cutLong bool) (*Reply, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if err := f.checkScheme(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	data, err := ReadLimited(resp.Body, f.opts.MaxBytes)
	if late := inTime(ctx); late != nil {
		return nil, late
	}
	if errors.Is(err, ErrTooLarge) && cutLong {
		return &Reply{Status: resp.StatusCode, Header: resp.Header, Body: data, Truncated: true}, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	return &Reply{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}
