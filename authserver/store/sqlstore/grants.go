package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Grant revocation and issuance under a grant meet in the grant's row: a revocation updates
// it, and CreateAccessToken and RecordGrantJTI read it with a row lock in the transaction
// that writes the token (see grantRevoked). Whichever comes second sees the other's work,
// so a token issued while its grant is being revoked ends up revoked too.

// CreateAuthorizationCode stores c; ErrConflict if its hash exists. A zero CreatedAt is set
// to now and written back.
func (s *Store) CreateAuthorizationCode(ctx context.Context, c *store.AuthorizationCode) error {
	jsonCols, err := encodeStrings(c.Scopes, c.Resources, c.AMR)
	if err != nil {
		return err
	}
	created := createdAt(c.CreatedAt)
	err = s.exec(ctx, s.stmts.createCode, func(_ sql.Result, err error) error {
		return s.writeErr("create authorization code", err)
	}, c.Hash, c.ClientID, c.RedirectURI, c.Subject, c.SessionID, jsonCols[0], jsonCols[1], c.Nonce,
		toMillis(c.AuthTime), jsonCols[2], c.ACR, c.CodeChallenge, c.CodeChallengeMethod, c.DPoPJKT,
		c.GrantID, toMillis(created), toMillis(c.ExpiresAt), c.Claims)
	if err != nil {
		return err
	}
	c.CreatedAt = created
	return nil
}

// GetAuthorizationCode returns the code with hash, used or not.
func (s *Store) GetAuthorizationCode(ctx context.Context, hash string) (*store.AuthorizationCode, error) {
	c, err := scanCode(s.stmts.getCode.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, readErr("get authorization code", err)
	}
	return c, nil
}

// ConsumeAuthorizationCode marks the code used at usedAt and returns it. A code used before
// comes back with ErrAlreadyUsed, an unknown one gives ErrNotFound. One conditional UPDATE
// decides, so of concurrent calls exactly one succeeds.
func (s *Store) ConsumeAuthorizationCode(ctx context.Context, hash string, usedAt time.Time) (*store.AuthorizationCode, error) {
	c, err := scanCode(s.stmts.consumeCode.QueryRowContext(ctx, hash, toMillis(usedAt)))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, s.writeErr("consume authorization code", err)
	}
	// The update committed before this lookup starts, so the row is visible if it exists.
	c, err = scanCode(s.stmts.getCode.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, readErr("consume authorization code", err)
	}
	return c, fmt.Errorf("sqlstore: consume authorization code: %w", store.ErrAlreadyUsed)
}

