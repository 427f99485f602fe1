package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

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

// UpsertClient inserts c or replaces every field of the stored client except CreatedAt.
// It writes the stored CreatedAt and the new UpdatedAt back into c.
func (s *Store) UpsertClient(ctx context.Context, c *store.Client) error {
	lists, err := encodeStrings(c.GrantTypes, c.RedirectURIs, c.Scopes, c.PostLogoutRedirectURIs)
	if err != nil {
		return err
	}
	grantTypes, redirectURIs, scopes, postLogoutURIs := lists[0], lists[1], lists[2], lists[3]
	metadata, err := encodeJSON(c.Metadata)
	if err != nil {
		return err
	}
	updated := now()
	created := updated
	if !c.CreatedAt.IsZero() {
		created = c.CreatedAt
	}
	var storedCreated int64
	err = s.stmts.upsertClient.QueryRowContext(ctx,
		c.ID, c.Name, c.SecretHash, nullBytes(c.SecretSealed), c.TokenEndpointAuthMethod,
		c.TokenEndpointAuthSigningAlg, grantTypes, redirectURIs, scopes, c.JWKS, c.JWKSURI,
		c.DPoPBoundAccessTokens, c.Disabled, metadata, postLogoutURIs, c.SubjectType,
		c.SectorIdentifier, c.IDTokenSignedResponseAlg, c.SkipConsent, c.PKCEOptional,
		c.RefreshWithoutOfflineAccess, c.RedirectURIAnyLoopbackPort, c.DefaultResource, toMillis(created), toMillis(updated),
	).Scan(&storedCreated)
	if err != nil {
		return s.writeErr("upsert client", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(storedCreated), updated
	return nil
}

// DeleteClient deletes the client and its resource links.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.stmts.deleteClient.ExecContext(ctx, id)
	return affectedOne("delete client", res, err)
}

func scanClient(row scanner) (*store.Client, error) {
	var (
		c                                      store.Client
		sealed                                 []byte
		grantTypes, redirectURIs, scopes, meta sql.NullString
		postLogoutURIs                         sql.NullString
		created, updated                       int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &sealed, &c.TokenEndpointAuthMethod,
		&c.TokenEndpointAuthSigningAlg, &grantTypes, &redirectURIs, &scopes, &c.JWKS, &c.JWKSURI,
		&c.DPoPBoundAccessTokens, &c.Disabled, &meta, &postLogoutURIs, &c.SubjectType,
		&c.SectorIdentifier, &c.IDTokenSignedResponseAlg, &c.SkipConsent, &c.PKCEOptional,
		&c.RefreshWithoutOfflineAccess, &c.RedirectURIAnyLoopbackPort, &c.DefaultResource, &created, &updated)
	if err != nil {
		return nil, err
	}
	c.SecretSealed = fromBytes(sealed)
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	for _, f := range []struct {
		src sql.NullString
		dst *[]string
	}{
		{grantTypes, &c.GrantTypes}, {redirectURIs, &c.RedirectURIs}, {scopes, &c.Scopes},
		{postLogoutURIs, &c.PostLogoutRedirectURIs},
	} {
		if err := decodeJSON(f.src, f.dst); err != nil {
			return nil, err
		}
	}
	if err := decodeJSON(meta, &c.Metadata); err != nil {
		return nil, err
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
