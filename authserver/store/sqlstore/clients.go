package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// GetClient returns the client with id.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(s.stmts.getClient.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get client", err)
	}
	return c, nil
}

// ListClients returns every client ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.stmts.listClients.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	return collect(rows, "list clients", scanClient)
}

// ListClientsPage returns the clients q selects, ordered by ID.
func (s *Store) ListClientsPage(ctx context.Context, q store.ClientQuery) ([]*store.Client, error) {
	var l listQuery
	l.after("id", q.After)
	l.equal("source", q.Source)
	rows, err := s.reader.QueryContext(ctx, l.sql("SELECT "+clientCols+" FROM oauth_clients", "id", q.Limit), l.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	return collect(rows, "list clients", scanClient)
}

// UpsertClient inserts c or replaces every field of the stored client except CreatedAt.
// It writes the stored CreatedAt, the new UpdatedAt and the stored Source back into c.
func (s *Store) UpsertClient(ctx context.Context, c *store.Client) error {
	args, _, updated, err := clientArgs(c)
	if err != nil {
		return err
	}
	var storedCreated int64
	if err := s.stmts.upsertClient.QueryRowContext(ctx, args...).Scan(&storedCreated); err != nil {
		return s.writeErr("upsert client", err)
	}
	c.Source, c.CreatedAt, c.UpdatedAt = sourceOf(c), fromMillis(storedCreated), updated
	return nil
}

// UpdateClient replaces every field of the stored client c.ID but CreatedAt; ErrNotFound if
// there is none (the UPDATE finds no row), so a client deleted meanwhile stays deleted. It
// writes CreatedAt, UpdatedAt and the stored Source back into c.
func (s *Store) UpdateClient(ctx context.Context, c *store.Client) error {
	args, _, updated, err := clientArgs(c)
	if err != nil {
		return err
	}
	args = slices.Delete(args, createdAtArg, createdAtArg+1)
	var storedCreated int64
	if err := s.stmts.updateClient.QueryRowContext(ctx, args...).Scan(&storedCreated); err != nil {
		return s.writeErr("update client", err)
	}
	c.Source, c.CreatedAt, c.UpdatedAt = sourceOf(c), fromMillis(storedCreated), updated
	return nil
}

// CreateClient inserts c; ErrConflict if its ID exists. The primary key decides, so of
// concurrent creations of one ID exactly one succeeds. It writes CreatedAt, UpdatedAt and
// the stored Source back into c.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	args, created, updated, err := clientArgs(c)
	if err != nil {
		return err
	}
	if _, err := s.stmts.createClient.ExecContext(ctx, args...); err != nil {
		return s.writeErr("create client", err)
	}
	c.Source, c.CreatedAt, c.UpdatedAt = sourceOf(c), created, updated
	return nil
}

// UpdateRegisteredClient replaces the client c.ID while its registration token hash is
// tokenHash; ErrNotFound otherwise (the WHERE decides, atomically). It writes the stored
// CreatedAt, the new UpdatedAt and the stored Source back into c.
func (s *Store) UpdateRegisteredClient(ctx context.Context, c *store.Client, tokenHash string) error {
	args, _, updated, err := clientArgs(c)
	if err != nil {
		return err
	}
	// clientArgs follows clientCols; the update's parameters leave created_at out.
	created := slices.Index(strings.Split(clientCols, ", "), "created_at")
	args = append(slices.Delete(args, created, created+1), tokenHash)
	var storedCreated int64
	if err := s.stmts.updateRegisteredClient.QueryRowContext(ctx, args...).Scan(&storedCreated); err != nil {
		return s.writeErr("update registered client", err)
	}
	c.Source, c.CreatedAt, c.UpdatedAt = sourceOf(c), fromMillis(storedCreated), updated
	return nil
}

// DeleteClient deletes the client, its resource links (by foreign key) and its consents in
// one transaction; ErrNotFound, and nothing deleted, if there is no such client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.stmts.deleteClient).ExecContext(ctx, id)
		if err := affectedOne("delete client", res, err); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.stmts.deleteClientConsents).ExecContext(ctx, id); err != nil {
			return fmt.Errorf("sqlstore: delete client consents: %w", err)
		}
		return nil
	})
}

