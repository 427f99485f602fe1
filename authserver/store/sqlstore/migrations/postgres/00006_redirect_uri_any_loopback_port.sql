-- +goose Up
-- A confidential client's opt-in to RFC 8252 §7.3 (any port on a loopback IP redirect URI);
-- public clients have it anyway, everyone else gets exact matching (RFC 9700 §4.1.3).
ALTER TABLE oauth_clients ADD COLUMN redirect_uri_any_loopback_port BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN redirect_uri_any_loopback_port;
