package store

import (
	"context"
	"time"
)

// CIBARequest is one client-initiated backchannel authentication request (OpenID CIBA Core
// 1.0): a client asks for a user's approval, the user (or an external system) decides, and the
// client polls for its tokens, is pinged, or has them pushed. The auth_req_id is kept only as
// its hash; ID, a separate random value, names the request on the approval page and in the
// admin API.
type CIBARequest struct {
	ID          string
	AuthReqHash string
	ClientID    string
	// Subject is the account the request asks: the user named by the hint.
	Subject        string
	Scopes         []string
	Resources      []string
	ACRValues      []string
	BindingMessage string
	// Mode is the client's token delivery mode: poll, ping or push.
	Mode string
	// NotificationToken is the client_notification_token (ping, push), sealed: it must be
	// sent back, so it cannot be hashed.
	NotificationToken []byte
	// Status is DevicePending, DeviceApproved or DeviceDenied (the same three states).
	Status string
	// Set at approval.
	AuthTime time.Time
	AMR      []string
	ACR      string
	// Polling (poll and ping modes), as for device authorizations.
	Interval     time.Duration
	LastPolledAt time.Time
	// Notification (ping and push): NotifyAt is when the next delivery attempt is due (zero:
	// none pending); Payload is the sealed body of a push delivery (tokens or an error).
	NotifyAt       time.Time
	NotifyAttempts int
	Payload        []byte
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// CIBADecision is the user's (or the admin API's) decision, with the notification it sets
// off for a ping or push client (zero NotifyAt: none).
type CIBADecision struct {
	DeviceDecision
	NotifyAt time.Time
	Payload  []byte
}

// CIBARequestStore persists CIBA requests. As for device authorizations, every state change is
// one atomic statement, so a request is decided once and its tokens are redeemed once across
// instances; notification deliveries are leased so that one instance attempts each at a time.
type CIBARequestStore interface {
	// CreateCIBARequest stores r (a zero CreatedAt is filled in); ErrConflict if its ID or
	// AuthReqHash exists.
	CreateCIBARequest(ctx context.Context, r *CIBARequest) error
	// GetCIBARequest returns the request with id whatever its state; ErrNotFound if gone.
	GetCIBARequest(ctx context.Context, id string) (*CIBARequest, error)
	// ListCIBARequests returns subject's pending, unexpired requests, oldest first.
	ListCIBARequests(ctx context.Context, subject string, now time.Time) ([]*CIBARequest, error)
	// DecideCIBARequest records the decision on the pending, unexpired request id and returns
	// it as decided; ErrNotFound otherwise (of concurrent decisions exactly one wins).
	DecideCIBARequest(ctx context.Context, id string, d CIBADecision, now time.Time) (*CIBARequest, error)
	// PollCIBARequest records a poll (see PollDeviceAuthorization).
	PollCIBARequest(ctx context.Context, authReqHash string, now time.Time, jitter, step time.Duration) (*CIBARequest, bool, error)
	// ConsumeCIBARequest deletes the approved, unexpired request and returns it, once.
	ConsumeCIBARequest(ctx context.Context, authReqHash string, now time.Time) (*CIBARequest, error)
	// ClaimCIBANotifications leases up to limit requests whose notification is due at now:
	// their NotifyAt becomes leaseUntil and NotifyAttempts grows by one.
	ClaimCIBANotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*CIBARequest, error)
	// FinishCIBANotification ends request id's notification: delivered (retryAt zero) or to be
	// tried again at retryAt. A delivered push request is deleted: its tokens are the client's.
	FinishCIBANotification(ctx context.Context, id string, retryAt time.Time) error
}
