-- +goose Up
-- The passkey a session signed in with ('' for other sign-ins), so revoking the passkey ends
-- the sessions it started. Found through the account's sessions (subject index), so no index.
ALTER TABLE oauth_sessions ADD COLUMN passkey_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_sessions DROP COLUMN passkey_id;
