-- +goose Up
-- Disabling, deleting or re-keying an account revokes its grants (RevokeSubjectGrants) and
-- ends its sessions (DeleteSubjectSessions).
CREATE INDEX oauth_grants_subject ON oauth_grants (subject);
CREATE INDEX oauth_sessions_subject ON oauth_sessions (subject);

-- +goose Down
DROP INDEX oauth_sessions_subject;
DROP INDEX oauth_grants_subject;
