-- +goose Up
-- CIBA requests (OpenID CIBA Core 1.0). id names a request on the approval page and in the
-- admin API; the auth_req_id is kept only as its SHA-256. notification_token is sealed (it is
-- sent back to the client); payload is the sealed body of a push delivery. notify_at > 0 means
-- a ping or push delivery is due then (the delivery worker leases rows by moving it ahead).
-- A row is deleted when its tokens are redeemed or pushed and, once expired, by DeleteExpired.
CREATE TABLE oauth_ciba_requests (
    id                 TEXT    NOT NULL PRIMARY KEY,
    auth_req_hash      TEXT    NOT NULL UNIQUE,
    client_id          TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    scopes             TEXT,
    resources          TEXT,
    acr_values         TEXT,
    binding_message    TEXT    NOT NULL DEFAULT '',
    mode               TEXT    NOT NULL,
    notification_token TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL,
    auth_time          BIGINT  NOT NULL DEFAULT 0,
    amr                TEXT,
    acr                TEXT    NOT NULL DEFAULT '',
    interval_ms        BIGINT  NOT NULL,
    last_polled_at     BIGINT  NOT NULL DEFAULT 0,
    poll_too_fast      INTEGER NOT NULL DEFAULT 0,
    notify_at          BIGINT  NOT NULL DEFAULT 0,
    notify_attempts    INTEGER NOT NULL DEFAULT 0,
    payload            TEXT    NOT NULL DEFAULT '',
    expires_at         BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL
);
CREATE INDEX oauth_ciba_requests_subject ON oauth_ciba_requests (subject, status);
CREATE INDEX oauth_ciba_requests_notify ON oauth_ciba_requests (notify_at);
CREATE INDEX oauth_ciba_requests_expires ON oauth_ciba_requests (expires_at);

-- +goose Down
DROP TABLE oauth_ciba_requests;
