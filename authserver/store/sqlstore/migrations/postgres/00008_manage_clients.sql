-- +goose Up
-- Clients managed at run time (admin API, dynamic registration, client ID metadata documents).

-- Who owns a client: every client so far came from the configuration.
ALTER TABLE oauth_clients ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
-- SHA-256 of the RFC 7592 registration access token; '' means none.
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN secret_expires_at BIGINT;
-- The secret replaced by a rotation, valid until previous_secret_expires_at.
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN previous_secret_sealed BYTEA;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_expires_at BIGINT;
CREATE INDEX oauth_clients_source ON oauth_clients (source, id);

-- Initial access tokens for dynamic registration (RFC 7591 §3). NULL expires_at: never
-- expires; NULL uses_left: any number of registrations.
CREATE TABLE oauth_initial_access_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    hash        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    expires_at  BIGINT,
    uses_left   INTEGER,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX oauth_initial_access_tokens_expires ON oauth_initial_access_tokens (expires_at);

-- Listing and revoking by client (the admin API, deleting a client).
CREATE INDEX oauth_grants_client ON oauth_grants (client_id, id);
CREATE INDEX oauth_consents_client ON oauth_consents (client_id, subject);
CREATE INDEX oauth_access_tokens_client ON oauth_access_tokens (client_id);

-- One counter, bumped by triggers in the transaction of every write of a client, resource or
-- link, whatever code (or person) writes them: instances sharing the database poll it to
-- know when their cached clients are stale.
CREATE TABLE oauth_revision (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision BIGINT  NOT NULL
);
INSERT INTO oauth_revision (id, revision) VALUES (1, 1);

-- The counter is the one in the schema of the table written, whatever the search_path of the
-- session writing it.
-- +goose StatementBegin
CREATE FUNCTION oauth_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.oauth_revision SET revision = revision + 1 WHERE id = 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER oauth_clients_revision AFTER INSERT OR UPDATE OR DELETE ON oauth_clients
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_bump_revision();
CREATE TRIGGER oauth_resources_revision AFTER INSERT OR UPDATE OR DELETE ON oauth_resources
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_bump_revision();
CREATE TRIGGER oauth_client_resources_revision AFTER INSERT OR UPDATE OR DELETE ON oauth_client_resources
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_bump_revision();

-- +goose Down
DROP TRIGGER oauth_client_resources_revision ON oauth_client_resources;
DROP TRIGGER oauth_resources_revision ON oauth_resources;
DROP TRIGGER oauth_clients_revision ON oauth_clients;
DROP FUNCTION oauth_bump_revision();
DROP TABLE oauth_revision;
DROP INDEX oauth_access_tokens_client;
DROP INDEX oauth_consents_client;
DROP INDEX oauth_grants_client;
DROP TABLE oauth_initial_access_tokens;
DROP INDEX oauth_clients_source;
ALTER TABLE oauth_clients DROP COLUMN previous_secret_expires_at;
ALTER TABLE oauth_clients DROP COLUMN previous_secret_sealed;
ALTER TABLE oauth_clients DROP COLUMN previous_secret_hash;
ALTER TABLE oauth_clients DROP COLUMN secret_expires_at;
ALTER TABLE oauth_clients DROP COLUMN registration_token_hash;
ALTER TABLE oauth_clients DROP COLUMN source;
