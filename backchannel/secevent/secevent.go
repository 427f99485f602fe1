// Package secevent is the wire format of the revocation Security Event Tokens (RFC 8417) that
// the authorization server's Shared Signals stream sends to gateways: what the claims are
// named and what they mean. The transmitter (backchannel/ssf) encodes with Encode; receivers
// (backchannel/ssfreceiver) verify the JWS themselves and decode its payload with Decode.
//
// One SET carries one event (SSF 1.0 §4). A session's end is the CAEP session-revoked event;
// a token's or grant's revocation is the OAuth token-revoked event, with an "identifier"
// member saying which of the access token's identifiers sub_id holds:
//
//	{"iss": "https://as.example", "aud": "gateway-1", "iat": 1767225600, "jti": "…",
//	 "sub_id": {"format": "opaque", "id": "<grant id>"},
//	 "events": {"https://schemas.openid.net/secevent/oauth/event-type/token-revoked":
//	   {"event_timestamp": 1767225600, "identifier": "grant", "expires_at": 1767229200}}}
//
// Identifiers and the access token claim each matches:
//
//	jti         the JWT access token's jti claim
//	token_hash  an opaque access token: base64url (no padding) SHA-256 of the token value
//	grant       the grant_id claim (JWT) or introspection member: every token of the grant
//	session     the sid claim (JWT) or introspection member: every token of the session
//	client      the client_id claim or introspection member: every token of the client
//	            issued at or before event_timestamp (its iat; whole seconds)
//
// expires_at is the latest exp of any access token the event covers; a receiver forgets the
// event after it, which bounds its memory.
package secevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Media and URNs of the Shared Signals Framework.
const (
	// Typ is the JWS typ header of a SET (RFC 8417 §2.3).
	Typ = "secevent+jwt"
	// DeliveryPoll and DeliveryPush are the delivery method URNs of RFC 8936 and RFC 8935.
	DeliveryPoll = "urn:ietf:rfc:8936"
	DeliveryPush = "urn:ietf:rfc:8935"

	// EventSessionRevoked is CAEP 1.0 session-revoked.
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	// EventTokenRevoked is the OAuth event type for revoked tokens.
	EventTokenRevoked = "https://schemas.openid.net/secevent/oauth/event-type/token-revoked"
	// EventVerification is SSF 1.0 §8.1.4's verification event.
	EventVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// Identifiers: which identifier of an access token a revocation names (the same strings as
// the store's Revoked* kinds).
const (
	KindJTI       = "jti"
	KindTokenHash = "token_hash"
	KindGrant     = "grant"
	KindSession   = "session"
	// KindClient revokes every token of a client (sub_id's id) issued at or before the
	// event's At (event_timestamp).
	KindClient = "client"
)

// Revocation is what one revocation event says: the access tokens whose Kind identifier is
// Value are revoked, and none of them is valid after Until.
type Revocation struct {
	Kind  string
	Value string
	// Subject is the account, when one account's tokens are covered (informational).
	Subject string
	// At is when the revocation happened (event_timestamp).
	At    time.Time
	Until time.Time
}

// SET is a decoded Security Event Token payload.
type SET struct {
	Issuer   string
	Audience []string
	IssuedAt time.Time
	ID       string // jti
	// EventType is the one event's URI.
	EventType string
	// Revocation is set for the two revocation event types, nil for others (verification).
	Revocation *Revocation
	// State is the verification event's state member, if any.
	State string
}

// subject is an RFC 9493 subject identifier (with SSF 1.0's complex format).
type subject struct {
	Format  string   `json:"format"`
	ID      string   `json:"id,omitempty"`
	Iss     string   `json:"iss,omitempty"`
	Sub     string   `json:"sub,omitempty"`
	Session *subject `json:"session,omitempty"`
	User    *subject `json:"user,omitempty"`
}

type eventBody struct {
	EventTimestamp int64  `json:"event_timestamp,omitempty"`
	Identifier     string `json:"identifier,omitempty"`
	ExpiresAt      int64  `json:"expires_at,omitempty"`
	State          string `json:"state,omitempty"`
}

type claims struct {
	Issuer   string               `json:"iss"`
	Audience audience             `json:"aud"`
	IssuedAt int64                `json:"iat"`
	ID       string               `json:"jti"`
	SubID    *subject             `json:"sub_id,omitempty"`
	Events   map[string]eventBody `json:"events"`
}

// audience is a string for one audience, an array for several (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// ErrMalformed wraps every Decode refusal.
var ErrMalformed = errors.New("secevent: malformed SET")

// Encode returns the claims of the SET that tells aud about r.
func Encode(issuer string, aud []string, iat time.Time, id string, r Revocation) ([]byte, error) {
	c := claims{Issuer: issuer, Audience: aud, IssuedAt: iat.Unix(), ID: id}
	body := eventBody{EventTimestamp: r.At.Unix(), ExpiresAt: r.Until.Unix()}
	switch {
	case r.Kind == KindSession:
		c.SubID = &subject{Format: "complex", Session: &subject{Format: "opaque", ID: r.Value}}
		if r.Subject != "" {
			c.SubID.User = &subject{Format: "iss_sub", Iss: issuer, Sub: r.Subject}
		}
		c.Events = map[string]eventBody{EventSessionRevoked: body}
	case tokenRevokedIdentifier(r.Kind):
		c.SubID = &subject{Format: "opaque", ID: r.Value}
		body.Identifier = r.Kind
		c.Events = map[string]eventBody{EventTokenRevoked: body}
	default:
		return nil, fmt.Errorf("secevent: unknown revocation kind %q", r.Kind)
	}
	if r.Value == "" {
		return nil, errors.New("secevent: empty revocation value")
	}
	return json.Marshal(c)
}

// tokenRevokedIdentifier reports whether kind is carried by the token-revoked event (every
// kind but a session's, which is CAEP session-revoked).
func tokenRevokedIdentifier(kind string) bool {
	switch kind {
	case KindJTI, KindTokenHash, KindGrant, KindClient:
		return true
	}
	return false
}

// EncodeVerification returns the claims of an SSF verification event echoing state.
func EncodeVerification(issuer string, aud []string, iat time.Time, id, streamID, state string) ([]byte, error) {
	c := claims{Issuer: issuer, Audience: aud, IssuedAt: iat.Unix(), ID: id,
		SubID:  &subject{Format: "opaque", ID: streamID},
		Events: map[string]eventBody{EventVerification: {State: state}}}
	return json.Marshal(c)
}

// Decode parses a SET payload (the JWS already verified). It checks the structure only: the
// caller checks iss, aud, iat and jti against what it expects.
func Decode(payload []byte) (*SET, error) {
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Issuer == "" || c.ID == "" || c.IssuedAt <= 0 || len(c.Audience) == 0 {
		return nil, fmt.Errorf("%w: iss, aud, iat and jti are required", ErrMalformed)
	}
	if len(c.Events) != 1 {
		return nil, fmt.Errorf("%w: exactly one event is required", ErrMalformed)
	}
	set := &SET{Issuer: c.Issuer, Audience: c.Audience, IssuedAt: time.Unix(c.IssuedAt, 0), ID: c.ID}
	for uri, body := range c.Events {
		set.EventType = uri
		set.State = body.State
		var r *Revocation
		switch uri {
		case EventSessionRevoked:
			if c.SubID == nil || c.SubID.Session == nil || c.SubID.Session.ID == "" {
				return nil, fmt.Errorf("%w: session-revoked without a session subject", ErrMalformed)
			}
			r = &Revocation{Kind: KindSession, Value: c.SubID.Session.ID}
			if c.SubID.User != nil {
				r.Subject = c.SubID.User.Sub
			}
		case EventTokenRevoked:
			if !tokenRevokedIdentifier(body.Identifier) {
				return nil, fmt.Errorf("%w: token-revoked with identifier %q", ErrMalformed, body.Identifier)
			}
			if c.SubID == nil || c.SubID.ID == "" {
				return nil, fmt.Errorf("%w: token-revoked without a subject id", ErrMalformed)
			}
			if body.Identifier == KindClient && body.EventTimestamp <= 0 {
				return nil, fmt.Errorf("%w: a client cut-off needs event_timestamp", ErrMalformed)
			}
			r = &Revocation{Kind: body.Identifier, Value: c.SubID.ID}
		}
		if r != nil {
			if body.ExpiresAt <= 0 {
				return nil, fmt.Errorf("%w: a revocation needs expires_at", ErrMalformed)
			}
			r.At, r.Until = time.Unix(body.EventTimestamp, 0), time.Unix(body.ExpiresAt, 0)
			set.Revocation = r
		}
	}
	return set, nil
}
