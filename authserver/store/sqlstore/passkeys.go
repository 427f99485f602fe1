package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const passkeyCols = "id, subject, user_handle, name, public_key, attestation_type, attestation_format, aaguid," +
	" transports, attachment, sign_count, backup_eligible, backup_state, user_verified, clone_warning," +
	" created_at, last_used_at, revoked_at"

// qUsePasskey moves the counter forward in one statement: of two sign-ins presenting the same
// counter only the first matches the row. A counter of 0 on both sides is an authenticator
// that keeps none (WebAuthn §6.1.1), which never signals a clone.
const qUsePasskey = "UPDATE oauth_passkeys SET sign_count = $2, backup_state = $3, last_used_at = $4" +
	" WHERE id = $1 AND revoked_at = 0 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))"

type passkeyStmts struct {
	createPasskey, getPasskey, listPasskeys, usePasskey, flagPasskeyClone *sql.Stmt
	revokePasskey, deleteSubjectPasskeys                                  *sql.Stmt
}

func (st *passkeyStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.createPasskey, true, "INSERT INTO oauth_passkeys (" + passkeyCols + ") VALUES (" + colParams(passkeyCols) + ")"},
		{&st.getPasskey, false, "SELECT " + passkeyCols + " FROM oauth_passkeys WHERE id = $1"},
		{&st.listPasskeys, false, "SELECT " + passkeyCols + " FROM oauth_passkeys WHERE subject = $1 ORDER BY created_at, id"},
		{&st.usePasskey, true, qUsePasskey},
		{&st.flagPasskeyClone, true, "UPDATE oauth_passkeys SET clone_warning = TRUE WHERE id = $1 AND revoked_at = 0"},
		{&st.revokePasskey, true, "UPDATE oauth_passkeys SET revoked_at = $3 WHERE id = $1 AND subject = $2 AND revoked_at = 0"},
		{&st.deleteSubjectPasskeys, true, "DELETE FROM oauth_passkeys WHERE subject = $1"},
	}
}

// CreatePasskey stores p; ErrConflict if its ID exists.
func (s *Store) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	transports, err := encodeJSON(p.Transports)
	if err != nil {
		return err
	}
	created := createdAt(p.CreatedAt)
	_, err = s.stmts.createPasskey.ExecContext(ctx, p.ID, p.Subject, p.UserHandle, p.Name, p.PublicKey,
		p.AttestationType, p.AttestationFormat, nullBytes(p.AAGUID), transports, p.Attachment, int64(p.SignCount),
		p.BackupEligible, p.BackupState, p.UserVerified, p.CloneWarning, toMillis(created),
		millisOrZero(p.LastUsedAt), millisOrZero(p.RevokedAt))
	if err != nil {
		return s.writeErr("create passkey", err)
	}
	p.CreatedAt = created
	return nil
}

// GetPasskey returns the credential with id, revoked or not.
func (s *Store) GetPasskey(ctx context.Context, id string) (*store.Passkey, error) {
	p, err := scanPasskey(s.stmts.getPasskey.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get passkey", err)
	}
	return p, nil
}

// ListPasskeys returns the account's credentials, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, subject string) ([]*store.Passkey, error) {
	rows, err := s.stmts.listPasskeys.QueryContext(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list passkeys: %w", err)
	}
	return collect(rows, "list passkeys", scanPasskey)
}

// UsePasskey records a sign-in whose counter moves forward; see store.PasskeyStore.
func (s *Store) UsePasskey(ctx context.Context, id string, u store.PasskeyUse) error {
	res, err := s.stmts.usePasskey.ExecContext(ctx, id, int64(u.SignCount), u.BackupState, toMillis(u.At))
	err = affectedOne("use passkey", res, err)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Nothing matched: unknown, revoked, or a counter that did not move forward.
	res, err = s.stmts.flagPasskeyClone.ExecContext(ctx, id)
	if err := affectedOne("use passkey", res, err); err != nil {
		return err
	}
	return fmt.Errorf("sqlstore: use passkey: the signature counter did not increase: %w", store.ErrConflict)
}

// RevokePasskey revokes the account's active credential id.
func (s *Store) RevokePasskey(ctx context.Context, subject, id string, at time.Time) error {
	res, err := s.stmts.revokePasskey.ExecContext(ctx, id, subject, toMillis(at))
	return affectedOne("revoke passkey", res, err)
}

// DeleteSubjectPasskeys deletes every credential of the account.
func (s *Store) DeleteSubjectPasskeys(ctx context.Context, subject string) (int, error) {
	res, err := s.stmts.deleteSubjectPasskeys.ExecContext(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete passkeys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete passkeys: %w", err)
	}
	return int(n), nil
}

func scanPasskey(row scanner) (*store.Passkey, error) {
	var (
		p                      store.Passkey
		aaguid                 []byte
		transports             sql.NullString
		count                  int64
		created, used, revoked int64
	)
	err := row.Scan(&p.ID, &p.Subject, &p.UserHandle, &p.Name, &p.PublicKey, &p.AttestationType, &p.AttestationFormat,
		&aaguid, &transports, &p.Attachment, &count, &p.BackupEligible, &p.BackupState, &p.UserVerified,
		&p.CloneWarning, &created, &used, &revoked)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(transports, &p.Transports); err != nil {
		return nil, err
	}
	p.AAGUID = fromBytes(aaguid)
	p.SignCount = uint32(count)
	p.CreatedAt, p.LastUsedAt, p.RevokedAt = fromMillis(created), fromMillisOrZero(used), fromMillisOrZero(revoked)
	return &p, nil
}
