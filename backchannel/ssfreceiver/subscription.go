// Package ssfreceiver is the gateway side of the authorization server's revocation stream: a
// Shared Signals Framework subscription (RFC 8936 long-poll delivery) that verifies each
// Security Event Token and keeps a memory-bounded set of revoked tokens, grants and sessions,
// which rsvalidate consults on every request. It never imports Caddy.
package ssfreceiver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver/revoked"
	"github.com/caddy-oauth/caddy-oauth/outbound"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// Defaults for the zero values of Config.
const (
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultPollTimeout   = 90 * time.Second // above any sensible long-poll wait (default 20 s)
	DefaultSweepInterval = time.Minute
	// maxEvents is how many SETs one poll asks for.
	maxEvents = 1000
	// maxPollBytes bounds one poll answer: 1000 SETs of about 1 KiB each, with room to spare.
	maxPollBytes = 8 << 20
	// downLogInterval spaces the warnings while the stream is unreachable.
	downLogInterval = time.Minute
	// closeTimeout bounds the stream deletion on Close (a config reload waits for it).
	closeTimeout = 2 * time.Second
)

// streamRef names a stream at the transmitter.
type streamRef struct{ id, configEndpoint string }

// Config configures a Subscription.
type Config struct {
	// Issuer is the authorization server (its SSF metadata is at the well-known location).
	Issuer string
	// ClientID and ClientSecret authenticate the gateway (client_secret_basic); the client
	// must be a resource-server client of the issuer.
	ClientID, ClientSecret string
	// Keys verifies SETs: the issuer's JWKS (rsvalidate/remote.JWKSCache refetches on an
	// unknown kid).
	Keys rsvalidate.KeySource
	// AllowPrivate lets the stream reach private and loopback addresses and plain http.
	AllowPrivate bool
	// FailClosedAfter: once the stream has been unreachable this long, Err reports
	// rsvalidate.ErrUnavailable (requests fail with 503). 0 keeps serving with the last state.
	FailClosedAfter time.Duration
	// OnTokenHash is called with the SHA-256 of each opaque token revoked, so cached
	// introspection answers can be dropped. Optional.
	OnTokenHash func(digest [sha256.Size]byte)
	// Description names the stream at the transmitter (e.g. the gateway's host).
	Description string
	Logger      *zap.Logger
	// The rest have defaults; tests shorten them.
	MinBackoff, MaxBackoff time.Duration
	PollTimeout            time.Duration
	SweepInterval          time.Duration
	Now                    func() time.Time
}

// Subscription keeps one gateway's view of one issuer's revocations. Start it once; it is
// safe for concurrent use.
type Subscription struct {
	cfg     Config
	log     *zap.Logger
	client  *client
	verify  *verifier
	set     *revoked.Set
	started time.Time

	// lastOK is the Unix nanoseconds of the last successful poll, downSince those of the
	// first failure after it (0 while healthy).
	lastOK, downSince atomic.Int64

	// stream is the current stream, for deleting it on Close.
	stream atomic.Pointer[streamRef]

	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and returns a stopped Subscription.
func New(cfg Config) (*Subscription, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("ssfreceiver: issuer, client ID and client secret are required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("ssfreceiver: a key source is required")
	}
	if cfg.FailClosedAfter < 0 {
		return nil, errors.New("ssfreceiver: negative fail_closed_after")
	}
	if _, err := configurationURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("ssfreceiver: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MinBackoff = cmp(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(cmp(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.PollTimeout = cmp(cfg.PollTimeout, DefaultPollTimeout)
	cfg.SweepInterval = cmp(cfg.SweepInterval, DefaultSweepInterval)
	s := &Subscription{
		cfg: cfg,
		log: cfg.Logger.With(zap.String("issuer", cfg.Issuer), zap.String("client_id", cfg.ClientID)),
		client: &client{
			issuer: cfg.Issuer,
			authz:  basicAuth(cfg.ClientID, cfg.ClientSecret),
			meta:   outbound.New(outbound.Options{AllowPrivate: cfg.AllowPrivate}),
			poll:   outbound.New(outbound.Options{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.PollTimeout, MaxBytes: maxPollBytes}),
		},
		verify: &verifier{issuer: cfg.Issuer, audience: cfg.ClientID, keys: cfg.Keys},
		set:    revoked.New(cfg.Now),
	}
	return s, nil
}

func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Start begins subscribing in the background; Close stops it.
func (s *Subscription) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	s.started = s.cfg.Now()
	s.downSince.Store(s.started.UnixNano()) // not caught up yet: down from the start
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		wg.Go(func() { s.sweepLoop(ctx) })
		s.run(ctx)
		wg.Wait()
	}()
}

