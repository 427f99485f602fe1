// Package audit writes the security events an operator needs to reconstruct an incident: one
// structured Info line per decision, on a logger named "audit", with an "event" field to
// filter on. Events never carry a secret or a whole token: tokens are named by jti or by a
// prefix of their at-rest hash.
package audit

import "go.uber.org/zap"

// The events, in one place (the README lists them).
const (
	TokenIssued      = "token.issued"
	TokenRevoked     = "token.revoked"
	GrantRevoked     = "grant.revoked"
	RefreshReuse     = "refresh.reuse_detected"
	ConsentGiven     = "consent.given"
	ConsentWithdrawn = "consent.withdrawn"
	SignInSucceeded  = "signin.succeeded"
	SignInFailed     = "signin.failed"
	SignInThrottled  = "signin.throttled"
	SessionsRevoked  = "session.revoked"
	ClientCreated    = "client.created"
	ClientReplaced   = "client.replaced"
	ClientDeleted    = "client.deleted"
	ClientSecret     = "client.secret_rotated"
	ResourceCreated  = "resource.created"
	ResourceReplaced = "resource.replaced"
	ResourceDeleted  = "resource.deleted"
	LinkStored       = "link.stored"
	LinkDeleted      = "link.deleted"
	KeyRotated       = "key.rotated"
	// A passkey was added to, or revoked from, an account.
	PasskeyRegistered = "passkey.registered"
	PasskeyRevoked    = "passkey.revoked"
	// DelegatedAccepted and DelegatedRejected: a login app answered a login or consent
	// challenge (authserver/delegated).
	DelegatedAccepted = "delegated.accepted"
	DelegatedRejected = "delegated.rejected"

	InitialAccessTokenCreated = "initial_access_token.created"
	InitialAccessTokenDeleted = "initial_access_token.deleted"
)

// Log writes audit events. The zero Log writes nothing.
type Log struct{ l *zap.Logger }

// New returns a Log writing to parent.Named("audit").
func New(parent *zap.Logger) Log {
	if parent == nil {
		return Log{}
	}
	return Log{l: parent.Named("audit")}
}

// Event writes one event.
func (a Log) Event(event string, fields ...zap.Field) {
	if a.l == nil {
		return
	}
	if ce := a.l.Check(zap.InfoLevel, event); ce != nil {
		ce.Write(append(fields, zap.String("event", event))...)
	}
}

// TokenRef names a token in an event without revealing it: the first 16 characters of its
// at-rest hash (what the store keys it by).
func TokenRef(hash string) zap.Field {
	if len(hash) > 16 {
		hash = hash[:16]
	}
	return zap.String("token_hash", hash)
}
