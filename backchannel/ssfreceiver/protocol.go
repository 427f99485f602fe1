package ssfreceiver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// The Shared Signals Framework requests the receiver makes: transmitter metadata, stream
// creation, RFC 8936 polls. Each returns an error for anything but the expected answer;
// errStreamGone marks the 404 that makes the receiver create a new stream.

var errStreamGone = errors.New("stream not found")

// transmitterConfig is the part of SSF transmitter metadata the receiver uses.
type transmitterConfig struct {
	Issuer                   string   `json:"issuer"`
	ConfigurationEndpoint    string   `json:"configuration_endpoint"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
}

// streamConfig is the part of a stream configuration the receiver uses.
type streamConfig struct {
	StreamID string `json:"stream_id"`
	Delivery struct {
		Method      string `json:"method"`
		EndpointURL string `json:"endpoint_url"`
	} `json:"delivery"`
}

// pollRequest is an RFC 8936 §2.4 poll body.
type pollRequest struct {
	MaxEvents         int                 `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack"`
	SetErrs           map[string]setError `json:"setErrs,omitempty"`
}

type setError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is an RFC 8936 §2.5 answer.
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// client speaks to one transmitter with one client's credentials.
type client struct {
	issuer string
	authz  string // Basic credentials, precomputed
	// meta fetches metadata and manages streams; poll has a timeout above the long-poll wait.
	meta, poll *outbound.Fetcher
}

func basicAuth(id, secret string) string {
	// RFC 6749 §2.3.1: the form-encoding of each part, then Basic.
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// configurationURL is where the transmitter's metadata lives: the well-known segment goes
// before the issuer's path (SSF 1.0 §7.2.1, as RFC 8414 does).
func configurationURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	return u.Scheme + "://" + u.Host + "/.well-known/ssf-configuration" + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// discover fetches the transmitter metadata and checks it names our issuer and poll delivery.
func (c *client) discover(ctx context.Context) (*transmitterConfig, error) {
	loc, err := configurationURL(c.issuer)
	if err != nil {
		return nil, err
	}
	resp, err := c.meta.Get(ctx, loc, "application/json")
	if err != nil {
		return nil, fmt.Errorf("SSF metadata: %w", err)
	}
	var tc transmitterConfig
	if err := json.Unmarshal(resp.Body, &tc); err != nil {
		return nil, fmt.Errorf("SSF metadata: %w", err)
	}
	switch {
	case tc.Issuer != c.issuer:
		return nil, fmt.Errorf("SSF metadata is for issuer %q", tc.Issuer)
	case tc.ConfigurationEndpoint == "":
		return nil, errors.New("SSF metadata has no configuration_endpoint")
	case !contains(tc.DeliveryMethodsSupported, secevent.DeliveryPoll):
		return nil, errors.New("the transmitter does not offer poll delivery")
	}
	return &tc, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// createStream asks for a poll stream of revocation events.
func (c *client) createStream(ctx context.Context, endpoint, description string) (*streamConfig, error) {
	body, _ := json.Marshal(map[string]any{
		"delivery":         map[string]string{"method": secevent.DeliveryPoll},
		"events_requested": []string{secevent.EventSessionRevoked, secevent.EventTokenRevoked},
		"description":      description,
	})
	reply, err := c.meta.Send(ctx, http.MethodPost, endpoint, c.header(), body)
	if err != nil {
		return nil, fmt.Errorf("creating a stream: %w", err)
	}
	if reply.Status != http.StatusCreated && reply.Status != http.StatusOK {
		return nil, fmt.Errorf("creating a stream: %w", statusError(reply))
	}
	var sc streamConfig
	if err := json.Unmarshal(reply.Body, &sc); err != nil {
		return nil, fmt.Errorf("creating a stream: %w", err)
	}
	if sc.StreamID == "" || sc.Delivery.EndpointURL == "" {
		return nil, errors.New("creating a stream: the answer has no stream_id or endpoint_url")
	}
	return &sc, nil
}

// pollOnce sends one poll and returns the transmitter's answer.
func (c *client) pollOnce(ctx context.Context, endpoint string, req *pollRequest) (*pollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := c.poll.Send(ctx, http.MethodPost, endpoint, c.header(), body)
	if err != nil {
		return nil, fmt.Errorf("poll: %w", err)
	}
	switch reply.Status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, errStreamGone
	default:
		return nil, fmt.Errorf("poll: %w", statusError(reply))
	}
	var pr pollResponse
	if err := json.Unmarshal(reply.Body, &pr); err != nil {
		return nil, fmt.Errorf("poll: %w", err)
	}
	return &pr, nil
}

// deleteStream deletes a stream (SSF 1.0 §8.1.1.5).
func (c *client) deleteStream(ctx context.Context, endpoint, id string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("stream_id", id)
	u.RawQuery = q.Encode()
	reply, err := c.meta.Send(ctx, http.MethodDelete, u.String(), c.header(), nil)
	if err != nil {
		return err
	}
	if reply.Status != http.StatusNoContent && reply.Status != http.StatusOK && reply.Status != http.StatusNotFound {
		return statusError(reply)
	}
	return nil
}

func (c *client) header() http.Header {
	return http.Header{
		"Authorization": {c.authz},
		"Content-Type":  {"application/json"},
		"Accept":        {"application/json"},
	}
}

// statusError describes an unexpected answer by its status and OAuth error code only: the
// description may quote anything.
func statusError(reply *outbound.Reply) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(reply.Body, &e)
	if e.Error != "" && len(e.Error) < 64 {
		return fmt.Errorf("status %d (%s)", reply.Status, e.Error)
	}
	return fmt.Errorf("status %d", reply.Status)
}
