package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI adds the oauth routes to Caddy's admin endpoint:
//
//	POST /oauth/keys/rotate
//	    Request:  {"issuer": "https://auth.example", "alg": "ES256"}
//	    Response: {"kid": "<id of the new signing key>"}
//	Rotates the signing key for alg now: the new key signs from then on; the old one stays
//	published in the JWKS until the tokens it signed have expired. "issuer" may be omitted
//	when exactly one issuer is configured; "alg" is required.
//
//	GET /oauth/accounts?issuer=…
//	    Response: {"accounts": [{"subject", "username", "claims", "disabled", "configured", …}]}
//	PUT /oauth/accounts
//	    Request:  {"issuer", "username", "password" or "password_hash", "claims", "disabled"}
//	    Response: the account (201 when created); fields left out keep their stored values.
//	    "If-None-Match: *" only creates, "If-Match: *" only updates (else 412).
//	DELETE /oauth/accounts?issuer=…&username=…
//	    Response: 204.
//	Manages end-user accounts at runtime. Disabling or deleting one ends its sessions and
//	refresh tokens. Accounts declared in the configuration are refused with 409: the next
//	start would restore them. "issuer" may be omitted as above.
//
//	GET /oauth/accounts/passkeys?issuer=…&username=…
//	    Response: {"username", "passkeys": [{"id", "name", "backup_eligible", "sign_count",
//	    "clone_warning", "created_at", "last_used_at", "revoked", …}]}
//	DELETE /oauth/accounts/passkeys?issuer=…&username=…&id=…
//	    Response: 204; 404 when the account has no such active passkey.
//	Lists and revokes an account's passkeys (configured accounts too). A revoked passkey
//	never signs in again.
type adminAPI struct {
	app *App
	log *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.oauth",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision finds the oauth app of the configuration this admin endpoint belongs to. The
// admin endpoint is provisioned before the apps, so this is the instance the handlers will
// register their issuers with (Caddy caches apps per configuration).
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.log = ctx.Logger(a)
	app, err := ctx.App("oauth")
	if err != nil {
		return err
	}
	a.app = app.(*App)
	return nil
}

// Routes returns the admin routes of the oauth app.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/oauth/keys/rotate", Handler: caddy.AdminHandlerFunc(a.handleRotate)},
		{Pattern: "/oauth/accounts", Handler: caddy.AdminHandlerFunc(a.handleAccounts)},
		{Pattern: "/oauth/accounts/passkeys", Handler: caddy.AdminHandlerFunc(a.handlePasskeys)},
		{Pattern: "/oauth/clients", Handler: caddy.AdminHandlerFunc(a.handleClients)},
		{Pattern: "/oauth/clients/", Handler: caddy.AdminHandlerFunc(a.handleClient)},
		{Pattern: "/oauth/resources", Handler: caddy.AdminHandlerFunc(a.handleResources)},
		{Pattern: "/oauth/resources/", Handler: caddy.AdminHandlerFunc(a.handleResource)},
		{Pattern: "/oauth/links", Handler: caddy.AdminHandlerFunc(a.handleLinks)},
		{Pattern: "/oauth/consents", Handler: caddy.AdminHandlerFunc(a.handleConsents)},
		{Pattern: "/oauth/grants", Handler: caddy.AdminHandlerFunc(a.handleGrants)},
		{Pattern: "/oauth/sessions", Handler: caddy.AdminHandlerFunc(a.handleSessions)},
		{Pattern: "/oauth/initial-access-tokens", Handler: caddy.AdminHandlerFunc(a.handleInitialAccessTokens)},
		{Pattern: "/oauth/initial-access-tokens/", Handler: caddy.AdminHandlerFunc(a.handleInitialAccessToken)},
		{Pattern: "/oauth/ciba/", Handler: caddy.AdminHandlerFunc(a.handleCIBADecision)},
	}
}

// maxAdminBody bounds admin request bodies; the requests are tiny.
const maxAdminBody = 64 << 10

func (a *adminAPI) handleRotate(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s", r.Method)}
	}
	var req struct {
		Issuer string `json:"issuer"`
		Alg    string `json:"alg"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding request: %v", err)}
	}
	if req.Alg == "" {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("alg is required")}
	}
	if err := checkEnum("alg", req.Alg, asymmetricAlgs); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	if req.Issuer == "" {
		names := a.app.issuerNames()
		if len(names) != 1 {
			slices.Sort(names)
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("issuer is required (configured: %v)", names)}
		}
		req.Issuer = names[0]
	}
	srv, ok := a.app.Issuer(req.Issuer)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("unknown issuer %q", req.Issuer)}
	}
	kid, err := srv.RotateKeys(r.Context(), req.Alg)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("rotating %s key: %v", req.Alg, err)}
	}
	a.log.Info("signing key rotated", zap.String("issuer", req.Issuer), zap.String("alg", req.Alg), zap.String("kid", kid))
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]string{"kid": kid})
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
