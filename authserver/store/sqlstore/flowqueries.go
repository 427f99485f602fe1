package sqlstore

import "database/sql"

// Column lists of the end-user flow tables, in the order their scan functions read them.
const (
	accountCols = "subject, username, password_hash, claims, disabled, created_at, updated_at"
	sessionCols = "id, secret_hash, subject, auth_time, amr, acr, created_at, last_seen_at, expires_at, user_agent, remote_ip, passkey_id"
	consentCols = "subject, client_id, scopes, resources, created_at, updated_at"
	codeCols    = "hash, client_id, redirect_uri, subject, session_id, scopes, resources, nonce, " +
		"auth_time, amr, acr, code_challenge, code_challenge_method, dpop_jkt, grant_id, created_at, expires_at, claims"
	grantCols = "id, client_id, subject, session_id, scopes, resources, auth_time, amr, acr, jkt, " +
		"created_at, expires_at, revoked, claims, x5t_s256"
	refreshCols = "hash, grant_id, scopes, created_at, expires_at, used_at, response_sealed"
)

var (
	qUpsertAccount = "INSERT INTO oauth_accounts (" + accountCols + ") VALUES (" + colParams(accountCols) + ")" +
		" ON CONFLICT (subject) DO UPDATE SET " + setExcluded(accountCols, "subject", "created_at") +
		" RETURNING created_at"
	qUpsertConsent = "INSERT INTO oauth_consents (" + consentCols + ") VALUES (" + colParams(consentCols) + ")" +
		" ON CONFLICT (subject, client_id) DO UPDATE SET " + setExcluded(consentCols, "subject", "client_id", "created_at") +
		" RETURNING created_at"
	// The WHERE makes the update, and so the RETURNING row, happen for one caller only.
	qConsumeCode = "UPDATE oauth_authorization_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL" +
		" RETURNING " + codeCols
	qUseRefreshToken = "UPDATE oauth_refresh_tokens SET used_at = $2, response_sealed = $3" +
		" WHERE hash = $1 AND used_at IS NULL"
	qRecordGrantJTI = "INSERT INTO oauth_grant_jtis (grant_id, jti, expires_at) VALUES ($1, $2, $3)" +
		" ON CONFLICT (grant_id, jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > oauth_grant_jtis.expires_at" +
		" THEN excluded.expires_at ELSE oauth_grant_jtis.expires_at END"

	// Revoking grants: $1 is a grant ID or, for the session variants, a session ID.
	qRevokeGrant       = "UPDATE oauth_grants SET revoked = TRUE WHERE id = $1 AND NOT revoked" + returningGrant
	qRevokeGrantTokens = "UPDATE oauth_access_tokens SET revoked = TRUE WHERE grant_id = $1 AND NOT revoked"
	// GROUP BY: one jti under two grants must not make the upsert touch a row twice.
	qRevokeGrantJTIs = "INSERT INTO oauth_revoked_jtis (jti, expires_at) SELECT jti, MAX(expires_at)" +
		" FROM oauth_grant_jtis WHERE grant_id = $1 GROUP BY jti" + keepLaterExpiry
	sessionGrants              = "SELECT id FROM oauth_grants WHERE session_id = $1"
	qRevokeSessionGrants       = "UPDATE oauth_grants SET revoked = TRUE WHERE session_id = $1 AND NOT revoked" + returningGrant
	qRevokeSessionGrantsTokens = "UPDATE oauth_access_tokens SET revoked = TRUE WHERE grant_id IN (" + sessionGrants + ") AND NOT revoked"
	qRevokeSessionGrantsJTIs   = "INSERT INTO oauth_revoked_jtis (jti, expires_at) SELECT jti, MAX(expires_at)" +
		" FROM oauth_grant_jtis WHERE grant_id IN (" + sessionGrants + ") GROUP BY jti" + keepLaterExpiry
	subjectGrants              = "SELECT id FROM oauth_grants WHERE subject = $1"
	qRevokeSubjectGrants       = "UPDATE oauth_grants SET revoked = TRUE WHERE subject = $1 AND NOT revoked" + returningGrant
	qRevokeSubjectGrantsTokens = "UPDATE oauth_access_tokens SET revoked = TRUE WHERE grant_id IN (" + subjectGrants + ") AND NOT revoked"
	qRevokeSubjectGrantsJTIs   = "INSERT INTO oauth_revoked_jtis (jti, expires_at) SELECT jti, MAX(expires_at)" +
		" FROM oauth_grant_jtis WHERE grant_id IN (" + subjectGrants + ") GROUP BY jti" + keepLaterExpiry
	clientGrants              = "SELECT id FROM oauth_grants WHERE client_id = $1"
	qRevokeClientGrants       = "UPDATE oauth_grants SET revoked = TRUE WHERE client_id = $1 AND NOT revoked" + returningGrant
	qRevokeClientGrantsTokens = "UPDATE oauth_access_tokens SET revoked = TRUE WHERE grant_id IN (" + clientGrants + ") AND NOT revoked"
	qRevokeClientGrantsJTIs   = "INSERT INTO oauth_revoked_jtis (jti, expires_at) SELECT jti, MAX(expires_at)" +
		" FROM oauth_grant_jtis WHERE grant_id IN (" + clientGrants + ") GROUP BY jti" + keepLaterExpiry
	qLiveGrantTokensOfGrant  = qLiveGrantTokens("grant_id = $1")
	qLiveSessionGrantsTokens = qLiveGrantTokens("grant_id IN (" + sessionGrants + ")")
	qLiveSubjectGrantsTokens = qLiveGrantTokens("grant_id IN (" + subjectGrants + ")")
	qLiveClientGrantsTokens  = qLiveGrantTokens("grant_id IN (" + clientGrants + ")")
	// qGrantRevoked is run inside write transactions with the dialect's row lock appended.
	qGrantRevoked = "SELECT revoked FROM oauth_grants WHERE id = $1"
)

