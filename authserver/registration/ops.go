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
	client.ID = spec.NewClientID()
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
	rat := newToken()
	rec, err := h.storeRegistration(ctx, created.Client, hashToken(rat), "", stmt, secret != "")
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
	rat := newToken()
	if err := h.claim(ctx, existing, hashToken(rat)); err != nil {
		return 0, nil, err
	}
	rec, links, secret, err := h.replace(ctx, existing, client, hashToken(rat))
	if err != nil {
		return 0, nil, err
	}
	if rec, err = h.storeRegistration(ctx, rec, hashToken(rat), hashToken(rat), stmt, secret != ""); errors.Is(err, store.ErrNotFound) {
		return 0, nil, invalidRegistrationToken() // deleted meanwhile: it stays deleted
	} else if err != nil {
		return 0, nil, err
	}
	h.log.Info("registered client updated", zap.String("client_id", id), zap.String("auth_method", rec.TokenEndpointAuthMethod), zap.Bool("secret_generated", secret != ""))
	return http.StatusOK, h.response(rec, links, rat, secret), nil
}

// claim rotates the client's registration access token to newHash before an update or a
// deletion writes anything, while the client still holds the token the request presented: of
// concurrent requests with one token exactly one gets past it, and the others, refused with
// 401, write nothing.
func (h *Handler) claim(ctx context.Context, existing *store.Client, newHash string) error {
	rec := *existing
	rec.RegistrationTokenHash = newHash
	err := h.d.Store.UpdateRegisteredClient(ctx, &rec, existing.RegistrationTokenHash)
	if errors.Is(err, store.ErrNotFound) {
		return invalidRegistrationToken() // rotated or deleted by a concurrent request
	}
	return err
}

// unclaim gives a claimed client its previous row, and token, back after the request that
// claimed it failed: a failed request must not cost the client its token.
func (h *Handler) unclaim(ctx context.Context, existing *store.Client, claimedHash string) {
	restore := *existing
	err := h.d.Store.UpdateRegisteredClient(context.WithoutCancel(ctx), &restore, claimedHash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("restoring a registered client after a failed request", zap.String("client_id", existing.ID), zap.Error(err))
	}
}

// replace writes the claimed client's new metadata through the management service and renews
// its secret when it is due. If the replacement fails, the client is unclaimed.
func (h *Handler) replace(ctx context.Context, existing *store.Client, c spec.Client, claimedHash string) (*store.Client, []spec.LinkView, string, error) {
	replaced, err := h.d.Clients.ReplaceClient(ctx, c, store.SourceRegistration)
	if errors.Is(err, manage.ErrNotFound) {
		return nil, nil, "", invalidRegistrationToken() // deleted meanwhile
	} else if err != nil {
		h.unclaim(ctx, existing, claimedHash)
		return nil, nil, "", err
	}
	rec, secret := replaced.Client, replaced.Secret
	if secret == "" && usesSecret(c) {
		rec.SecretExpiresAt = existing.SecretExpiresAt // the same secret keeps its end
		if h.secretDue(existing.SecretExpiresAt) {
			renewed, err := h.renewSecret(ctx, c.ID, existing.SecretExpiresAt)
			if err != nil {
				return nil, nil, "", err
			}
			rec, secret = renewed.Client, renewed.Secret
		}
	}
	return rec, replaced.Links, secret, nil
}

// secretDue reports whether a secret ending at end is renewed by an update: in the second half
// of its life (client_secret_ttl) or after it ended. An update is how a registered client
// learns a new secret (RFC 7592 §2.2), so one made before the end switches without downtime.
func (h *Handler) secretDue(end *time.Time) bool {
	return end != nil && end.Sub(h.d.Now()) < h.cfg.ClientSecretTTL/2
}

// renewSecret gives the client a new secret; the old one stays valid until its own end, never
// longer (an ended one not at all).
func (h *Handler) renewSecret(ctx context.Context, id string, end *time.Time) (*manage.Created, error) {
	overlap := max(end.Sub(h.d.Now()), 0)
	renewed, err := h.d.Clients.RotateSecret(ctx, id, overlap)
	if errors.Is(err, manage.ErrNotFound) {
		return nil, invalidRegistrationToken() // deleted meanwhile
	}
	return renewed, err
}

// delete is RFC 7592 §2.3: the client, its links and consents are deleted and its grants and
// tokens revoked (manage.Service.DeleteClient); its registration access token dies with it.
func (h *Handler) delete(r *http.Request, id string) (int, any, error) {
	existing, _, err := h.authorize(r, id)
	if err != nil {
		return 0, nil, err
	}
	// Claimed with a token nobody holds, so an update racing the deletion cannot win too.
	claimed := hashToken(newToken())
	if err := h.claim(r.Context(), existing, claimed); err != nil {
		return 0, nil, err
	}
	if err := h.d.Clients.DeleteClient(r.Context(), id); errors.Is(err, manage.ErrNotFound) {
		return 0, nil, invalidRegistrationToken()
	} else if err != nil {
		h.unclaim(r.Context(), existing, claimed)
		return 0, nil, err
	}
	h.log.Info("registered client deleted", zap.String("client_id", id))
	return http.StatusNoContent, nil, nil
}

// clientFromRequest reads the request body and applies its software statement, if any.
// existing is the client of an RFC 7592 update: a statement is then optional (the client was
// approved when it registered), and without one the statement it holds still binds it.
func (h *Handler) clientFromRequest(r *http.Request, existing *store.Client) (spec.ClientMetadata, string, error) {
	req, err := readRequest(r)
	if err != nil {
		return spec.ClientMetadata{}, "", err
	}
	switch {
	case req.SoftwareStatement != "" || (existing == nil && h.cfg.RequireSoftwareStatement):
		err = h.applyStatement(req)
	case existing != nil:
		err = reapplyStatement(req, existing)
	}
	if err != nil {
		return spec.ClientMetadata{}, "", err
	}
	return req.ClientMetadata, req.SoftwareStatement, nil
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

// storeRegistration completes the row the management service wrote with what registration
// adds: the registration access token's hash (the token is returned in clear once), the
// secret's end when it got a new secret, and the software statement. It writes only while the
// client holds expectHash (empty for a new client), so a client deleted meanwhile stays
// deleted (store.ErrNotFound).
func (h *Handler) storeRegistration(ctx context.Context, c *store.Client, tokenHash, expectHash, stmt string, newSecret bool) (*store.Client, error) {
	rec := *c
	rec.RegistrationTokenHash = tokenHash
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
	if err := h.d.Store.UpdateRegisteredClient(ctx, &rec, expectHash); err != nil {
		return nil, err
	}
	h.d.Changed()
	return &rec, nil
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

// newToken returns 256 random bits, base64url: registration access tokens (RFC 9700 §4.x
// and this project's rule for bearer credentials).
func newToken() string { return randomString(32) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails (it panics first)
	return base64.RawURLEncoding.EncodeToString(b)
}
