// Package ciba is OpenID Client-Initiated Backchannel Authentication (CIBA Core 1.0): a
// client (a call centre, a point of sale, a bank's back office) asks for a user's approval
// without a browser of its own; the user approves on another device; the client then polls
// for its tokens (poll mode), is told to fetch them (ping mode), or receives them (push mode).
//
// The package owns the backchannel authentication endpoint, the request's lifecycle and the
// delivery of ping and push notifications. Client authentication, finding the user, the
// approval itself and minting tokens are the server's (Core and the caller).
package ciba

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// GrantType is the CIBA grant's grant_type (CIBA Core §10.1).
const GrantType = "urn:openid:params:grant-type:ciba"

// Token delivery modes (CIBA Core §5).
const (
	ModePoll = "poll"
	ModePing = "ping"
	ModePush = "push"
)

// Modes lists every delivery mode.
var Modes = []string{ModePoll, ModePing, ModePush}

// CIBA's own error codes (CIBA Core §13, §11).
const (
	UnknownUserID          = "unknown_user_id"
	InvalidBindingMessage  = "invalid_binding_message"
	ExpiredLoginHintToken  = "expired_login_hint_token"
	MaxBindingMessageChars = 100
)

// Defaults and bounds.
const (
	DefaultExpiry    = 5 * time.Minute
	DefaultMaxExpiry = 30 * time.Minute
	DefaultInterval  = 5 * time.Second
	slowDownStep     = 5 * time.Second
	pollJitter       = 500 * time.Millisecond
	maxAuthReqIDLen  = 256
	maxTokenLen      = 1024 // client_notification_token (CIBA §7.1: at most 1024 characters)
)

// Config tunes the grant.
type Config struct {
	// DeliveryModes are the modes clients may register (default: all three).
	DeliveryModes []string
	// Expiry is a request's lifetime when the client asks for none (expires_in); MaxExpiry
	// bounds requested_expiry.
	Expiry    time.Duration
	MaxExpiry time.Duration
	// Interval is the polling interval a client starts with.
	Interval time.Duration
}

// WithDefaults fills in and checks c.
func (c Config) WithDefaults() (Config, error) {
	if len(c.DeliveryModes) == 0 {
		c.DeliveryModes = slices.Clone(Modes)
	}
	for _, m := range c.DeliveryModes {
		if !slices.Contains(Modes, m) {
			return c, fmt.Errorf("ciba delivery_modes: %q is not poll, ping or push", m)
		}
	}
	if c.Expiry == 0 {
		c.Expiry = DefaultExpiry
	}
	if c.MaxExpiry == 0 {
		c.MaxExpiry = max(DefaultMaxExpiry, c.Expiry)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	switch {
	case c.Expiry < 10*time.Second || c.Expiry > c.MaxExpiry:
		return c, fmt.Errorf("ciba expiry %s: want at least 10s and at most max_expiry (%s)", c.Expiry, c.MaxExpiry)
	case c.MaxExpiry > 24*time.Hour:
		return c, fmt.Errorf("ciba max_expiry %s: want at most 24h", c.MaxExpiry)
	case c.Interval < time.Second || c.Interval > time.Minute || c.Interval%time.Second != 0:
		return c, fmt.Errorf("ciba interval %s: want whole seconds between 1s and 1m", c.Interval)
	}
	return c, nil
}

// Request is an accepted authentication request, before it is stored.
type Request struct {
	Subject        string
	Scopes         []string
	Resources      []string
	ACRValues      []string
	BindingMessage string
}

// Core is what the endpoint needs from the authorization server.
type Core interface {
	ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error)
	AuthenticateClient(r *http.Request) (*store.Client, error)
	// Resolve checks the request's scope and resource and finds the user its hint names
	// (unknown_user_id when there is none); it returns the request to store.
	Resolve(ctx context.Context, client *store.Client, params url.Values) (*Request, error)
	// Mode is the client's registered delivery mode and, for ping and push, its endpoint.
	Mode(client *store.Client) (mode, endpoint string)
	Seal(plain []byte) ([]byte, error)
	// Started is told of a new request (e.g. to notify the user).
	Started(ctx context.Context, client *store.Client, r *store.CIBARequest)
}

// Notification is what a ping or push client is sent back, sealed in the request's row.
type Notification struct {
	AuthReqID string `json:"auth_req_id"`
	Token     string `json:"token"`
}

// Endpoint serves the backchannel authentication endpoint and follows requests.
type Endpoint struct {
	Core Core
	// Unavailable tells the database failing from a bug: such failures answer 503
	// temporarily_unavailable (oautherr.Classify); nil means never.
	Unavailable func(error) bool
	Store       store.CIBARequestStore
	Cfg         Config
	Now         func() time.Time
	Log         *zap.Logger
}

type response struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int64  `json:"expires_in"`
	Interval  int64  `json:"interval,omitempty"`
}

