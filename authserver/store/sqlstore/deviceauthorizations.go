package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const deviceCols = "device_code_hash, user_code_hash, client_id, scopes, resources, status, subject," +
	" auth_time, amr, acr, interval_ms, last_polled_at, expires_at, created_at"

// tooEarly is true for a poll at $2 that comes less than interval_ms − $3 after the previous
// one. In an UPDATE every SET expression reads the row as it was, so the flag and the grown
// interval below see the same previous poll.
const tooEarly = "last_polled_at > 0 AND $2 - last_polled_at < interval_ms - $3"

// qPollDevice records a poll in one statement: concurrent polls are serialized on the row,
// so the second of two simultaneous polls is the one told to slow down.
const qPollDevice = "UPDATE oauth_device_authorizations SET" +
	" poll_too_fast = CASE WHEN " + tooEarly + " THEN 1 ELSE 0 END," +
	" interval_ms = CASE WHEN " + tooEarly + " THEN interval_ms + $4 ELSE interval_ms END," +
	" last_polled_at = $2" +
	" WHERE device_code_hash = $1 RETURNING " + deviceCols + ", poll_too_fast"

// qDecideDevice decides a pending, unexpired authorization once: a decided row no longer
// matches, so of concurrent decisions exactly one updates it.
const qDecideDevice = "UPDATE oauth_device_authorizations SET status = $2, subject = $3, auth_time = $4," +
	" amr = $5, acr = $6 WHERE user_code_hash = $1 AND status = '" + store.DevicePending + "' AND expires_at > $7" +
	" RETURNING " + deviceCols

// qConsumeDevice redeems an approved, unexpired authorization once (the DELETE takes the row).
const qConsumeDevice = "DELETE FROM oauth_device_authorizations WHERE device_code_hash = $1 AND status = '" +
	store.DeviceApproved + "' AND expires_at > $2 RETURNING " + deviceCols

type deviceStmts struct {
	createDevice, getDeviceByUserCode, decideDevice, pollDevice, consumeDevice *sql.Stmt
}

func (st *deviceStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.createDevice, true, "INSERT INTO oauth_device_authorizations (" + deviceCols + ") VALUES (" +
			colParams(deviceCols) + ")"},
		{&st.getDeviceByUserCode, false, "SELECT " + deviceCols + " FROM oauth_device_authorizations" +
			" WHERE user_code_hash = $1 AND status = '" + store.DevicePending + "' AND expires_at > $2"},
		{&st.decideDevice, true, qDecideDevice},
		{&st.pollDevice, true, qPollDevice},
		{&st.consumeDevice, true, qConsumeDevice},
	}
}

// CreateDeviceAuthorization stores d; ErrConflict if its device or user code hash exists.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *store.DeviceAuthorization) error {
	cols, err := encodeStrings(d.Scopes, d.Resources, d.AMR)
	if err != nil {
		return err
	}
	created := createdAt(d.CreatedAt)
	_, err = s.stmts.createDevice.ExecContext(ctx, d.DeviceCodeHash, d.UserCodeHash, d.ClientID, cols[0], cols[1],
		d.Status, d.Subject, millisOrZero(d.AuthTime), cols[2], d.ACR, d.Interval.Milliseconds(),
		millisOrZero(d.LastPolledAt), toMillis(d.ExpiresAt), toMillis(created))
	if err != nil {
		return s.writeErr("create device authorization", err)
	}
	d.CreatedAt = created
	return nil
}

// GetDeviceAuthorizationByUserCode returns the pending, unexpired authorization with
// userCodeHash.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash string, now time.Time) (*store.DeviceAuthorization, error) {
	d, _, err := scanDevice(s.stmts.getDeviceByUserCode.QueryRowContext(ctx, userCodeHash, toMillis(now)), false)
	if err != nil {
		return nil, readErr("get device authorization", err)
	}
	return d, nil
}

// DecideDeviceAuthorization records the user's decision, once.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, userCodeHash string, dec store.DeviceDecision, now time.Time) (*store.DeviceAuthorization, error) {
	amr, err := encodeJSON(dec.AMR)
	if err != nil {
		return nil, err
	}
	status := store.DeviceDenied
	if dec.Approved {
		status = store.DeviceApproved
	}
	d, _, err := scanDevice(s.stmts.decideDevice.QueryRowContext(ctx, userCodeHash, status, dec.Subject,
		millisOrZero(dec.AuthTime), amr, dec.ACR, toMillis(now)), false)
	if err != nil {
		return nil, readErr("decide device authorization", err)
	}
	return d, nil
}

// PollDeviceAuthorization records a poll and says whether it came too early.
func (s *Store) PollDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time, jitter, step time.Duration) (*store.DeviceAuthorization, bool, error) {
	d, tooFast, err := scanDevice(s.stmts.pollDevice.QueryRowContext(ctx, deviceCodeHash, toMillis(now),
		jitter.Milliseconds(), step.Milliseconds()), true)
	if err != nil {
		return nil, false, readErr("poll device authorization", err)
	}
	return d, tooFast, nil
}

// ConsumeDeviceAuthorization deletes and returns the approved authorization, once.
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time) (*store.DeviceAuthorization, error) {
	d, _, err := scanDevice(s.stmts.consumeDevice.QueryRowContext(ctx, deviceCodeHash, toMillis(now)), false)
	if err != nil {
		return nil, readErr("consume device authorization", err)
	}
	return d, nil
}

// scanDevice reads a row of deviceCols, followed by poll_too_fast when withFlag.
func scanDevice(row scanner, withFlag bool) (*store.DeviceAuthorization, bool, error) {
	var (
		d                                           store.DeviceAuthorization
		scopes, resources, amr                      sql.NullString
		authTime, interval, polled, expires, create int64
		tooFast                                     int64
	)
	dst := []any{&d.DeviceCodeHash, &d.UserCodeHash, &d.ClientID, &scopes, &resources, &d.Status, &d.Subject,
		&authTime, &amr, &d.ACR, &interval, &polled, &expires, &create}
	if withFlag {
		dst = append(dst, &tooFast)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, false, err
	}
	if err := decodeStrings(stringsCol{scopes, &d.Scopes}, stringsCol{resources, &d.Resources}, stringsCol{amr, &d.AMR}); err != nil {
		return nil, false, err
	}
	d.AuthTime, d.LastPolledAt = fromMillisOrZero(authTime), fromMillisOrZero(polled)
	d.Interval = time.Duration(interval) * time.Millisecond
	d.ExpiresAt, d.CreatedAt = fromMillis(expires), fromMillis(create)
	return &d, tooFast == 1, nil
}

// millisOrZero stores the zero time as 0, so that it reads back as the zero time.
func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMillis(t)
}

func fromMillisOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}
