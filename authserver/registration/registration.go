package registration

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Path is the registration endpoint, relative to the issuer; a registered client's
// configuration endpoint (registration_client_uri) is Path + "/" + its client ID.
const Path = "/register"

// Clients is what registration needs of the client management service (manage.Service):
// every write of a client goes through it.
type Clients interface {
	CreateClient(ctx context.Context, c spec.Client, source string) (*manage.Created, error)
	ReplaceClient(ctx context.Context, c spec.Client, source string) (*manage.Created, error)
	DeleteClient(ctx context.Context, id string) error
	// RotateSecret gives the client a new secret; the previous one stays valid for overlap.
	RotateSecret(ctx context.Context, id string, overlap time.Duration) (*manage.Created, error)
	GetClient(ctx context.Context, id string) (*store.Client, error)
	ClientLinks(ctx context.Context, id string) ([]spec.LinkView, error)
	Env() spec.Env
}

// Store is what registration reads and writes itself: initial access tokens, the
// registration token of a client (manage keeps it across replacements but does not set it),
// and resources (checked before an initial access token is spent).
type Store interface {
	UseInitialAccessToken(ctx context.Context, hash string, now time.Time) (*store.InitialAccessToken, error)
	UpdateRegisteredClient(ctx context.Context, c *store.Client, tokenHash string) error
	GetResourceByIdentifier(ctx context.Context, identifier string) (*store.Resource, error)
}

// Deps connects registration to its authorization server.
type Deps struct {
	// Unavailable tells the database failing from a bug: such failures answer 503
	// temporarily_unavailable (oautherr.Classify); nil means never.
	Unavailable func(error) bool
	// Issuer is the issuer identifier; endpoint URLs are built on it.
	Issuer  string
	Clients Clients
	Store   Store
	// Changed is called after registration writes a client row itself (the registration
	// token), so cached lookups drop it.
	Changed func()
	Now     func() time.Time
	Logger  *zap.Logger
}

// Handler serves the registration and client configuration endpoints of one issuer.
type Handler struct {
	cfg        Config
	d          Deps
	statements statements
	basePath   string // the issuer's path, without a trailing slash
	log        *zap.Logger
}

// New returns the Handler of cfg, or nil when registration is off.
func New(cfg Config, basePath string, d Deps) (*Handler, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil || !cfg.Enabled() {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Changed == nil {
		d.Changed = func() {}
	}
	h := &Handler{cfg: cfg, d: d, basePath: strings.TrimSuffix(basePath, "/"), log: d.Logger}
	h.statements.now = d.Now
	if cfg.SoftwareStatementJWKS != "" {
		if h.statements.keys, err = parseTrustedKeys(cfg.SoftwareStatementJWKS); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Endpoint is the absolute URL of the registration endpoint, for discovery.
func (h *Handler) Endpoint() string { return strings.TrimSuffix(h.d.Issuer, "/") + Path }

// clientURI is the registration_client_uri of a client.
func (h *Handler) clientURI(id string) string {
	return h.Endpoint() + "/" + escapePathSegment(id)
}

// Owns reports whether path is one of the handler's endpoints.
func (h *Handler) Owns(path string) bool {
	_, ok := h.route(path)
	return ok
}

// route tells the registration endpoint (id "") from a client configuration endpoint.
func (h *Handler) route(path string) (id string, ok bool) {
	rest, found := strings.CutPrefix(path, h.basePath+Path)
	switch {
	case !found:
		return "", false
	case rest == "":
		return "", true
	}
	id, found = strings.CutPrefix(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// ServeHTTP answers registration (POST /register) and client configuration requests
// (GET, PUT, DELETE /register/{client_id}).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := h.route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if id == "" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		h.serve(w, r, h.register)
		return
	}
	// Client IDs this server generates are URL-safe; r.URL.Path is already unescaped.
	var serve func(*http.Request, string) (int, any, error)
	switch r.Method {
	case http.MethodGet:
		serve = h.read
	case http.MethodPut:
		serve = h.update
	case http.MethodDelete:
		serve = h.delete
	default:
		methodNotAllowed(w, "GET, PUT, DELETE")
		return
	}
	h.serve(w, r, func(r *http.Request) (int, any, error) { return serve(r, id) })
}

// serve writes what op returns: a JSON body with status, 204 without a body, or an error.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, op func(*http.Request) (int, any, error)) {
	status, body, err := op(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// writeError answers an RFC 7591 §3.2.2 / RFC 6750 §3 error. A *spec.Error carries its own
// code and a description without the offending value.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se *spec.Error
	if errors.As(err, &se) {
		code := se.Code
		if code != spec.CodeInvalidRedirectURI {
			code = spec.CodeInvalidClientMetadata // link and value errors are metadata errors here
		}
		err = newError(code, se.Description())
	}
	e := oautherr.Classify(err, h.d.Unavailable)
	if e.Status >= http.StatusInternalServerError {
		h.log.Error("registration request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		h.log.Debug("registration request refused", zap.String("path", r.URL.Path), zap.String("error", e.Code), zap.String("description", e.Description))
	}
	oautherr.Write(w, e)
}

func newError(code, description string) *oautherr.Error { return oautherr.New(code, description) }

func metadataError(description string) *oautherr.Error {
	return newError(spec.CodeInvalidClientMetadata, description)
}

// tokenError is RFC 6750 §3.1's answer to a missing (code "") or unusable Bearer token.
func tokenError(code, description string) *oautherr.Error {
	e := &oautherr.Error{Code: code, Description: description, Status: http.StatusUnauthorized}
	e.WWWAuthenticate = `Bearer realm="registration"`
	if params := e.ChallengeParams(); params != "" {
		e.WWWAuthenticate += ", " + params
	}
	return e
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}
