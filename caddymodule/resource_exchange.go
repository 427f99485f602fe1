package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/outbound"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// ResourceExchange makes oauth_resource trade each incoming token for one of the upstream's
// own (RFC 8693 token exchange), down-scoped and for the upstream's audience, so the upstream
// never sees the edge token. In-process when the issuer is served by this Caddy, else at its
// token endpoint with the client credentials. Exchanged tokens are cached per (token, target)
// until shortly before they expire.
type ResourceExchange struct {
	// Resource is the upstream's resource identifier: the audience of the exchanged token.
	Resource string `json:"resource"`
	// Scopes are requested for the exchanged token (default: the incoming token's that the
	// upstream accepts).
	Scopes []string `json:"scopes,omitempty"`
	// ClientID is the gateway's client at the authorization server, whose token exchange
	// rules apply; ClientSecret authenticates it at a remote issuer (placeholders resolved).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// exchangeMargin is how long before its expiry a cached exchanged token is replaced, so an
// upstream never receives one that expires in flight.
const exchangeMargin = 5 * time.Second

// parseResourceExchange reads
//
//	exchange {
//	    resource <identifier>
//	    scopes <scope>...
//	    client_id <client_id>
//	    client_secret <secret>
//	}
func parseResourceExchange(d *caddyfile.Dispenser) (*ResourceExchange, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	x := &ResourceExchange{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "resource":
			x.Resource, err = oneArg(d)
		case "scopes":
			x.Scopes, err = scopeArgs(d)
		case "client_id":
			x.ClientID, err = oneArg(d)
		case "client_secret":
			x.ClientSecret, err = oneArg(d)
		default:
			return nil, d.Errf("unknown exchange subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *ResourceExchange) validate() error {
	if x == nil {
		return nil
	}
	if err := checkAbsoluteURI("exchange resource", x.Resource); err != nil {
		return err
	}
	if x.ClientID == "" {
		return errors.New("exchange: client_id is required (the gateway's client, whose token exchange rules apply)")
	}
	return nil
}

// exchanger trades a validated incoming token for the upstream's.
type exchanger interface {
	exchange(ctx context.Context, token string) (string, time.Time, error)
}

// exchangeCache wraps an exchanger with a cache keyed by the incoming token's digest.
type exchangeCache struct {
	next  exchanger
	cache *ristretto.Cache[string, exchanged]
	now   func() time.Time
}

type exchanged struct {
	digest [sha256.Size]byte
	token  string
	exp    time.Time
}

func newExchangeCache(next exchanger) (*exchangeCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, exchanged]{NumCounters: 1e5, MaxCost: 1e4, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	return &exchangeCache{next: next, cache: c, now: time.Now}, nil
}

func (c *exchangeCache) exchange(ctx context.Context, token string) (string, time.Time, error) {
	digest := sha256.Sum256([]byte(token))
	key := string(digest[:])
	if e, ok := c.cache.Get(key); ok && e.digest == digest && c.now().Add(exchangeMargin).Before(e.exp) {
		return e.token, e.exp, nil
	}
	tok, exp, err := c.next.exchange(ctx, token)
	if err != nil {
		return "", time.Time{}, err
	}
	if ttl := exp.Sub(c.now()) - exchangeMargin; ttl > 0 {
		c.cache.SetWithTTL(key, exchanged{digest: digest, token: tok, exp: exp}, 1, ttl)
	}
	return tok, exp, nil
}

func (c *exchangeCache) close() { c.cache.Close() }

// localExchanger asks an authorization server of this Caddy.
type localExchanger struct {
	app    *App
	issuer string
	x      *ResourceExchange
}

func (l localExchanger) exchange(ctx context.Context, token string) (string, time.Time, error) {
	srv, ok := l.app.Issuer(l.issuer)
	if !ok {
		return "", time.Time{}, fmt.Errorf("issuer %s is no longer served here", l.issuer)
	}
	t, err := srv.ExchangeToken(ctx, l.x.ClientID, token, l.x.Resource, l.x.Scopes)
	if err != nil {
		return "", time.Time{}, err
	}
	return t.AccessToken, t.ExpiresAt, nil
}

// remoteExchanger posts to a remote issuer's token endpoint, through the outbound guard.
type remoteExchanger struct {
	tokenEndpoint func(ctx context.Context) (string, error)
	x             *ResourceExchange
	fetcher       *outbound.Fetcher
	now           func() time.Time
}

func (r remoteExchanger) exchange(ctx context.Context, token string) (string, time.Time, error) {
	endpoint, err := r.tokenEndpoint(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {token},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"resource":           {r.x.Resource},
	}
	if len(r.x.Scopes) > 0 {
		form.Set("scope", strings.Join(r.x.Scopes, " "))
	}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	// client_secret_basic (RFC 6749 §2.3.1): the form-encoded ID and secret as user and password.
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(r.x.ClientID)+":"+url.QueryEscape(r.x.ClientSecret))))
	reply, err := r.fetcher.Send(ctx, http.MethodPost, endpoint, header, []byte(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(reply.Body, &body)
	switch {
	case reply.Status >= 400 && reply.Status < 500 && body.Error != "":
		// The issuer refused: an OAuth error the gateway turns into its own answer.
		return "", time.Time{}, &oautherr.Error{Code: body.Error, Description: "the authorization server refused the exchange", Status: reply.Status}
	case reply.Status != http.StatusOK || body.AccessToken == "":
		return "", time.Time{}, fmt.Errorf("token exchange at %s: status %d", endpoint, reply.Status)
	}
	return body.AccessToken, r.now().Add(time.Duration(body.ExpiresIn) * time.Second), nil
}

// provisionExchange sets up the exchange, if configured: the exchanger is chosen on first
// use (the issuer may be served by this Caddy, which is only known then).
func (h *ResourceHandler) provisionExchange(repl *caddy.Replacer) error {
	x := h.Exchange
	if x == nil {
		return nil
	}
	if x.ClientSecret != "" {
		secret, err := repl.ReplaceOrErr(x.ClientSecret, true, true)
		if err != nil {
			return errors.New("exchange: unresolved or empty placeholder in client_secret")
		}
		x.ClientSecret = secret
	}
	return nil
}

// exchanger returns the cached exchanger, building it once.
func (h *ResourceHandler) getExchanger() (*exchangeCache, error) {
	h.exchangeOnce.Do(func() {
		var next exchanger
		if _, ok := h.app.Issuer(h.Issuer); ok {
			next = localExchanger{app: h.app, issuer: h.Issuer, x: h.Exchange}
		} else {
			next = remoteExchanger{x: h.Exchange, now: time.Now,
				fetcher: outbound.New(outbound.Options{AllowPrivate: h.OutboundAllowPrivate, Timeout: 10 * time.Second, MaxBytes: 64 << 10}),
				tokenEndpoint: func(ctx context.Context) (string, error) {
					meta, _, err := h.remote.resolve(ctx)
					if err != nil {
						return "", err
					}
					if meta.TokenEndpoint == "" {
						return "", errors.New("the issuer's metadata has no token_endpoint")
					}
					return meta.TokenEndpoint, nil
				}}
		}
		h.exchanger, h.exchangeErr = newExchangeCache(next)
	})
	return h.exchanger, h.exchangeErr
}

// exchangeToken replaces the request's credentials with the exchanged token for the
// upstream. A refusal by the authorization server is the caller's problem (401 when its
// token no longer passes, 403 otherwise); a failure to reach it is 503.
func (h *ResourceHandler) exchangeToken(r *http.Request, v *rsvalidate.Validator) (string, *rsvalidate.Error) {
	x, err := h.getExchanger()
	if err != nil {
		return "", &rsvalidate.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: err}
	}
	token, _, err := x.exchange(r.Context(), v.PresentedToken(r))
	if err == nil {
		return token, nil
	}
	var refused *oautherr.Error
	if !errors.As(err, &refused) || refused.Status >= http.StatusInternalServerError {
		return "", &rsvalidate.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: err}
	}
	switch refused.Code {
	case oautherr.InvalidRequest:
		// The issuer no longer takes the token (revoked, expired since it was checked).
		return "", &rsvalidate.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token cannot be exchanged", Cause: err}
	case oautherr.InvalidScope, oautherr.InvalidTarget, oautherr.AccessDenied:
		h.logger.Info("token exchange for the upstream refused", zap.String("resource", h.Exchange.Resource),
			zap.String("client_id", h.Exchange.ClientID), zap.String("error", refused.Code))
	default:
		// invalid_client, unauthorized_client, unsupported_grant_type: the gateway's own
		// configuration is wrong, not the caller's token. Fail closed, loudly.
		h.logger.Error("token exchange for the upstream is misconfigured", zap.String("resource", h.Exchange.Resource),
			zap.String("client_id", h.Exchange.ClientID), zap.String("error", refused.Code), zap.String("description", refused.Description))
		return "", &rsvalidate.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: err}
	}
	return "", &rsvalidate.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the access token does not allow the upstream's token", Cause: err}
}
