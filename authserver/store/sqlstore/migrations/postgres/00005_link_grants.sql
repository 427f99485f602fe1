-- +goose Up
-- A client–resource link says what it grants: tokens for the resource (what every link meant
-- until now, so existing links keep it) and introspection of the resource's tokens, whichever
-- client they were issued to (the resource's own server or gateway; nobody had it before).
ALTER TABLE oauth_client_resources ADD COLUMN tokens BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE oauth_client_resources ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE oauth_client_resources DROP COLUMN introspect;
ALTER TABLE oauth_client_resources DROP COLUMN tokens;
