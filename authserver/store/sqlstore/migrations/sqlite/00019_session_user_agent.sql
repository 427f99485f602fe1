-- +goose Up
-- The browser that signed in (User-Agent header, cut to 512 bytes) and its address, shown to
-- the user on the account pages; '' for sessions stored before.
ALTER TABLE oauth_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_sessions ADD COLUMN remote_ip TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_sessions DROP COLUMN remote_ip;
ALTER TABLE oauth_sessions DROP COLUMN user_agent;
