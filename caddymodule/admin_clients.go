package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// clientAdminView is a client as the admin API shows it: its RFC 7591 metadata (with links as
// resources and introspects; never a secret or hash, except client_secret once when the
// server generated it) and where it comes from.
type clientAdminView struct {
	spec.ClientMetadata
	Source     string    `json:"source"`
	Configured bool      `json:"configured"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// ClientSecretExpiresAt is RFC 7591's: seconds since the epoch, 0 for never; only for
	// clients with a secret.
	ClientSecretExpiresAt   *int64     `json:"client_secret_expires_at,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func newClientAdminView(svc *manage.Service, c *store.Client, links []spec.LinkView) clientAdminView {
	v := clientAdminView{
		ClientMetadata: spec.MetadataOf(c, links),
		Source:         c.Source,
		Configured:     svc.IsConfiguredClient(c.ID),
		CreatedAt:      c.CreatedAt,
		UpdatedAt:      c.UpdatedAt,
	}
	if c.SecretHash != "" {
		var exp int64
		if c.SecretExpiresAt != nil {
			exp = c.SecretExpiresAt.Unix()
		}
		v.ClientSecretExpiresAt = &exp
	}
	if c.PreviousSecretExpiresAt != nil && c.PreviousSecretHash != "" {
		v.PreviousSecretExpiresAt = c.PreviousSecretExpiresAt
	}
	return v
}

func createdView(svc *manage.Service, c *manage.Created) clientAdminView {
	v := newClientAdminView(svc, c.Client, c.Links)
	v.ClientSecret = c.Secret
	return v
}

// handleClients serves /oauth/clients: GET lists a page, POST creates.
func (a *adminAPI) handleClients(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return a.listClients(w, r, svc)
	case http.MethodPost:
		var m spec.ClientMetadata
		if err := readJSON(w, r, &m, false); err != nil {
			return err
		}
		c, err := m.Client()
		if err != nil {
			return manageError(err)
		}
		created, err := svc.CreateClient(r.Context(), c, store.SourceAdmin)
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusCreated, createdView(svc, created))
	default:
		return methodNotAllowed(r)
	}
}

func (a *adminAPI) listClients(w http.ResponseWriter, r *http.Request, svc *manage.Service) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	rows, err := svc.ListClients(r.Context(), store.ClientQuery{After: after, Limit: limit + 1, Source: r.URL.Query().Get("source")})
	if err != nil {
		return manageError(err)
	}
	rows, next := nextCursor(rows, limit, func(c *store.Client) string { return c.ID })
	views := make([]clientAdminView, 0, len(rows))
	for _, c := range rows {
		links, err := svc.ClientLinks(r.Context(), c.ID)
		if err != nil {
			return manageError(err)
		}
		views = append(views, newClientAdminView(svc, c, links))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"clients": views, "next": next})
}

// handleClient serves /oauth/clients/{id} (GET, PUT, PATCH, DELETE) and
// /oauth/clients/{id}/secret (POST).
func (a *adminAPI) handleClient(w http.ResponseWriter, r *http.Request) error {
	id, rest, err := pathID(r, "/oauth/clients/")
	if err != nil {
		return err
	}
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	switch {
	case rest == "secret":
		return a.rotateSecret(w, r, svc, id)
	case rest != "":
		return apiError(http.StatusNotFound, "not found")
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		c, err := svc.GetClient(ctx, id)
		if err != nil {
			return manageError(err)
		}
		links, err := svc.ClientLinks(ctx, id)
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusOK, newClientAdminView(svc, c, links))
	case http.MethodPut:
		var m spec.ClientMetadata
		if err := readJSON(w, r, &m, false); err != nil {
			return err
		}
		return a.replaceClient(w, r, svc, id, m)
	case http.MethodPatch:
		return a.patchClient(w, r, svc, id)
	case http.MethodDelete:
		if err := svc.DeleteClient(ctx, id); err != nil {
			return manageError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return methodNotAllowed(r)
	}
}

// patchClient applies a JSON merge patch to the client's metadata and replaces it with the
// result, through the same rules as PUT.
func (a *adminAPI) patchClient(w http.ResponseWriter, r *http.Request, svc *manage.Service, id string) error {
	if svc.IsConfiguredClient(id) {
		return manageError(configuredClient(id))
	}
	c, err := svc.GetClient(r.Context(), id)
	if err != nil {
		return manageError(err)
	}
	links, err := svc.ClientLinks(r.Context(), id)
	if err != nil {
		return manageError(err)
	}
	current := spec.MetadataOf(c, links)
	// response_types is derived from grant_types in views; keeping it would make a patch
	// that drops authorization_code contradict itself.
	current.ResponseTypes = nil
	var m spec.ClientMetadata
	if err := mergePatched(w, r, current, &m, false); err != nil {
		return err
	}
	return a.replaceClient(w, r, svc, id, m)
}

func (a *adminAPI) replaceClient(w http.ResponseWriter, r *http.Request, svc *manage.Service, id string, m spec.ClientMetadata) error {
	if m.ClientID != "" && m.ClientID != id {
		return apiError(http.StatusBadRequest, "client_id of the body does not match the path (a client ID cannot change)")
	}
	m.ClientID = id
	c, err := m.Client()
	if err != nil {
		return manageError(err)
	}
	replaced, err := svc.ReplaceClient(r.Context(), c, store.SourceAdmin)
	if err != nil {
		return manageError(err)
	}
	return writeJSON(w, http.StatusOK, createdView(svc, replaced))
}

// rotateSecret serves POST /oauth/clients/{id}/secret {"overlap": "24h"}.
func (a *adminAPI) rotateSecret(w http.ResponseWriter, r *http.Request, svc *manage.Service, id string) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	var req struct {
		Overlap *string `json:"overlap"`
	}
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req, true); err != nil {
			return err
		}
	}
	overlap := manage.DefaultOverlap
	if req.Overlap != nil {
		d, err := caddy.ParseDuration(*req.Overlap)
		if err != nil || d < 0 {
			return apiError(http.StatusBadRequest, "overlap: want a duration such as 24h (0 ends the old secret at once)")
		}
		overlap = d
	}
	rotated, err := svc.RotateSecret(r.Context(), id, overlap)
	if err != nil {
		return manageError(err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"client_id":                  id,
		"client_secret":              rotated.Secret,
		"previous_secret_expires_at": rotated.Client.PreviousSecretExpiresAt,
	})
}

func configuredClient(id string) error {
	return fmt.Errorf("client %q: %w", id, manage.ErrConfigured)
}
