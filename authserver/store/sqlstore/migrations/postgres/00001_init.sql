-- +goose Up
-- Times are unix milliseconds; slices and maps are JSON text where NULL means "unset".
CREATE TABLE oauth_clients (
    id                              TEXT    NOT NULL PRIMARY KEY,
    name                            TEXT    NOT NULL,
    secret_hash                     TEXT    NOT NULL,
    secret_sealed                   BYTEA,
    token_endpoint_auth_method      TEXT    NOT NULL,
    token_endpoint_auth_signing_alg TEXT    NOT NULL,
    grant_types                     TEXT,
    redirect_uris                   TEXT,
    scopes                          TEXT,
    jwks                            TEXT    NOT NULL,
    jwks_uri                        TEXT    NOT NULL,
    dpop_bound_access_tokens        BOOLEAN NOT NULL,
    disabled                        BOOLEAN NOT NULL,
    metadata                        TEXT,
    created_at                      BIGINT  NOT NULL,
    updated_at                      BIGINT  NOT NULL
);

CREATE TABLE oauth_resources (
    id                                TEXT    NOT NULL PRIMARY KEY,
    identifier                        TEXT    NOT NULL UNIQUE,
    name                              TEXT    NOT NULL,
    access_token_ttl                  BIGINT,
    refresh_token_ttl                 BIGINT,
    access_token_format               TEXT    NOT NULL,
    signing_alg                       TEXT    NOT NULL,
    signing_key_id                    TEXT    NOT NULL,
    allowed_scopes                    TEXT,
    custom_claims                     TEXT,
    dpop_bound_access_tokens_required BOOLEAN NOT NULL,
    disabled                          BOOLEAN NOT NULL,
    policy_version                    INTEGER NOT NULL,
    metadata                          TEXT,
    created_at                        BIGINT  NOT NULL,
    updated_at                        BIGINT  NOT NULL
);

CREATE TABLE oauth_client_resources (
    client_id   TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    resource_id TEXT    NOT NULL REFERENCES oauth_resources (id) ON DELETE CASCADE,
    metadata    TEXT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (client_id, resource_id)
);
CREATE INDEX oauth_client_resources_resource ON oauth_client_resources (resource_id);

-- No foreign keys here: tokens outlive a deleted client or resource until they expire.
CREATE TABLE oauth_access_tokens (
    hash        TEXT    NOT NULL PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    audience    TEXT,
    scope       TEXT    NOT NULL,
    jkt         TEXT    NOT NULL,
    x5t_s256    TEXT    NOT NULL,
    extra       TEXT,
    issued_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked     BOOLEAN NOT NULL
);
CREATE INDEX oauth_access_tokens_expires ON oauth_access_tokens (expires_at);

CREATE TABLE oauth_revoked_jtis (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX oauth_revoked_jtis_expires ON oauth_revoked_jtis (expires_at);

CREATE TABLE oauth_used_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX oauth_used_keys_expires ON oauth_used_keys (expires_at);

CREATE TABLE oauth_signing_keys (
    id             TEXT    NOT NULL PRIMARY KEY,
    alg            TEXT    NOT NULL,
    private_sealed BYTEA,
    public_jwk     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    retired_at     BIGINT,
    purge_after    BIGINT
);

-- +goose Down
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_used_keys;
DROP TABLE oauth_revoked_jtis;
DROP TABLE oauth_access_tokens;
DROP TABLE oauth_client_resources;
DROP TABLE oauth_resources;
DROP TABLE oauth_clients;
