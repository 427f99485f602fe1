// Package remote reaches an authorization server that is not served by this process: RFC 8414
// / OpenID Connect discovery, a JWKS cache and an RFC 7662 introspection client. Everything
// fails closed: an unreachable server never makes a token valid, it only keeps serving what
// was already known to be good.
//
// These fetches do not go through package outbound's address guard, on purpose: every URL
// here is the configured issuer's or comes from its own metadata, chosen by the operator, not
// by a client; that server is often on a private network (a sidecar, the same cluster); and the
// gateway already trusts it with every access decision, so reaching it is no escalation. They
// keep their own timeouts and size limits (getJSON, readBody), and the environment's proxy.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultClient is used when the caller passes no *http.Client. Its timeout is a backstop;
// each request also carries its own deadline.
var defaultClient = &http.Client{Timeout: 30 * time.Second}

func clientOr(c *http.Client) *http.Client {
	if c == nil {
		return defaultClient
	}
	return c
}

// errTooLarge marks a response body over its limit.
var errTooLarge = errors.New("response body too large")

// readBody reads at most limit bytes of a 200 JSON response; any other status, a non-JSON
// media type or a longer body is an error. The caller closes resp.Body.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("content type %q is not JSON", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w (over %d bytes)", errTooLarge, limit)
	}
	return body, nil
}

// getJSON fetches uri with a deadline and returns the body of a 200 JSON answer and its
// headers.
func getJSON(ctx context.Context, client *http.Client, uri, accept string, limit int64, timeout time.Duration) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := clientOr(client).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	return body, resp.Header, nil
}

// isJSON accepts application/json and any +json media type (application/jwk-set+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// checkHTTPURL requires an absolute http(s) URL without a fragment.
func checkHTTPURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%s %q: want an absolute http(s) URL without userinfo or fragment", what, raw)
	}
	return u, nil
}
