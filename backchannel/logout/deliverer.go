package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Defaults of Options.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxAge       = 24 * time.Hour
	DefaultWorkers      = 8
	DefaultPollInterval = time.Second
	DefaultExpiryHold   = 2 * time.Second
	// leaseMargin is added to Timeout to make a claim's lease: long enough for the POST and
	// the store write that records its outcome, so no other instance takes the delivery
	// while this one is still on it.
	leaseMargin = 10 * time.Second
	// maxResponseBytes bounds what is read of a receiver's answer: only the status matters.
	maxResponseBytes = 4 << 10
	// maxErrorLen bounds the last error kept with a delivery.
	maxErrorLen = 300
)

// Options tune a Deliverer; zero values take the defaults above.
type Options struct {
	// Timeout bounds one delivery attempt: connect, send, and the receiver's answer.
	Timeout time.Duration
	// MaxAge is how long a delivery is retried after it was queued; then it is dropped
	// with a Warn log line.
	MaxAge time.Duration
	// Workers is how many deliveries are attempted at once by this instance.
	Workers int
	// AllowPrivate lets logout URIs reach private, loopback and link-local addresses and
	// plain http (the server's outbound_allow_private).
	AllowPrivate bool
	// PollInterval is how often the outbox is checked for retries that came due and for
	// deliveries queued by other instances (in-process queueing wakes the workers at once).
	PollInterval time.Duration
	// ExpiryHold delays the first attempt of what SessionExpired queues (see there).
	ExpiryHold time.Duration
	Backoff    Backoff
	Now        func() time.Time
	Logger     *zap.Logger
	// OnOutcome, when set, hears each attempt's outcome: "delivered", "retry" or "dropped"
	// (metrics).
	OnOutcome func(result string)
}

// Store is what the Deliverer needs of the store: the outbox, and which clients had a grant
// in a session.
type Store interface {
	store.LogoutOutboxStore
	SessionClientIDs(ctx context.Context, sessionID string) ([]string, error)
}

// Deps are the parts of the server a Deliverer works with.
type Deps struct {
	Store  Store
	Issuer string
	Signer Signer
	// Client returns the client as it is now (store.ErrNotFound when it is gone): a
	// delivery goes to the client's current logout URI, signed with its current algorithm.
	Client  func(ctx context.Context, id string) (*store.Client, error)
	Subject SubjectFunc
}

