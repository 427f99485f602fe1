package authserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/backchannel/logout"
)

// BackchannelLogoutConfig tunes the delivery of OpenID Connect Back-Channel Logout tokens
// (see package backchannel/logout). Zero values take the defaults; OutboundAllowPrivate
// decides whether logout URIs may point at private addresses.
type BackchannelLogoutConfig struct {
	// Timeout bounds one delivery attempt (default 5 s).
	Timeout time.Duration
	// MaxAge is how long a delivery is retried before it is dropped with a log line
	// (default 24 h).
	MaxAge time.Duration
	// Workers is how many deliveries this instance attempts at once (default 8).
	Workers int
}

// endedSessionsInterval is how often expired and idle sessions are looked for, so that their
// clients hear of the end soon after it (sessions expire silently otherwise).
const endedSessionsInterval = 30 * time.Second

// endedSessionsBatch bounds one pass's read; a pass goes on while batches come back full.
const endedSessionsBatch = 500

// withDefaults checks b and fills in its defaults.
func (b BackchannelLogoutConfig) withDefaults() (BackchannelLogoutConfig, error) {
	if b.Timeout < 0 || b.MaxAge < 0 || b.Workers < 0 {
		return b, errors.New("backchannel_logout: timeout, max_age and workers must not be negative")
	}
	if b.Timeout == 0 {
		b.Timeout = logout.DefaultTimeout
	}
	if b.MaxAge == 0 {
		b.MaxAge = logout.DefaultMaxAge
	}
	if b.Workers == 0 {
		b.Workers = logout.DefaultWorkers
	}
	if b.MaxAge < b.Timeout {
		return b, fmt.Errorf("backchannel_logout: max_age %v is shorter than one attempt's timeout %v", b.MaxAge, b.Timeout)
	}
	return b, nil
}

// newLogoutDeliverer connects back-channel logout to this server: its keys sign the tokens,
// its client lookups (dropped on every change) give each client's current logout URI, and
// its pairwise function the sub the client knows.
func (s *Server) newLogoutDeliverer() (*logout.Deliverer, error) {
	return logout.New(logout.Deps{
		Store:   s.st,
		Issuer:  s.cfg.Issuer,
		Signer:  s.keys,
		Client:  s.lookups.GetClient,
		Subject: s.subjectFor,
	}, logout.Options{
		Timeout:      s.cfg.BackchannelLogout.Timeout,
		MaxAge:       s.cfg.BackchannelLogout.MaxAge,
		Workers:      s.cfg.BackchannelLogout.Workers,
		AllowPrivate: s.cfg.OutboundAllowPrivate,
		Now:          s.now,
		Logger:       s.log.Named("backchannel_logout"),
		OnOutcome:    func(result string) { s.observer.Delivery("logout", result) },
	})
}

// sessionEnding queues the logout tokens of a session that is about to be deleted (its row
// is how its clients are found). Every way a session ends calls it first. A failure is
// logged, not returned: ending the session (a sign-out, a disabled account, a changed
// password) matters more than telling its clients, so it goes on regardless.
func (s *Server) sessionEnding(ctx context.Context, subject, sessionID string) {
	if err := s.logouts.SessionEnded(ctx, subject, sessionID); err != nil {
		s.log.Error("queueing back-channel logouts failed; the session ends without them",
			zap.String("sid", sessionID), zap.Error(err))
	}
}

// endReplacedSession ends the session a new sign-in replaces in this browser.
func (s *Server) endReplacedSession(ctx context.Context, sessionID string) {
	if sess, err := s.st.GetSession(ctx, sessionID); err == nil {
		s.sessionEnding(ctx, sess.Subject, sess.ID)
	}
	_ = s.st.DeleteSession(ctx, sessionID)
}

// subjectSessionsEnding queues the logout tokens of every session of subject (an account
// disabled, deleted or re-keyed); like sessionEnding, it only logs a failure.
func (s *Server) subjectSessionsEnding(ctx context.Context, subject string) {
	sessions, err := s.st.ListSessions(ctx, subject)
	if err != nil {
		s.log.Error("listing sessions for back-channel logout failed; they end without it",
			zap.String("sub", subject), zap.Error(err))
		return
	}
	for _, sess := range sessions {
		s.sessionEnding(ctx, subject, sess.ID)
	}
}

// endEndedSessions deletes the sessions that expired or went idle, after queueing their
// logout tokens. Several instances run it at once: each skips a session another one ended
// since its list was read, and the outbox keeps one pending delivery per session and client
// (see logout.Deliverer.SessionExpired); a session deleted twice is no error.
func (s *Server) endEndedSessions(ctx context.Context) {
	var idleBefore time.Time
	now := s.now()
	if s.cfg.SessionIdleTTL > 0 {
		idleBefore = now.Add(-s.cfg.SessionIdleTTL)
	}
	for ctx.Err() == nil {
		ended, err := s.st.ListEndedSessions(ctx, now, idleBefore, endedSessionsBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("listing ended sessions failed", zap.Error(err))
			}
			return
		}
		for _, sess := range ended {
			// Another instance's pass may have ended it since the list was read: queueing it
			// again would send its clients a second token.
			if _, err := s.st.GetSession(ctx, sess.ID); errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err := s.logouts.SessionExpired(ctx, sess.Subject, sess.ID); err != nil {
				// Keep the row (the session no longer signs anyone in): the next pass tries again.
				s.log.Warn("queueing the back-channel logout of an ended session failed", zap.String("sid", sess.ID), zap.Error(err))
				return
			}
			if err := s.st.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("deleting an ended session failed", zap.String("sid", sess.ID), zap.Error(err))
				return
			}
		}
		if len(ended) < endedSessionsBatch {
			return
		}
	}
}

// startLogoutDelivery starts delivering, including what earlier runs or other instances left
// in the outbox.
func (s *Server) startLogoutDelivery() { s.logouts.Start() }

// stopLogoutDelivery lets the attempts under way finish; the rest stays queued.
func (s *Server) stopLogoutDelivery() { s.logouts.Close() }
