package authserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssf"
)

// newSharedSignals connects the Shared Signals transmitter (revocations streamed to remote
// gateways) to this server: its client authentication, its signing keys and the store's
// revocation event log. nil when it is off.
//
// Its event watcher also serves this server's own in-process gateways: a wake-up means some
// instance sharing the store revoked something, so cached in-process validations are dropped
// (the next validation re-reads the store, which knows the revocation).
func (s *Server) newSharedSignals() (*ssf.Server, error) {
	if !s.cfg.SharedSignals.On() {
		return nil, nil
	}
	return ssf.New(s.cfg.SharedSignals, ssf.Deps{
		Issuer:     s.cfg.Issuer,
		JWKSURI:    s.endpoint(pathJWKS),
		Auth:       s.authenticateGateway,
		Signer:     s.keys,
		SigningAlg: s.setSigningAlg(),
		Store:      s.st,
		OnEvents:   s.clearGateway,
		Now:        s.now,
		Logger:     s.log.Named("shared_signals"),
	})
}

// setSigningAlg is the alg of Security Event Tokens: the default ID token alg, which every
// OIDC library verifies, when the server keeps a key for it; else the access token alg.
func (s *Server) setSigningAlg() string {
	if slices.Contains(s.cfg.SigningAlgs, DefaultIDTokenSigningAlg) {
		return DefaultIDTokenSigningAlg
	}
	return s.cfg.AccessTokenSigningAlg
}

// authenticateGateway authenticates a Shared Signals caller: HTTP Basic with a client's ID and
// secret (the bodies are JSON, so the form-based methods cannot apply), checked by the
// server's client authenticator; and the client must be a resource server's, that is
// introspect some resource's tokens (ClientConfig.Introspects).
func (s *Server) authenticateGateway(r *http.Request) (string, error) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", ssf.ErrUnauthenticated
	}
	// Only the header counts: a JSON body has no form.
	r.PostForm = nil
	client, err := s.auth.Authenticate(r, s.endpoint("/ssf"), []string{clientauth.MethodSecretBasic})
	if err != nil {
		if e := oautherr.As(err); e.Status >= http.StatusInternalServerError {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ssf.ErrUnauthenticated, err)
	}
	gateway, err := s.isGateway(r, client.ID)
	switch {
	case err != nil:
		return "", err
	case !gateway:
		return "", fmt.Errorf("%w: client %q introspects no resource", ssf.ErrForbidden, client.ID)
	}
	return client.ID, nil
}

// isGateway reports whether the client may introspect the tokens of at least one resource
// (cached like every link answer, dropped on changes).
func (s *Server) isGateway(r *http.Request, clientID string) (bool, error) {
	return s.lookups.link("gateway\x00"+clientID, func() (bool, error) {
		links, err := s.st.ListClientResources(r.Context(), clientID)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(links, func(l *store.ClientResource) bool { return l.Introspect }), nil
	})
}
