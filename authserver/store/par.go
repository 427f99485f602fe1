package store

import (
	"context"
	"time"
)

// PushedRequest is an authorization request a client pushed to the PAR endpoint (RFC 9126),
// waiting for the authorization request that names it by its request_uri.
type PushedRequest struct {
	// Hash is the SHA-256 (base64url) of the request_uri's random part: the request_uri
	// itself never reaches the store.
	Hash     string
	ClientID string
	// Params are the resolved and validated authorization request parameters (a JSON object
	// of string arrays, url.Values).
	Params    []byte
	ExpiresAt time.Time
	CreatedAt time.Time
}

// PushedRequestStore persists pushed authorization requests until they are used or expire.
type PushedRequestStore interface {
	// CreatePushedRequest stores r (a zero CreatedAt is filled in with now and written
	// back); ErrConflict if its Hash exists.
	CreatePushedRequest(ctx context.Context, r *PushedRequest) error
	// ConsumePushedRequest removes the pushed request with hash and returns it, once:
	// ErrNotFound if it is unknown, already consumed or expired at now. It is atomic: of N
	// concurrent consumers, across instances sharing the database, exactly one gets it.
	ConsumePushedRequest(ctx context.Context, hash string, now time.Time) (*PushedRequest, error)
}
