// Package device is the OAuth 2.0 device authorization grant (RFC 8628): the device
// authorization endpoint, the user codes, and the state machine a device code goes through
// while the device polls the token endpoint.
//
// The package owns the device and user codes' lifecycle. What is the authorization server's
// own rule — client authentication, which scopes and resources a client may ask for, the
// verification page with its sign-in and consent, and issuing tokens — it asks of its Core or
// leaves to it.
package device

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// GrantType is the device code grant's grant_type (RFC 8628 §3.4).
const GrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Defaults and bounds (RFC 8628 §3.2: expires_in and interval are the server's choice).
const (
	DefaultTTL      = 10 * time.Minute
	DefaultInterval = 5 * time.Second
	MaxTTL          = time.Hour
	// MinTTL leaves a person time to type a code; anything shorter only serves tests.
	MinTTL = 10 * time.Second
	// SlowDownStep is how much the interval grows at each slow_down (§3.5: 5 seconds).
	SlowDownStep = 5 * time.Second
	// pollJitter forgives a poll that arrives a little early: network delays shift a client's
	// timer by a few hundred milliseconds, and that is not polling too fast.
	pollJitter = 500 * time.Millisecond
	// maxDeviceCodeLen bounds a presented device code before it is hashed.
	maxDeviceCodeLen = 256
	// createAttempts bounds the retries when a new user code collides with a stored one.
	createAttempts = 5
)

// Core is what the endpoint needs from the authorization server.
type Core interface {
	// ReadForm checks that r is a POST with a form body, as at the token endpoint, and
	// returns the form.
	ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error)
	// AuthenticateClient authenticates the caller with the token endpoint's methods (public
	// clients send their client_id).
	AuthenticateClient(r *http.Request) (*store.Client, error)
	// Authorize checks the request's scope and resource parameters for client, as the
	// authorization endpoint would, and returns what the user will be asked to grant.
	Authorize(ctx context.Context, client *store.Client, params url.Values) (scopes, resources []string, err error)
}

// Config is the grant's configuration.
type Config struct {
	// TTL is how long the codes are valid (expires_in; default 10 minutes, at most an hour).
	TTL time.Duration
	// Interval is the polling interval a device starts with (default 5 s).
	Interval time.Duration
	// UserCodeCharset and UserCodeMask shape user codes (NewUserCodeFormat).
	UserCodeCharset string
	UserCodeMask    string
}

// Endpoint serves the device authorization endpoint and follows device codes until redeemed.
type Endpoint struct {
	Core Core
	// Unavailable tells the database failing from a bug: such failures answer 503
	// temporarily_unavailable (oautherr.Classify); nil means never.
	Unavailable func(error) bool
	Store       store.DeviceAuthorizationStore
	Codes       UserCodeFormat
	TTL         time.Duration
	// Interval is the polling interval a device starts with.
	Interval time.Duration
	// VerificationURI is the page where users enter their code.
	VerificationURI string
	Now             func() time.Time
	Log             *zap.Logger
}

// response is the device authorization response (RFC 8628 §3.2).
type response struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// ServeHTTP answers a device authorization request: 200 with the codes, or a JSON error.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := e.authorize(w, r)
	if err != nil {
		oe := oautherr.Classify(err, e.Unavailable)
		if oe.Status >= http.StatusInternalServerError {
			e.Log.Error("device authorization failed", zap.Error(err))
		}
		oautherr.Write(w, oe)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func (e *Endpoint) authorize(w http.ResponseWriter, r *http.Request) (*response, error) {
	params, err := e.Core.ReadForm(w, r)
	if err != nil {
		return nil, err
	}
	client, err := e.Core.AuthenticateClient(r)
	if err != nil {
		return nil, err
	}
	if !hasGrant(client, GrantType) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client is not allowed to use the device authorization grant")
	}
	scopes, resources, err := e.Core.Authorize(r.Context(), client, params)
	if err != nil {
		return nil, err
	}
	deviceCode := newSecret()
	now := e.Now()
	d := &store.DeviceAuthorization{
		DeviceCodeHash: Hash(deviceCode),
		ClientID:       client.ID,
		Scopes:         scopes,
		Resources:      resources,
		Status:         store.DevicePending,
		Interval:       e.Interval,
		ExpiresAt:      now.Add(e.TTL),
		CreatedAt:      now,
	}
	var display string
	for range createAttempts {
		var normalized string
		display, normalized = e.Codes.New()
		d.UserCodeHash = Hash(normalized)
		err = e.Store.CreateDeviceAuthorization(r.Context(), d)
		if !errors.Is(err, store.ErrConflict) {
			break // a collision with a live user code is rare: draw again
		}
	}
	if err != nil {
		return nil, oautherr.Server(err)
	}
	e.Log.Debug("device authorization started", zap.String("client_id", client.ID))
	return &response{
		DeviceCode:              deviceCode,
		UserCode:                display,
		VerificationURI:         e.VerificationURI,
		VerificationURIComplete: e.VerificationURI + "?" + url.Values{"user_code": {display}}.Encode(),
		ExpiresIn:               int64(e.TTL / time.Second),
		Interval:                int64(e.Interval / time.Second),
	}, nil
}

// badDeviceCode is the one answer for a device code that is unknown, already redeemed or
// another client's, so a caller learns nothing about codes that are not its own.
var badDeviceCode = oautherr.New(oautherr.InvalidGrant, "the device code is invalid or was already used")

// Poll records a poll of deviceCode by client and returns its authorization when the user
// approved it. Every other state is the RFC 8628 §3.5 error: authorization_pending,
// slow_down, access_denied, expired_token, or invalid_grant. The approval is not spent yet:
// the caller checks the rest of the token request, then calls Redeem.
func (e *Endpoint) Poll(ctx context.Context, client *store.Client, deviceCode string) (*store.DeviceAuthorization, error) {
	if deviceCode == "" {
		return nil, oautherr.Request("device_code is required")
	}
	if len(deviceCode) > maxDeviceCodeLen {
		return nil, badDeviceCode
	}
	now := e.Now()
	d, tooFast, err := e.Store.PollDeviceAuthorization(ctx, Hash(deviceCode), now, pollJitter, SlowDownStep)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badDeviceCode
	} else if err != nil {
		return nil, oautherr.Server(err)
	}
	switch {
	case d.ClientID != client.ID:
		return nil, badDeviceCode
	case !now.Before(d.ExpiresAt):
		return nil, oautherr.New(oautherr.ExpiredToken, "the device code has expired: start a new device authorization")
	case d.Status == store.DeviceDenied:
		return nil, oautherr.New(oautherr.AccessDenied, "the user denied the authorization request")
	case d.Status == store.DeviceApproved:
		return d, nil
	case tooFast:
		return nil, oautherr.New(oautherr.SlowDown, "polling too fast: wait the interval, now 5 seconds longer, between requests")
	default:
		return nil, oautherr.New(oautherr.AuthorizationPending, "the user has not yet completed the authorization")
	}
}

// Redeem spends an approved device code, once: of concurrent redemptions exactly one gets
// the authorization, the others invalid_grant.
func (e *Endpoint) Redeem(ctx context.Context, deviceCode string) (*store.DeviceAuthorization, error) {
	d, err := e.Store.ConsumeDeviceAuthorization(ctx, Hash(deviceCode), e.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, badDeviceCode
	} else if err != nil {
		return nil, oautherr.Server(err)
	}
	return d, nil
}

// Hash is how device and user codes are stored and looked up.
func Hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSecret returns 256 random bits, base64url: a device code cannot be guessed.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hasGrant(c *store.Client, grant string) bool {
	for _, g := range c.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}
