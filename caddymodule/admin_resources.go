package caddymodule

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// resourceDoc is a resource's policy as the admin API reads and writes it. A member left out
// (or null) inherits the server default; "scopes": null accepts any scope.
type resourceDoc struct {
	Identifier                    string         `json:"identifier"`
	Name                          string         `json:"name,omitempty"`
	AccessTokenTTL                string         `json:"access_token_ttl,omitempty"` // "10m"
	RefreshTokenTTL               string         `json:"refresh_token_ttl,omitempty"`
	AccessTokenFormat             string         `json:"access_token_format,omitempty"`
	SigningAlg                    string         `json:"signing_alg,omitempty"`
	SigningKeyID                  string         `json:"signing_key_id,omitempty"`
	Scopes                        []string       `json:"scopes"`
	Claims                        map[string]any `json:"claims,omitempty"`
	AccountClaims                 []string       `json:"account_claims,omitempty"`
	DPoPBoundAccessTokensRequired bool           `json:"dpop_bound_access_tokens_required,omitempty"`
	Disabled                      bool           `json:"disabled,omitempty"`
	Metadata                      map[string]any `json:"metadata,omitempty"`
}

// resourceView is a resource as the admin API shows it.
type resourceView struct {
	resourceDoc
	ID            string    `json:"id"`
	Source        string    `json:"source"`
	Configured    bool      `json:"configured"`
	PolicyVersion int       `json:"policy_version"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// resourceInput is what PUT and POST accept: the document, plus the view's read-only members
// (ignored), so a shown resource can be sent back as it is; other unknown members are refused.
type resourceInput struct {
	resourceDoc
	ID            json.RawMessage `json:"id"`
	Source        json.RawMessage `json:"source"`
	Configured    json.RawMessage `json:"configured"`
	PolicyVersion json.RawMessage `json:"policy_version"`
	CreatedAt     json.RawMessage `json:"created_at"`
	UpdatedAt     json.RawMessage `json:"updated_at"`
}

func docOf(r *store.Resource) resourceDoc {
	ttl := func(sec *int64) string {
		if sec == nil {
			return ""
		}
		return (time.Duration(*sec) * time.Second).String()
	}
	return resourceDoc{
		Identifier: r.Identifier, Name: r.Name,
		AccessTokenTTL: ttl(r.AccessTokenTTL), RefreshTokenTTL: ttl(r.RefreshTokenTTL),
		AccessTokenFormat: r.AccessTokenFormat, SigningAlg: r.SigningAlg, SigningKeyID: r.SigningKeyID,
		Scopes: r.AllowedScopes, Claims: r.CustomClaims, AccountClaims: r.AccountClaims,
		DPoPBoundAccessTokensRequired: r.DPoPBoundAccessTokensRequired, Disabled: r.Disabled, Metadata: r.Metadata,
	}
}

func newResourceView(svc *manage.Service, r *store.Resource) resourceView {
	v := resourceView{resourceDoc: docOf(r), ID: r.ID, Source: store.SourceAdmin, PolicyVersion: r.PolicyVersion, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if svc.IsConfiguredResource(r.Identifier) {
		v.Source, v.Configured = store.SourceConfig, true
	}
	return v
}

// spec converts the document to the validation contract's shape.
func (d resourceDoc) spec() (spec.Resource, error) {
	duration := func(field, s string) (*time.Duration, error) {
		if s == "" {
			return nil, nil
		}
		v, err := caddy.ParseDuration(s)
		if err != nil {
			return nil, &spec.Error{Subject: "resource " + jsonQuote(d.Identifier), Field: field, Value: s, Code: spec.CodeInvalidValue, Msg: "want a duration such as 10m"}
		}
		return &v, nil
	}
	access, err := duration("access_token_ttl", d.AccessTokenTTL)
	if err != nil {
		return spec.Resource{}, err
	}
	refresh, err := duration("refresh_token_ttl", d.RefreshTokenTTL)
	if err != nil {
		return spec.Resource{}, err
	}
	return spec.Resource{
		Identifier: d.Identifier, Name: d.Name, AccessTokenTTL: access, RefreshTokenTTL: refresh,
		AccessTokenFormat: d.AccessTokenFormat, SigningAlg: d.SigningAlg, SigningKeyID: d.SigningKeyID,
		AllowedScopes: d.Scopes, CustomClaims: d.Claims, AccountClaims: d.AccountClaims,
		DPoPBoundAccessTokensRequired: &d.DPoPBoundAccessTokensRequired, Disabled: &d.Disabled, Metadata: d.Metadata,
	}, nil
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// handleResources serves /oauth/resources: GET lists a page (?identifier= selects one), POST
// creates.
func (a *adminAPI) handleResources(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return a.listResources(w, r, svc)
	case http.MethodPost:
		var in resourceInput
		if err := readJSON(w, r, &in, true); err != nil {
			return err
		}
		rc, err := in.spec()
		if err != nil {
			return manageError(err)
		}
		res, err := svc.CreateResource(r.Context(), rc)
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusCreated, newResourceView(svc, res))
	default:
		return methodNotAllowed(r)
	}
}

func (a *adminAPI) listResources(w http.ResponseWriter, r *http.Request, svc *manage.Service) error {
	var rows []*store.Resource
	next := ""
	if identifier := r.URL.Query().Get("identifier"); identifier != "" {
		res, err := svc.GetResource(r.Context(), identifier)
		if err == nil {
			rows = append(rows, res)
		} else if !isNotFound(err) {
			return manageError(err)
		}
	} else {
		limit, after, err := page(r)
		if err != nil {
			return err
		}
		if rows, err = svc.ListResources(r.Context(), store.ResourceQuery{After: after, Limit: limit + 1}); err != nil {
			return manageError(err)
		}
		rows, next = nextCursor(rows, limit, func(r *store.Resource) string { return r.ID })
	}
	views := make([]resourceView, 0, len(rows))
	for _, res := range rows {
		views = append(views, newResourceView(svc, res))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"resources": views, "next": next})
}

// handleResource serves /oauth/resources/{identifier} (path-escaped): GET, PUT, PATCH,
// DELETE.
func (a *adminAPI) handleResource(w http.ResponseWriter, r *http.Request) error {
	identifier, rest, err := pathID(r, "/oauth/resources/")
	if err != nil || rest != "" {
		return apiError(http.StatusNotFound, "not found")
	}
	svc, err := a.service(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		res, err := svc.GetResource(ctx, identifier)
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusOK, newResourceView(svc, res))
	case http.MethodPut, http.MethodPatch:
		var in resourceInput
		if r.Method == http.MethodPut {
			err = readJSON(w, r, &in, true)
		} else {
			err = a.patchResource(w, r, svc, identifier, &in)
		}
		if err != nil {
			return err
		}
		if in.Identifier != "" && in.Identifier != identifier {
			return apiError(http.StatusBadRequest, "identifier of the body does not match the path (an identifier cannot change)")
		}
		in.Identifier = identifier
		rc, err := in.spec()
		if err != nil {
			return manageError(err)
		}
		res, err := svc.ReplaceResource(ctx, rc)
		if err != nil {
			return manageError(err)
		}
		return writeJSON(w, http.StatusOK, newResourceView(svc, res))
	case http.MethodDelete:
		if err := svc.DeleteResource(ctx, identifier); err != nil {
			return manageError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return methodNotAllowed(r)
	}
}

func (a *adminAPI) patchResource(w http.ResponseWriter, r *http.Request, svc *manage.Service, identifier string, out *resourceInput) error {
	if svc.IsConfiguredResource(identifier) {
		return manageError(configuredResource(identifier))
	}
	res, err := svc.GetResource(r.Context(), identifier)
	if err != nil {
		return manageError(err)
	}
	return mergePatched(w, r, docOf(res), out, true)
}
