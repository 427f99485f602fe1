-- +goose Up
-- End-user flows: accounts, login sessions, consents, authorization codes, grants (token
-- families), refresh tokens and the jtis of JWT access tokens issued under a grant.

-- Defaults keep existing clients valid: they mean "unset" for every new field.
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT;
ALTER TABLE oauth_clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN sector_identifier TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN skip_consent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN pkce_optional INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN refresh_without_offline_access INTEGER NOT NULL DEFAULT 0;

-- '' is "not issued under a grant" (e.g. client_credentials).
ALTER TABLE oauth_access_tokens ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth_access_tokens_grant ON oauth_access_tokens (grant_id);

CREATE TABLE oauth_accounts (
    subject       TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    claims        TEXT,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE oauth_sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    secret_hash  TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    auth_time    INTEGER NOT NULL,
    amr          TEXT,
    acr          TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_sessions_expires ON oauth_sessions (expires_at);

CREATE TABLE oauth_consents (
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT,
    resources  TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE oauth_authorization_codes (
    hash                  TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    session_id            TEXT    NOT NULL,
    scopes                TEXT,
    resources             TEXT,
    nonce                 TEXT    NOT NULL,
    auth_time             INTEGER NOT NULL,
    amr                   TEXT,
    acr                   TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    dpop_jkt              TEXT    NOT NULL,
    grant_id              TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_authorization_codes_expires ON oauth_authorization_codes (expires_at);

-- Grants outlive the session that created them (offline access), hence no foreign key.
CREATE TABLE oauth_grants (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    scopes     TEXT,
    resources  TEXT,
    auth_time  INTEGER NOT NULL,
    amr        TEXT,
    acr        TEXT    NOT NULL,
    jkt        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_grants_session ON oauth_grants (session_id);
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_at);

CREATE TABLE oauth_refresh_tokens (
    hash            TEXT    NOT NULL PRIMARY KEY,
    grant_id        TEXT    NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    scopes          TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    response_sealed BLOB
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_grant_jtis (
    grant_id   TEXT    NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (grant_id, jti)
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_grant_jtis_expires ON oauth_grant_jtis (expires_at);

-- +goose Down
DROP TABLE oauth_grant_jtis;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_grants;
DROP TABLE oauth_authorization_codes;
DROP TABLE oauth_consents;
DROP TABLE oauth_sessions;
DROP TABLE oauth_accounts;
DROP INDEX oauth_access_tokens_grant;
ALTER TABLE oauth_access_tokens DROP COLUMN grant_id;
ALTER TABLE oauth_clients DROP COLUMN refresh_without_offline_access;
ALTER TABLE oauth_clients DROP COLUMN pkce_optional;
ALTER TABLE oauth_clients DROP COLUMN skip_consent;
ALTER TABLE oauth_clients DROP COLUMN id_token_signed_response_alg;
ALTER TABLE oauth_clients DROP COLUMN sector_identifier;
ALTER TABLE oauth_clients DROP COLUMN subject_type;
ALTER TABLE oauth_clients DROP COLUMN post_logout_redirect_uris;