// Close stops the subscription, waits for it, and deletes its stream at the transmitter
// (best effort: one that stays is deleted there after its inactivity timeout).
func (s *Subscription) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	if st := s.stream.Load(); st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := s.client.deleteStream(ctx, st.configEndpoint, st.id); err != nil {
			s.log.Debug("could not delete the revocation stream", zap.String("stream_id", st.id), zap.Error(err))
		}
	}
	return nil
}

// Set is the revoked set the subscription maintains.
func (s *Subscription) Set() *revoked.Set { return s.set }

// Revoked reports whether the token is covered by a revocation learned from the stream.
func (s *Subscription) Revoked(token string, info *rsvalidate.TokenInfo) bool {
	grantID, _ := info.Claims["grant_id"].(string)
	sid, _ := info.Claims["sid"].(string)
	return s.set.Revoked(token, info.JTI, grantID, sid) || s.set.ClientCutOff(info.ClientID, info.IssuedAt)
}

// LastSuccess is the time of the last successful poll (zero before the first).
func (s *Subscription) LastSuccess() time.Time {
	if ns := s.lastOK.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Err is rsvalidate.ErrUnavailable once the stream has been unreachable longer than
// FailClosedAfter (never with 0), else nil.
func (s *Subscription) Err() error { return s.errAfter(s.cfg.FailClosedAfter) }

func (s *Subscription) errAfter(failClosedAfter time.Duration) error {
	if failClosedAfter <= 0 {
		return nil
	}
	down := s.downSince.Load()
	if down == 0 || s.cfg.Now().Sub(time.Unix(0, down)) <= failClosedAfter {
		return nil
	}
	return fmt.Errorf("%w: revocation stream unreachable since %s", rsvalidate.ErrUnavailable, time.Unix(0, down).UTC().Format(time.RFC3339))
}

// WithFailClosedAfter returns a view of the subscription with its own fail-closed bound:
// gateways sharing one subscription may each choose what an outage means for them.
func (s *Subscription) WithFailClosedAfter(d time.Duration) rsvalidate.Revocations {
	return view{s, d}
}

type view struct {
	s               *Subscription
	failClosedAfter time.Duration
}

func (v view) Revoked(token string, info *rsvalidate.TokenInfo) bool { return v.s.Revoked(token, info) }
func (v view) Err() error                                            { return v.s.errAfter(v.failClosedAfter) }

// run is the subscription loop: get a stream, then long-poll it, acking every SET of one
// answer in the next poll. Failures keep the revoked set as it is and retry with backoff.
func (s *Subscription) run(ctx context.Context) {
	var (
		endpoint string
		acks     []string
		errs     map[string]setError
		failures int
		lastWarn time.Time
	)
	for ctx.Err() == nil {
		var err error
		if endpoint == "" {
			endpoint, err = s.subscribe(ctx)
			acks, errs = nil, nil // they belonged to the old stream
		}
		if err == nil {
			var resp *pollResponse
			// While not caught up (starting, or after an outage) the poll returns at once, so
			// health is known without waiting out a long poll; once up to date it long-polls.
			catchingUp := s.downSince.Load() != 0
			resp, err = s.client.pollOnce(ctx, endpoint, &pollRequest{MaxEvents: maxEvents, ReturnImmediately: catchingUp,
				Ack: orEmpty(acks), SetErrs: errs})
			if err == nil {
				s.healthy()
				var retry bool
				if acks, errs, retry = s.apply(ctx, resp.Sets); !retry {
					failures = 0
					continue
				}
				// Nothing acknowledged: the transmitter sends the batch again after a pause.
				failures++
				if !sleep(ctx, backoff(failures, s.cfg.MinBackoff, s.cfg.MaxBackoff)) {
					return
				}
				continue
			}
			if errors.Is(err, errStreamGone) {
				s.log.Warn("revocation stream gone at the transmitter; creating a new one")
				endpoint = ""
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.failed()
		failures++
		now := s.cfg.Now()
		if now.Sub(lastWarn) >= downLogInterval {
			lastWarn = now
			s.log.Warn("revocation stream unreachable; keeping the last known revocations and retrying",
				zap.Time("down_since", time.Unix(0, s.downSince.Load())),
				zap.Bool("fail_closed", s.cfg.FailClosedAfter > 0), zap.Duration("fail_closed_after", s.cfg.FailClosedAfter),
				zap.Error(err))
		} else {
			s.log.Debug("revocation stream retry", zap.Error(err))
		}
		if !sleep(ctx, backoff(failures, s.cfg.MinBackoff, s.cfg.MaxBackoff)) {
			return
		}
	}
}

func orEmpty(acks []string) []string {
	if acks == nil {
		return []string{}
	}
	return acks
}

// subscribe discovers the transmitter and creates a poll stream; it returns the poll URL.
func (s *Subscription) subscribe(ctx context.Context) (string, error) {
	tc, err := s.client.discover(ctx)
	if err != nil {
		return "", err
	}
	sc, err := s.client.createStream(ctx, tc.ConfigurationEndpoint, s.cfg.Description)
	if err != nil {
		return "", err
	}
	s.stream.Store(&streamRef{id: sc.StreamID, configEndpoint: tc.ConfigurationEndpoint})
	s.log.Info("subscribed to the revocation stream", zap.String("stream_id", sc.StreamID))
	return sc.Delivery.EndpointURL, nil
}

func (s *Subscription) healthy() {
	first := s.lastOK.Swap(s.cfg.Now().UnixNano()) == 0
	if s.downSince.Swap(0) != 0 && !first {
		s.log.Info("revocation stream reachable again")
	}
}

func (s *Subscription) failed() {
	s.downSince.CompareAndSwap(0, s.cfg.Now().UnixNano())
}

// backoff is exponential from min to max with equal jitter: half fixed, half random, so many
// gateways that lost the same transmitter do not come back in step.
func backoff(failures int, minD, maxD time.Duration) time.Duration {
	d := minD
	for i := 1; i < failures && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// apply verifies and applies the SETs of one poll answer and returns what the next poll
// acknowledges: the applied SETs in ack, the refused ones in setErrs with their error
// (RFC 8936 §2.4), which acknowledges them too, so a bad SET never blocks the stream. When a
// SET cannot be judged now (retry), nothing is acknowledged: acknowledging a later event of
// the batch would move the stream past it for good.
func (s *Subscription) apply(ctx context.Context, sets map[string]string) (acks []string, errs map[string]setError, retry bool) {
	acks = make([]string, 0, len(sets))
	for jti, compact := range sets {
		r := s.applyOne(ctx, jti, compact)
		switch {
		case r == nil:
			acks = append(acks, jti)
		case r.retry:
			s.log.Warn("revocation SET not verifiable yet; the batch will be received again", zap.String("jti", truncate(jti)), zap.String("reason", r.reason))
			retry = true
		default:
			s.log.Warn("revocation SET ignored", zap.String("jti", truncate(jti)), zap.String("reason", r.reason))
			if errs == nil {
				errs = make(map[string]setError)
			}
			errs[jti] = setError{Err: r.err, Description: r.reason}
		}
	}
	if retry {
		return nil, nil, true
	}
	return acks, errs, false
}

// truncate bounds a transmitter-supplied identifier in logs.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (s *Subscription) applyOne(ctx context.Context, jti, compact string) *refusal {
	set, r := s.verify.verify(ctx, compact)
	if r != nil {
		return r
	}
	if set.ID != jti {
		return refuse(errInvalidRequest, "jti differs from the poll answer's key")
	}
	rev := set.Revocation
	if rev == nil {
		return nil // a verification event or one we do not act on: nothing to apply
	}
	now := s.cfg.Now()
	if expired(rev, now) {
		return refuse(errInvalidRequest, "expired: covers no token past %s", rev.Until.UTC().Format(time.RFC3339))
	}
	if !s.set.FirstSight(set.ID, rev.Until) {
		return refuse(errInvalidRequest, "replayed jti")
	}
	var applied bool
	if rev.Kind == secevent.KindClient {
		applied = s.set.CutOffClient(rev.Value, rev.At, rev.Until)
	} else {
		applied = s.set.Add(rev.Kind, rev.Value, rev.Until)
	}
	if !applied {
		return refuse(errInvalidRequest, "unusable %s value", rev.Kind)
	}
	if rev.Kind == secevent.KindTokenHash && s.cfg.OnTokenHash != nil {
		var digest [sha256.Size]byte
		if n, err := base64.RawURLEncoding.Decode(digest[:], []byte(rev.Value)); err == nil && n == sha256.Size {
			s.cfg.OnTokenHash(digest)
		}
	}
	s.log.Debug("revocation applied", zap.String("jti", set.ID), zap.String("kind", rev.Kind), zap.Time("until", rev.Until))
	return nil
}

// sweepLoop drops expired entries so memory follows the live revocations only.
func (s *Subscription) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Subscription) sweep() {
	n := s.set.Sweep()
	if n > 0 {
		s.log.Debug("expired revocations dropped", zap.Int("count", n), zap.Int("left", s.set.Len()))
	}
}
