package ssf

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// streamConfig is the SSF 1.0 §8.1.1 stream configuration as the transmitter returns it.
type streamConfig struct {
	StreamID          string   `json:"stream_id"`
	Issuer            string   `json:"iss"`
	Audience          string   `json:"aud"`
	EventsSupported   []string `json:"events_supported"`
	EventsRequested   []string `json:"events_requested"`
	EventsDelivered   []string `json:"events_delivered"`
	Delivery          delivery `json:"delivery"`
	InactivityTimeout int64    `json:"inactivity_timeout"`
	Description       string   `json:"description,omitempty"`
}

type delivery struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url,omitempty"`
}

// createRequest is the body of a stream creation; members the transmitter sets (stream_id,
// iss, aud, events_supported, events_delivered) are ignored, as SSF 1.0 §8.1.1.1 allows.
type createRequest struct {
	Delivery        *delivery `json:"delivery"`
	EventsRequested []string  `json:"events_requested"`
	Description     string    `json:"description"`
}

// eventsDelivered is what a stream that requested requested receives: the supported events
// it asked for, or all of them when it asked for none.
func eventsDelivered(requested []string) []string {
	if len(requested) == 0 {
		return slices.Clone(eventsSupported)
	}
	var out []string
	for _, e := range eventsSupported {
		if slices.Contains(requested, e) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) config(st *store.EventStream) streamConfig {
	aud := st.ClientID
	if len(st.Audience) > 0 {
		aud = st.Audience[0]
	}
	requested := st.EventsRequested
	if requested == nil {
		requested = []string{}
	}
	delivered := eventsDelivered(st.EventsRequested)
	if delivered == nil {
		delivered = []string{}
	}
	return streamConfig{
		StreamID:          st.ID,
		Issuer:            s.deps.Issuer,
		Audience:          aud,
		EventsSupported:   eventsSupported,
		EventsRequested:   requested,
		EventsDelivered:   delivered,
		Delivery:          delivery{Method: st.DeliveryMethod, EndpointURL: st.EndpointURL},
		InactivityTimeout: int64(s.opts.StreamInactivity.Seconds()),
		Description:       st.Description,
	}
}

// handleStreams is the stream configuration endpoint (SSF 1.0 §8.1.1).
func (s *Server) handleStreams(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		methodNotAllowed(w, "GET, POST, DELETE")
		return
	}
	clientID, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch r.Method {
	case http.MethodPost:
		err = s.createStream(w, r, clientID)
	case http.MethodGet:
		err = s.readStreams(w, r, clientID)
	case http.MethodDelete:
		err = s.deleteStream(w, r, clientID)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request, clientID string) error {
	var req createRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.Delivery != nil && req.Delivery.Method != "" && req.Delivery.Method != secevent.DeliveryPoll {
		return badRequest("delivery.method: only poll delivery (urn:ietf:rfc:8936) is supported")
	}
	if req.Delivery != nil && req.Delivery.EndpointURL != "" {
		// The transmitter names the poll endpoint (SSF 1.0 §8.1.1.1).
		return badRequest("delivery.endpoint_url: the transmitter sets the poll endpoint")
	}
	if len(req.Description) > maxDescriptionLen || !utf8.ValidString(req.Description) {
		return badRequest("description: at most 256 bytes of UTF-8")
	}
	if len(req.EventsRequested) > 32 || slices.Contains(req.EventsRequested, "") {
		return badRequest("events_requested: at most 32 non-empty event type URIs")
	}
	if err := s.makeRoom(r.Context(), clientID); err != nil {
		return err
	}
	st := &store.EventStream{
		ID:              newStreamID(),
		ClientID:        clientID,
		Description:     req.Description,
		Audience:        []string{clientID},
		EventsRequested: slices.Compact(slices.Sorted(slices.Values(req.EventsRequested))),
		DeliveryMethod:  secevent.DeliveryPoll,
	}
	st.EndpointURL = s.endpoint(pathPoll + st.ID)
	if err := s.deps.Store.CreateEventStream(r.Context(), st); err != nil {
		return err
	}
	s.log.Info("shared signals stream created", zap.String("stream_id", st.ID), zap.String("client_id", clientID))
	w.Header().Set("Location", s.endpoint(pathStreams)+"?stream_id="+st.ID)
	writeJSON(w, http.StatusCreated, s.config(st))
	return nil
}

// makeRoom deletes the client's least recently polled stream when it has
// maxStreamsPerClient: a gateway that restarts without its stream ID makes a new one each
// time, and the old ones would otherwise pile up until the inactivity timeout.
func (s *Server) makeRoom(ctx context.Context, clientID string) error {
	streams, err := s.deps.Store.ListEventStreams(ctx, clientID)
	if err != nil || len(streams) < maxStreamsPerClient {
		return err
	}
	oldest := slices.MinFunc(streams, func(a, b *store.EventStream) int { return a.LastPolledAt.Compare(b.LastPolledAt) })
	if err := s.deps.Store.DeleteEventStream(ctx, oldest.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.Warn("client has too many shared signals streams; deleted its least recently polled one",
		zap.String("client_id", clientID), zap.String("stream_id", oldest.ID))
	return nil
}

func (s *Server) readStreams(w http.ResponseWriter, r *http.Request, clientID string) error {
	if !r.URL.Query().Has("stream_id") {
		streams, err := s.deps.Store.ListEventStreams(r.Context(), clientID)
		if err != nil {
			return err
		}
		out := make([]streamConfig, 0, len(streams))
		for _, st := range streams {
			out = append(out, s.config(st))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	st, err := s.callerStream(r, clientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.config(st))
	return nil
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request, clientID string) error {
	st, err := s.callerStream(r, clientID)
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteEventStream(r.Context(), st.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.Info("shared signals stream deleted", zap.String("stream_id", st.ID), zap.String("client_id", clientID))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleStatus is the stream status endpoint (SSF 1.0 §8.1.2): read only; every stream that
// exists is enabled.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	clientID, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.callerStream(r, clientID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"stream_id": st.ID, "status": "enabled"})
}

// callerStream returns the stream the stream_id query parameter names, if it is the caller's.
func (s *Server) callerStream(r *http.Request, clientID string) (*store.EventStream, error) {
	q := r.URL.Query()
	if len(q["stream_id"]) != 1 || q.Get("stream_id") == "" {
		return nil, badRequest("stream_id: exactly one is required")
	}
	return s.ownStream(r.Context(), q.Get("stream_id"), clientID)
}

// ownStream returns the stream id of clientID; errNotFound for another client's stream too,
// so that stream IDs cannot be probed.
func (s *Server) ownStream(ctx context.Context, id, clientID string) (*store.EventStream, error) {
	if id == "" || len(id) > 128 {
		return nil, errNotFound
	}
	st, err := s.deps.Store.GetEventStream(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNotFound
	case err != nil:
		return nil, err
	case st.ClientID != clientID:
		return nil, errNotFound
	}
	return st, nil
}
