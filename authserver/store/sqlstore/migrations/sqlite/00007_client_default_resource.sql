-- +goose Up
-- A client's default resource (RFC 8707 §2): the resource identifier used when a token or
-- authorization request names none; '' means none.
ALTER TABLE oauth_clients ADD COLUMN default_resource TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN default_resource;