// sourceOf is the Source stored for c: empty means the configuration, as it did for every
// client stored before sources existed.
func sourceOf(c *store.Client) string {
	if c.Source == "" {
		return store.SourceConfig
	}
	return c.Source
}

// clientArgs returns the parameters of an insert of c in clientCols order, with the
// CreatedAt to insert (c's, or now) and the new UpdatedAt.
func clientArgs(c *store.Client) (args []any, created, updated time.Time, err error) {
	lists, err := encodeStrings(c.GrantTypes, c.RedirectURIs, c.Scopes, c.PostLogoutRedirectURIs)
	if err != nil {
		return nil, created, updated, err
	}
	metadata, err := encodeJSON(c.Metadata)
	if err != nil {
		return nil, created, updated, err
	}
	security, err := json.Marshal(c.Security)
	if err != nil {
		return nil, created, updated, fmt.Errorf("sqlstore: encode client security: %w", err)
	}
	updated = now()
	created = updated
	if !c.CreatedAt.IsZero() {
		created = fromMillis(toMillis(c.CreatedAt))
	}
	args = []any{
		c.ID, c.Name, c.SecretHash, nullBytes(c.SecretSealed), c.TokenEndpointAuthMethod,
		c.TokenEndpointAuthSigningAlg, lists[0], lists[1], lists[2], c.JWKS, c.JWKSURI,
		c.DPoPBoundAccessTokens, c.Disabled, metadata, lists[3], c.SubjectType,
		c.SectorIdentifier, c.IDTokenSignedResponseAlg, c.SkipConsent, c.PKCEOptional,
		c.RefreshWithoutOfflineAccess, c.RedirectURIAnyLoopbackPort, c.DefaultResource, sourceOf(c),
		c.RegistrationTokenHash, nullMillis(c.SecretExpiresAt), c.PreviousSecretHash,
		nullBytes(c.PreviousSecretSealed), nullMillis(c.PreviousSecretExpiresAt),
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
		c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, string(security),
		toMillis(created), toMillis(updated),
	}
	return args, created, updated, nil
}

// createdAtArg is the index of created_at in clientArgs.
var createdAtArg = slices.Index(strings.Split(clientCols, ", "), "created_at")

func scanClient(row scanner) (*store.Client, error) {
	var (
		c                                      store.Client
		sealed, previousSealed                 []byte
		grantTypes, redirectURIs, scopes, meta sql.NullString
		postLogoutURIs                         sql.NullString
		secretExpires, previousExpires         sql.NullInt64
		created, updated                       int64
		security                               string
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &sealed, &c.TokenEndpointAuthMethod,
		&c.TokenEndpointAuthSigningAlg, &grantTypes, &redirectURIs, &scopes, &c.JWKS, &c.JWKSURI,
		&c.DPoPBoundAccessTokens, &c.Disabled, &meta, &postLogoutURIs, &c.SubjectType,
		&c.SectorIdentifier, &c.IDTokenSignedResponseAlg, &c.SkipConsent, &c.PKCEOptional,
		&c.RefreshWithoutOfflineAccess, &c.RedirectURIAnyLoopbackPort, &c.DefaultResource, &c.Source,
		&c.RegistrationTokenHash, &secretExpires, &c.PreviousSecretHash, &previousSealed,
		&previousExpires, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired,
		&c.FrontchannelLogoutURI, &c.FrontchannelLogoutSessionRequired, &security, &created, &updated)
	if err != nil {
		return nil, err
	}
	c.SecretSealed, c.PreviousSecretSealed = fromBytes(sealed), fromBytes(previousSealed)
	c.SecretExpiresAt, c.PreviousSecretExpiresAt = fromNullMillis(secretExpires), fromNullMillis(previousExpires)
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := decodeStrings(stringsCol{grantTypes, &c.GrantTypes}, stringsCol{redirectURIs, &c.RedirectURIs},
		stringsCol{scopes, &c.Scopes}, stringsCol{postLogoutURIs, &c.PostLogoutRedirectURIs}); err != nil {
		return nil, err
	}
	if err := decodeJSON(meta, &c.Metadata); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(security), &c.Security); err != nil {
		return nil, fmt.Errorf("sqlstore: decode client security: %w", err)
	}
	return &c, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, op string, scan func(scanner) (*T, error)) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return out, nil
}
