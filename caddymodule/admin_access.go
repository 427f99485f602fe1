package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func isNotFound(err error) bool { return errors.Is(err, manage.ErrNotFound) }

func configuredResource(identifier string) error {
	return fmt.Errorf("resource %q: %w", identifier, manage.ErrConfigured)
}

// linkDoc is a client–resource link in the admin API.
type linkDoc struct {
	ClientID   string         `json:"client_id"`
	Resource   string         `json:"resource"`
	Tokens     bool           `json:"tokens"`
	Introspect bool           `json:"introspect"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

// handleLinks serves /oauth/links: GET ?client_id=&resource= lists, PUT creates or replaces
// one, DELETE ?client_id=&resource= removes one.
func (a *adminAPI) handleLinks(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		links, err := svc.ListLinks(r.Context(), q.Get("client_id"), q.Get("resource"))
		if err != nil {
			return manageError(err)
		}
		docs := make([]linkDoc, 0, len(links))
		for _, l := range links {
			docs = append(docs, linkDoc{ClientID: l.ClientID, Resource: l.Resource, Tokens: l.Tokens, Introspect: l.Introspect, Metadata: l.Metadata})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"links": docs})
	case http.MethodPut:
		var d linkDoc
		if err := readJSON(w, r, &d, true); err != nil {
			return err
		}
		l, err := svc.PutLink(r.Context(), spec.Link{ClientID: d.ClientID, Resource: d.Resource, Tokens: d.Tokens, Introspect: d.Introspect, Metadata: d.Metadata})
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusOK, linkDoc{ClientID: l.ClientID, Resource: l.Resource, Tokens: l.Tokens, Introspect: l.Introspect, Metadata: l.Metadata})
	case http.MethodDelete:
		if q.Get("client_id") == "" || q.Get("resource") == "" {
			return apiError(http.StatusBadRequest, "client_id and resource are required")
		}
		if err := svc.DeleteLink(r.Context(), q.Get("client_id"), q.Get("resource")); err != nil {
			return manageError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return methodNotAllowed(r)
	}
}

// revoked answers a revocation with how many things it ended.
func revoked(w http.ResponseWriter, n int, err error) error {
	if err != nil {
		return manageError(err)
	}
	return writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

type consentDoc struct {
	Subject   string    `json:"subject"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	Resources []string  `json:"resources"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// handleConsents serves /oauth/consents: GET ?subject=&client_id=&limit=&after= lists,
// DELETE ?subject=&client_id= revokes (the next authorization asks again).
func (a *adminAPI) handleConsents(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		limit, after, err := page(r)
		if err != nil {
			return err
		}
		rows, err := svc.ListConsents(r.Context(), store.ConsentQuery{Subject: q.Get("subject"), ClientID: q.Get("client_id"), After: after, Limit: limit + 1})
		if err != nil {
			return manageError(err)
		}
		rows, next := nextCursor(rows, limit, store.ConsentCursor)
		docs := make([]consentDoc, 0, len(rows))
		for _, c := range rows {
			docs = append(docs, consentDoc{c.Subject, c.ClientID, c.Scopes, c.Resources, c.CreatedAt, c.UpdatedAt})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"consents": docs, "next": next})
	case http.MethodDelete:
		n, err := svc.RevokeConsents(r.Context(), q.Get("subject"), q.Get("client_id"))
		return revoked(w, n, err)
	default:
		return methodNotAllowed(r)
	}
}

type grantDoc struct {
	GrantID   string    `json:"grant_id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"subject"`
	SessionID string    `json:"session_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	Resources []string  `json:"resources"`
	AuthTime  time.Time `json:"auth_time"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleGrants serves /oauth/grants: GET ?subject=&client_id=&limit=&after= lists the live
// grants; DELETE ?subject= | ?client_id= | ?grant_id= revokes them with their tokens.
func (a *adminAPI) handleGrants(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		limit, after, err := page(r)
		if err != nil {
			return err
		}
		rows, err := svc.ListGrants(r.Context(), store.GrantQuery{Subject: q.Get("subject"), ClientID: q.Get("client_id"), After: after, Limit: limit + 1})
		if err != nil {
			return manageError(err)
		}
		rows, next := nextCursor(rows, limit, func(g *store.Grant) string { return g.ID })
		docs := make([]grantDoc, 0, len(rows))
		for _, g := range rows {
			docs = append(docs, grantDoc{g.ID, g.ClientID, g.Subject, g.SessionID, g.Scopes, g.Resources, g.AuthTime, g.CreatedAt, g.ExpiresAt})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"grants": docs, "next": next})
	case http.MethodDelete:
		n, err := svc.RevokeGrants(r.Context(), manage.GrantFilter{Subject: q.Get("subject"), ClientID: q.Get("client_id"), GrantID: q.Get("grant_id")})
		return revoked(w, n, err)
	default:
		return methodNotAllowed(r)
	}
}

