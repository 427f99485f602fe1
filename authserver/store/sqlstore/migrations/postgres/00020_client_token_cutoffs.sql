-- +goose Up
-- A client's cut-off: its sealed (self-contained) opaque access tokens issued at or before
-- cutoff (Unix ms) are revoked. Kept until expires_at, the latest expiry of a token it covers.
CREATE TABLE oauth_client_token_cutoffs (
    client_id  TEXT    NOT NULL PRIMARY KEY,
    cutoff     BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX oauth_client_token_cutoffs_expires ON oauth_client_token_cutoffs (expires_at);

-- +goose Down
DROP TABLE oauth_client_token_cutoffs;
