package registration

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// maxTokenLength bounds a presented Bearer token before it is hashed.
const maxTokenLength = 512

// bearerToken returns the RFC 6750 §2.1 Bearer token of r; ok is false when there is none.
func bearerToken(r *http.Request) (token string, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func invalidRegistrationToken() *oautherr.Error {
	return tokenError(oautherr.InvalidToken, "the registration access token is not valid for this client")
}

// authorize checks the registration access token of a request for client id (RFC 7592 §1):
// the client must exist, have been registered, and hold the token's hash. Every failure is
// the same 401, so the answer does not tell which clients exist. It returns the client and
// the token.
func (h *Handler) authorize(r *http.Request, id string) (*store.Client, string, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, "", tokenError("", "")
	}
	if len(token) > maxTokenLength {
		return nil, "", invalidRegistrationToken()
	}
	c, err := h.d.Clients.GetClient(r.Context(), id)
	if errors.Is(err, manage.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return nil, "", invalidRegistrationToken()
	} else if err != nil {
		return nil, "", err
	}
	if c.Source != store.SourceRegistration || c.RegistrationTokenHash == "" ||
		subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(c.RegistrationTokenHash)) != 1 {
		return nil, "", invalidRegistrationToken()
	}
	return c, token, nil
}

// spendInitialAccessToken accepts the static token of the config or spends one use of a
// stored one (atomically: of concurrent registrations with a one-use token exactly one gets
// it).
func (h *Handler) spendInitialAccessToken(ctx context.Context, token string) error {
	if len(token) > maxTokenLength {
		return invalidInitialAccessToken()
	}
	hash := hashToken(token)
	if static := h.cfg.InitialAccessToken; static != "" &&
		subtle.ConstantTimeCompare([]byte(hash), []byte(hashToken(static))) == 1 {
		return nil
	}
	_, err := h.d.Store.UseInitialAccessToken(ctx, hash, h.d.Now())
	if errors.Is(err, store.ErrNotFound) {
		return invalidInitialAccessToken()
	}
	return err
}

func invalidInitialAccessToken() *oautherr.Error {
	return tokenError(oautherr.InvalidToken, "the initial access token is unknown, expired or used up")
}
