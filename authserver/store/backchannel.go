package store

import (
	"context"
	"time"
)

// This file holds the persisted state of the backchannel package: the logout outbox
// (OpenID Connect Back-Channel Logout deliveries), the revocation event log that the Shared
// Signals stream serves to gateways, and the streams' positions in it.

// LogoutDelivery is one pending back-channel logout of one client for one ended session. The
// logout token is built and signed at each attempt (fresh iat and exp, the same JTI), so a
// delivery retried for hours never sends a stale token.
type LogoutDelivery struct {
	// ID is filled in by the store when empty.
	ID        string
	ClientID  string
	Subject   string // the account's local subject (the token's sub is the client's view of it)
	SessionID string // the ended session's sid
	// JTI is the logout token's jti, kept across attempts so a receiver can drop duplicates.
	JTI string
	// Attempts counts the claims so far (a claim is an attempt, even one cut short by a crash).
	Attempts  int
	LastError string
	// NextAttemptAt is when the delivery may next be claimed.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	// ExpiresAt is the maximum age: a delivery not made by then is dropped (and logged).
	ExpiresAt time.Time
}

// LogoutOutboxStore persists pending back-channel logout deliveries. Several instances share
// it: a claim leases deliveries so that each is attempted by one instance at a time.
type LogoutOutboxStore interface {
	// EnqueueLogoutDeliveries stores ds (IDs and CreatedAt filled in and written back). A
	// delivery whose (SessionID, ClientID) is already pending is skipped, not an error: two
	// instances ending the same expired session queue it once.
	EnqueueLogoutDeliveries(ctx context.Context, ds []*LogoutDelivery) error
	// ClaimLogoutDeliveries leases up to limit deliveries due at now (NextAttemptAt <= now),
	// oldest due first: it sets their NextAttemptAt to leaseUntil and adds one to Attempts,
	// and returns them as they are after the claim. Concurrent claims, from this or another
	// instance, never return the same delivery (FOR UPDATE SKIP LOCKED on PostgreSQL). A
	// delivery whose claimer died becomes due again when its lease ends.
	ClaimLogoutDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*LogoutDelivery, error)
	// RetryLogoutDelivery records a failed attempt: LastError and the next attempt's time.
	// ErrNotFound if the delivery is gone.
	RetryLogoutDelivery(ctx context.Context, id string, nextAttemptAt time.Time, lastError string) error
	// DeleteLogoutDelivery removes a delivery that was made or dropped; ErrNotFound if gone.
	DeleteLogoutDelivery(ctx context.Context, id string) error
	// CountLogoutDeliveries returns how many deliveries are pending (for tests and metrics).
	CountLogoutDeliveries(ctx context.Context) (int, error)
}

// What a RevocationEvent revokes: the access tokens whose identifier of that kind is Value.
const (
	RevokedJTI       = "jti"        // one JWT access token, by its jti
	RevokedTokenHash = "token_hash" // one opaque access token, by the SHA-256 (base64url) of its value
	RevokedGrant     = "grant"      // every access token issued under a grant (grant_id claim)
	RevokedSession   = "session"    // every access token issued under a login session (sid claim)
	// RevokedClient: every access token of a client (client_id) issued at or before the
	// event's CreatedAt, its cut-off (SetClientTokenCutoff).
	RevokedClient = "client"
)

// RevocationEvent is one revocation as gateways learn it. The store appends them itself, in
// the transaction of the revocation (RevokeJTI, RevokeAccessToken, RevokeClientAccessTokens,
// RevokeGrant, the Revoke*Grants methods and SetClientTokenCutoff), so no revocation is ever
// left unpublished, and only when some access token it covers has not expired yet.
type RevocationEvent struct {
	// Seq orders the log. It grows in commit order: a reader that has seen Seq n never later
	// sees a new event below n (PostgreSQL appends under a transaction-level advisory lock).
	Seq int64
	// ID is unique (128 random bits, base64url): the jti of the Security Event Tokens that
	// carry the event.
	ID    string
	Kind  string // one of the Revoked* constants
	Value string
	// Subject and ClientID describe the covered tokens, when one value does (for logs and the
	// session-revoked event's user); they are not matched on.
	Subject  string
	ClientID string
	// CreatedAt is when the event was appended; for RevokedClient, the cut-off.
	CreatedAt time.Time
	// ExpiresAt is the latest exp of an access token the event covers: after it the event
	// means nothing and is purged (DeleteExpired).
	ExpiresAt time.Time
}

