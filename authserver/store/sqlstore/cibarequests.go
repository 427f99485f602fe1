package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const cibaCols = "id, auth_req_hash, client_id, subject, scopes, resources, acr_values, binding_message, mode," +
	" notification_token, status, auth_time, amr, acr, interval_ms, last_polled_at, notify_at, notify_attempts," +
	" payload, expires_at, created_at"

const qPollCIBA = "UPDATE oauth_ciba_requests SET" +
	" poll_too_fast = CASE WHEN " + tooEarly + " THEN 1 ELSE 0 END," +
	" interval_ms = CASE WHEN " + tooEarly + " THEN interval_ms + $4 ELSE interval_ms END," +
	" last_polled_at = $2" +
	" WHERE auth_req_hash = $1 RETURNING " + cibaCols + ", poll_too_fast"

const qDecideCIBA = "UPDATE oauth_ciba_requests SET status = $2, auth_time = $3, amr = $4, acr = $5," +
	" notify_at = $6, payload = $7 WHERE id = $1 AND status = '" + store.DevicePending + "' AND expires_at > $8" +
	" RETURNING " + cibaCols

const qConsumeCIBA = "DELETE FROM oauth_ciba_requests WHERE auth_req_hash = $1 AND status = '" + store.DeviceApproved +
	"' AND expires_at > $2 RETURNING " + cibaCols

func qClaimCIBA(d dialect) string {
	return "UPDATE oauth_ciba_requests SET notify_at = $2, notify_attempts = notify_attempts + 1 WHERE id IN" +
		" (SELECT id FROM oauth_ciba_requests WHERE notify_at > 0 AND notify_at <= $1 ORDER BY notify_at, id LIMIT $3" +
		d.claimLock() + ") RETURNING " + cibaCols
}

type cibaStmts struct {
	createCIBA, getCIBA, listCIBA, decideCIBA, pollCIBA, consumeCIBA *sql.Stmt
	notifiedCIBA, pushedCIBA, retryCIBA                              *sql.Stmt
}

func (st *cibaStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.createCIBA, true, "INSERT INTO oauth_ciba_requests (" + cibaCols + ") VALUES (" + colParams(cibaCols) + ")"},
		{&st.getCIBA, false, "SELECT " + cibaCols + " FROM oauth_ciba_requests WHERE id = $1"},
		{&st.listCIBA, false, "SELECT " + cibaCols + " FROM oauth_ciba_requests WHERE subject = $1 AND status = '" +
			store.DevicePending + "' AND expires_at > $2 ORDER BY created_at, id"},
		{&st.decideCIBA, true, qDecideCIBA},
		{&st.pollCIBA, true, qPollCIBA},
		{&st.consumeCIBA, true, qConsumeCIBA},
		// A delivered ping leaves the request for the client's poll; a delivered push hands
		// the tokens over, so nothing of the request is kept.
		{&st.notifiedCIBA, true, "UPDATE oauth_ciba_requests SET notify_at = 0, payload = '' WHERE id = $1 AND mode <> 'push'"},
		{&st.pushedCIBA, true, "DELETE FROM oauth_ciba_requests WHERE id = $1 AND mode = 'push'"},
		{&st.retryCIBA, true, "UPDATE oauth_ciba_requests SET notify_at = $2 WHERE id = $1"},
	}
}

// CreateCIBARequest stores r; ErrConflict if its ID or hash exists.
func (s *Store) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) error {
	cols, err := encodeStrings(r.Scopes, r.Resources, r.ACRValues, r.AMR)
	if err != nil {
		return err
	}
	created := createdAt(r.CreatedAt)
	_, err = s.stmts.createCIBA.ExecContext(ctx, r.ID, r.AuthReqHash, r.ClientID, r.Subject, cols[0], cols[1], cols[2],
		r.BindingMessage, r.Mode, encodeBytes(r.NotificationToken), r.Status, millisOrZero(r.AuthTime), cols[3], r.ACR,
		r.Interval.Milliseconds(), millisOrZero(r.LastPolledAt), millisOrZero(r.NotifyAt), r.NotifyAttempts,
		encodeBytes(r.Payload), toMillis(r.ExpiresAt), toMillis(created))
	if err != nil {
		return s.writeErr("create CIBA request", err)
	}
	r.CreatedAt = created
	return nil
}

// GetCIBARequest returns the request with id.
func (s *Store) GetCIBARequest(ctx context.Context, id string) (*store.CIBARequest, error) {
	r, _, err := scanCIBA(s.stmts.getCIBA.QueryRowContext(ctx, id), false)
	if err != nil {
		return nil, readErr("get CIBA request", err)
	}
	return r, nil
}

// ListCIBARequests returns subject's pending, unexpired requests.
func (s *Store) ListCIBARequests(ctx context.Context, subject string, now time.Time) ([]*store.CIBARequest, error) {
	rows, err := s.stmts.listCIBA.QueryContext(ctx, subject, toMillis(now))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list CIBA requests: %w", err)
	}
	return collect(rows, "list CIBA requests", func(row scanner) (*store.CIBARequest, error) {
		r, _, err := scanCIBA(row, false)
		return r, err
	})
}

