package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/device"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// The device authorization grant (RFC 8628): package device owns the codes and their states;
// this file gives it the server's rules (deviceCore), serves the verification page, where the
// user's sign-in and consent run through the same interaction as the code flow, and redeems
// approved device codes at the token endpoint.

const (
	// pathDeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1).
	pathDeviceAuthorization = "/device_authorization"
	// pathDevice is the verification page where users enter their code (verification_uri).
	pathDevice = "/device"
)

// DeviceConfig configures the device authorization grant. It is on unless Disabled: only
// clients given the device code grant can use it.
type DeviceConfig struct {
	Disabled bool
	device.Config
	// VerificationURI replaces the verification page's URL in responses, e.g. a short URL
	// that redirects to it (verification_uri; default issuer + /device).
	VerificationURI string

	codes device.UserCodeFormat
}

// withDefaults fills in and checks the grant's settings.
func (c *DeviceConfig) withDefaults() error {
	if c.Disabled {
		return nil
	}
	var err error
	if c.codes, err = device.NewUserCodeFormat(c.UserCodeCharset, c.UserCodeMask); err != nil {
		return fmt.Errorf("device_authorization: %w", err)
	}
	if c.TTL == 0 {
		c.TTL = device.DefaultTTL
	}
	if c.Interval == 0 {
		c.Interval = device.DefaultInterval
	}
	switch {
	case c.TTL < device.MinTTL || c.TTL > device.MaxTTL:
		return fmt.Errorf("device_authorization ttl %s: want between %s and %s", c.TTL, device.MinTTL, device.MaxTTL)
	case c.Interval < time.Second || c.Interval > time.Minute || c.Interval%time.Second != 0:
		return fmt.Errorf("device_authorization interval %s: want whole seconds between 1s and 1m", c.Interval)
	}
	if c.VerificationURI != "" {
		if u, err := url.Parse(c.VerificationURI); err != nil || !u.IsAbs() || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("device_authorization verification_uri %q: want an absolute URL without query or fragment", c.VerificationURI)
		}
	}
	return nil
}

// deviceMetadata is the grant's discovery field (RFC 8628 §4).
type deviceMetadata struct {
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
}

func (s *Server) deviceDiscovery() deviceMetadata {
	if s.devices == nil {
		return deviceMetadata{}
	}
	return deviceMetadata{DeviceAuthorizationEndpoint: s.endpoint(pathDeviceAuthorization)}
}

// newDevices builds the grant's endpoint, or nil when the grant is off.
func (s *Server) newDevices() *device.Endpoint {
	c := s.cfg.DeviceAuthorization
	if c.Disabled {
		return nil
	}
	verification := c.VerificationURI
	if verification == "" {
		verification = s.endpoint(pathDevice)
	}
	return &device.Endpoint{Core: deviceCore{s}, Store: s.st, Codes: c.codes, TTL: c.TTL, Interval: c.Interval,
		VerificationURI: verification, Now: s.now, Log: s.log.Named("device"), Unavailable: s.unavailable}
}

// newDeviceLimiter throttles wrong user codes like wrong passwords, but apart from sign-ins:
// all guesses count against one key, so guessing from many networks slows everyone's
// guesses down while each network is also held to its own limit.
func (s *Server) newDeviceLimiter() (*account.Limiter, error) {
	if s.deps.DeviceCodeLimiter != nil {
		return s.deps.DeviceCodeLimiter, nil
	}
	limits, err := s.cfg.LoginLimiterConfig()
	if err != nil {
		return nil, err
	}
	limits.Clock = serverClock{s}
	return account.NewLimiter(limits), nil
}

// userCodeGuesses is the one key every user-code attempt counts against (see newDeviceLimiter).
const userCodeGuesses = "device user code"

func (s *Server) deviceRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.devices == nil {
		return
	}
	routes[base+pathDeviceAuthorization] = corsMethods("POST", s.devices.ServeHTTP)
	routes[base+pathDevice] = s.handleDevicePage
}

