-- +goose Up
-- Secured requests and responses, mutual TLS and the security profile of a client
-- (store.ClientSecurity): one JSON document, since no query selects by these fields.
ALTER TABLE oauth_clients ADD COLUMN security TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN security;
