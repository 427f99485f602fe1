package ssfreceiver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/jwa"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// refusal is why a SET was not applied, in RFC 8936 §2.4 terms (err) and for the log (reason).
type refusal struct {
	err    string // an RFC 8936 / RFC 8935 error code
	reason string
	// retry: the SET could not be judged now (the issuer's keys are unreachable); it must be
	// left unacknowledged so the transmitter sends it again.
	retry bool
}

func (r *refusal) Error() string { return r.reason }

// RFC 8935 §2.4 / RFC 8936 error codes a receiver reports in setErrs.
const (
	errInvalidRequest  = "invalid_request"
	errInvalidKey      = "invalid_key"
	errInvalidIssuer   = "invalid_issuer"
	errInvalidAudience = "invalid_audience"
)

func refuse(code, format string, args ...any) *refusal {
	return &refusal{err: code, reason: fmt.Sprintf(format, args...)}
}

// setAlgs are the JWS algorithms a SET may use: asymmetric only, so no holder of a shared
// secret (every gateway has one) can mint events.
var setAlgs = jwa.Jose(jwa.Asymmetric())

// verifier checks SETs from one issuer for one audience.
type verifier struct {
	issuer   string
	audience string
	keys     rsvalidate.KeySource
}

// verify checks the JWS (algorithm, typ, signature with the issuer's key) and the claims,
// and returns the decoded SET. Expiry and replay are judged by the caller, which keeps the
// state they need.
func (v *verifier) verify(ctx context.Context, compact string) (*secevent.SET, *refusal) {
	jws, err := jose.ParseSigned(compact, setAlgs)
	if err != nil {
		return nil, refuse(errInvalidRequest, "not a JWS with an asymmetric algorithm: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse(errInvalidRequest, "want exactly one signature")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != secevent.Typ {
		return nil, refuse(errInvalidRequest, "typ %q is not %s", typ, secevent.Typ)
	}
	key, err := v.keys.Key(ctx, hdr.KeyID, hdr.Algorithm)
	if err != nil {
		if errors.Is(err, rsvalidate.ErrUnavailable) {
			r := refuse(errInvalidKey, "issuer keys unavailable: %v", err)
			r.retry = true
			return nil, r
		}
		return nil, refuse(errInvalidKey, "no key %q for %s: %v", hdr.KeyID, hdr.Algorithm, err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, refuse(errInvalidKey, "signature does not verify")
	}
	set, err := secevent.Decode(payload)
	if err != nil {
		return nil, refuse(errInvalidRequest, "%v", err)
	}
	if set.Issuer != v.issuer {
		return nil, refuse(errInvalidIssuer, "iss %q is not the issuer", set.Issuer)
	}
	if !slices.Contains(set.Audience, v.audience) {
		return nil, refuse(errInvalidAudience, "aud does not name this gateway's client")
	}
	return set, nil
}

// expired reports whether a revocation no longer covers any valid token.
func expired(r *secevent.Revocation, now time.Time) bool {
	return !r.Until.After(now)
}
