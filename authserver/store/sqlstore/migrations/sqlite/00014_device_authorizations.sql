-- +goose Up
-- Device authorizations (RFC 8628), keyed by the SHA-256 of the device code; the user code is
-- kept only as the SHA-256 of its normalized form. A row is deleted when its device code is
-- redeemed or, once expired, by DeleteExpired. Times are Unix milliseconds; interval_ms grows
-- with each slow_down;
-- poll_too_fast says whether the latest poll came too early (set by the poll's own UPDATE).
CREATE TABLE oauth_device_authorizations (
    device_code_hash TEXT    NOT NULL PRIMARY KEY,
    user_code_hash   TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL,
    scopes           TEXT,
    resources        TEXT,
    status           TEXT    NOT NULL,
    subject          TEXT    NOT NULL DEFAULT '',
    auth_time        BIGINT  NOT NULL DEFAULT 0,
    amr              TEXT,
    acr              TEXT    NOT NULL DEFAULT '',
    interval_ms      BIGINT  NOT NULL,
    last_polled_at   BIGINT  NOT NULL DEFAULT 0,
    poll_too_fast    INTEGER NOT NULL DEFAULT 0,
    expires_at       BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX oauth_device_authorizations_expires ON oauth_device_authorizations (expires_at);

-- +goose Down
DROP TABLE oauth_device_authorizations;
