package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Column lists, in the order the scan functions read them. created_at comes last in
// resourceCols so UpdateResource can number its parameters without a gap. The queries use $N placeholders,
// which both PostgreSQL and SQLite understand.
const (
	clientCols = "id, name, secret_hash, secret_sealed, token_endpoint_auth_method, " +
		"token_endpoint_auth_signing_alg, grant_types, redirect_uris, scopes, jwks, jwks_uri, " +
		"dpop_bound_access_tokens, disabled, metadata, post_logout_redirect_uris, subject_type, " +
		"sector_identifier, id_token_signed_response_alg, skip_consent, pkce_optional, " +
		"refresh_without_offline_access, redirect_uri_any_loopback_port, default_resource, source, " +
		"registration_token_hash, secret_expires_at, previous_secret_hash, previous_secret_sealed, " +
		"previous_secret_expires_at, backchannel_logout_uri, backchannel_logout_session_required, " +
		"frontchannel_logout_uri, frontchannel_logout_session_required, security, created_at, updated_at"
	resourceCols = "id, identifier, name, access_token_ttl, refresh_token_ttl, access_token_format, " +
		"signing_alg, signing_key_id, allowed_scopes, custom_claims, dpop_bound_access_tokens_required, " +
		"disabled, policy_version, metadata, account_claims, updated_at, created_at"
	linkCols        = "client_id, resource_id, tokens, introspect, metadata, created_at"
	accessTokenCols = "hash, client_id, subject, resource_id, audience, scope, jkt, x5t_s256, extra, " +
		"issued_at, expires_at, revoked, grant_id"
	signingKeyCols = "id, alg, private_sealed, public_jwk, created_at, retired_at, purge_after"
	iatCols        = "id, hash, description, expires_at, uses_left, created_at"
)

// keepLaterExpiry is the ON CONFLICT clause of every insert into oauth_revoked_jtis: a
// second revocation of the same jti never shortens the first.
const keepLaterExpiry = " ON CONFLICT (jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > oauth_revoked_jtis.expires_at" +
	" THEN excluded.expires_at ELSE oauth_revoked_jtis.expires_at END"

// deleteBatch bounds how many rows one DeleteExpired statement removes, so a large backlog
// never holds the SQLite write lock for long.
const deleteBatch = 5000

var (
	qUpsertClient = "INSERT INTO oauth_clients (" + clientCols + ") VALUES (" + colParams(clientCols) + ")" +
		" ON CONFLICT (id) DO UPDATE SET " + setExcluded(clientCols, "id", "created_at") +
		" RETURNING created_at"
	qCreateClient   = "INSERT INTO oauth_clients (" + clientCols + ") VALUES (" + colParams(clientCols) + ")"
	qCreateResource = "INSERT INTO oauth_resources (" + resourceCols + ") VALUES (" + colParams(resourceCols) + ")"
	qUpdateResource = "UPDATE oauth_resources SET " + setParams(resourceCols, "id", "created_at") +
		" WHERE id = $1 RETURNING created_at"
	qLinkClientResource = "INSERT INTO oauth_client_resources (" + linkCols + ") VALUES (" + colParams(linkCols) + ")" +
		" ON CONFLICT (client_id, resource_id) DO UPDATE SET " + setExcluded(linkCols, "client_id", "resource_id", "created_at") +
		" RETURNING created_at"
	qCreateAccessToken = "INSERT INTO oauth_access_tokens (" + accessTokenCols + ") VALUES (" + colParams(accessTokenCols) + ")"
	qRevokeJTI         = "INSERT INTO oauth_revoked_jtis (jti, expires_at) VALUES ($1, $2)" + keepLaterExpiry
	// A cut-off only moves forward, and its expiry only later.
	qSetClientTokenCutoff = "INSERT INTO oauth_client_token_cutoffs (client_id, cutoff, expires_at) VALUES ($1, $2, $3)" +
		" ON CONFLICT (client_id) DO UPDATE SET" +
		" cutoff = CASE WHEN excluded.cutoff > oauth_client_token_cutoffs.cutoff THEN excluded.cutoff ELSE oauth_client_token_cutoffs.cutoff END," +
		" expires_at = CASE WHEN excluded.expires_at > oauth_client_token_cutoffs.expires_at THEN excluded.expires_at ELSE oauth_client_token_cutoffs.expires_at END"
	// The insert either creates the key or takes over an expired one; a live key makes the
	// WHERE false, so no row is affected. Both databases do this atomically.
	qUseOnce = "INSERT INTO oauth_used_keys (id, expires_at) VALUES ($1, $2)" +
		" ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE oauth_used_keys.expires_at <= $3"
	// One conditional UPDATE spends a use: the row lock (PostgreSQL re-checks the WHERE
	// after waiting for it) or the single writer (SQLite) makes concurrent uses count down
	// one at a time, and a token with no use left, or expired, matches no row. NULL uses_left
	// (unlimited) stays NULL.
	qUseIAT = "UPDATE oauth_initial_access_tokens SET uses_left = uses_left - 1" +
		" WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2) AND (uses_left IS NULL OR uses_left > 0)" +
		" RETURNING " + iatCols
	qCreateSigningKey = "INSERT INTO oauth_signing_keys (" + signingKeyCols + ") VALUES (" + colParams(signingKeyCols) + ")"
)

