-- +goose Up
-- Passkeys (WebAuthn credentials) of accounts, keyed by the credential ID (base64url).
-- public_key is the COSE public key (no secret is stored). Times are Unix milliseconds;
-- last_used_at and revoked_at are 0 until set; a revoked row is kept so the admin API can
-- show it and a sign-in with it is refused by name.
CREATE TABLE oauth_passkeys (
    id                 TEXT    NOT NULL PRIMARY KEY,
    subject            TEXT    NOT NULL,
    user_handle        BLOB   NOT NULL,
    name               TEXT    NOT NULL DEFAULT '',
    public_key         BLOB   NOT NULL,
    attestation_type   TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    aaguid             BLOB,
    transports         TEXT,
    attachment         TEXT    NOT NULL DEFAULT '',
    sign_count         BIGINT  NOT NULL DEFAULT 0,
    backup_eligible    INTEGER NOT NULL DEFAULT 0,
    backup_state       INTEGER NOT NULL DEFAULT 0,
    user_verified      INTEGER NOT NULL DEFAULT 0,
    clone_warning      INTEGER NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT  NOT NULL DEFAULT 0,
    revoked_at         BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX oauth_passkeys_subject ON oauth_passkeys (subject, created_at);

-- +goose Down
DROP TABLE oauth_passkeys;
