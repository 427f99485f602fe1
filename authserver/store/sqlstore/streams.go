package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// CreateEventStream stores es; ErrConflict if its ID exists. An empty ID is filled in with
// 128 random bits (base64url), a zero CreatedAt with now, zero UpdatedAt and LastPolledAt
// with CreatedAt; all are written back.
func (s *Store) CreateEventStream(ctx context.Context, es *store.EventStream) error {
	jsonCols, err := encodeStrings(es.Audience, es.EventsRequested)
	if err != nil {
		return err
	}
	id := es.ID
	if id == "" {
		id = randomID()
	}
	created := createdAt(es.CreatedAt)
	updated, polled := orTime(es.UpdatedAt, created), orTime(es.LastPolledAt, created)
	_, err = s.stmts.createStream.ExecContext(ctx, id, es.ClientID, es.Description, jsonCols[0], jsonCols[1],
		es.DeliveryMethod, es.EndpointURL, es.AckedSeq, toMillis(created), toMillis(updated), toMillis(polled))
	if err != nil {
		return s.writeErr("create event stream", err)
	}
	es.ID, es.CreatedAt, es.UpdatedAt, es.LastPolledAt = id, created, updated, polled
	return nil
}

// orTime returns t at the store's precision, or def when t is zero.
func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return fromMillis(toMillis(t))
}

// GetEventStream returns the stream with id; ErrNotFound if there is none.
func (s *Store) GetEventStream(ctx context.Context, id string) (*store.EventStream, error) {
	es, err := scanEventStream(s.stmts.getStream.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get event stream", err)
	}
	return es, nil
}

// ListEventStreams returns the streams of the client, oldest first.
func (s *Store) ListEventStreams(ctx context.Context, clientID string) ([]*store.EventStream, error) {
	rows, err := s.stmts.listStreams.QueryContext(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list event streams: %w", err)
	}
	return collect(rows, "list event streams", scanEventStream)
}

func scanEventStream(row scanner) (*store.EventStream, error) {
	var (
		es                       store.EventStream
		audience, events         sql.NullString
		created, updated, polled int64
	)
	err := row.Scan(&es.ID, &es.ClientID, &es.Description, &audience, &events, &es.DeliveryMethod,
		&es.EndpointURL, &es.AckedSeq, &created, &updated, &polled)
	if err != nil {
		return nil, err
	}
	es.CreatedAt, es.UpdatedAt, es.LastPolledAt = fromMillis(created), fromMillis(updated), fromMillis(polled)
	if err := decodeStrings(stringsCol{audience, &es.Audience}, stringsCol{events, &es.EventsRequested}); err != nil {
		return nil, err
	}
	return &es, nil
}

// UpdateEventStream replaces the configuration of the stream es.ID: Description, Audience,
// EventsRequested, DeliveryMethod and EndpointURL. The owner (ClientID) never changes: a
// stream of another client is ErrNotFound, as is a missing one. UpdatedAt is set to now;
// it and the stored AckedSeq, CreatedAt and LastPolledAt are written back.
func (s *Store) UpdateEventStream(ctx context.Context, es *store.EventStream) error {
	jsonCols, err := encodeStrings(es.Audience, es.EventsRequested)
	if err != nil {
		return err
	}
	updated := now()
	var acked, created, polled int64
	err = s.stmts.updateStream.QueryRowContext(ctx, es.ID, es.ClientID, es.Description, jsonCols[0], jsonCols[1],
		es.DeliveryMethod, es.EndpointURL, toMillis(updated)).Scan(&acked, &created, &polled)
	if err != nil {
		return s.writeErr("update event stream", err)
	}
	es.AckedSeq, es.CreatedAt, es.UpdatedAt, es.LastPolledAt = acked, fromMillis(created), updated, fromMillis(polled)
	return nil
}

// DeleteEventStream deletes the stream; ErrNotFound if there is none.
func (s *Store) DeleteEventStream(ctx context.Context, id string) error {
	res, err := s.stmts.deleteStream.ExecContext(ctx, id)
	return affectedOne("delete event stream", res, err)
}

// AckEventStream raises the stream's AckedSeq to seq, never lowering it, and sets
// LastPolledAt; ErrNotFound if the stream is gone.
func (s *Store) AckEventStream(ctx context.Context, id string, seq int64, polledAt time.Time) error {
	return s.exec(ctx, s.stmts.ackStream, func(res sql.Result, err error) error {
		return affectedOne("ack event stream", res, err)
	}, id, seq, toMillis(polledAt))
}

// DeleteIdleEventStreams deletes the streams last polled before before and returns how many.
func (s *Store) DeleteIdleEventStreams(ctx context.Context, before time.Time) (int, error) {
	res, err := s.stmts.deleteIdleStreams.ExecContext(ctx, toMillis(before))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete idle event streams: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete idle event streams: %w", err)
	}
	return int(n), nil
}