func scanCode(row scanner) (*store.AuthorizationCode, error) {
	var (
		c                          store.AuthorizationCode
		scopes, resources, amr     sql.NullString
		authTime, created, expires int64
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Subject, &c.SessionID, &scopes,
		&resources, &c.Nonce, &authTime, &amr, &c.ACR, &c.CodeChallenge, &c.CodeChallengeMethod,
		&c.DPoPJKT, &c.GrantID, &created, &expires, &c.Claims)
	if err != nil {
		return nil, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromMillis(authTime), fromMillis(created), fromMillis(expires)
	if err := decodeStrings(stringsCol{scopes, &c.Scopes}, stringsCol{resources, &c.Resources}, stringsCol{amr, &c.AMR}); err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateGrant stores g; ErrConflict if its ID exists. An empty ID is filled in with a
// random one (an empty GrantID means "no grant" elsewhere), a zero CreatedAt with now; both
// are written back.
func (s *Store) CreateGrant(ctx context.Context, g *store.Grant) error {
	jsonCols, err := encodeStrings(g.Scopes, g.Resources, g.AMR)
	if err != nil {
		return err
	}
	id := g.ID
	if id == "" {
		id = uuid.NewString()
	}
	created := createdAt(g.CreatedAt)
	err = s.exec(ctx, s.stmts.createGrant, func(_ sql.Result, err error) error {
		return s.writeErr("create grant", err)
	}, id, g.ClientID, g.Subject, g.SessionID, jsonCols[0], jsonCols[1], toMillis(g.AuthTime),
		jsonCols[2], g.ACR, g.JKT, toMillis(created), toMillis(g.ExpiresAt), g.Revoked, g.Claims, g.X5TS256)
	if err != nil {
		return err
	}
	g.ID, g.CreatedAt = id, created
	return nil
}

// GetGrant returns the grant with id, whether or not it has expired or was revoked.
func (s *Store) GetGrant(ctx context.Context, id string) (*store.Grant, error) {
	g, err := scanGrant(s.stmts.getGrant.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get grant", err)
	}
	return g, nil
}

// ListGrants returns the grants q selects that are neither revoked nor expired by the
// store's clock, ordered by ID.
func (s *Store) ListGrants(ctx context.Context, q store.GrantQuery) ([]*store.Grant, error) {
	var l listQuery
	l.equal("subject", q.Subject)
	l.equal("client_id", q.ClientID)
	l.after("id", q.After)
	l.cond("NOT revoked AND expires_at > " + l.param(time.Now().UnixMilli()))
	rows, err := s.reader.QueryContext(ctx, l.sql("SELECT "+grantCols+" FROM oauth_grants", "id", q.Limit), l.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list grants: %w", err)
	}
	return collect(rows, "list grants", scanGrant)
}

func scanGrant(row scanner) (*store.Grant, error) {
	var (
		g                          store.Grant
		scopes, resources, amr     sql.NullString
		authTime, created, expires int64
	)
	err := row.Scan(&g.ID, &g.ClientID, &g.Subject, &g.SessionID, &scopes, &resources, &authTime,
		&amr, &g.ACR, &g.JKT, &created, &expires, &g.Revoked, &g.Claims, &g.X5TS256)
	if err != nil {
		return nil, err
	}
	g.AuthTime, g.CreatedAt, g.ExpiresAt = fromMillis(authTime), fromMillis(created), fromMillis(expires)
	if err := decodeStrings(stringsCol{scopes, &g.Scopes}, stringsCol{resources, &g.Resources}, stringsCol{amr, &g.AMR}); err != nil {
		return nil, err
	}
	return &g, nil
}

// RevokeGrant marks the grant revoked, revokes its opaque access tokens and records the
// jtis of its JWT access tokens as revoked, in one transaction. A revoked or missing grant
// is not an error; its tokens are revoked all the same. A grant not revoked before, with a
// live access token, gets a RevokedGrant event.
func (s *Store) RevokeGrant(ctx context.Context, id string) error {
	if id == "" {
		return nil // "" is the GrantID of tokens issued under no grant
	}
	_, err := s.revokeGrantsOf(ctx, id, s.grantScope())
	return err
}

// RevokeSessionGrants revokes, as RevokeGrant, every grant of the session and returns how
// many were not revoked before. It announces them as one RevokedSession event, covering
// every token of the session's grants, instead of one event per grant.
func (s *Store) RevokeSessionGrants(ctx context.Context, sessionID string) (int, error) {
	if sessionID == "" {
		return 0, nil // grants created without a session are no session's
	}
	return s.revokeGrantsOf(ctx, sessionID, s.sessionGrantsScope())
}

// RevokeSubjectGrants revokes, as RevokeGrant, every grant of the account with subject and
// returns how many were not revoked before.
func (s *Store) RevokeSubjectGrants(ctx context.Context, subject string) (int, error) {
	if subject == "" {
		return 0, nil
	}
	return s.revokeGrantsOf(ctx, subject, s.subjectGrantsScope())
}

// RevokeClientGrants revokes, as RevokeGrant, every grant of the client and returns how
// many were not revoked before.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string) (int, error) {
	if clientID == "" {
		return 0, nil
	}
	return s.revokeGrantsOf(ctx, clientID, s.clientGrantsScope())
}

// grantScope is the statements of one way to select grants to revoke, all taking the
// selecting value as $1.
type grantScope struct {
	grants, tokens, jtis *sql.Stmt
	// live lists the latest exp of the live tokens of each selected grant (qLiveGrantTokens).
	live *sql.Stmt
	// bySession: the value is a session ID, and the revocation is announced as the
	// session's (one RevokedSession event).
	bySession bool
}

func (s *Store) grantScope() grantScope {
	return grantScope{s.stmts.revokeGrant, s.stmts.revokeGrantTokens, s.stmts.revokeGrantJTIs, s.stmts.liveGrantTokens, false}
}

func (s *Store) sessionGrantsScope() grantScope {
	return grantScope{s.stmts.revokeSessionGrants, s.stmts.revokeSessionGrantsTokens,
		s.stmts.revokeSessionGrantsJTIs, s.stmts.liveSessionGrantsTokens, true}
}

func (s *Store) subjectGrantsScope() grantScope {
	return grantScope{s.stmts.revokeSubjectGrants, s.stmts.revokeSubjectGrantsTokens,
		s.stmts.revokeSubjectGrantsJTIs, s.stmts.liveSubjectGrantsTokens, false}
}

func (s *Store) clientGrantsScope() grantScope {
	return grantScope{s.stmts.revokeClientGrants, s.stmts.revokeClientGrantsTokens,
		s.stmts.revokeClientGrantsJTIs, s.stmts.liveClientGrantsTokens, false}
}

// revokeGrantsOf runs revokeGrants in a transaction of its own.
func (s *Store) revokeGrantsOf(ctx context.Context, arg string, scope grantScope) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = s.revokeGrants(ctx, tx, arg, scope)
		return err
	})
	return n, err
}

