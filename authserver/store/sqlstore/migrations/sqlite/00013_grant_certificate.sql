-- +goose Up
-- The x5t#S256 of the TLS client certificate a public client's refresh tokens are bound to
-- (RFC 8705 §4), beside the DPoP key thumbprint (jkt); '' when unbound.
ALTER TABLE oauth_grants ADD COLUMN x5t_s256 TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_grants DROP COLUMN x5t_s256;