// deviceCodeGrant redeems an approved device code (RFC 8628 §3.4, §3.5). Like the code grant,
// it checks everything else before it spends anything: a request refused for its DPoP proof
// leaves the approval to the client's next poll.
func (s *Server) deviceCodeGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	code := formValue(r.PostForm, "device_code")
	if _, err := s.devices.Poll(ctx, client, code); err != nil {
		return nil, err
	}
	proof, err := s.tokenProof(r, client.DPoPBoundAccessTokens)
	if err != nil {
		return nil, err
	}
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	d, err := s.devices.Redeem(ctx, code)
	if err != nil {
		return nil, err
	}
	acc, err := s.accounts.Account(ctx, d.Subject)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
		return nil, oautherr.New(oautherr.InvalidGrant, "the account that approved the device is no longer active")
	} else if err != nil {
		return nil, err
	}
	jkt := proofJKT(proof)
	now := s.now()
	// No SessionID: the user signed in on another device only to approve this one, and
	// signing out there does not sign the device out.
	g := &store.Grant{ID: newJTI(), ClientID: client.ID, Subject: d.Subject, Scopes: d.Scopes, Resources: d.Resources,
		AuthTime: d.AuthTime, AMR: d.AMR, ACR: d.ACR, CreatedAt: now, ExpiresAt: now.Add(s.grantTTL(ctx, d.Resources))}
	if client.TokenEndpointAuthMethod == "none" {
		g.JKT = jkt // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key
		g.X5TS256 = s.tokenCertBinding(r, client)
	}
	if err := s.st.CreateGrant(ctx, g); err != nil {
		return nil, err
	}
	resp, refresh, err := s.issueUserTokens(ctx, r, client, g, acc, g.Scopes, "", jkt)
	if err != nil {
		return nil, err
	}
	if refresh != nil {
		if err := s.st.CreateRefreshToken(ctx, refresh); err != nil {
			return nil, err
		}
	}
	s.log.Info("device authorized", zap.String("client_id", client.ID), zap.String("grant", g.ID))
	return resp, nil
}

// deviceCore is the authorization server as package device sees it.
type deviceCore struct{ s *Server }

func (c deviceCore) ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if err := parsePostForm(w, r); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

func (c deviceCore) AuthenticateClient(r *http.Request) (*store.Client, error) {
	return c.s.authenticateClient(r, pathDeviceAuthorization)
}

func (c deviceCore) Authorize(ctx context.Context, client *store.Client, params url.Values) ([]string, []string, error) {
	return c.s.requestedAccess(ctx, client, params)
}

// requestedAccess checks the scope and resource parameters of a request made without a
// browser (device authorization, CIBA) as the authorization endpoint checks them: the client's
// allowed scopes, RFC 8707 resources (or the default resource), and resource scopes.
func (s *Server) requestedAccess(ctx context.Context, client *store.Client, params url.Values) ([]string, []string, error) {
	scopes, ok := parseScope(formValue(params, "scope"))
	if !ok {
		return nil, nil, oautherr.New(oautherr.InvalidScope, "scope is malformed")
	}
	for _, sc := range scopes {
		if !allowedBy(client.Scopes, sc) {
			return nil, nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the client may not request")
		}
	}
	req := &authRequest{ClientID: client.ID, Scopes: dropUnusableOffline(client, scopes)}
	if e := s.checkAuthResources(ctx, client, params["resource"], req); e != nil {
		return nil, nil, e
	}
	return req.Scopes, req.Resources, nil
}

// deviceInteraction marks an interaction that approves a device rather than issuing a code.
type deviceInteraction struct {
	// UserCodeHash names the device authorization; UserCode is shown on the consent page, so
	// the user can check it against the device's screen (RFC 8628 §5.4).
	UserCodeHash string `json:"user_code_hash"`
	UserCode     string `json:"user_code"`
}