// revokeGrants runs the three revocation statements of scope with arg, grants first: on
// PostgreSQL the grant rows' locks make a concurrent issuance under them finish before the
// tokens and jtis are read. Then it appends the events of the grants it newly revoked and
// returns how many those were.
func (s *Store) revokeGrants(ctx context.Context, tx *sql.Tx, arg string, scope grantScope) (int, error) {
	rows, err := tx.StmtContext(ctx, scope.grants).QueryContext(ctx, arg)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke grant: %w", err)
	}
	revoked, err := scanRevokedGrants(rows)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke grant: %w", err)
	}
	for _, stmt := range []*sql.Stmt{scope.tokens, scope.jtis} {
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, arg); err != nil {
			return 0, fmt.Errorf("sqlstore: revoke grant: %w", err)
		}
	}
	if len(revoked) == 0 {
		return 0, nil // revoked before, and announced then
	}
	live, err := liveGrantTokens(ctx, tx, scope.live, arg)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke grant: live tokens: %w", err)
	}
	sessionID := ""
	if scope.bySession {
		sessionID = arg
	}
	if err := s.appendEvents(ctx, tx, grantEvents(sortedByID(revoked), live, sessionID)); err != nil {
		return 0, err
	}
	return len(revoked), nil
}

// RecordGrantJTI remembers the jti of a JWT access token issued under the grant until
// expiresAt, so that revoking the grant revokes the token; ErrNotFound if there is no such
// grant. If the grant is revoked already, the jti is revoked (and announced) at once.
func (s *Store) RecordGrantJTI(ctx context.Context, grantID, jti string, expiresAt time.Time) error {
	return s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		found, revoked, err := s.grantRevoked(ctx, tx, grantID)
		if err != nil {
			return fmt.Errorf("sqlstore: record grant jti: %w", err)
		}
		if !found {
			return fmt.Errorf("sqlstore: record grant jti: grant: %w", store.ErrNotFound)
		}
		if _, err := tx.StmtContext(ctx, s.stmts.recordGrantJTI).ExecContext(ctx, grantID, jti, toMillis(expiresAt)); err != nil {
			return fmt.Errorf("sqlstore: record grant jti: %w", err)
		}
		if !revoked {
			return nil
		}
		// Issued while the grant was being revoked: the token is born revoked, and announced,
		// since it may outlive the grant's event.
		if _, err := tx.StmtContext(ctx, s.stmts.revokeJTI).ExecContext(ctx, jti, toMillis(expiresAt)); err != nil {
			return fmt.Errorf("sqlstore: record grant jti: %w", err)
		}
		return s.appendJTIEvent(ctx, tx, jti, toMillis(expiresAt))
	})
}

// GrantIDOfJTI returns the grant the jti was recorded under; ErrNotFound if none.
func (s *Store) GrantIDOfJTI(ctx context.Context, jti string) (string, error) {
	var id string
	if err := s.stmts.grantIDOfJTI.QueryRowContext(ctx, jti).Scan(&id); err != nil {
		return "", readErr("grant of jti", err)
	}
	return id, nil
}