// Deliverer queues logout tokens in the outbox and delivers them. Several Deliverers (one per
// instance) may share one outbox: claims lease each delivery to one of them at a time, so
// every receiver gets each token once unless an attempt's outcome is lost (a crash after the
// POST): delivery is at least once, and the token's jti lets the receiver drop a repeat.
type Deliverer struct {
	deps  Deps
	opts  Options
	log   *zap.Logger
	fetch *outbound.Fetcher

	wake     chan struct{}  // buffer of one: wake-ups coalesce
	slots    chan struct{}  // one token per running attempt
	inflight sync.WaitGroup // running attempts, waited for by Close

	startOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// New returns a Deliverer; Start runs it.
func New(deps Deps, opts Options) (*Deliverer, error) {
	if deps.Store == nil || deps.Signer == nil || deps.Client == nil || deps.Subject == nil || deps.Issuer == "" {
		return nil, errors.New("logout: store, issuer, signer, client lookup and subject function are required")
	}
	opts = opts.withDefaults()
	return &Deliverer{
		deps: deps,
		opts: opts,
		log:  opts.Logger,
		fetch: outbound.New(outbound.Options{
			AllowPrivate: opts.AllowPrivate,
			Timeout:      opts.Timeout,
			MaxBytes:     maxResponseBytes,
		}),
		wake:  make(chan struct{}, 1),
		slots: make(chan struct{}, opts.Workers),
		done:  make(chan struct{}),
	}, nil
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ExpiryHold <= 0 {
		o.ExpiryHold = DefaultExpiryHold
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Start runs the delivery loop until Close. Deliveries already in the outbox (queued before a
// restart, or by another instance) are picked up at once.
func (d *Deliverer) Start() {
	d.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		d.stop = cancel
		go d.run(ctx)
	})
}

// Close stops claiming deliveries and waits for the attempts under way (each bounded by
// Timeout) to finish and record their outcome. Pending deliveries stay in the outbox for the
// next start or another instance.
func (d *Deliverer) Close() {
	d.Start() // so that done is always closed, even if Start was never called
	d.stop()
	<-d.done
}

// SessionEnded queues a logout token for each client that had a grant in the session and
// has a back-channel logout URI, and wakes the workers. Call it before the session's row is
// deleted: the clients are found through it. Queueing the same session twice is harmless
// (the outbox keeps one delivery per session and client).
func (d *Deliverer) SessionEnded(ctx context.Context, subject, sessionID string) error {
	return d.queue(ctx, subject, sessionID, 0)
}

// SessionExpired is SessionEnded for the sessions an expiry pass ends, a pass every instance
// runs: two instances may list the same session and both queue it. While the first one's
// deliveries are pending, the outbox's (session, client) key skips the second's; the hold
// keeps them pending (and not yet sent) well past the moment the first instance deletes the
// session, so a second instance that checked the session still exists just before queueing
// finds them, instead of queueing a second token after the first was already delivered.
func (d *Deliverer) SessionExpired(ctx context.Context, subject, sessionID string) error {
	return d.queue(ctx, subject, sessionID, d.opts.ExpiryHold)
}

// queue stores the deliveries of a session's end, first due after hold.
func (d *Deliverer) queue(ctx context.Context, subject, sessionID string, hold time.Duration) error {
	clientIDs, err := d.deps.Store.SessionClientIDs(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("logout: listing the clients of session: %w", err)
	}
	now := d.opts.Now()
	var ds []*store.LogoutDelivery
	for _, id := range clientIDs {
		c, err := d.deps.Client(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since: nobody to tell
		} else if err != nil {
			return fmt.Errorf("logout: reading client: %w", err)
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		ds = append(ds, &store.LogoutDelivery{
			ClientID:      id,
			Subject:       subject,
			SessionID:     sessionID,
			JTI:           newJTI(),
			CreatedAt:     now,
			NextAttemptAt: now.Add(hold),
			ExpiresAt:     now.Add(d.opts.MaxAge),
		})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := d.deps.Store.EnqueueLogoutDeliveries(ctx, ds); err != nil {
		return fmt.Errorf("logout: queueing deliveries: %w", err)
	}
	d.log.Debug("back-channel logouts queued", zap.String("sid", sessionID), zap.Int("clients", len(ds)))
	if hold == 0 {
		d.Wake()
	}
	return nil
}

// Wake makes the workers look at the outbox now.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Deliverer) run(ctx context.Context) {
	defer close(d.done)
	defer d.inflight.Wait()
	tick := time.NewTicker(d.opts.PollInterval)
	defer tick.Stop()
	for {
		d.dispatch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// dispatch claims as many due deliveries as there are free workers and starts them, until the
// outbox has no more due ones or every worker is busy (a finishing worker wakes the loop).
func (d *Deliverer) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		free := cap(d.slots) - len(d.slots)
		if free == 0 {
			return
		}
		now := d.opts.Now()
		batch, err := d.deps.Store.ClaimLogoutDeliveries(ctx, now, now.Add(d.opts.Timeout+leaseMargin), free)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("claiming back-channel logout deliveries failed", zap.Error(err))
			}
			return
		}
		for _, ld := range batch {
			d.slots <- struct{}{}
			d.inflight.Add(1)
			go d.attempt(ld)
		}
		if len(batch) < free {
			return
		}
	}
}

// attempt makes one delivery attempt and records its outcome. It does not stop with Close:
// it is bounded, and finishing it spares the receiver a repeat after the lease.
func (d *Deliverer) attempt(ld *store.LogoutDelivery) {
	defer func() {
		<-d.slots
		d.inflight.Done()
		d.Wake() // a worker is free: more may be due
	}()
	// Not the run loop's context: Close lets this attempt finish. The bound covers the POST
	// (Timeout) and the store writes around it, within the lease.
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout+leaseMargin)
	defer cancel()
	if !d.opts.Now().Before(ld.ExpiresAt) {
		// Found past its age (a retry due at the very end, or an outage): this claim is no
		// attempt, so the log counts only the ones made.
		ld.Attempts--
		d.drop(ctx, ld, "maximum age reached", zap.String("last_error", ld.LastError))
		return
	}
	c, err := d.deps.Client(ctx, ld.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.discard(ctx, ld, "the client is gone")
		return
	case err != nil:
		d.retry(ctx, ld, fmt.Errorf("reading the client: %w", err))
		return
	case c.BackchannelLogoutURI == "":
		d.discard(ctx, ld, "the client has no backchannel_logout_uri any more")
		return
	}
	token, err := SignToken(d.deps.Signer, c, TokenClaims(d.deps.Issuer, c, ld, d.deps.Subject, d.opts.Now()))
	if err != nil {
		d.retry(ctx, ld, fmt.Errorf("signing the logout token: %w", err))
		return
	}
	if _, err := d.fetch.Post(ctx, c.BackchannelLogoutURI, url.Values{"logout_token": {token}}); err != nil {
		d.retry(ctx, ld, err)
		return
	}
	if err := d.deps.Store.DeleteLogoutDelivery(ctx, ld.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		// The lease will run out and the token be sent again: at least once.
		d.log.Warn("recording a back-channel logout delivery failed", zap.String("client_id", ld.ClientID), zap.Error(err))
	}
	d.outcome("delivered")
	d.log.Debug("back-channel logout delivered", zap.String("client_id", ld.ClientID),
		zap.String("sid", ld.SessionID), zap.Int("attempts", ld.Attempts))
}

