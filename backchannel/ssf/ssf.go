// Package ssf is the authorization server's OpenID Shared Signals Framework transmitter: it
// serves the store's revocation event log (store.RevocationEventStore) to gateways as
// Security Event Tokens (RFC 8417), over streams they create themselves (SSF 1.0 §8) and
// read with RFC 8936 poll delivery, long-polling so that a revocation reaches them within
// about a second.
//
// Endpoints, below the issuer:
//
//	GET    /.well-known/ssf-configuration[{issuer path}]  transmitter metadata (public)
//	POST   /ssf/streams                                  create a stream
//	GET    /ssf/streams[?stream_id=]                      read one stream, or list the caller's
//	DELETE /ssf/streams?stream_id=                        delete a stream
//	GET    /ssf/status?stream_id=                         stream status
//	POST   /ssf/poll/{stream_id}                          RFC 8936 poll: ack, then receive SETs
//
// Every /ssf endpoint authenticates its caller with Deps.Authenticate (the authorization
// server passes HTTP Basic client authentication, limited to resource-server clients). A
// caller only ever sees its own streams: another client's stream is 404, like a missing one.
//
// The package imports neither Caddy nor authserver: it is given an authenticator, a signer
// and the store, and hands back an http.Handler.
package ssf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Defaults of Options.
const (
	DefaultLongPollWait     = 20 * time.Second
	DefaultStreamInactivity = 7 * 24 * time.Hour
	DefaultMaxPollsClient   = 8
	// maxLongPollWait keeps a waiting poll well inside common proxy and client timeouts.
	maxLongPollWait = 5 * time.Minute
)

// Limits of the wire protocol.
const (
	// maxBodyBytes bounds every request body; real ones are a few hundred bytes (a poll
	// acknowledging 1000 SETs is ~25 KiB).
	maxBodyBytes = 64 << 10
	// defaultMaxEvents and maxMaxEvents bound one poll response (RFC 8936 maxEvents).
	defaultMaxEvents = 100
	maxMaxEvents     = 1000
	// maxStreamsPerClient bounds the streams one client keeps; creating one more deletes its
	// least recently polled stream (a gateway that lost its stream ID on a restart).
	maxStreamsPerClient = 256
	// maxDescriptionLen bounds a stream's description.
	maxDescriptionLen = 256
)

// Options are the transmitter's settings; zero values mean the defaults.
type Options struct {
	// Enabled serves the transmitter; nil means on. Off, its endpoints answer 404.
	Enabled *bool
	// LongPollWait is how long a poll with returnImmediately false waits for an event before
	// answering empty (default 20 s).
	LongPollWait time.Duration
	// StreamInactivity deletes streams not polled for this long (default 7 days); it is the
	// inactivity_timeout of the stream configuration.
	StreamInactivity time.Duration
	// MaxPollsPerClient bounds one client's concurrent waiting polls (default 8); one more
	// gets 429.
	MaxPollsPerClient int
}

// On reports whether the transmitter is enabled.
func (o Options) On() bool { return o.Enabled == nil || *o.Enabled }

