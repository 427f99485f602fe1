package remote

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// Breaker defaults: a few failures in a row are an outage, not bad luck; the cool-down is
// short, so a recovered issuer is used again within seconds.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCoolDown = 10 * time.Second
)

// ErrCircuitOpen: the endpoint failed (or timed out) too many times in a row, so it was not
// asked; the call failed at once. Returned errors also carry RetryAfter() time.Duration, the
// time left before the endpoint is tried again.
var ErrCircuitOpen = errors.New("circuit open: the endpoint failed repeatedly, not asked")

// BreakerState is where a Breaker stands; its value is the gauge's (0 closed, 1 half-open,
// 2 open).
type BreakerState int

const (
	BreakerClosed   BreakerState = BreakerState(gobreaker.StateClosed)
	BreakerHalfOpen BreakerState = BreakerState(gobreaker.StateHalfOpen)
	BreakerOpen     BreakerState = BreakerState(gobreaker.StateOpen)
)

func (s BreakerState) String() string { return gobreaker.State(s).String() }

// BreakerOptions tune a Breaker; zero values take the defaults.
type BreakerOptions struct {
	// Failures is how many failed calls in a row open the breaker (default 5). A call fails
	// when it cannot connect, times out, or gets no usable answer (5xx, not JSON, too large).
	Failures int
	// CoolDown is how long an open breaker fails calls at once before it lets one probe
	// through (default 10s). The probe's success closes it; its failure opens it again.
	CoolDown time.Duration
	// Name says which endpoint, in the logs ("introspection_endpoint https://…").
	Name   string
	Logger *zap.Logger
	// OnReject, when set, hears every call failed at once (metrics).
	OnReject func()
}

// Breaker is a circuit breaker for one endpoint of a remote issuer
// (github.com/sony/gobreaker): after Failures failed calls in a row it fails calls at once
// with ErrCircuitOpen for CoolDown, then lets a single call through as a probe (the others
// still fail at once), and closes again when that probe succeeds. Without it, every request
// needing the endpoint while the issuer hangs would wait for the full timeout. It never makes
// anything pass: a failed-at-once call is as unavailable as a timed-out one. Share one Breaker
// between the clients of one endpoint.
type Breaker struct {
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	coolDown  time.Duration
	openUntil atomic.Int64 // Unix ns: when the open breaker next lets a probe through
	onReject  func()
}

// NewBreaker returns a closed breaker.
func NewBreaker(opts BreakerOptions) *Breaker {
	if opts.Failures <= 0 {
		opts.Failures = DefaultBreakerFailures
	}
	if opts.CoolDown <= 0 {
		opts.CoolDown = DefaultBreakerCoolDown
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	b := &Breaker{coolDown: opts.CoolDown, onReject: opts.OnReject}
	failures := uint32(opts.Failures)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        opts.Name,
		MaxRequests: 1, // half-open: one probe at a time
		Timeout:     opts.CoolDown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// Only the endpoint's failures count: an endpoint refusing our credentials is up
		// (and answers quickly), and a call cancelled because we shut down says nothing.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, ErrClientAuth) },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		// Called with the breaker's lock held: only remember and log here.
		OnStateChange: func(name string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateOpen:
				b.openUntil.Store(time.Now().Add(opts.CoolDown).UnixNano())
				log.Warn("remote endpoint keeps failing; requests that need it fail at once (503) until a probe succeeds",
					zap.String("endpoint", name), zap.Duration("probe_in", opts.CoolDown), zap.Stringer("was", from))
			case gobreaker.StateClosed:
				log.Info("remote endpoint answers again", zap.String("endpoint", name))
			}
		},
	})
	return b
}

// State returns where the breaker stands now.
func (b *Breaker) State() BreakerState { return BreakerState(b.cb.State()) }

// allow admits a call, or fails it at once; done must be called with the call's outcome.
func (b *Breaker) allow() (done func(error), err error) {
	done, err = b.cb.Allow()
	if err == nil {
		return done, nil
	}
	if errors.Is(err, gobreaker.ErrOpenState) {
		return nil, b.failFast(BreakerOpen)
	}
	return nil, b.failFast(BreakerHalfOpen) // a probe is under way
}

// failFast counts a call failed at once in state st and returns its error.
func (b *Breaker) failFast(st BreakerState) error {
	if b.onReject != nil {
		b.onReject()
	}
	wait := time.Second // half-open: the probe will tell soon
	if st == BreakerOpen {
		wait = max(time.Until(time.Unix(0, b.openUntil.Load())), time.Second)
	}
	return &openError{retryAfter: wait}
}

// openError is ErrCircuitOpen with the time left before the endpoint is tried again.
type openError struct{ retryAfter time.Duration }

func (e *openError) Error() string {
	return fmt.Sprintf("%v (next try in %v)", ErrCircuitOpen, e.retryAfter.Round(time.Second))
}
func (e *openError) Unwrap() error { return ErrCircuitOpen }

// RetryAfter is how long a client should wait before asking again.
func (e *openError) RetryAfter() time.Duration { return e.retryAfter }