// flowStmts are the prepared statements of accounts, sessions, consents and grants.
// Statements used inside a write transaction are prepared on the writer: a transaction
// cannot use a statement of the SQLite read pool.
type flowStmts struct {
	getAccount, getAccountByUsername, listAccounts, upsertAccount, deleteAccount *sql.Stmt
	createSession, getSession, touchSession, deleteSession                       *sql.Stmt
	deleteSubjectSessions                                                        *sql.Stmt
	getConsent, upsertConsent, deleteConsent                                     *sql.Stmt
	createCode, consumeCode, getCode                                             *sql.Stmt
	createGrant, getGrant, recordGrantJTI, grantIDOfJTI                          *sql.Stmt
	revokeGrant, revokeGrantTokens, revokeGrantJTIs                              *sql.Stmt
	revokeSessionGrants, revokeSessionGrantsTokens, revokeSessionGrantsJTIs      *sql.Stmt
	revokeSubjectGrants, revokeSubjectGrantsTokens, revokeSubjectGrantsJTIs      *sql.Stmt
	revokeClientGrants, revokeClientGrantsTokens, revokeClientGrantsJTIs         *sql.Stmt
	revokeClientAccessTokens, listSessions, countActiveSessions                  *sql.Stmt
	liveGrantTokens, liveSessionGrantsTokens                                     *sql.Stmt
	liveSubjectGrantsTokens, liveClientGrantsTokens                              *sql.Stmt
	createRefreshToken, getRefreshToken, useRefreshToken, refreshTokenExists     *sql.Stmt
}

