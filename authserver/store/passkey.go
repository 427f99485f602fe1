package store

import (
	"context"
	"time"
)

// Passkey is a WebAuthn credential (a passkey) registered by an account. The public key is
// not a secret; no private material ever reaches the server.
type Passkey struct {
	// ID is the credential ID (base64url without padding), unique across accounts.
	ID string
	// Subject is the account the credential signs in.
	Subject string
	// UserHandle is the WebAuthn user.id the credential was created with; a discoverable
	// sign-in must present the same handle.
	UserHandle []byte
	// Name is the label the user gave it ("Laptop", "YubiKey").
	Name string
	// PublicKey is the COSE-encoded credential public key.
	PublicKey []byte
	// AttestationType and AttestationFormat are what the authenticator conveyed at registration.
	AttestationType   string
	AttestationFormat string
	AAGUID            []byte
	Transports        []string
	// Attachment is "platform" or "cross-platform" (or "" when the browser did not say).
	Attachment string
	// SignCount is the authenticator's signature counter as last seen.
	SignCount uint32
	// BackupEligible (fixed at registration) says the key may be synced to other devices;
	// BackupState says it is; UserVerified says the registration verified the user.
	BackupEligible bool
	BackupState    bool
	UserVerified   bool
	// CloneWarning is set once a sign-in presented a signature counter that did not move
	// forward: two copies of the key may exist.
	CloneWarning bool
	CreatedAt    time.Time
	// LastUsedAt is the last successful sign-in (zero: never used).
	LastUsedAt time.Time
	// RevokedAt is when the credential was revoked (zero: active). A revoked credential
	// never signs in again.
	RevokedAt time.Time
}

// PasskeyUse is what a successful passkey sign-in records on the credential.
type PasskeyUse struct {
	SignCount   uint32
	BackupState bool
	At          time.Time
}

// PasskeyStore persists passkeys.
type PasskeyStore interface {
	// CreatePasskey stores p (a zero CreatedAt is set to now and written back); ErrConflict if
	// a credential with p.ID exists.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// GetPasskey returns the credential with id, revoked or not; ErrNotFound if unknown.
	GetPasskey(ctx context.Context, id string) (*Passkey, error)
	// ListPasskeys returns the credentials of the account with subject, revoked ones
	// included, oldest first.
	ListPasskeys(ctx context.Context, subject string) ([]*Passkey, error)
	// UsePasskey records a sign-in with the active credential id, in one atomic statement:
	// the stored counter moves to u.SignCount only if that is greater (or both are zero, an
	// authenticator without a counter). ErrConflict when the counter did not move forward:
	// the credential's CloneWarning is then set and the sign-in must be refused; of
	// concurrent uses with the same counter exactly one succeeds. ErrNotFound if the
	// credential is unknown or revoked.
	UsePasskey(ctx context.Context, id string, u PasskeyUse) error
	// RevokePasskey revokes the active credential id of the account with subject at at;
	// ErrNotFound if there is no such active credential.
	RevokePasskey(ctx context.Context, subject, id string, at time.Time) error
	// DeleteSubjectPasskeys deletes every credential of the account with subject (the
	// account is deleted) and returns how many it deleted.
	DeleteSubjectPasskeys(ctx context.Context, subject string) (int, error)
}
