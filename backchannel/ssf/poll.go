package ssf

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// pollRequest is an RFC 8936 §2.4 poll request.
type pollRequest struct {
	MaxEvents         *int              `json:"maxEvents"`
	ReturnImmediately bool              `json:"returnImmediately"`
	Ack               []string          `json:"ack"`
	SetErrs           map[string]setErr `json:"setErrs"`
}

// setErr is a receiver's report of a SET it could not process (RFC 8936 §2.4.3).
type setErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is an RFC 8936 §2.5 poll response.
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// maxPages bounds the pages of the log one poll reads past events the stream does not
// deliver (its events_requested leaves out a type).
const maxPages = 10

// handlePoll is RFC 8936 poll delivery: acknowledge what the request acks, then answer the
// events after the stream's position, waiting up to LongPollWait for one when there are none.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request, streamID string) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if err := s.poll(w, r, streamID); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) poll(w http.ResponseWriter, r *http.Request, streamID string) error {
	clientID, err := s.authenticate(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	st, err := s.ownStream(ctx, streamID, clientID)
	if err != nil {
		return err
	}
	var req pollRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	maxEvents, err := req.maxEvents()
	if err != nil {
		return err
	}
	position, err := s.acknowledge(ctx, st, &req)
	if err != nil {
		return err
	}
	if maxEvents == 0 {
		// An acknowledge-only request (RFC 8936 §2.4).
		resp, _, err := s.pending(ctx, st, position, 0)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	resp, err := s.awaitEvents(ctx, st, position, maxEvents, !req.ReturnImmediately)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// maxEvents returns the request's maxEvents: default 100, capped at 1000.
func (req *pollRequest) maxEvents() (int, error) {
	switch {
	case req.MaxEvents == nil:
		return defaultMaxEvents, nil
	case *req.MaxEvents < 0:
		return 0, badRequest("maxEvents must not be negative")
	default:
		return min(*req.MaxEvents, maxMaxEvents), nil
	}
}

// acknowledge moves the stream's position to the highest event the request acks (errors
// reported in setErrs acknowledge too: the receiver has processed the SET) and records the
// poll. It returns the new position.
func (s *Server) acknowledge(ctx context.Context, st *store.EventStream, req *pollRequest) (int64, error) {
	ids := slices.Clone(req.Ack)
	for jti, e := range req.SetErrs {
		ids = append(ids, jti)
		s.log.Warn("a receiver could not process a SET", zap.String("client_id", st.ClientID),
			zap.String("stream_id", st.ID), zap.String("jti", truncate(jti, 64)), zap.String("err", truncate(e.Err, 64)),
			zap.String("description", truncate(e.Description, 256)))
	}
	if len(ids) > 2*maxMaxEvents {
		return 0, badRequest("ack and setErrs: at most 2000 SET identifiers")
	}
	position := st.AckedSeq
	if len(ids) > 0 {
		seqs, err := s.deps.Store.RevocationEventSeqs(ctx, ids)
		if err != nil {
			return 0, err
		}
		for _, seq := range seqs {
			position = max(position, seq)
		}
	}
	if err := s.deps.Store.AckEventStream(ctx, st.ID, position, s.deps.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, errNotFound // deleted meanwhile
		}
		return 0, err
	}
	return position, nil
}

// awaitEvents answers the events after position; when there are none and wait is set, it
// waits for the watcher's next wake-up (any instance appended an event), the long-poll
// deadline, the client going away or the server closing.
func (s *Server) awaitEvents(ctx context.Context, st *store.EventStream, position int64, maxEvents int, wait bool) (*pollResponse, error) {
	var deadline <-chan time.Time
	for waiting := false; ; {
		// Taken before the read: an event appended after it closes this channel.
		wake := s.hub.next()
		resp, skipTo, err := s.pending(ctx, st, position, maxEvents)
		if err != nil {
			return nil, err
		}
		if skipTo > position {
			position = skipTo
		}
		if len(resp.Sets) > 0 || !wait {
			return resp, nil
		}
		if !waiting {
			if !s.polls.acquire(st.ClientID) {
				return nil, errTooMany
			}
			defer s.polls.release(st.ClientID)
			timer := time.NewTimer(s.opts.LongPollWait)
			defer timer.Stop()
			deadline, waiting = timer.C, true
		}
		select {
		case <-wake:
		case <-deadline:
			return resp, nil
		case <-s.closing:
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pending reads the events after position that the stream delivers and signs up to
// maxEvents of them. Events the stream does not deliver that come before the first it does
// are acknowledged on its behalf (it will never ack them); skipTo is then the new position.
func (s *Server) pending(ctx context.Context, st *store.EventStream, position int64, maxEvents int) (resp *pollResponse, skipTo int64, err error) {
	resp = &pollResponse{Sets: map[string]string{}}
	delivered := eventsDelivered(st.EventsRequested)
	now := s.deps.Now()
	after := position
	for page := 0; page < maxPages; page++ {
		// One more than needed tells whether more are available.
		events, err := s.deps.Store.RevocationEventsAfter(ctx, after, now, maxEvents+1)
		if err != nil {
			return nil, 0, err
		}
		for _, ev := range events {
			after = ev.Seq
			if !slices.Contains(delivered, eventType(ev.Kind)) {
				if len(resp.Sets) == 0 {
					skipTo = ev.Seq
				}
				continue
			}
			if len(resp.Sets) == maxEvents {
				resp.MoreAvailable = true
				return resp, skipTo, s.skip(ctx, st, skipTo)
			}
			set, err := s.sign(st, ev, now)
			if err != nil {
				return nil, 0, err
			}
			resp.Sets[ev.ID] = set
		}
		if len(events) <= maxEvents {
			break // the end of the log
		}
	}
	return resp, skipTo, s.skip(ctx, st, skipTo)
}

// skip acknowledges, for the stream, events up to seq that it does not deliver.
func (s *Server) skip(ctx context.Context, st *store.EventStream, seq int64) error {
	if seq == 0 {
		return nil
	}
	if err := s.deps.Store.AckEventStream(ctx, st.ID, seq, s.deps.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// eventType is the SET event type of a revocation kind.
func eventType(kind string) string {
	if kind == store.RevokedSession {
		return secevent.EventSessionRevoked
	}
	return secevent.EventTokenRevoked
}

// sign returns the SET that tells the stream's receiver about ev, signed now (the signing key
// may have rotated since the event was appended).
func (s *Server) sign(st *store.EventStream, ev *store.RevocationEvent, now time.Time) (string, error) {
	aud := st.Audience
	if len(aud) == 0 {
		aud = []string{st.ClientID}
	}
	payload, err := secevent.Encode(s.deps.Issuer, aud, now, ev.ID, secevent.Revocation{
		Kind:    ev.Kind,
		Value:   ev.Value,
		Subject: ev.Subject,
		At:      ev.CreatedAt,
		Until:   ev.ExpiresAt,
	})
	if err != nil {
		return "", fmt.Errorf("encoding revocation event %d: %w", ev.Seq, err)
	}
	return s.deps.Signer.Sign(s.deps.SigningAlg, "", secevent.Typ, payload)
}

// newStreamID returns 128 random bits, base64url.
func newStreamID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// truncate bounds a receiver-supplied string before it is logged.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