type sessionDoc struct {
	SessionID  string    `json:"session_id"`
	Subject    string    `json:"subject"`
	AuthTime   time.Time `json:"auth_time"`
	AMR        []string  `json:"amr,omitempty"`
	ACR        string    `json:"acr,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent,omitempty"`
	RemoteIP   string    `json:"remote_ip,omitempty"`
}

// handleSessions serves /oauth/sessions: GET ?subject= lists an account's sessions; DELETE
// ?subject= | ?session_id= signs them out and revokes the grants made in them.
func (a *adminAPI) handleSessions(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		rows, err := svc.ListSessions(r.Context(), q.Get("subject"))
		if err != nil {
			return manageError(err)
		}
		docs := make([]sessionDoc, 0, len(rows))
		for _, s := range rows {
			docs = append(docs, sessionDoc{s.ID, s.Subject, s.AuthTime, s.AMR, s.ACR, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.UserAgent, s.RemoteIP})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"sessions": docs})
	case http.MethodDelete:
		n, err := svc.RevokeSessions(r.Context(), q.Get("subject"), q.Get("session_id"))
		return revoked(w, n, err)
	default:
		return methodNotAllowed(r)
	}
}

type initialAccessTokenDoc struct {
	ID          string     `json:"id"`
	Token       string     `json:"token,omitempty"` // only when created
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at"`
	UsesLeft    *int       `json:"uses_left"`
	CreatedAt   time.Time  `json:"created_at"`
}

func iatDoc(t *store.InitialAccessToken) initialAccessTokenDoc {
	return initialAccessTokenDoc{ID: t.ID, Description: t.Description, ExpiresAt: t.ExpiresAt, UsesLeft: t.UsesLeft, CreatedAt: t.CreatedAt}
}

// handleInitialAccessTokens serves /oauth/initial-access-tokens: GET lists, POST
// {"expires_in","uses","description"} creates (the token is in the answer, once).
func (a *adminAPI) handleInitialAccessTokens(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		rows, err := svc.ListInitialAccessTokens(r.Context())
		if err != nil {
			return manageError(err)
		}
		docs := make([]initialAccessTokenDoc, 0, len(rows))
		for _, t := range rows {
			docs = append(docs, iatDoc(t))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"initial_access_tokens": docs})
	case http.MethodPost:
		var req struct {
			ExpiresIn   string `json:"expires_in"`
			Uses        int    `json:"uses"`
			Description string `json:"description"`
		}
		if err := readJSON(w, r, &req, true); err != nil {
			return err
		}
		in := manage.InitialAccessTokenInput{Uses: req.Uses, Description: req.Description}
		if req.ExpiresIn != "" {
			if in.ExpiresIn, err = caddy.ParseDuration(req.ExpiresIn); err != nil || in.ExpiresIn <= 0 {
				return apiError(http.StatusBadRequest, "expires_in: want a positive duration such as 24h")
			}
		}
		if req.Uses < 0 {
			return apiError(http.StatusBadRequest, "uses: must be at least 1")
		}
		token, t, err := svc.CreateInitialAccessToken(r.Context(), in)
		if err != nil {
			return manageError(err)
		}
		doc := iatDoc(t)
		doc.Token = token
		return writeJSON(w, http.StatusCreated, doc)
	default:
		return methodNotAllowed(r)
	}
}

// handleInitialAccessToken serves DELETE /oauth/initial-access-tokens/{id}.
func (a *adminAPI) handleInitialAccessToken(w http.ResponseWriter, r *http.Request) error {
	id, rest, err := pathID(r, "/oauth/initial-access-tokens/")
	if err != nil || rest != "" {
		return apiError(http.StatusNotFound, "not found")
	}
	if r.Method != http.MethodDelete {
		return methodNotAllowed(r)
	}
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	if err := svc.DeleteInitialAccessToken(r.Context(), id); err != nil {
		return manageError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
