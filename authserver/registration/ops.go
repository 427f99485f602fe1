package registration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// response is the client information response (RFC 7591 §3.2.1, RFC 7592 §3).
type response struct {
	spec.ClientMetadata
	ClientIDIssuedAt int64 `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is required when the client has a secret; 0: it does not expire.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	// SoftwareStatement is returned unmodified when registration used one (RFC 7591 §3.2.1).
	SoftwareStatement string `json:"software_statement,omitempty"`
}

// metadataKeyStatement keeps the software statement a client registered with, for its reads.
const metadataKeyStatement = "software_statement"

// register is RFC 7591 §3: validate, then spend the initial access token, then create. The
// order means a refused registration costs no token use and stores nothing.
func (h *Handler) register(r *http.Request) (int, any, error) {
	ctx := r.Context()
	token, hasToken := bearerToken(r)
	if h.cfg.Policy == PolicyInitialAccessToken && !hasToken {
		return 0, nil, tokenError("", "")
	}
	c, stmt, err := h.clientFromRequest(r, nil)
	if err != nil {
		return 0, nil, err
	}
	if c.ClientSecret != "" || c.ClientSecretHash != "" {
		return 0, nil, metadataError("client_secret: is issued by the server")
	}
	client, err := c.Client()
	if err != nil {
		return 0, nil, err
	}
	// The server issues client IDs (RFC 7591 §3.2.1): a requested one is ignored.
	client.ID = newClientID()
	if err := h.checkAndValidate(ctx, &client, spec.Client{}); err != nil {
		return 0, nil, err
	}
	secret := ""
	if usesSecret(client) {
		secret = clientsecret.Generate()
		client.Secret = secret
	}
	if h.cfg.Policy == PolicyInitialAccessToken {
		if err := h.spendInitialAccessToken(ctx, token); err != nil {
			return 0, nil, err
		}
	}
	created, err := h.d.Clients.CreateClient(ctx, client, store.SourceRegistration)
	if err != nil {
		return 0, nil, err
	}
	rat, rec, err := h.issueRegistrationToken(ctx, created.Client, stmt, secret != "")
	if err != nil {
		// Nothing half-stored: a client its registrant cannot manage is removed again.
		if delErr := h.d.Clients.DeleteClient(context.WithoutCancel(ctx), created.Client.ID); delErr != nil {
			h.log.Error("removing a registered client without a registration token", zap.String("client_id", created.Client.ID), zap.Error(delErr))
		}
		return 0, nil, err
	}
	h.log.Info("client registered", zap.String("client_id", rec.ID), zap.String("auth_method", rec.TokenEndpointAuthMethod),
		zap.Strings("grant_types", rec.GrantTypes), zap.Bool("software_statement", stmt != ""))
	return http.StatusCreated, h.response(rec, created.Links, rat, secret), nil
}

// read is RFC 7592 §2.1.
func (h *Handler) read(r *http.Request, id string) (int, any, error) {
	rec, rat, err := h.authorize(r, id)
	if err != nil {
		return 0, nil, err
	}
	links, err := h.d.Clients.ClientLinks(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.response(rec, links, rat, ""), nil
}

// update is RFC 7592 §2.2: a full replacement. Metadata the request leaves out is removed
// (reset to its default), a client_secret it sends must be the current one, and the
// registration access token rotates: the response carries a new one, the old one stops
// working.
func (h *Handler) update(r *http.Request, id string) (int, any, error) {
	ctx := r.Context()
	existing, _, err := h.authorize(r, id)
	if err != nil {
		return 0, nil, err
	}
	links, err := h.d.Clients.ClientLinks(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	held := heldOf(existing, links)
	c, stmt, err := h.clientFromRequest(r, existing)
	if err != nil {
		return 0, nil, err
	}
	if c.ClientID != id {
		return 0, nil, metadataError("client_id: must be the client's identifier")
	}
	if c.ClientSecretHash != "" {
		return 0, nil, metadataError("client_secret_hash: is not client metadata")
	}
	if c.ClientSecret != "" {
		// RFC 7592 §2.2: the client may send its secret but never choose a new one.
		if existing.SecretHash == "" || !clientsecret.Verify(existing.SecretHash, c.ClientSecret) {
			return 0, nil, metadataError("client_secret: does not match the client's current secret")
		}
		c.ClientSecret = "" // kept as stored
	}
	client, err := c.Client()
	if err != nil {
		return 0, nil, err
	}
	if err := h.checkAndValidate(ctx, &client, held); err != nil {
		return 0, nil, err
	}
	replaced, err := h.d.Clients.ReplaceClient(ctx, client, store.SourceRegistration)
	if errors.Is(err, manage.ErrNotFound) {
		return 0, nil, invalidRegistrationToken() // deleted meanwhile
	} else if err != nil {
		return 0, nil, err
	}
	rec := replaced.Client
	newSecret := replaced.Secret != ""
	if !newSecret && usesSecret(client) {
		rec.SecretExpiresAt = existing.SecretExpiresAt // the same secret keeps its end
	}
	rat, rec, err := h.issueRegistrationToken(ctx, rec, stmt, newSecret)
	if err != nil {
		return 0, nil, err
	}
	h.log.Info("registered client updated", zap.String("client_id", id), zap.String("auth_method", rec.TokenEndpointAuthMethod), zap.Bool("secret_generated", newSecret))
	return http.StatusOK, h.response(rec, replaced.Links, rat, replaced.Secret), nil
}

// delete is RFC 7592 §2.3: the client, its links and consents are deleted and its grants and
// tokens revoked (manage.Service.DeleteClient); its registration access token dies with it.
func (h *Handler) delete(r *http.Request, id string) (int, any, error) {
	if _, _, err := h.authorize(r, id); err != nil {
		return 0, nil, err
	}
	if err := h.d.Clients.DeleteClient(r.Context(), id); errors.Is(err, manage.ErrNotFound) {
		return 0, nil, invalidRegistrationToken()
	} else if err != nil {
		return 0, nil, err
	}
	h.log.Info("registered client deleted", zap.String("client_id", id))
	return http.StatusNoContent, nil, nil
}

// clientFromRequest reads the request body and applies its software statement, if any.
// update is true for RFC 7592 updates: a statement is then optional (the client was approved
// when it registered) and the one it registered with is kept.
func (h *Handler) clientFromRequest(r *http.Request, existing *store.Client) (spec.ClientMetadata, string, error) {
	req, err := readRequest(r)
	if err != nil {
		return spec.ClientMetadata{}, "", err
	}
	if req.SoftwareStatement != "" || (existing == nil && h.cfg.RequireSoftwareStatement) {
		if err := h.applyStatement(req); err != nil {
			return spec.ClientMetadata{}, "", err
		}
	}
	stmt := req.SoftwareStatement
	if stmt == "" && existing != nil {
		stmt, _ = existing.Metadata[metadataKeyStatement].(string)
	}
	return req.ClientMetadata, stmt, nil
}

// checkAndValidate applies the registration policy and then the one validation contract.
func (h *Handler) checkAndValidate(ctx context.Context, c *spec.Client, held spec.Client) error {
	if err := checkOperatorOnly(c, held); err != nil {
		return err
	}
	if err := h.applyPolicy(ctx, c, held); err != nil {
		return err
	}
	return h.validate(*c)
}

// issueRegistrationToken gives the client a new registration access token (returned in
// clear once, stored hashed), sets its secret's end when it got a new secret, and keeps its
// software statement.
func (h *Handler) issueRegistrationToken(ctx context.Context, c *store.Client, stmt string, newSecret bool) (string, *store.Client, error) {
	rat := newToken()
	rec := *c
	rec.RegistrationTokenHash = hashToken(rat)
	if newSecret && h.cfg.ClientSecretTTL > 0 {
		end := h.d.Now().Add(h.cfg.ClientSecretTTL).UTC().Truncate(time.Second)
		rec.SecretExpiresAt = &end
	}
	if stmt != "" {
		rec.Metadata = maps.Clone(rec.Metadata)
		if rec.Metadata == nil {
			rec.Metadata = map[string]any{}
		}
		rec.Metadata[metadataKeyStatement] = stmt
	}
	if err := h.d.Store.UpsertClient(ctx, &rec); err != nil {
		return "", nil, err
	}
	h.d.Changed()
	return rat, &rec, nil
}

// response is the client information response of rec: everything registered, never a
// stored secret (secret is the one issued by this request, if any).
func (h *Handler) response(rec *store.Client, links []spec.LinkView, rat, secret string) response {
	m := spec.MetadataOf(rec, links)
	m.ClientSecret = secret
	resp := response{
		ClientMetadata:          m,
		ClientIDIssuedAt:        rec.CreatedAt.Unix(),
		RegistrationAccessToken: rat,
		RegistrationClientURI:   h.clientURI(rec.ID),
	}
	if rec.SecretHash != "" {
		var end int64 // 0: never (RFC 7591 §3.2.1)
		if rec.SecretExpiresAt != nil {
			end = rec.SecretExpiresAt.Unix()
		}
		resp.ClientSecretExpiresAt = &end
	}
	if s, ok := rec.Metadata[metadataKeyStatement].(string); ok {
		resp.SoftwareStatement = s
	}
	return resp
}

// newClientID returns 128 random bits, base64url: client IDs need to be unique, not secret.
func newClientID() string { return randomString(16) }

// newToken returns 256 random bits, base64url: registration access tokens (RFC 9700 §4.x
// and this project's rule for bearer credentials).
func newToken() string { return randomString(32) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails (it panics first)
	return base64.RawURLEncoding.EncodeToString(b)
}
