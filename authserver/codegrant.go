package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// badCode is the one answer for every unusable code, so a caller learns nothing about codes
// that are not its own.
var badCode = oautherr.New(oautherr.InvalidGrant, "the authorization code is invalid, expired or already used")

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6), OIDC Core §3.1.3 and
// DPoP code binding (RFC 9449 §10).
//
// Order: the code is read and checked against what only its rightful redeemer holds
// (checkCodeRedeemer) before anything is spent; then the DPoP proof is spent, then the code.
// So a request failing those checks changes nothing: it neither burns the code, nor revokes
// the grant of a used one, nor fills the DPoP replay store. A proof refused when it is spent
// (a replayed jti, a full replay store, its backend down) is refused before the code is
// consumed, so the client's retry with a fresh proof or nonce redeems the same code; an
// exact replay of a whole earlier request is refused for its proof and revokes nothing.
func (s *Server) authorizationCodeGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	code := formValue(r.PostForm, "code")
	if code == "" {
		return nil, oautherr.Request("code is required")
	}
	if len(code) > maxTokenLen {
		return nil, badCode
	}
	proof, err := s.tokenProof(r, client.DPoPBoundAccessTokens)
	if err != nil {
		return nil, err
	}
	jkt := proofJKT(proof)
	hash := hashToken(code)
	c, err := s.st.GetAuthorizationCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badCode
	} else if err != nil {
		return nil, err
	}
	if err := checkCodeRedeemer(r, client, c, jkt); err != nil {
		return nil, err
	}
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	c, err = s.st.ConsumeAuthorizationCode(ctx, hash, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound): // expired and cleaned up since it was read
		return nil, badCode
	case errors.Is(err, store.ErrAlreadyUsed):
		// RFC 6749 §4.1.2: a code used twice means it leaked; revoke what the first use got.
		// Only a request that passed checkCodeRedeemer gets here, so another client (or anyone
		// without the verifier) presenting a stolen code cannot revoke its owner's grant.
		s.log.Warn("authorization code replayed: revoking its grant",
			zap.String("client_id", c.ClientID), zap.String("grant", c.GrantID))
		if err := s.revokeCodeGrant(ctx, c); err != nil {
			return nil, err
		}
		return nil, badCode
	case err != nil:
		return nil, err
	}
	if !s.now().Before(c.ExpiresAt) {
		return nil, badCode
	}
	g := &store.Grant{
		ID:        c.GrantID,
		ClientID:  client.ID,
		Subject:   c.Subject,
		SessionID: c.SessionID,
		Scopes:    c.Scopes,
		Resources: c.Resources,
		AuthTime:  c.AuthTime,
		AMR:       c.AMR,
		ACR:       c.ACR,
		Claims:    c.Claims,
		CreatedAt: s.now(),
		ExpiresAt: s.now().Add(s.grantTTL(ctx, c.Resources)),
	}
	if client.TokenEndpointAuthMethod == "none" {
		// RFC 9449 §5 and RFC 8705 §4: a public client's refresh tokens are bound to its
		// DPoP key and its TLS client certificate.
		g.JKT = jkt
		g.X5TS256 = s.tokenCertBinding(r, client)
	}
	if err := s.st.CreateGrant(ctx, g); errors.Is(err, store.ErrConflict) {
		// The code's own client replayed it between ConsumeAuthorizationCode and here, leaving
		// a revoked tombstone with this grant's ID. This request still won the code, so it is answered as if the
		// replay had come a moment later: its tokens are issued under the revoked grant and are
		// born revoked (the store revokes what is issued under a revoked grant).
		s.log.Warn("authorization code replayed during its redemption: its tokens are revoked",
			zap.String("client_id", client.ID), zap.String("grant", g.ID))
	} else if err != nil {
		return nil, err
	}
	resp, refresh, err := s.issueUserTokens(ctx, r, client, g, nil, g.Scopes, c.Nonce, jkt)
	if err != nil {
		return nil, err
	}
	if refresh != nil {
		if err := s.st.CreateRefreshToken(ctx, refresh); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// revokeCodeGrant revokes the grant a replayed code created. The first redemption may not
// have created it yet (a replay racing it): then a revoked tombstone takes the grant's ID, so
// the first redemption's CreateGrant conflicts and it fails as well.
func (s *Server) revokeCodeGrant(ctx context.Context, c *store.AuthorizationCode) error {
	tomb := &store.Grant{ID: c.GrantID, ClientID: c.ClientID, Subject: c.Subject, SessionID: c.SessionID,
		CreatedAt: s.now(), ExpiresAt: s.now().Add(s.cfg.RefreshTokenTTL), Revoked: true}
	err := s.st.CreateGrant(ctx, tomb)
	if errors.Is(err, store.ErrConflict) {
		return s.revokeGrant(ctx, c.GrantID)
	}
	return err
}

// checkCodeRedeemer checks that the request could redeem c: the code was issued to this
// client, and the request repeats the authorization's redirect_uri and proves possession of
// its PKCE verifier and dpop_jkt key. Another client learns only badCode.
func checkCodeRedeemer(r *http.Request, client *store.Client, c *store.AuthorizationCode, jkt string) error {
	if c.ClientID != client.ID {
		return badCode
	}
	if redirect := formValue(r.PostForm, "redirect_uri"); c.RedirectURI != "" && redirect != c.RedirectURI {
		return oautherr.New(oautherr.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	if err := checkCodeVerifier(c, formValue(r.PostForm, "code_verifier")); err != nil {
		return err
	}
	if c.DPoPJKT != "" && jkt != c.DPoPJKT {
		return oautherr.New(oautherr.InvalidGrant, "the DPoP key differs from the dpop_jkt of the authorization request")
	}
	return nil
}

// grantTTL is how long a grant's refresh tokens may live: the server's refresh_token_ttl, or
// the shortest refresh_token_ttl of the granted resources that set one (per-resource policy).
func (s *Server) grantTTL(ctx context.Context, resources []string) time.Duration {
	ttl := s.cfg.RefreshTokenTTL
	for _, id := range resources {
		res, err := s.lookups.resourceByIdentifier(ctx, id)
		if err == nil && res.RefreshTokenTTL != nil && *res.RefreshTokenTTL > 0 {
			ttl = min(ttl, time.Duration(*res.RefreshTokenTTL)*time.Second)
		}
	}
	return ttl
}

// checkCodeVerifier is RFC 7636 §4.6, plus RFC 9700 §4.8.2: a verifier for a code issued
// without a challenge is a downgrade attempt and fails too.
func checkCodeVerifier(c *store.AuthorizationCode, verifier string) error {
	if c.CodeChallenge == "" {
		if verifier != "" {
			return oautherr.New(oautherr.InvalidGrant, "code_verifier sent for a code issued without code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return oautherr.New(oautherr.InvalidGrant, "code_verifier is required")
	}
	if !validPKCEValue(verifier) {
		return oautherr.New(oautherr.InvalidGrant, "code_verifier is malformed")
	}
	want := verifier
	if c.CodeChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.CodeChallenge)) != 1 {
		return oautherr.New(oautherr.InvalidGrant, "code_verifier does not match code_challenge")
	}
	return nil
}

// issueUserTokens mints the access token (and, as the grant allows, refresh and ID tokens) of
// a user grant with the given scopes. acc is the grant's account when the caller has read it
// already, else nil. It returns the response and the refresh token row, not yet stored, for
// the caller to store or rotate in.
func (s *Server) issueUserTokens(ctx context.Context, r *http.Request, client *store.Client, g *store.Grant, acc *store.Account, scopes []string, nonce, jkt string) (*tokenResponse, *store.RefreshToken, error) {
	res, err := s.userTokenResource(ctx, client, g, r.PostForm["resource"])
	if err != nil {
		return nil, nil, err
	}
	if res != nil && res.DPoPBoundAccessTokensRequired && jkt == "" {
		return nil, nil, oautherr.New(oautherr.InvalidDPoPProof, "the resource requires DPoP-bound access tokens")
	}
	openid := slices.Contains(scopes, "openid")
	resp, err := s.issueAccessToken(ctx, accessTokenRequest{
		client:    client,
		subject:   s.subjectFor(client, g.Subject),
		resource:  res,
		scopes:    accessScopes(scopes, res),
		jkt:       jkt,
		x5t:       s.tokenCertBinding(r, client),
		grantID:   g.ID,
		sessionID: g.SessionID,
		userinfo:  openid,
		grantType: formValue(r.PostForm, "grant_type"),
		// The account's own subject, for its account_claims and claim contributors.
		accountSubject: g.Subject,
	})
	if err != nil {
		return nil, nil, err
	}
	// The response's scope is what was granted (RFC 6749 §5.1), not one token's share of it.
	resp.Scope = joinScopes(scopes)
	var next *store.RefreshToken
	if slices.Contains(client.GrantTypes, "refresh_token") && (slices.Contains(scopes, "offline_access") || client.RefreshWithoutOfflineAccess) {
		value := newTokenValue()
		next = &store.RefreshToken{
			Hash:      hashToken(value),
			GrantID:   g.ID,
			Scopes:    scopes,
			CreatedAt: s.now(),
			ExpiresAt: g.ExpiresAt,
		}
		resp.RefreshToken = value
	}
	if openid {
		if resp.IDToken, err = s.issueIDToken(ctx, client, g, acc, nonce, resp.AccessToken); err != nil {
			return nil, nil, err
		}
	}
	return resp, next, nil
}

// userTokenResource picks the resource of an access token from a user grant: the requested
// one among those granted (RFC 8707 §2.2), else the client's default_resource if granted, else
// the first granted, else the client's default resource, else none (a token for the userinfo
// endpoint only).
func (s *Server) userTokenResource(ctx context.Context, client *store.Client, g *store.Grant, requested []string) (*store.Resource, error) {
	switch {
	case len(requested) > 1:
		return nil, oautherr.New(oautherr.InvalidTarget, "request one resource per access token")
	case len(requested) == 1:
		if !slices.Contains(g.Resources, requested[0]) {
			return nil, oautherr.New(oautherr.InvalidTarget, "the resource was not part of the authorization")
		}
		return s.resolveResource(ctx, client, requested)
	case slices.Contains(g.Resources, client.DefaultResource):
		return s.resolveResource(ctx, client, []string{client.DefaultResource})
	case len(g.Resources) > 0:
		return s.resolveResource(ctx, client, g.Resources[:1])
	}
	res, err := s.defaultResource(ctx, client)
	var unusable *oautherr.Error
	if errors.As(err, &unusable) {
		return nil, nil // no default resource: a userinfo-only token
	}
	return res, err
}

// accessScopes is the share of the granted scopes an access token for res carries: the
// resource's scopes it accepts, plus the identity scopes the userinfo endpoint reads.
func accessScopes(granted []string, res *store.Resource) []string {
	var out []string
	for _, sc := range granted {
		switch {
		case sc == "offline_access":
		case isIdentityScope(sc):
			out = append(out, sc)
		case res != nil && allowedBy(res.AllowedScopes, sc):
			out = append(out, sc)
		}
	}
	return out
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

// revokeGrant revokes a grant's tokens and drops this server's cached in-process validations,
// which may hold them.
func (s *Server) revokeGrant(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.st.RevokeGrant(ctx, id); err != nil {
		return err
	}
	s.clearGateway()
	return nil
}
