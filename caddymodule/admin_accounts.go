package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// accountRequest is the body of PUT /oauth/accounts. Fields left out keep the stored values.
type accountRequest struct {
	Issuer       string         `json:"issuer,omitempty"`
	Username     string         `json:"username"`
	Password     string         `json:"password,omitempty"`
	PasswordHash string         `json:"password_hash,omitempty"`
	Claims       map[string]any `json:"claims,omitzero"` // {} clears, null or absent keeps
	Disabled     *bool          `json:"disabled,omitempty"`
}

// accountList is the body of GET /oauth/accounts.
type accountList struct {
	Accounts []authserver.AccountView `json:"accounts"`
}

// handleAccounts serves /oauth/accounts: GET lists, PUT creates or updates, DELETE deletes.
// The authorization server logs each change (never a password or hash).
func (a *adminAPI) handleAccounts(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		srv, err := a.issuer(r.URL.Query().Get("issuer"))
		if err != nil {
			return err
		}
		views, err := srv.ListAccounts(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("listing accounts: %v", err)}
		}
		return writeJSON(w, http.StatusOK, accountList{Accounts: views})
	case http.MethodPut:
		return a.putAccount(w, r)
	case http.MethodDelete:
		q := r.URL.Query()
		srv, err := a.issuer(q.Get("issuer"))
		if err != nil {
			return err
		}
		if err := srv.DeleteAccount(r.Context(), q.Get("username")); err != nil {
			return accountError(err, http.StatusNotFound)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s", r.Method)}
	}
}

// putAccount creates or updates an account. If-None-Match: * only creates and If-Match: *
// only updates (RFC 9110 §13.1): the CLI's add and passwd must not do the other by mistake.
func (a *adminAPI) putAccount(w http.ResponseWriter, r *http.Request) error {
	mode, err := putMode(r.Header)
	if err != nil {
		return err
	}
	var req accountRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding request: %v", err)}
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("decoding request: data after the JSON object")}
	}
	srv, err := a.issuer(req.Issuer)
	if err != nil {
		return err
	}
	view, created, err := srv.PutAccount(r.Context(), authserver.AccountInput{
		Username:     req.Username,
		Password:     req.Password,
		PasswordHash: req.PasswordHash,
		Claims:       req.Claims,
		Disabled:     req.Disabled,
		Mode:         mode,
	})
	if err != nil {
		// A failed precondition is 412; without one, a lost creation race is a conflict.
		status := http.StatusConflict
		if mode != authserver.CreateOrUpdate {
			status = http.StatusPreconditionFailed
		}
		return accountError(err, status)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, view)
}

// putMode reads the conditional headers of a PUT. Accounts have no entity tags, so only the
// "*" forms are meaningful.
func putMode(h http.Header) (authserver.PutMode, error) {
	none, match := h.Get("If-None-Match"), h.Get("If-Match")
	switch {
	case none == "" && match == "":
		return authserver.CreateOrUpdate, nil
	case none == "*" && match == "":
		return authserver.CreateOnly, nil
	case match == "*" && none == "":
		return authserver.UpdateOnly, nil
	}
	return 0, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`only "If-None-Match: *" (create) or "If-Match: *" (update) is supported`)}
}

// accountError maps the errors of account management to statuses; missing is the status of
// ErrAccountNotFound and ErrAccountExists, which depends on the request.
func accountError(err error, missing int) error {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, authserver.ErrInvalidAccount):
		status = http.StatusBadRequest
	case errors.Is(err, authserver.ErrAccountConfigured):
		status = http.StatusConflict
	case errors.Is(err, authserver.ErrAccountNotFound), errors.Is(err, authserver.ErrAccountExists):
		status = missing
	}
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// issuer finds the server an admin request is for; name may be empty when exactly one
// issuer is configured.
func (a *adminAPI) issuer(name string) (*authserver.Server, error) {
	if name == "" {
		names := a.app.issuerNames()
		if len(names) != 1 {
			slices.Sort(names)
			return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("issuer is required (configured: %v)", names)}
		}
		name = names[0]
	}
	srv, ok := a.app.Issuer(name)
	if !ok {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("unknown issuer %q", name)}
	}
	return srv, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
