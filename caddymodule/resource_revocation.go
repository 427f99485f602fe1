package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// RevocationStream subscribes a gateway to its remote issuer's revocation stream (OpenID
// Shared Signals, RFC 8936 poll delivery), so that it refuses revoked tokens within about a
// second instead of when they expire.
type RevocationStream struct {
	// ClientID and ClientSecret are the resource-server client the gateway subscribes as;
	// empty: the introspection_client credentials. Placeholders are resolved at provision.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// FailClosedAfter: once the stream has been unreachable this long, requests fail with
	// 503. 0 (the default) keeps serving with the revocations known so far (logged).
	FailClosedAfter caddy.Duration `json:"fail_closed_after,omitempty"`
}

func (rs *RevocationStream) validate(h *ResourceHandler) error {
	if (rs.ClientID == "") != (rs.ClientSecret == "") {
		return errors.New("revocation_stream: client needs both a client ID and a secret")
	}
	if rs.ClientID == "" && h.IntrospectionClientID == "" {
		return errors.New("revocation_stream: no credentials: set its client <client_id> <secret>, or introspection_client (a resource-server client of the issuer)")
	}
	return checkDuration("revocation_stream fail_closed_after", time.Duration(rs.FailClosedAfter))
}

// provisionRevocationStream resolves the stream's credentials (after introspection_client's)
// and asks the app to start the subscription once every handler is provisioned: only then
// is it known whether the issuer is served by this Caddy.
func (h *ResourceHandler) provisionRevocationStream(repl *caddy.Replacer) error {
	rs := h.RevocationStream
	if rs == nil {
		return nil
	}
	if rs.ClientID == "" {
		rs.ClientID, rs.ClientSecret = h.IntrospectionClientID, h.IntrospectionClientSecret
	} else {
		var err error
		if rs.ClientID, err = repl.ReplaceOrErr(rs.ClientID, true, true); err != nil {
			return errors.New("revocation_stream: unresolved or empty placeholder in the client ID")
		}
		if rs.ClientSecret, err = repl.ReplaceOrErr(rs.ClientSecret, true, true); err != nil {
			return errors.New("revocation_stream: unresolved or empty placeholder in the secret")
		}
	}
	h.app.onStart(func() { h.revocations() })
	return nil
}

// revocations returns what the validator consults about revocations: nil without a stream
// or for an issuer served in-process (its validation sees revocations at once). The first
// call subscribes (at app start, or at the first request if that comes first).
func (h *ResourceHandler) revocations() rsvalidate.Revocations {
	h.streamOnce.Do(func() {
		rs := h.RevocationStream
		if rs == nil {
			return
		}
		if _, local := h.app.Issuer(h.Issuer); local {
			h.logger.Info("revocation_stream ignored: the issuer is served by this Caddy, which sees revocations at once",
				zap.String("issuer", h.Issuer))
			return
		}
		sub, release, err := h.app.revocationSubscription(h.remote, rs.ClientID, rs.ClientSecret, h.OutboundAllowPrivate)
		if err != nil {
			// Only a configuration the checks above let through can get here; fail closed.
			h.logger.Error("cannot subscribe to the revocation stream; requests fail with 503", zap.Error(err))
			h.streamView = failedStream{err}
			return
		}
		dropLag := bundleMetrics.AddRevocationStream(h.Issuer, sub.LastSuccess)
		h.streamRelease = func() { dropLag(); release() }
		h.streamView = sub.WithFailClosedAfter(time.Duration(rs.FailClosedAfter))
	})
	return h.streamView
}

// failedStream refuses every request: a gateway configured to learn revocations must not
// silently run without.
type failedStream struct{ err error }

func (failedStream) Revoked(string, *rsvalidate.TokenInfo) bool { return false }
func (f failedStream) Err() error                               { return errors.Join(rsvalidate.ErrUnavailable, f.err) }

type pooledSubscription struct{ *ssfreceiver.Subscription }

func (p pooledSubscription) Destruct() error { return p.Close() }

// revocationSubscription returns the subscription of one (issuer, client), shared by every
// oauth_resource handler using it in this process and across config reloads, so a reload
// neither loses the revoked set nor opens a second stream.
func (a *App) revocationSubscription(ri *remoteIssuer, clientID, secret string, allowPrivate bool) (*ssfreceiver.Subscription, func(), error) {
	sum := sha256.Sum256([]byte(ri.issuer + "\x00" + clientID + "\x00" + secret)) // no secret in the key
	key := "ssf\x00" + hex.EncodeToString(sum[:])
	if allowPrivate {
		key += "\x00private"
	}
	val, loaded, err := gatewayState.LoadOrNew(key, func() (caddy.Destructor, error) {
		host, _ := os.Hostname()
		sub, err := ssfreceiver.New(ssfreceiver.Config{
			Issuer: ri.issuer, ClientID: clientID, ClientSecret: secret,
			Keys:         issuerKeys{ri},
			AllowPrivate: allowPrivate,
			OnTokenHash:  ri.forget,
			Description:  "caddy-oauth gateway " + host,
			Logger:       a.logger.Named("revocation_stream"),
		})
		if err != nil {
			return nil, err
		}
		sub.Start()
		return pooledSubscription{sub}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !loaded {
		a.logger.Info("subscribing to the revocation stream", zap.String("issuer", ri.issuer), zap.String("client_id", clientID))
	}
	return val.(pooledSubscription).Subscription, a.releaser(key), nil
}

// issuerKeys verifies SETs with the issuer's JWKS, discovered on first use like the keys of
// its access tokens (one cache for both).
type issuerKeys struct{ ri *remoteIssuer }

func (k issuerKeys) Key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	_, keys, err := k.ri.resolve(ctx)
	if err != nil {
		return nil, errors.Join(rsvalidate.ErrUnavailable, err)
	}
	return keys.Key(ctx, kid, alg)
}

// forget drops every cached introspection answer for the token with this SHA-256.
func (ri *remoteIssuer) forget(digest [sha256.Size]byte) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	for _, in := range ri.introspectors {
		in.Forget(digest)
	}
}

// unmarshalRevocationStream parses
//
//	revocation_stream [{
//	    client <client_id> <secret>
//	    fail_closed_after <duration>
//	}]
func unmarshalRevocationStream(d *caddyfile.Dispenser) (*RevocationStream, error) {
	rs := new(RevocationStream)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "client":
			if !d.Args(&rs.ClientID, &rs.ClientSecret) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "fail_closed_after":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return nil, d.Errf("fail_closed_after: %v", err)
			}
			rs.FailClosedAfter = caddy.Duration(dur)
		default:
			return nil, d.Errf("revocation_stream: unknown subdirective %q", d.Val())
		}
	}
	return rs, nil
}
