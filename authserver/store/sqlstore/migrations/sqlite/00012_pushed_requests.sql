-- +goose Up
-- Pushed authorization requests (RFC 9126), keyed by the SHA-256 of their request_uri's
-- random part; params is the JSON of the resolved parameters. A row is deleted when it is
-- used (single use) or, once expired, by DeleteExpired.
CREATE TABLE oauth_pushed_requests (
    hash       TEXT   NOT NULL PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    params     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_pushed_requests_expires ON oauth_pushed_requests (expires_at);

-- +goose Down
DROP TABLE oauth_pushed_requests;
