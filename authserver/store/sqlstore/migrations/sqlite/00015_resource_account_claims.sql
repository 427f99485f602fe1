-- +goose Up
-- The account claims (a JSON array of names, e.g. ["roles","groups"]) copied into the
-- resource's access tokens issued for a user; NULL copies none.
ALTER TABLE oauth_resources ADD COLUMN account_claims TEXT;

-- +goose Down
ALTER TABLE oauth_resources DROP COLUMN account_claims;