// grantRevoked reads the grant's revoked flag in tx, locking the row on PostgreSQL until tx
// ends so that a concurrent revocation waits for tx.
func (s *Store) grantRevoked(ctx context.Context, tx *sql.Tx, id string) (found, revoked bool, err error) {
	err = tx.QueryRowContext(ctx, qGrantRevoked+s.dialect.rowLock(), id).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, false, nil
	case err != nil:
		return false, false, err
	}
	return true, revoked, nil
}

// CreateRefreshToken stores t; ErrConflict if its hash exists, ErrNotFound if its grant does
// not. A zero CreatedAt is set to now and written back.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	args, created, err := refreshArgs(t)
	if err != nil {
		return err
	}
	err = s.exec(ctx, s.stmts.createRefreshToken, func(_ sql.Result, err error) error {
		return s.writeErr("create refresh token", err)
	}, args...)
	if err != nil {
		return err
	}
	t.CreatedAt = created
	return nil
}

// GetRefreshToken returns the refresh token with hash, whether or not it was used or has
// expired.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	var (
		t                store.RefreshToken
		scopes           sql.NullString
		created, expires int64
		used             sql.NullInt64
		response         []byte
	)
	err := s.stmts.getRefreshToken.QueryRowContext(ctx, hash).Scan(&t.Hash, &t.GrantID, &scopes,
		&created, &expires, &used, &response)
	if err != nil {
		return nil, readErr("get refresh token", err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMillis(created), fromMillis(expires), fromNullMillis(used)
	t.ResponseSealed = fromBytes(response)
	if err := decodeJSON(scopes, &t.Scopes); err != nil {
		return nil, err
	}
	return &t, nil
}

// RotateRefreshToken marks the token with oldHash used at usedAt with response, and stores
// next, in one transaction. A used token gives ErrAlreadyUsed, a missing one ErrNotFound,
// and next colliding with a stored token ErrConflict; in every case nothing changes.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, usedAt time.Time, response []byte, next *store.RefreshToken) error {
	args, created, err := refreshArgs(next)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// On PostgreSQL a concurrent rotation waits here for the row lock, then finds
		// used_at set and updates nothing.
		res, err := tx.StmtContext(ctx, s.stmts.useRefreshToken).ExecContext(ctx, oldHash, toMillis(usedAt), nullBytes(response))
		if err != nil {
			return fmt.Errorf("sqlstore: rotate refresh token: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlstore: rotate refresh token: %w", err)
		}
		if n == 0 {
			var one int
			err := tx.StmtContext(ctx, s.stmts.refreshTokenExists).QueryRowContext(ctx, oldHash).Scan(&one)
			if err != nil {
				return readErr("rotate refresh token", err)
			}
			return fmt.Errorf("sqlstore: rotate refresh token: %w", store.ErrAlreadyUsed)
		}
		_, err = tx.StmtContext(ctx, s.stmts.createRefreshToken).ExecContext(ctx, args...)
		return s.writeErr("rotate refresh token: insert next", err)
	})
	if err != nil {
		return err
	}
	next.CreatedAt = created
	return nil
}

func refreshArgs(t *store.RefreshToken) (args []any, created time.Time, err error) {
	scopes, err := encodeJSON(t.Scopes)
	if err != nil {
		return nil, time.Time{}, err
	}
	created = createdAt(t.CreatedAt)
	return []any{t.Hash, t.GrantID, scopes, toMillis(created), toMillis(t.ExpiresAt),
		nullMillis(t.UsedAt), nullBytes(t.ResponseSealed)}, created, nil
}

// encodeStrings encodes string slices as JSON columns, see encodeJSON.
func encodeStrings(vs ...[]string) ([]any, error) {
	out := make([]any, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = encodeJSON(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stringsCol is a JSON column read into a string slice.
type stringsCol struct {
	src sql.NullString
	dst *[]string
}

func decodeStrings(cols ...stringsCol) error {
	for _, c := range cols {
		if err := decodeJSON(c.src, c.dst); err != nil {
			return err
		}
	}
	return nil
}
