-- +goose Up
-- Disabling or deleting an account revokes its grants (RevokeSubjectGrants).
CREATE INDEX oauth_grants_subject ON oauth_grants (subject);

-- +goose Down
DROP INDEX oauth_grants_subject;
