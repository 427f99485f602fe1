package store

import (
	"context"
	"time"
)

// Statuses of a device authorization (RFC 8628): pending until the user decides on the
// verification page, then approved or denied. An approved one is deleted when its device code
// is redeemed; every one is purged by DeleteExpired once expired.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// DeviceAuthorization is one device authorization request (RFC 8628 §3.1), from the device's
// request until its device code is redeemed or it expires. Neither code reaches the store:
// both are kept as SHA-256 hashes (base64url).
type DeviceAuthorization struct {
	DeviceCodeHash string
	// UserCodeHash is the hash of the normalized user code; unique among stored rows.
	UserCodeHash string
	ClientID     string
	Scopes       []string
	Resources    []string
	// Status is DevicePending, DeviceApproved or DeviceDenied.
	Status string
	// Set when the user approved: who, when and how they signed in.
	Subject  string
	AuthTime time.Time
	AMR      []string
	ACR      string
	// Interval is the minimum time between polls; it grows with each slow_down (§3.5).
	Interval time.Duration
	// LastPolledAt is when the device last polled (zero before its first poll).
	LastPolledAt time.Time
	ExpiresAt    time.Time
	CreatedAt    time.Time
}

// DeviceDecision is what the user decided on the verification page.
type DeviceDecision struct {
	Approved bool
	Subject  string
	AuthTime time.Time
	AMR      []string
	ACR      string
}

// DeviceAuthorizationStore persists device authorizations. Every state change is one atomic
// statement, so instances sharing the database agree: a user code is decided once, a device
// code redeemed once.
type DeviceAuthorizationStore interface {
	// CreateDeviceAuthorization stores d (a zero CreatedAt is filled in with now and written
	// back); ErrConflict if its device code hash or user code hash exists.
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// GetDeviceAuthorizationByUserCode returns the pending device authorization with
	// userCodeHash; ErrNotFound if it is unknown, decided or expired at now.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash string, now time.Time) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization records the user's decision on the pending, unexpired device
	// authorization with userCodeHash and returns it as decided; ErrNotFound if there is none
	// (unknown, expired, or decided already: of concurrent decisions exactly one wins).
	DecideDeviceAuthorization(ctx context.Context, userCodeHash string, d DeviceDecision, now time.Time) (*DeviceAuthorization, error)
	// PollDeviceAuthorization records a poll with deviceCodeHash at now and returns the row as
	// it is after the poll. tooFast reports a poll less than Interval−jitter after the previous
	// one: the stored Interval has then grown by step (RFC 8628 §3.5 slow_down, for this and
	// every later poll). ErrNotFound if the device code is unknown (or already redeemed).
	PollDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time, jitter, step time.Duration) (d *DeviceAuthorization, tooFast bool, err error)
	// ConsumeDeviceAuthorization deletes the approved, unexpired device authorization with
	// deviceCodeHash and returns it, once; ErrNotFound otherwise. Of concurrent consumers,
	// across instances, exactly one gets it.
	ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time) (*DeviceAuthorization, error)
}