// Validate checks the options.
func (o Options) Validate() error {
	if o.LongPollWait < 0 || o.StreamInactivity < 0 || o.MaxPollsPerClient < 0 {
		return errors.New("shared_signals: long_poll, stream_inactivity and the poll limit must not be negative")
	}
	if o.LongPollWait > maxLongPollWait {
		return fmt.Errorf("shared_signals: long_poll must be at most %s", maxLongPollWait)
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	if o.LongPollWait == 0 {
		o.LongPollWait = DefaultLongPollWait
	}
	if o.StreamInactivity == 0 {
		o.StreamInactivity = DefaultStreamInactivity
	}
	if o.MaxPollsPerClient == 0 {
		o.MaxPollsPerClient = DefaultMaxPollsClient
	}
	return o, nil
}

// Authenticate returns the ID of the client that sent r, or an error: ErrUnauthenticated
// (401), ErrForbidden (403), anything else a failure of the server (500, logged).
type Authenticate func(r *http.Request) (clientID string, err error)

// Errors of Authenticate. Wrap them to carry the reason to the log; it is never sent.
var (
	ErrUnauthenticated = errors.New("ssf: client authentication failed")
	ErrForbidden       = errors.New("ssf: the client may not read the shared signals stream")
)

// Signer signs a JWS (keys.Manager): kid "" means the current key of alg.
type Signer interface {
	Sign(alg, kid, typ string, payload []byte) (string, error)
}

// Store is the part of the store the transmitter reads and writes.
type Store interface {
	store.RevocationEventStore
	store.EventStreamStore
}

// Deps are what the transmitter is built on.
type Deps struct {
	// Issuer is the authorization server's issuer identifier: the iss of every SET and the
	// base of every endpoint URL.
	Issuer string
	// JWKSURI is where receivers find the keys that verify the SETs.
	JWKSURI string
	Auth    Authenticate
	Signer  Signer
	// SigningAlg is the JWS alg of the SETs (an asymmetric one the Signer holds a key for).
	SigningAlg string
	Store      Store
	// OnEvents is called after each wake-up of the event watcher (events appended by any
	// instance sharing the store); the authorization server drops its cached in-process
	// validations there. May be nil.
	OnEvents func()
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

// Server is the transmitter: an http.Handler for the paths it Owns, and the one watcher of
// the event log that wakes every waiting poll. Start it with Start, stop it with Close.
type Server struct {
	opts  Options
	deps  Deps
	log   *zap.Logger
	paths paths
	hub   *hub
	polls *pollLimiter
	// closing ends waiting polls when the server shuts down (a config reload must not wait
	// for them).
	closing   chan struct{}
	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// paths are the request paths the transmitter serves, derived from the issuer's path.
type paths struct {
	metadata []string
	streams  string
	status   string
	poll     string // prefix; the stream ID follows
}

// New returns a transmitter; call Start to begin watching the event log.
func New(opts Options, deps Deps) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Signer == nil || deps.Auth == nil || deps.SigningAlg == "" {
		return nil, errors.New("ssf: a store, a signer, its alg and an authenticator are required")
	}
	u, err := url.Parse(deps.Issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("ssf: issuer %q is not an absolute URL", deps.Issuer)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	base := strings.TrimSuffix(u.EscapedPath(), "/")
	p := paths{
		metadata: []string{base + "/.well-known/ssf-configuration"},
		streams:  base + "/ssf/streams",
		status:   base + "/ssf/status",
		poll:     base + "/ssf/poll/",
	}
	if base != "" {
		// Like RFC 8414 §3.1: the well-known segment before the issuer's path.
		p.metadata = append(p.metadata, "/.well-known/ssf-configuration"+base)
	}
	return &Server{
		opts:    opts,
		deps:    deps,
		log:     deps.Logger,
		paths:   p,
		hub:     newHub(),
		polls:   newPollLimiter(opts.MaxPollsPerClient),
		closing: make(chan struct{}),
	}, nil
}

// Start runs the event watcher until Close.
func (s *Server) Start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go func() {
		defer close(s.done)
		s.watch(ctx)
	}()
}

// Close stops the watcher and answers every waiting poll at once (empty).
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	if s.stop != nil {
		s.stop()
		<-s.done
	}
}

// Owns reports whether path is one of the transmitter's endpoints.
func (s *Server) Owns(path string) bool {
	switch {
	case path == s.paths.streams || path == s.paths.status:
		return true
	case strings.HasPrefix(path, s.paths.poll):
		return true
	}
	for _, m := range s.paths.metadata {
		if path == m {
			return true
		}
	}
	return false
}

// ServeHTTP routes a request to its endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == s.paths.streams:
		s.handleStreams(w, r)
	case path == s.paths.status:
		s.handleStatus(w, r)
	case strings.HasPrefix(path, s.paths.poll):
		s.handlePoll(w, r, strings.TrimPrefix(path, s.paths.poll))
	case s.Owns(path):
		s.handleMetadata(w, r)
	default:
		http.NotFound(w, r)
	}
}

// DeleteIdleStreams deletes the streams not polled for the inactivity timeout. The
// authorization server calls it from its cleanup loop.
func (s *Server) DeleteIdleStreams(ctx context.Context) {
	n, err := s.deps.Store.DeleteIdleEventStreams(ctx, s.deps.Now().Add(-s.opts.StreamInactivity))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("deleting idle shared signals streams failed", zap.Error(err))
	case n > 0:
		s.log.Info("deleted idle shared signals streams", zap.Int("streams", n))
	}
}

// endpoint returns the absolute URL of a path below the issuer.
func (s *Server) endpoint(path string) string {
	return strings.TrimSuffix(s.deps.Issuer, "/") + path
}

// Waiting returns how many polls of the client are waiting for events (metrics, tests).
func (s *Server) Waiting(clientID string) int { return s.polls.count(clientID) }
