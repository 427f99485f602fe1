-- +goose Up
-- Passkeys (WebAuthn credentials) of accounts, keyed by the credential ID (base64url).
-- public_key is the COSE public key (no secret is stored). Times are Unix milliseconds;
-- last_used_at and revoked_at are 0 until set; a revoked row is kept so the admin API can
-- show it and a sign-in with it is refused by name.
CREATE TABLE oauth_passkeys (
    id                 TEXT    NOT NULL PRIMARY KEY,
    subject            TEXT    NOT NULL,
    user_handle        BYTEA   NOT NULL,
    name               TEXT    NOT NULL DEFAULT '',
    public_key         BYTEA   NOT NULL,
    attestation_type   TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    aaguid             BYTEA,
    transports         TEXT,
    attachment         TEXT    NOT NULL DEFAULT '',
    sign_count         BIGINT  NOT NULL DEFAULT 0,
    backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
    user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    clone_warning      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT  NOT NULL DEFAULT 0,
    revoked_at         BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX oauth_passkeys_subject ON oauth_passkeys (subject, created_at);

-- +goose Down
DROP TABLE oauth_passkeys;