// retry schedules the next attempt after a failed one, or drops the delivery when the next
// attempt would come after its maximum age.
func (d *Deliverer) retry(ctx context.Context, ld *store.LogoutDelivery, cause error) {
	ld.LastError = truncate(cause.Error())
	next := d.opts.Now().Add(d.opts.Backoff.Delay(ld.Attempts))
	if !next.Before(ld.ExpiresAt) {
		d.drop(ctx, ld, "maximum age reached", zap.String("last_error", ld.LastError))
		return
	}
	d.outcome("retry")
	fields := []zap.Field{zap.String("client_id", ld.ClientID), zap.String("sid", ld.SessionID),
		zap.Int("attempts", ld.Attempts), zap.Time("next_attempt", next), zap.Error(cause)}
	// A 4xx is the receiver refusing the token, likely a misconfiguration worth a look;
	// it is still retried, since it may be fixed before the maximum age.
	var se *outbound.StatusError
	if errors.As(cause, &se) && se.Code >= http.StatusBadRequest && se.Code < http.StatusInternalServerError {
		d.log.Warn("back-channel logout refused by the client; retrying", fields...)
	} else {
		d.log.Info("back-channel logout failed; retrying", fields...)
	}
	if err := d.deps.Store.RetryLogoutDelivery(ctx, ld.ID, next, ld.LastError); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("recording a back-channel logout retry failed", zap.String("client_id", ld.ClientID), zap.Error(err))
	}
}

// drop gives up on a delivery that could not be made in time: the client never learns of the
// logout, which someone should know.
func (d *Deliverer) drop(ctx context.Context, ld *store.LogoutDelivery, reason string, extra ...zap.Field) {
	d.outcome("dropped")
	d.log.Warn("back-channel logout dropped", append([]zap.Field{zap.String("reason", reason),
		zap.String("client_id", ld.ClientID), zap.String("sid", ld.SessionID),
		zap.Int("attempts", ld.Attempts), zap.Time("queued_at", ld.CreatedAt)}, extra...)...)
	d.remove(ctx, ld)
}

// discard removes a delivery that has no receiver any more (client deleted or its URI removed).
func (d *Deliverer) discard(ctx context.Context, ld *store.LogoutDelivery, reason string) {
	d.log.Info("back-channel logout discarded", zap.String("reason", reason),
		zap.String("client_id", ld.ClientID), zap.String("sid", ld.SessionID))
	d.remove(ctx, ld)
}

func (d *Deliverer) remove(ctx context.Context, ld *store.LogoutDelivery) {
	if err := d.deps.Store.DeleteLogoutDelivery(ctx, ld.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("removing a back-channel logout delivery failed", zap.String("client_id", ld.ClientID), zap.Error(err))
	}
}

func (d *Deliverer) outcome(result string) {
	if d.opts.OnOutcome != nil {
		d.opts.OnOutcome(result)
	}
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}