// sessionPurgeGrace is how long after its expiry a session is kept: the backchannel's
// session-end pass lists ended sessions (ListEndedSessions) and queues their logouts before
// it deletes them, and must get to them before DeleteExpired does.
const sessionPurgeGrace = time.Hour

// expiredDelete removes one batch of rows expired grace before now; it takes (now - grace,
// batch).
type expiredDelete struct {
	query string
	grace time.Duration
}

// expiredDeletes run in order. The rows of expired grants go before the grants, so that
// every removed row is counted rather than left to ON DELETE CASCADE.
var expiredDeletes = []expiredDelete{
	{deleteExpired("oauth_access_tokens", "hash", "expires_at"), 0},
	{deleteExpired("oauth_revoked_jtis", "jti", "expires_at"), 0},
	{deleteExpired("oauth_client_token_cutoffs", "client_id", "expires_at"), 0},
	{deleteExpired("oauth_used_keys", "id", "expires_at"), 0},
	{deleteExpired("oauth_signing_keys", "id", "purge_after"), 0},
	{deleteExpired("oauth_sessions", "id", "expires_at"), sessionPurgeGrace},
	{deleteExpired("oauth_authorization_codes", "hash", "expires_at"), 0},
	{deleteExpired("oauth_refresh_tokens", "hash", "expires_at"), 0},
	{deleteExpired("oauth_grant_jtis", "grant_id, jti", "expires_at"), 0},
	{deleteOfExpiredGrants("oauth_refresh_tokens", "hash"), 0},
	{deleteOfExpiredGrants("oauth_grant_jtis", "grant_id, jti"), 0},
	{deleteExpired("oauth_grants", "id", "expires_at"), 0},
	{deleteExpired("oauth_initial_access_tokens", "id", "expires_at"), 0},
	{deleteExpired("oauth_revocation_events", "seq", "expires_at"), 0},
	{deleteExpired("oauth_pushed_requests", "hash", "expires_at"), 0},
	{deleteExpired("oauth_device_authorizations", "device_code_hash", "expires_at"), 0},
	{deleteExpired("oauth_ciba_requests", "id", "expires_at"), 0},
}

// deleteExpired deletes rows of table whose column is at or before $1; key is the
// table's primary key column list.
func deleteExpired(table, key, column string) string {
	return fmt.Sprintf("DELETE FROM %[1]s WHERE (%[2]s) IN (SELECT %[2]s FROM %[1]s WHERE %[3]s <= $1 LIMIT $2)",
		table, key, column)
}

// deleteOfExpiredGrants deletes rows of table that belong to a grant expired at $1.
func deleteOfExpiredGrants(table, key string) string {
	return fmt.Sprintf("DELETE FROM %[1]s WHERE (%[2]s) IN (SELECT %[2]s FROM %[1]s WHERE grant_id IN"+
		" (SELECT id FROM oauth_grants WHERE expires_at <= $1) LIMIT $2)", table, key)
}

// colParams returns one placeholder per column of cols.
func colParams(cols string) string { return placeholders(strings.Count(cols, ",") + 1) }