// DecideCIBARequest records a decision, once.
func (s *Store) DecideCIBARequest(ctx context.Context, id string, d store.CIBADecision, now time.Time) (*store.CIBARequest, error) {
	amr, err := encodeJSON(d.AMR)
	if err != nil {
		return nil, err
	}
	status := store.DeviceDenied
	if d.Approved {
		status = store.DeviceApproved
	}
	r, _, err := scanCIBA(s.stmts.decideCIBA.QueryRowContext(ctx, id, status, millisOrZero(d.AuthTime), amr, d.ACR,
		millisOrZero(d.NotifyAt), encodeBytes(d.Payload), toMillis(now)), false)
	if err != nil {
		return nil, readErr("decide CIBA request", err)
	}
	return r, nil
}

// PollCIBARequest records a poll and says whether it came too early.
func (s *Store) PollCIBARequest(ctx context.Context, hash string, now time.Time, jitter, step time.Duration) (*store.CIBARequest, bool, error) {
	r, tooFast, err := scanCIBA(s.stmts.pollCIBA.QueryRowContext(ctx, hash, toMillis(now), jitter.Milliseconds(), step.Milliseconds()), true)
	if err != nil {
		return nil, false, readErr("poll CIBA request", err)
	}
	return r, tooFast, nil
}

// ConsumeCIBARequest deletes and returns the approved request, once.
func (s *Store) ConsumeCIBARequest(ctx context.Context, hash string, now time.Time) (*store.CIBARequest, error) {
	r, _, err := scanCIBA(s.stmts.consumeCIBA.QueryRowContext(ctx, hash, toMillis(now)), false)
	if err != nil {
		return nil, readErr("consume CIBA request", err)
	}
	return r, nil
}

// ClaimCIBANotifications leases due notifications (FOR UPDATE SKIP LOCKED on PostgreSQL).
func (s *Store) ClaimCIBANotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.CIBARequest, error) {
	if limit < 1 {
		return nil, nil
	}
	var claimed []*store.CIBARequest
	err := s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, qClaimCIBA(s.dialect), toMillis(now), toMillis(leaseUntil), limit)
		if err != nil {
			return fmt.Errorf("sqlstore: claim CIBA notifications: %w", err)
		}
		claimed, err = collect(rows, "claim CIBA notifications", func(row scanner) (*store.CIBARequest, error) {
			r, _, err := scanCIBA(row, false)
			return r, err
		})
		return err
	})
	if err != nil {
		// On SQLite a cancelled batch may still run fn later: claimed is not ours to read.
		return nil, err
	}
	return claimed, nil
}

// FinishCIBANotification records a delivery (retryAt zero) or schedules another attempt.
func (s *Store) FinishCIBANotification(ctx context.Context, id string, retryAt time.Time) error {
	if !retryAt.IsZero() {
		res, err := s.stmts.retryCIBA.ExecContext(ctx, id, toMillis(retryAt))
		return affectedOne("retry CIBA notification", res, err)
	}
	res, err := s.stmts.notifiedCIBA.ExecContext(ctx, id)
	if err != nil {
		return s.writeErr("finish CIBA notification", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	res, err = s.stmts.pushedCIBA.ExecContext(ctx, id)
	return affectedOne("finish CIBA push", res, err)
}

func scanCIBA(row scanner, withFlag bool) (*store.CIBARequest, bool, error) {
	var (
		r                                            store.CIBARequest
		scopes, resources, acrValues, amr            sql.NullString
		token, payload                               string
		authTime, interval, polled, notify, exp, crt int64
		attempts, tooFast                            int64
	)
	dst := []any{&r.ID, &r.AuthReqHash, &r.ClientID, &r.Subject, &scopes, &resources, &acrValues, &r.BindingMessage, &r.Mode,
		&token, &r.Status, &authTime, &amr, &r.ACR, &interval, &polled, &notify, &attempts, &payload, &exp, &crt}
	if withFlag {
		dst = append(dst, &tooFast)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, false, err
	}
	if err := decodeStrings(stringsCol{scopes, &r.Scopes}, stringsCol{resources, &r.Resources},
		stringsCol{acrValues, &r.ACRValues}, stringsCol{amr, &r.AMR}); err != nil {
		return nil, false, err
	}
	var err error
	if r.NotificationToken, err = decodeBytes(token); err != nil {
		return nil, false, err
	}
	if r.Payload, err = decodeBytes(payload); err != nil {
		return nil, false, err
	}
	r.AuthTime, r.LastPolledAt, r.NotifyAt = fromMillisOrZero(authTime), fromMillisOrZero(polled), fromMillisOrZero(notify)
	r.Interval = time.Duration(interval) * time.Millisecond
	r.NotifyAttempts = int(attempts)
	r.ExpiresAt, r.CreatedAt = fromMillis(exp), fromMillis(crt)
	return &r, tooFast == 1, nil
}

// encodeBytes stores sealed bytes as base64url text (the column type both databases share).
func encodeBytes(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeBytes(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}
