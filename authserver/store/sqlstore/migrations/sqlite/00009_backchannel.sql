-- +goose Up
-- Backchannel: the logout outbox (OpenID Connect Back-Channel Logout deliveries), the
-- revocation event log served to gateways over the Shared Signals Framework, and the
-- streams' positions in it.

-- One pending logout of one client for one ended session. session_id '' never collides:
-- the key only keeps two instances ending the same session from queueing it twice.
CREATE TABLE oauth_logout_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    jti             TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX oauth_logout_outbox_session_client ON oauth_logout_outbox (session_id, client_id)
    WHERE session_id <> '';
CREATE INDEX oauth_logout_outbox_due ON oauth_logout_outbox (next_attempt_at);

-- AUTOINCREMENT: a seq is never handed out twice, even after the highest event was purged,
-- so a stream that acknowledged it never skips the next one.
CREATE TABLE oauth_revocation_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oauth_revocation_events_expires ON oauth_revocation_events (expires_at);

-- audience and events_requested are JSON arrays (NULL: nil).
CREATE TABLE oauth_event_streams (
    id               TEXT    NOT NULL PRIMARY KEY,
    client_id        TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    audience         TEXT,
    events_requested TEXT,
    delivery_method  TEXT    NOT NULL,
    endpoint_url     TEXT    NOT NULL,
    acked_seq        INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_polled_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_event_streams_client ON oauth_event_streams (client_id, created_at);
CREATE INDEX oauth_event_streams_polled ON oauth_event_streams (last_polled_at);

-- Listing the sessions that ended by inactivity (ListEndedSessions).
CREATE INDEX oauth_sessions_last_seen ON oauth_sessions (last_seen_at);

-- +goose Down
DROP INDEX oauth_sessions_last_seen;
DROP TABLE oauth_event_streams;
DROP TABLE oauth_revocation_events;
DROP TABLE oauth_logout_outbox;
