// Package manage is the one place that changes clients, resources and client–resource links
// at run time, and revokes what management may revoke (consents, grants, sessions, initial
// access tokens). The admin API, the CLI (through it) and dynamic registration all call it, so
// every runtime change passes the same rules (package spec), is refused the same way for what
// the configuration owns, invalidates the server's caches and is logged once.
//
// It knows the authorization server only through Deps: the store, the server's spec.Env, its
// sealer, what its configuration declares, and a hook that drops its caches.
package manage

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Errors for callers to map to statuses (404, 409, 409). Invalid input is a *spec.Error.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConfigured refuses a runtime change to what the configuration declares: the next
	// start would silently undo it.
	ErrConfigured = errors.New("declared in the configuration; change it there (the next start would undo a change made here)")
)

// DefaultOverlap asks RotateSecret for the server's configured overlap.
const DefaultOverlap time.Duration = -1

// Deps is what the service needs of the authorization server.
type Deps struct {
	Store store.Store
	// Env is the server's validation environment (signing algorithms, link enforcement).
	Env spec.Env
	// Seal and Open encrypt and decrypt client secrets at rest (client_secret_jwt needs the
	// secret itself), with the client ID as associated data.
	Seal func(plaintext, ad []byte) ([]byte, error)
	Open func(sealed, ad []byte) ([]byte, error)
	// ConfiguredClient and ConfiguredResource report whether the configuration declares the
	// client ID or resource identifier: those are refused with ErrConfigured.
	ConfiguredClient   func(id string) bool
	ConfiguredResource func(identifier string) bool
	// Changed is called after every write: the server drops its client, resource and link
	// lookups and its cached in-process token validations, so the change applies at once.
	Changed func()
	// SessionEnding is called before a session is deleted (an operator's sign-out), so its
	// clients can be told (back-channel logout); it reports its own failures.
	SessionEnding func(ctx context.Context, subject, sessionID string)
	// SecretRotationOverlap is how long RotateSecret keeps the previous secret valid when
	// asked for DefaultOverlap.
	SecretRotationOverlap time.Duration
	// AccessTokenTTL is the server's default access-token lifetime; with the resources' own
	// it bounds how long a client's cut-off (revoking all its sealed tokens) must be kept.
	AccessTokenTTL time.Duration
	Now            func() time.Time
	Logger         *zap.Logger
	// Audit hears every change (audit package); the zero Log writes nothing.
	Audit audit.Log
}

// Service changes clients, resources and links at run time. Make it with New; it is safe for
// concurrent use.
type Service struct {
	d   Deps
	log *zap.Logger
}

// New returns a Service over d. Nil hooks mean "nothing configured" and "no caches".
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.ConfiguredClient == nil {
		d.ConfiguredClient = func(string) bool { return false }
	}
	if d.ConfiguredResource == nil {
		d.ConfiguredResource = func(string) bool { return false }
	}
	if d.Changed == nil {
		d.Changed = func() {}
	}
	if d.SessionEnding == nil {
		d.SessionEnding = func(context.Context, string, string) {}
	}
	return &Service{d: d, log: d.Logger}
}

// Env returns the validation environment the service checks input against.
func (s *Service) Env() spec.Env { return s.d.Env }

// IsConfiguredClient reports whether the configuration declares the client.
func (s *Service) IsConfiguredClient(id string) bool { return s.d.ConfiguredClient(id) }

// IsConfiguredResource reports whether the configuration declares the resource.
func (s *Service) IsConfiguredResource(identifier string) bool {
	return s.d.ConfiguredResource(identifier)
}

// invalid is a refused input that spec's rules do not cover (a reference to something missing).
func invalid(subject, code, field, msg string) *spec.Error {
	return &spec.Error{Subject: subject, Field: field, Code: code, Msg: msg}
}
