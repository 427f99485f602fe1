-- +goose Up
-- OpenID Connect Back-Channel and Front-Channel Logout 1.0 client metadata: where the client
-- hears that a user's session at this server ended ('' means it does not), and whether it
-- needs the session ID (sid) to act on it.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN frontchannel_logout_session_required;
ALTER TABLE oauth_clients DROP COLUMN frontchannel_logout_uri;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_uri;