// RevocationEventStore reads the revocation event log.
type RevocationEventStore interface {
	// RevocationEventsAfter returns up to limit events with Seq > after that have not expired
	// at now, by Seq.
	RevocationEventsAfter(ctx context.Context, after int64, now time.Time, limit int) ([]*RevocationEvent, error)
	// RevocationEventSeqs returns the Seq of each event ID that is still in the log (acks).
	RevocationEventSeqs(ctx context.Context, ids []string) (map[string]int64, error)
	// WatchRevocationEvents returns a channel that receives a value soon after events are
	// appended by any instance sharing the database (PostgreSQL LISTEN/NOTIFY; SQLite: this
	// process only, its only writer). Wake-ups coalesce (the channel has a buffer of one) and
	// may be spurious; the channel closes when ctx ends. With PostgreSQL the listener
	// reconnects on its own and sends a wake-up after each reconnect, since events may have
	// arrived while it was away.
	WatchRevocationEvents(ctx context.Context) (<-chan struct{}, error)
}

// EventStream is one Shared Signals Framework stream: a receiver (a gateway) reading the
// revocation event log from its own position.
type EventStream struct {
	// ID is filled in by the store when empty.
	ID string
	// ClientID is the receiver's OAuth client, the only one who may read or change the stream.
	ClientID    string
	Description string
	// Audience is the aud of the stream's SETs.
	Audience        []string
	EventsRequested []string
	// DeliveryMethod is urn:ietf:rfc:8936 (poll) or urn:ietf:rfc:8935 (push).
	DeliveryMethod string
	// EndpointURL is the poll URL (ours) or the receiver's push URL.
	EndpointURL string
	// AckedSeq is the stream's position: every event up to it was acknowledged.
	AckedSeq     int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastPolledAt time.Time
}

// EventStreamStore persists Shared Signals streams.
type EventStreamStore interface {
	// CreateEventStream stores s (ID, CreatedAt, UpdatedAt and LastPolledAt filled in and
	// written back when zero).
	CreateEventStream(ctx context.Context, s *EventStream) error
	// GetEventStream returns the stream; ErrNotFound if there is none.
	GetEventStream(ctx context.Context, id string) (*EventStream, error)
	// ListEventStreams returns the streams of the client, oldest first.
	ListEventStreams(ctx context.Context, clientID string) ([]*EventStream, error)
	// UpdateEventStream replaces the stream's configuration (not AckedSeq, CreatedAt or
	// LastPolledAt); ErrNotFound if there is none.
	UpdateEventStream(ctx context.Context, s *EventStream) error
	// DeleteEventStream deletes the stream; ErrNotFound if there is none.
	DeleteEventStream(ctx context.Context, id string) error
	// AckEventStream raises AckedSeq to seq (never lowers it) and sets LastPolledAt;
	// ErrNotFound if the stream is gone.
	AckEventStream(ctx context.Context, id string, seq int64, polledAt time.Time) error
	// DeleteIdleEventStreams deletes the streams not polled since before and returns how many.
	DeleteIdleEventStreams(ctx context.Context, before time.Time) (int, error)
}

// SessionEndStore is what ending sessions needs beyond SessionStore.
type SessionEndStore interface {
	// SessionClientIDs returns, sorted, the clients that had a grant (revoked or not) in the
	// session: the clients to tell that it ended.
	SessionClientIDs(ctx context.Context, sessionID string) ([]string, error)
	// ListEndedSessions returns up to limit sessions, oldest first, that expired at now or
	// were last seen before idleBefore (zero: no idle limit). The caller queues their logouts,
	// then deletes them; a crash in between lists them again, and the outbox's (session,
	// client) key keeps their logouts from being queued twice.
	ListEndedSessions(ctx context.Context, now, idleBefore time.Time, limit int) ([]*Session, error)
}