// placeholders returns "$1, $2, ..., $n".
func placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// setExcluded returns "col = excluded.col, ..." for the columns not in skip.
func setExcluded(cols string, skip ...string) string {
	var sets []string
	for _, c := range strings.Split(cols, ", ") {
		if !contains(skip, c) {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	return strings.Join(sets, ", ")
}

// setParams returns "col = $i, ..." numbering every column by its position in cols, for
// the columns not in skip.
// qUpdateRegisteredClient replaces a client while it holds the expected registration token
// hash. Its parameters are clientCols without created_at (which an update keeps), then the
// expected hash.
var qUpdateRegisteredClient = func() string {
	cols := withoutCol(clientCols, "created_at")
	return "UPDATE oauth_clients SET " + setParams(cols, "id") +
		fmt.Sprintf(" WHERE id = $1 AND registration_token_hash = $%d RETURNING created_at", len(strings.Split(cols, ", "))+1)
}()

// withoutCol removes one column from a column list.
func withoutCol(cols, col string) string {
	return strings.Join(slices.DeleteFunc(strings.Split(cols, ", "), func(c string) bool { return c == col }), ", ")
}

func setParams(cols string, skip ...string) string {
	var sets []string
	for i, c := range strings.Split(cols, ", ") {
		if !contains(skip, c) {
			sets = append(sets, fmt.Sprintf("%s = $%d", c, i+1))
		}
	}
	return strings.Join(sets, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// statements are prepared once at Open: SQLite would otherwise compile every query on
// every call, and the token endpoint runs some of them on each request.
type statements struct {
	getClient, listClients, upsertClient, deleteClient                    *sql.Stmt
	createClient, deleteClientConsents, revision                          *sql.Stmt
	updateRegisteredClient                                                *sql.Stmt
	getResource, getResourceByIdentifier, listResources                   *sql.Stmt
	createResource, updateResource, deleteResource                        *sql.Stmt
	linkClientResource, unlinkClientResource                              *sql.Stmt
	updateClient                                                          *sql.Stmt
	isClientLinked, isClientIntrospector, listClientResources             *sql.Stmt
	createAccessToken, getAccessToken, revokeAccessToken                  *sql.Stmt
	revokeJTI, isJTIRevoked, useOnce                                      *sql.Stmt
	setClientTokenCutoff, clientTokenCutoff                               *sql.Stmt
	accessTokenExists, jtiOwner                                           *sql.Stmt
	listSigningKeys, createSigningKey, retireSigningKey, deleteSigningKey *sql.Stmt
	createIAT, listIATs, deleteIAT, useIAT                                *sql.Stmt
	deleteExpired                                                         []*sql.Stmt
	flowStmts                                                             // end-user flows, see flowqueries.go
	backchannelStmts                                                      // see backchannelqueries.go
	pushedRequestStmts                                                    // see pushedrequests.go
	deviceStmts                                                           // see deviceauthorizations.go
	cibaStmts                                                             // see cibarequests.go
	passkeyStmts                                                          // see passkeys.go
}

type stmtDef struct {
	dst   **sql.Stmt
	write bool
	query string
}

func (st *statements) defs() []stmtDef {
	defs := []stmtDef{
		{&st.getClient, false, "SELECT " + clientCols + " FROM oauth_clients WHERE id = $1"},
		{&st.listClients, false, "SELECT " + clientCols + " FROM oauth_clients ORDER BY id"},
		{&st.upsertClient, true, qUpsertClient},
		{&st.deleteClient, true, "DELETE FROM oauth_clients WHERE id = $1"},
		{&st.createClient, true, qCreateClient},
		{&st.updateRegisteredClient, true, qUpdateRegisteredClient},
		{&st.deleteClientConsents, true, "DELETE FROM oauth_consents WHERE client_id = $1"},
		{&st.revision, false, "SELECT revision FROM oauth_revision WHERE id = 1"},

		{&st.getResource, false, "SELECT " + resourceCols + " FROM oauth_resources WHERE id = $1"},
		{&st.getResourceByIdentifier, false, "SELECT " + resourceCols + " FROM oauth_resources WHERE identifier = $1"},
		{&st.listResources, false, "SELECT " + resourceCols + " FROM oauth_resources ORDER BY identifier"},
		{&st.createResource, true, qCreateResource},
		{&st.updateResource, true, qUpdateResource},
		{&st.updateClient, true, qUpdateClient},
		{&st.deleteResource, true, "DELETE FROM oauth_resources WHERE id = $1"},
		{&st.linkClientResource, true, qLinkClientResource},
		{&st.unlinkClientResource, true, "DELETE FROM oauth_client_resources WHERE client_id = $1 AND resource_id = $2"},
		{&st.isClientLinked, false, "SELECT 1 FROM oauth_client_resources WHERE client_id = $1 AND resource_id = $2 AND tokens = TRUE"},
		{&st.isClientIntrospector, false, "SELECT 1 FROM oauth_client_resources WHERE client_id = $1 AND resource_id = $2 AND introspect = TRUE"},
		{&st.listClientResources, false, "SELECT " + linkCols + " FROM oauth_client_resources WHERE client_id = $1 ORDER BY resource_id"},

		{&st.createAccessToken, true, qCreateAccessToken},
		{&st.getAccessToken, false, "SELECT " + accessTokenCols + " FROM oauth_access_tokens WHERE hash = $1"},
		{&st.revokeAccessToken, true, "UPDATE oauth_access_tokens SET revoked = TRUE WHERE hash = $1 AND NOT revoked RETURNING client_id, subject, expires_at"},
		{&st.accessTokenExists, true, "SELECT 1 FROM oauth_access_tokens WHERE hash = $1"},
		{&st.jtiOwner, true, "SELECT g.subject, g.client_id FROM oauth_grant_jtis j JOIN oauth_grants g ON g.id = j.grant_id WHERE j.jti = $1 LIMIT 1"},
		{&st.revokeJTI, true, qRevokeJTI},
		{&st.isJTIRevoked, false, "SELECT 1 FROM oauth_revoked_jtis WHERE jti = $1"},
		{&st.setClientTokenCutoff, true, qSetClientTokenCutoff},
		{&st.clientTokenCutoff, false, "SELECT cutoff FROM oauth_client_token_cutoffs WHERE client_id = $1"},
		{&st.useOnce, true, qUseOnce},

		{&st.listSigningKeys, false, "SELECT " + signingKeyCols + " FROM oauth_signing_keys ORDER BY created_at, id"},
		{&st.createSigningKey, true, qCreateSigningKey},
		{&st.retireSigningKey, true, "UPDATE oauth_signing_keys SET retired_at = $2, purge_after = $3 WHERE id = $1"},
		{&st.deleteSigningKey, true, "DELETE FROM oauth_signing_keys WHERE id = $1"},

		{&st.createIAT, true, "INSERT INTO oauth_initial_access_tokens (" + iatCols + ") VALUES (" + colParams(iatCols) + ")"},
		{&st.listIATs, false, "SELECT " + iatCols + " FROM oauth_initial_access_tokens ORDER BY created_at, id"},
		{&st.deleteIAT, true, "DELETE FROM oauth_initial_access_tokens WHERE id = $1"},
		{&st.useIAT, true, qUseIAT},
	}
	defs = append(defs, st.flowStmts.defs()...)
	defs = append(defs, st.backchannelStmts.defs()...)
	defs = append(defs, st.pushedRequestStmts.defs()...)
	defs = append(defs, st.deviceStmts.defs()...)
	defs = append(defs, st.cibaStmts.defs()...)
	defs = append(defs, st.passkeyStmts.defs()...)
	if st.deleteExpired == nil {
		st.deleteExpired = make([]*sql.Stmt, len(expiredDeletes))
	}
	for i, d := range expiredDeletes {
		defs = append(defs, stmtDef{&st.deleteExpired[i], true, d.query})
	}
	return defs
}

func (st *statements) prepare(ctx context.Context, s *Store) error {
	for _, d := range st.defs() {
		db := s.reader
		if d.write {
			db = s.writer
		}
		stmt, err := db.PrepareContext(ctx, d.query)
		if err != nil {
			return fmt.Errorf("sqlstore: prepare %q: %w", d.query, err)
		}
		*d.dst = stmt
	}
	return nil
}

func (st *statements) close() error {
	var err error
	for _, d := range st.defs() {
		if *d.dst != nil {
			err = errors.Join(err, (*d.dst).Close())
		}
	}
	return err
}

// qUpdateClient replaces a client, never inserting one. Its parameters are clientArgs without
// created_at, which an update keeps (UpdateClient).
var qUpdateClient = "UPDATE oauth_clients SET " +
	setParams(strings.Replace(clientCols, " created_at,", "", 1), "id") + " WHERE id = $1 RETURNING created_at"
