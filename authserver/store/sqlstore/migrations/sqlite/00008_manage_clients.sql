-- +goose Up
-- Clients managed at run time (admin API, dynamic registration, client ID metadata documents).

-- Who owns a client: every client so far came from the configuration.
ALTER TABLE oauth_clients ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
-- SHA-256 of the RFC 7592 registration access token; '' means none.
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN secret_expires_at INTEGER;
-- The secret replaced by a rotation, valid until previous_secret_expires_at.
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN previous_secret_sealed BLOB;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_expires_at INTEGER;
CREATE INDEX oauth_clients_source ON oauth_clients (source, id);

-- Initial access tokens for dynamic registration (RFC 7591 §3). NULL expires_at: never
-- expires; NULL uses_left: any number of registrations.
CREATE TABLE oauth_initial_access_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    hash        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    expires_at  INTEGER,
    uses_left   INTEGER,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
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
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO oauth_revision (id, revision) VALUES (1, 1);

-- +goose StatementBegin
CREATE TRIGGER oauth_clients_insert_revision AFTER INSERT ON oauth_clients
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_clients_update_revision AFTER UPDATE ON oauth_clients
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_clients_delete_revision AFTER DELETE ON oauth_clients
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_resources_insert_revision AFTER INSERT ON oauth_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_resources_update_revision AFTER UPDATE ON oauth_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_resources_delete_revision AFTER DELETE ON oauth_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_client_resources_insert_revision AFTER INSERT ON oauth_client_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_client_resources_update_revision AFTER UPDATE ON oauth_client_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_client_resources_delete_revision AFTER DELETE ON oauth_client_resources
BEGIN UPDATE oauth_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER oauth_client_resources_delete_revision;
DROP TRIGGER oauth_client_resources_update_revision;
DROP TRIGGER oauth_client_resources_insert_revision;
DROP TRIGGER oauth_resources_delete_revision;
DROP TRIGGER oauth_resources_update_revision;
DROP TRIGGER oauth_resources_insert_revision;
DROP TRIGGER oauth_clients_delete_revision;
DROP TRIGGER oauth_clients_update_revision;
DROP TRIGGER oauth_clients_insert_revision;
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