// ServeHTTP answers a backchannel authentication request (CIBA Core §7).
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := e.start(w, r)
	if err != nil {
		oe := oautherr.Classify(err, e.Unavailable)
		if oe.Status >= http.StatusInternalServerError {
			e.Log.Error("backchannel authentication failed", zap.Error(err))
		}
		oautherr.Write(w, oe)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func (e *Endpoint) start(w http.ResponseWriter, r *http.Request) (*response, error) {
	params, err := e.Core.ReadForm(w, r)
	if err != nil {
		return nil, err
	}
	client, err := e.Core.AuthenticateClient(r)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, GrantType) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client is not allowed to use CIBA")
	}
	mode, _ := e.Core.Mode(client)
	if !slices.Contains(e.Cfg.DeliveryModes, mode) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client's token delivery mode is not enabled on this server")
	}
	if params.Has("request") {
		return nil, oautherr.Request("signed authentication requests are not supported")
	}
	if err := checkBindingMessage(params.Get("binding_message")); err != nil {
		return nil, err
	}
	expiry, err := e.expiry(params.Get("requested_expiry"))
	if err != nil {
		return nil, err
	}
	notification := params.Get("client_notification_token")
	if mode != ModePoll && (notification == "" || len(notification) > maxTokenLen) {
		return nil, oautherr.Request("client_notification_token is required (at most 1024 characters) for ping and push clients")
	}
	req, err := e.Core.Resolve(r.Context(), client, params)
	if err != nil {
		return nil, err
	}
	authReqID := newSecret()
	now := e.Now()
	row := &store.CIBARequest{ID: newSecret()[:22], AuthReqHash: Hash(authReqID), ClientID: client.ID, Subject: req.Subject,
		Scopes: req.Scopes, Resources: req.Resources, ACRValues: req.ACRValues, BindingMessage: req.BindingMessage,
		Mode: mode, Status: store.DevicePending, Interval: e.Cfg.Interval, ExpiresAt: now.Add(expiry), CreatedAt: now}
	if mode != ModePoll {
		plain, _ := json.Marshal(Notification{AuthReqID: authReqID, Token: notification})
		if row.NotificationToken, err = e.Core.Seal(plain); err != nil {
			return nil, oautherr.Server(err)
		}
	}
	if err := e.Store.CreateCIBARequest(r.Context(), row); err != nil {
		return nil, oautherr.Server(err)
	}
	e.Log.Info("backchannel authentication requested", zap.String("client_id", client.ID), zap.String("request", row.ID), zap.String("mode", mode))
	e.Core.Started(r.Context(), client, row)
	resp := &response{AuthReqID: authReqID, ExpiresIn: int64(expiry / time.Second)}
	if mode != ModePush {
		resp.Interval = int64(e.Cfg.Interval / time.Second)
	}
	return resp, nil
}

// expiry reads requested_expiry (seconds, CIBA Core §7.1).
func (e *Endpoint) expiry(v string) (time.Duration, error) {
	if v == "" {
		return e.Cfg.Expiry, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, oautherr.Request("requested_expiry must be a positive integer (seconds)")
	}
	if d := time.Duration(n) * time.Second; d <= e.Cfg.MaxExpiry {
		return d, nil
	}
	return 0, oautherr.Request("requested_expiry is longer than this server allows")
}

// checkBindingMessage: short plain text, shown on the device the user approves on and on
// the client's (CIBA Core §7.1).
func checkBindingMessage(m string) error {
	if m == "" {
		return nil
	}
	if !utf8.ValidString(m) || utf8.RuneCountInString(m) > MaxBindingMessageChars {
		return oautherr.New(InvalidBindingMessage, "binding_message must be plain text of at most 100 characters")
	}
	for _, r := range m {
		if unicode.IsControl(r) {
			return oautherr.New(InvalidBindingMessage, "binding_message must be plain text of at most 100 characters")
		}
	}
	return nil
}

var badAuthReqID = oautherr.New(oautherr.InvalidGrant, "auth_req_id is invalid or was already used")

// Poll answers a token request with auth_req_id (CIBA Core §11): the approved request, or
// authorization_pending, slow_down, access_denied, expired_token, invalid_grant. Push clients
// never poll (their tokens come to them).
func (e *Endpoint) Poll(ctx context.Context, client *store.Client, authReqID string) (*store.CIBARequest, error) {
	if authReqID == "" {
		return nil, oautherr.Request("auth_req_id is required")
	}
	if mode, _ := e.Core.Mode(client); mode == ModePush {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "a push mode client receives its tokens at its notification endpoint")
	}
	if len(authReqID) > maxAuthReqIDLen {
		return nil, badAuthReqID
	}
	now := e.Now()
	r, tooFast, err := e.Store.PollCIBARequest(ctx, Hash(authReqID), now, pollJitter, slowDownStep)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badAuthReqID
	} else if err != nil {
		return nil, oautherr.Server(err)
	}
	switch {
	case r.ClientID != client.ID:
		return nil, badAuthReqID
	case !now.Before(r.ExpiresAt):
		return nil, oautherr.New(oautherr.ExpiredToken, "the authentication request has expired")
	case r.Status == store.DeviceDenied:
		return nil, oautherr.New(oautherr.AccessDenied, "the user denied the authentication request")
	case r.Status == store.DeviceApproved:
		return r, nil
	case tooFast:
		return nil, oautherr.New(oautherr.SlowDown, "polling too fast: wait the interval, now 5 seconds longer")
	}
	return nil, oautherr.New(oautherr.AuthorizationPending, "the user has not yet answered the authentication request")
}

// Redeem spends an approved request once.
func (e *Endpoint) Redeem(ctx context.Context, authReqID string) (*store.CIBARequest, error) {
	r, err := e.Store.ConsumeCIBARequest(ctx, Hash(authReqID), e.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, badAuthReqID
	} else if err != nil {
		return nil, oautherr.Server(err)
	}
	return r, nil
}

// Hash is how auth_req_ids are stored.
func Hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