func (st *flowStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.getAccount, false, "SELECT " + accountCols + " FROM oauth_accounts WHERE subject = $1"},
		{&st.getAccountByUsername, false, "SELECT " + accountCols + " FROM oauth_accounts WHERE username = $1"},
		{&st.listAccounts, false, "SELECT " + accountCols + " FROM oauth_accounts ORDER BY username"},
		{&st.upsertAccount, true, qUpsertAccount},
		{&st.deleteAccount, true, "DELETE FROM oauth_accounts WHERE subject = $1"},

		{&st.createSession, true, "INSERT INTO oauth_sessions (" + sessionCols + ") VALUES (" + colParams(sessionCols) + ")"},
		{&st.getSession, false, "SELECT " + sessionCols + " FROM oauth_sessions WHERE id = $1"},
		{&st.touchSession, true, "UPDATE oauth_sessions SET last_seen_at = $2 WHERE id = $1"},
		{&st.deleteSession, true, "DELETE FROM oauth_sessions WHERE id = $1"},
		{&st.deleteSubjectSessions, true, "DELETE FROM oauth_sessions WHERE subject = $1"},

		{&st.getConsent, false, "SELECT " + consentCols + " FROM oauth_consents WHERE subject = $1 AND client_id = $2"},
		{&st.upsertConsent, true, qUpsertConsent},
		{&st.deleteConsent, true, "DELETE FROM oauth_consents WHERE subject = $1 AND client_id = $2"},

		{&st.createCode, true, "INSERT INTO oauth_authorization_codes (" + codeCols + ") VALUES (" + colParams(codeCols) + ")"},
		{&st.consumeCode, true, qConsumeCode},
		{&st.getCode, false, "SELECT " + codeCols + " FROM oauth_authorization_codes WHERE hash = $1"},

		{&st.createGrant, true, "INSERT INTO oauth_grants (" + grantCols + ") VALUES (" + colParams(grantCols) + ")"},
		{&st.getGrant, false, "SELECT " + grantCols + " FROM oauth_grants WHERE id = $1"},
		{&st.recordGrantJTI, true, qRecordGrantJTI},
		{&st.grantIDOfJTI, false, "SELECT grant_id FROM oauth_grant_jtis WHERE jti = $1 LIMIT 1"},
		{&st.revokeGrant, true, qRevokeGrant},
		{&st.revokeGrantTokens, true, qRevokeGrantTokens},
		{&st.revokeGrantJTIs, true, qRevokeGrantJTIs},
		{&st.revokeSessionGrants, true, qRevokeSessionGrants},
		{&st.revokeSessionGrantsTokens, true, qRevokeSessionGrantsTokens},
		{&st.revokeSessionGrantsJTIs, true, qRevokeSessionGrantsJTIs},
		{&st.revokeSubjectGrants, true, qRevokeSubjectGrants},
		{&st.revokeSubjectGrantsTokens, true, qRevokeSubjectGrantsTokens},
		{&st.revokeSubjectGrantsJTIs, true, qRevokeSubjectGrantsJTIs},
		{&st.revokeClientGrants, true, qRevokeClientGrants},
		{&st.revokeClientGrantsTokens, true, qRevokeClientGrantsTokens},
		{&st.revokeClientGrantsJTIs, true, qRevokeClientGrantsJTIs},
		{&st.liveGrantTokens, true, qLiveGrantTokensOfGrant},
		{&st.liveSessionGrantsTokens, true, qLiveSessionGrantsTokens},
		{&st.liveSubjectGrantsTokens, true, qLiveSubjectGrantsTokens},
		{&st.liveClientGrantsTokens, true, qLiveClientGrantsTokens},
		// Opaque tokens of the client, under a grant or not (client_credentials).
		{&st.revokeClientAccessTokens, true, "UPDATE oauth_access_tokens SET revoked = TRUE WHERE client_id = $1 AND NOT revoked RETURNING hash, subject, expires_at"},
		{&st.listSessions, false, "SELECT " + sessionCols + " FROM oauth_sessions WHERE subject = $1 AND expires_at > $2 ORDER BY created_at, id"},
		{&st.countActiveSessions, false, "SELECT COUNT(*) FROM oauth_sessions WHERE expires_at > $1"},

		{&st.createRefreshToken, true, "INSERT INTO oauth_refresh_tokens (" + refreshCols + ") VALUES (" + colParams(refreshCols) + ")"},
		{&st.getRefreshToken, false, "SELECT " + refreshCols + " FROM oauth_refresh_tokens WHERE hash = $1"},
		{&st.useRefreshToken, true, qUseRefreshToken},
		{&st.refreshTokenExists, true, "SELECT 1 FROM oauth_refresh_tokens WHERE hash = $1"},
	}
}
