package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// handleCIBADecision answers a CIBA request for the user, when they were asked by other means
// (the notifier's system):
//
//	POST /oauth/ciba/<request id>/approve
//	POST /oauth/ciba/<request id>/deny
//	    Request:  {"issuer": "…"} (optional with one issuer) or no body
//	    Response: 204; 404 when no such request is pending.
func (a *adminAPI) handleCIBADecision(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s", r.Method)}
	}
	rest := strings.TrimPrefix(r.URL.Path, "/oauth/ciba/")
	id, action, ok := strings.Cut(rest, "/")
	if !ok || id == "" || (action != "approve" && action != "deny") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("want /oauth/ciba/<request id>/approve or /deny")}
	}
	var req struct {
		Issuer string `json:"issuer"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding request: %v", err)}
		}
	}
	srv, err := a.issuer(req.Issuer)
	if err != nil {
		return err
	}
	err = srv.DecideCIBA(r.Context(), id, action == "approve")
	switch {
	case errors.Is(err, store.ErrNotFound):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no such pending CIBA request")}
	case err != nil:
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	a.log.Info("CIBA request decided through the admin API", zap.String("request", id), zap.String("decision", action))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
