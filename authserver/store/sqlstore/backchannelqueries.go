package sqlstore

import "database/sql"

// Column lists of the backchannel tables, in the order their scan functions read them.
const (
	outboxCols = "id, client_id, subject, session_id, jti, attempts, last_error, next_attempt_at, " +
		"created_at, expires_at"
	streamCols = "id, client_id, description, audience, events_requested, delivery_method, endpoint_url, " +
		"acked_seq, created_at, updated_at, last_polled_at"
)

var (
	// The conflict target is the partial unique index: a (session, client) already queued is
	// skipped, while a colliding ID is still an error.
	qEnqueueLogout = "INSERT INTO oauth_logout_outbox (" + outboxCols + ") VALUES (" + colParams(outboxCols) + ")" +
		" ON CONFLICT (session_id, client_id) WHERE session_id <> '' DO NOTHING"
	qAppendEvent = "INSERT INTO oauth_revocation_events (id, kind, value, subject, client_id, created_at, expires_at)" +
		" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq"
	qUpdateEventStream = "UPDATE oauth_event_streams SET description = $3, audience = $4, events_requested = $5," +
		" delivery_method = $6, endpoint_url = $7, updated_at = $8 WHERE id = $1 AND client_id = $2" +
		" RETURNING acked_seq, created_at, last_polled_at"
	// CASE rather than GREATEST/MAX, which the two databases spell differently.
	qAckEventStream = "UPDATE oauth_event_streams SET acked_seq = CASE WHEN $2 > acked_seq THEN $2 ELSE acked_seq END," +
		" last_polled_at = $3 WHERE id = $1"
	// Sessions that expired, or were idle too long ($2; a value below every time when there
	// is no idle limit).
	qListEndedSessions = "SELECT " + sessionCols + " FROM oauth_sessions WHERE expires_at <= $1 OR last_seen_at < $2" +
		" ORDER BY created_at, id LIMIT $3"
)

// qClaimLogoutDeliveries leases the due deliveries in one statement; the dialect's claim
// lock keeps concurrent claims on PostgreSQL apart.
func qClaimLogoutDeliveries(d dialect) string {
	return "UPDATE oauth_logout_outbox SET next_attempt_at = $2, attempts = attempts + 1 WHERE id IN" +
		" (SELECT id FROM oauth_logout_outbox WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3" +
		d.claimLock() + ") RETURNING " + outboxCols
}

// backchannelStmts are the prepared statements of the logout outbox, the revocation event
// log, event streams and ended sessions.
type backchannelStmts struct {
	enqueueLogout, retryLogout, deleteLogout, countLogouts *sql.Stmt
	appendEvent, eventsAfter                               *sql.Stmt
	createStream, getStream, listStreams, updateStream     *sql.Stmt
	deleteStream, ackStream, deleteIdleStreams             *sql.Stmt
	sessionClientIDs, listEndedSessions                    *sql.Stmt
}

func (st *backchannelStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.enqueueLogout, true, qEnqueueLogout},
		{&st.retryLogout, true, "UPDATE oauth_logout_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1"},
		{&st.deleteLogout, true, "DELETE FROM oauth_logout_outbox WHERE id = $1"},
		{&st.countLogouts, false, "SELECT count(*) FROM oauth_logout_outbox"},

		{&st.appendEvent, true, qAppendEvent},
		{&st.eventsAfter, false, "SELECT " + eventCols + " FROM oauth_revocation_events WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3"},

		{&st.createStream, true, "INSERT INTO oauth_event_streams (" + streamCols + ") VALUES (" + colParams(streamCols) + ")"},
		{&st.getStream, false, "SELECT " + streamCols + " FROM oauth_event_streams WHERE id = $1"},
		{&st.listStreams, false, "SELECT " + streamCols + " FROM oauth_event_streams WHERE client_id = $1 ORDER BY created_at, id"},
		{&st.updateStream, true, qUpdateEventStream},
		{&st.deleteStream, true, "DELETE FROM oauth_event_streams WHERE id = $1"},
		{&st.ackStream, true, qAckEventStream},
		{&st.deleteIdleStreams, true, "DELETE FROM oauth_event_streams WHERE last_polled_at < $1"},

		{&st.sessionClientIDs, false, "SELECT DISTINCT client_id FROM oauth_grants WHERE session_id = $1 ORDER BY client_id"},
		{&st.listEndedSessions, false, qListEndedSessions},
	}
}