// handleDevicePage is the verification page: GET shows the code form (prefilled from
// verification_uri_complete, but always submitted by the user), POST looks the code up and
// starts the sign-in and consent for it.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.renderDevice(w, r, http.StatusOK, r.URL.Query().Get("user_code"), "")
	case http.MethodPost:
		s.submitUserCode(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// Messages of the device page: catalog keys (authserver/ui/locales).
const (
	msgBadUserCode       = "device.error.bad_code"
	msgUserCodeThrottled = "device.error.throttled"
	msgDeviceCSRF        = "device.error.csrf"
)

func (s *Server) submitUserCode(w http.ResponseWriter, r *http.Request) {
	if err := parsePostForm(w, r); err != nil {
		e := oautherr.As(err)
		s.showError(w, r, e.Status, "", e, "", ui.Back{})
		return
	}
	typed := r.PostForm.Get("user_code")
	if !s.checkCSRF(r, r.PostForm, "device") {
		s.renderDevice(w, r, http.StatusForbidden, typed, msgDeviceCSRF)
		return
	}
	ip := s.clientIP(r)
	attempt, wait := s.deviceLimiter.Begin(userCodeGuesses, ip)
	if attempt == nil {
		s.log.Warn("user code entry throttled", zap.String("remote_ip", ip), zap.Duration("retry_after", wait))
		w.Header().Set("Retry-After", fmt.Sprint(max(1, int((wait+time.Second-1)/time.Second))))
		s.renderDevice(w, r, http.StatusTooManyRequests, typed, msgUserCodeThrottled, "wait", wait)
		return
	}
	codes := s.cfg.DeviceAuthorization.codes
	normalized, ok := codes.Normalize(typed)
	if !ok {
		// Not a code of our format: a typo, not a guess; it reaches no lookup.
		attempt.Succeeded()
		s.renderDevice(w, r, http.StatusBadRequest, typed, msgBadUserCode)
		return
	}
	hash := device.Hash(normalized)
	d, err := s.st.GetDeviceAuthorizationByUserCode(r.Context(), hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		attempt.Failed()
		s.log.Info("unknown user code entered", zap.String("remote_ip", ip))
		s.renderDevice(w, r, http.StatusBadRequest, typed, msgBadUserCode)
		return
	} else if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err)})
		return
	}
	attempt.Succeeded()
	client, err := s.lookups.GetClient(r.Context(), d.ClientID)
	if err != nil || client.Disabled {
		s.renderDevice(w, r, http.StatusBadRequest, typed, msgBadUserCode)
		return
	}
	// The user always sees the consent page: a code can be typed in on someone's behalf (or
	// a verification_uri_complete link sent to them), and only they can tell that the
	// device in front of them is the one asking (RFC 8628 §5.4).
	req := &authRequest{ClientID: client.ID, Scopes: d.Scopes, Resources: d.Resources, Prompt: []string{"consent"}}
	exp := s.now().Add(s.cfg.InteractionTTL)
	if d.ExpiresAt.Before(exp) {
		exp = d.ExpiresAt // the interaction cannot outlive the code it approves
	}
	in := &interaction{ID: newJTI(), Req: req, Exp: exp.Unix(),
		Device: &deviceInteraction{UserCodeHash: hash, UserCode: codes.Display(normalized)}}
	s.proceed(w, r, client, in, false)
}

// finishDevice records the user's decision on the device and tells them the outcome. A nil
// session means the user declined.
func (s *Server) finishDevice(w http.ResponseWriter, r *http.Request, in *interaction, sess *userSession) {
	dec := store.DeviceDecision{}
	if sess != nil {
		dec = store.DeviceDecision{Approved: true, Subject: sess.Subject, AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: s.acrForSession(in.Req, sess.AMR)}
	}
	_, err := s.st.DecideDeviceAuthorization(r.Context(), in.Device.UserCodeHash, dec, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.renderDeviceResult(w, r, http.StatusBadRequest, ui.DeviceResultPage{Outcome: ui.DeviceExpired})
	case err != nil:
		s.authFail(w, r, &authError{err: oautherr.Server(err)})
	case dec.Approved:
		s.log.Info("device approved", zap.String("client_id", in.Req.ClientID), zap.String("sub", sess.Subject))
		s.renderDeviceResult(w, r, http.StatusOK, ui.DeviceResultPage{Outcome: ui.DeviceApproved})
	default:
		s.log.Info("device denied", zap.String("client_id", in.Req.ClientID))
		s.renderDeviceResult(w, r, http.StatusOK, ui.DeviceResultPage{Outcome: ui.DeviceDenied})
	}
}

// decline ends an interaction the user cancelled: a device learns access_denied when it
// polls; a code-flow client gets the error at its redirect URI.
func (s *Server) decline(w http.ResponseWriter, r *http.Request, in *interaction, why string) {
	if in.Device != nil {
		s.finishDevice(w, r, in, nil)
		return
	}
	if in.CIBA != nil {
		s.finishCIBA(w, r, in, nil)
		return
	}
	s.authFail(w, r, &authError{err: oautherr.New(oautherr.AccessDenied, why), to: in.Req.target()})
}

// renderDevice shows the device page; message is a catalog key with its arguments, as for
// renderLogin.
func (s *Server) renderDevice(w http.ResponseWriter, r *http.Request, status int, userCode, message string, args ...any) {
	pages, loc := s.pages(r, "")
	page := ui.DevicePage{
		Page:     ui.Page{Action: s.endpoint(pathDevice), CSRFToken: s.csrfToken(w, r, "device")},
		UserCode: userCode,
		Error:    localize(loc, message, args...),
	}
	s.logRender(pages.Device(w, status, page))
}

func (s *Server) renderDeviceResult(w http.ResponseWriter, r *http.Request, status int, page ui.DeviceResultPage) {
	pages, _ := s.pages(r, "")
	s.logRender(pages.DeviceResult(w, status, page))
}
