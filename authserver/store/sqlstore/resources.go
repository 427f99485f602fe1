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

// GetResource returns the resource with id.
func (s *Store) GetResource(ctx context.Context, id string) (*store.Resource, error) {
	r, err := scanResource(s.stmts.getResource.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get resource", err)
	}
	return r, nil
}

// GetResourceByIdentifier returns the resource whose RFC 8707 identifier is identifier.
func (s *Store) GetResourceByIdentifier(ctx context.Context, identifier string) (*store.Resource, error) {
	r, err := scanResource(s.stmts.getResourceByIdentifier.QueryRowContext(ctx, identifier))
	if err != nil {
		return nil, readErr("get resource by identifier", err)
	}
	return r, nil
}

// ListResources returns every resource ordered by identifier.
func (s *Store) ListResources(ctx context.Context) ([]*store.Resource, error) {
	rows, err := s.stmts.listResources.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list resources: %w", err)
	}
	return collect(rows, "list resources", scanResource)
}

// CreateResource inserts r, filling in a random ID when r.ID is empty; ErrConflict if the
// ID or identifier exists.
func (s *Store) CreateResource(ctx context.Context, r *store.Resource) error {
	id := r.ID
	if id == "" {
		id = uuid.NewString()
	}
	t := now()
	created := t
	if !r.CreatedAt.IsZero() {
		created = fromMillis(toMillis(r.CreatedAt))
	}
	args, err := resourceArgs(r, id, created, t)
	if err != nil {
		return err
	}
	if _, err := s.stmts.createResource.ExecContext(ctx, args...); err != nil {
		return s.writeErr("create resource", err)
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id, created, t
	return nil
}

// UpdateResource replaces every field of the resource with r.ID except CreatedAt, which it
// writes back into r.
func (s *Store) UpdateResource(ctx context.Context, r *store.Resource) error {
	t := now()
	args, err := resourceArgs(r, r.ID, t, t)
	if err != nil {
		return err
	}
	var created int64
	// The SET list leaves out created_at, the last argument.
	if err := s.stmts.updateResource.QueryRowContext(ctx, args[:len(args)-1]...).Scan(&created); err != nil {
		return s.writeErr("update resource", err)
	}
	r.CreatedAt, r.UpdatedAt = fromMillis(created), t
	return nil
}

// DeleteResource deletes the resource and its client links. Access tokens issued for it
// stay until they expire.
func (s *Store) DeleteResource(ctx context.Context, id string) error {
	res, err := s.stmts.deleteResource.ExecContext(ctx, id)
	return affectedOne("delete resource", res, err)
}

func resourceArgs(r *store.Resource, id string, created, updated time.Time) ([]any, error) {
	scopes, err := encodeJSON(r.AllowedScopes)
	if err != nil {
		return nil, err
	}
	claims, err := encodeJSON(r.CustomClaims)
	if err != nil {
		return nil, err
	}
	metadata, err := encodeJSON(r.Metadata)
	if err != nil {
		return nil, err
	}
	accountClaims, err := encodeJSON(r.AccountClaims)
	if err != nil {
		return nil, err
	}
	return []any{
		id, r.Identifier, r.Name, nullInt64(r.AccessTokenTTL), nullInt64(r.RefreshTokenTTL),
		r.AccessTokenFormat, r.SigningAlg, r.SigningKeyID, scopes, claims,
		r.DPoPBoundAccessTokensRequired, r.Disabled, int64(r.PolicyVersion), metadata, accountClaims,
		toMillis(updated), toMillis(created),
	}, nil
}

func scanResource(row scanner) (*store.Resource, error) {
	var (
		r                     store.Resource
		accessTTL, refreshTTL sql.NullInt64
		scopes, claims, meta  sql.NullString
		accountClaims         sql.NullString
		policyVersion         int64
		created, updated      int64
	)
	err := row.Scan(&r.ID, &r.Identifier, &r.Name, &accessTTL, &refreshTTL, &r.AccessTokenFormat,
		&r.SigningAlg, &r.SigningKeyID, &scopes, &claims, &r.DPoPBoundAccessTokensRequired,
		&r.Disabled, &policyVersion, &meta, &accountClaims, &updated, &created)
	if err != nil {
		return nil, err
	}
	r.AccessTokenTTL, r.RefreshTokenTTL = fromNullInt64(accessTTL), fromNullInt64(refreshTTL)
	r.PolicyVersion = int(policyVersion)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := decodeJSON(scopes, &r.AllowedScopes); err != nil {
		return nil, err
	}
	if err := decodeJSON(claims, &r.CustomClaims); err != nil {
		return nil, err
	}
	if err := decodeJSON(meta, &r.Metadata); err != nil {
		return nil, err
	}
	if err := decodeJSON(accountClaims, &r.AccountClaims); err != nil {
		return nil, err
	}
	return &r, nil
}

// LinkClientResource links the client to the resource. Linking an existing pair replaces
// its grants and metadata and keeps its CreatedAt; either side missing is ErrNotFound.
func (s *Store) LinkClientResource(ctx context.Context, link *store.ClientResource) error {
	metadata, err := encodeJSON(link.Metadata)
	if err != nil {
		return err
	}
	created := now()
	if !link.CreatedAt.IsZero() {
		created = link.CreatedAt
	}
	var stored int64
	err = s.stmts.linkClientResource.QueryRowContext(ctx,
		link.ClientID, link.ResourceID, link.Tokens, link.Introspect, metadata, toMillis(created)).Scan(&stored)
	if err != nil {
		return s.writeErr("link client resource", err)
	}
	link.CreatedAt = fromMillis(stored)
	return nil
}

// UnlinkClientResource removes the link; ErrNotFound if there was none.
func (s *Store) UnlinkClientResource(ctx context.Context, clientID, resourceID string) error {
	res, err := s.stmts.unlinkClientResource.ExecContext(ctx, clientID, resourceID)
	return affectedOne("unlink client resource", res, err)
}

// IsClientLinked reports whether a link lets the client obtain tokens for the resource.
func (s *Store) IsClientLinked(ctx context.Context, clientID, resourceID string) (bool, error) {
	var one int
	err := s.stmts.isClientLinked.QueryRowContext(ctx, clientID, resourceID).Scan(&one)
	return exists("is client linked", err)
}

// IsClientIntrospector reports whether a link lets the client introspect the resource's tokens.
func (s *Store) IsClientIntrospector(ctx context.Context, clientID, resourceID string) (bool, error) {
	var one int
	err := s.stmts.isClientIntrospector.QueryRowContext(ctx, clientID, resourceID).Scan(&one)
	return exists("is client introspector", err)
}

// ListClientResources returns the client's links ordered by resource ID.
func (s *Store) ListClientResources(ctx context.Context, clientID string) ([]*store.ClientResource, error) {
	rows, err := s.stmts.listClientResources.QueryContext(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list client resources: %w", err)
	}
	return collect(rows, "list client resources", scanLink)
}

func scanLink(row scanner) (*store.ClientResource, error) {
	var (
		l       store.ClientResource
		meta    sql.NullString
		created int64
	)
	if err := row.Scan(&l.ClientID, &l.ResourceID, &l.Tokens, &l.Introspect, &meta, &created); err != nil {
		return nil, err
	}
	l.CreatedAt = fromMillis(created)
	if err := decodeJSON(meta, &l.Metadata); err != nil {
		return nil, err
	}
	return &l, nil
}

// exists interprets the error of a "SELECT 1" lookup.
func exists(op string, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
}

// ListResourcesPage returns the resources q selects, ordered by ID.
func (s *Store) ListResourcesPage(ctx context.Context, q store.ResourceQuery) ([]*store.Resource, error) {
	var l listQuery
	l.after("id", q.After)
	rows, err := s.reader.QueryContext(ctx, l.sql("SELECT "+resourceCols+" FROM oauth_resources", "id", q.Limit), l.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list resources: %w", err)
	}
	return collect(rows, "list resources", scanResource)
}

// ListLinks returns the links q selects, ordered by client ID, then resource ID.
func (s *Store) ListLinks(ctx context.Context, q store.LinkQuery) ([]*store.ClientResource, error) {
	var l listQuery
	l.equal("client_id", q.ClientID)
	l.equal("resource_id", q.ResourceID)
	rows, err := s.reader.QueryContext(ctx, l.sql("SELECT "+linkCols+" FROM oauth_client_resources", "client_id, resource_id", 0), l.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list links: %w", err)
	}
	return collect(rows, "list links", scanLink)
}
