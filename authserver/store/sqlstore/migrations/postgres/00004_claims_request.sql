-- +goose Up
-- The OpenID Connect claims request parameter (JSON) of an authorization, carried from the
-- code to its grant so refreshed ID tokens and userinfo keep releasing what was requested;
-- userinfo finds the grant of a JWT access token by its jti.
ALTER TABLE oauth_authorization_codes ADD COLUMN claims TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_grants ADD COLUMN claims TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth_grant_jtis_jti ON oauth_grant_jtis (jti);

-- +goose Down
DROP INDEX oauth_grant_jtis_jti;
ALTER TABLE oauth_grants DROP COLUMN claims;
ALTER TABLE oauth_authorization_codes DROP COLUMN claims;
