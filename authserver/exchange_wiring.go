package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
)

// Grants on tokens from elsewhere: token exchange (RFC 8693, package exchange) and the JWT
// bearer grant (RFC 7523, package jwtbearer), over the trusted external issuers (package
// trust). This file gives them the server's rules and mints their tokens.

// trustDefaults checks the trusted issuers and the two grants' policies.
func (c *Config) trustDefaults() error {
	trusted := map[string]bool{}
	for _, is := range c.TrustedIssuers {
		if err := is.Validate(); err != nil {
			return err
		}
		if trusted[is.Issuer] {
			return fmt.Errorf("trusted_issuer %q: declared twice", is.Issuer)
		}
		if is.Issuer == c.Issuer {
			return fmt.Errorf("trusted_issuer %q: this server's own tokens are always trusted", is.Issuer)
		}
		trusted[is.Issuer] = true
	}
	seen := map[string]bool{}
	for i := range c.JWTBearer {
		p := &c.JWTBearer[i]
		if err := p.Validate(trusted[p.Issuer]); err != nil {
			return err
		}
		if seen[p.Issuer] {
			return fmt.Errorf("jwt_bearer of %q: declared twice", p.Issuer)
		}
		seen[p.Issuer] = true
	}
	return c.TokenExchange.Validate(func(iss string) bool { return trusted[iss] })
}

// setupTrust builds the trusted issuers and the grants that use them (nil when off).
func (s *Server) setupTrust() error {
	var err error
	if s.trusted, err = trust.New(s.cfg.TrustedIssuers, s.cfg.OutboundAllowPrivate, s.now); err != nil {
		return err
	}
	if len(s.cfg.JWTBearer) > 0 {
		policies := make(map[string]jwtbearer.Policy, len(s.cfg.JWTBearer))
		for _, p := range s.cfg.JWTBearer {
			policies[p.Issuer] = p
		}
		s.jwtBearer = &jwtbearer.Grant{Trust: s.trusted, Policies: policies, Audience: s.cfg.Issuer, Replay: s.st, Now: s.now}
	}
	if s.cfg.TokenExchange.Enabled() {
		s.exchange = &exchange.Exchange{Policy: s.cfg.TokenExchange, Core: exchangeCore{s}}
	}
	return nil
}

// addTrustGrants serves the grants that are on.
func (s *Server) addTrustGrants(grants map[string]grantHandler) {
	if s.jwtBearer != nil {
		grants[jwtbearer.GrantType] = s.jwtBearerGrant
	}
	if s.exchange != nil {
		grants[exchange.GrantType] = s.tokenExchangeGrant
	}
}

// jwtBearerGrant is RFC 7523 §2.1. The assertion is checked, then the resource and scopes,
// and only then is its jti spent: a request refused for its resource leaves the assertion
// usable for a corrected retry.
func (s *Server) jwtBearerGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	a, err := s.jwtBearer.Check(ctx, client.ID, formValue(r.PostForm, "assertion"))
	if err != nil {
		return nil, err
	}
	p := a.Policy
	res, err := s.resolveResource(ctx, client, r.PostForm["resource"])
	if err != nil {
		return nil, err
	}
	if p.Resources != nil && !slices.Contains(p.Resources, res.Identifier) {
		return nil, oautherr.New(oautherr.InvalidTarget, "the issuer's assertions may not obtain tokens for this resource")
	}
	scopes, err := boundedScopes(formValue(r.PostForm, "scope"), client, res, p.Scopes, p.Subject == jwtbearer.SubjectAccount)
	if err != nil {
		return nil, err
	}
	req := accessTokenRequest{client: client, resource: res, scopes: scopes, grantType: jwtbearer.GrantType}
	switch p.Subject {
	case jwtbearer.SubjectAccount:
		acc, err := s.accounts.Account(ctx, a.Token.Subject)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
			return nil, oautherr.New(oautherr.InvalidGrant, "the assertion's subject has no active account")
		} else if err != nil {
			return nil, err
		}
		req.subject, req.accountSubject = s.subjectFor(client, acc.Subject), acc.Subject
		req.userinfo = slices.Contains(scopes, "openid")
	case jwtbearer.SubjectClient:
		req.subject = client.ID
	default:
		req.subject = a.Token.Subject
	}
	proof, err := s.tokenProof(r, res.DPoPBoundAccessTokensRequired || client.DPoPBoundAccessTokens)
	if err != nil {
		return nil, err
	}
	if err := s.jwtBearer.Spend(ctx, a); err != nil {
		return nil, err
	}
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	req.jkt, req.x5t = proofJKT(proof), s.tokenCertBinding(r, client)
	s.log.Info("jwt bearer assertion accepted", zap.String("client_id", client.ID), zap.String("assertion_iss", a.Token.Issuer))
	return s.issueAccessToken(ctx, req)
}

// boundedScopes is grantScopes within a policy's scopes (nil: no bound). Without a scope
// parameter the defaults are narrowed to the bound rather than refused. For a user's token
// (user), OIDC's identity scopes (openid, profile …) are for the userinfo endpoint and need
// no place in the resource's allowlist, as in the code flow.
func boundedScopes(param string, client *store.Client, res *store.Resource, bound []string, user bool) ([]string, error) {
	var scopes []string
	var err error
	if user {
		scopes, err = userScopes(param, client, res)
	} else {
		scopes, err = grantScopes(param, client, res)
	}
	if err != nil || bound == nil {
		return scopes, err
	}
	if strings.TrimSpace(param) == "" {
		return slices.DeleteFunc(scopes, func(sc string) bool { return !slices.Contains(bound, sc) }), nil
	}
	for _, sc := range scopes {
		if !slices.Contains(bound, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the grant's policy does not allow")
		}
	}
	return scopes, nil
}

// userScopes checks a requested scope for a user's token: the client's allowlist, and the
// resource's for every scope that is not an identity scope.
func userScopes(param string, client *store.Client, res *store.Resource) ([]string, error) {
	requested, ok := parseScope(param)
	if !ok {
		return nil, oautherr.New(oautherr.InvalidScope, "scope is malformed")
	}
	if len(requested) == 0 {
		return defaultScopes(client.Scopes, res.AllowedScopes), nil
	}
	for _, sc := range requested {
		if !allowedBy(client.Scopes, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the client may not request")
		}
		if !isIdentityScope(sc) && !allowedBy(res.AllowedScopes, sc) {
			return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope the resource does not accept")
		}
	}
	return requested, nil
}

// tokenExchangeGrant is RFC 8693 §2: the subject (and actor) token checked and matched to
// the policy's rules, the target resource and the scopes checked against the rules, the
// subject token's scopes and the client's own allowlists; the new token inherits the subject
// token's grant and session (revoking them revokes it) and never outlives it.
func (s *Server) tokenExchangeGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	req, err := exchange.ParseRequest(r.PostForm)
	if err != nil {
		return nil, err
	}
	return s.exchangeToken(ctx, client, req, func(res *store.Resource) (string, string, error) {
		proof, err := s.tokenProof(r, res.DPoPBoundAccessTokensRequired || client.DPoPBoundAccessTokens)
		if err != nil {
			return "", "", err
		}
		if err := s.recordTokenProof(ctx, proof); err != nil {
			return "", "", err
		}
		return proofJKT(proof), s.tokenCertBinding(r, client), nil
	})
}

// binder binds the new token to the caller's DPoP key or certificate (jkt, x5t), once the
// target resource is known; it checks the resource's demands.
type binder func(res *store.Resource) (jkt, x5t string, err error)

// exchangeToken decides req for client and mints the new token.
func (s *Server) exchangeToken(ctx context.Context, client *store.Client, req *exchange.Request, bind binder) (*tokenResponse, error) {
	acc, err := s.exchange.Decide(ctx, client.ID, req)
	if err != nil {
		return nil, err
	}
	if acc.Subject.Expiry.Sub(s.now()) < time.Second {
		return nil, oautherr.Request("the subject_token expires now")
	}
	res, err := s.resolveResource(ctx, client, req.Targets)
	if err != nil {
		return nil, err
	}
	rules := slices.DeleteFunc(slices.Clone(acc.Rules), func(rule exchange.Rule) bool { return !rule.AllowsResource(res.Identifier) })
	if len(rules) == 0 {
		return nil, oautherr.New(oautherr.InvalidTarget, "the token exchange policy does not allow this resource")
	}
	if req.RequestedTokenType == exchange.TypeJWT && s.accessFormat(res) != store.FormatJWT {
		return nil, oautherr.New(oautherr.InvalidTarget, "the resource's access tokens are opaque: request an access_token")
	}
	scopes, err := s.exchangeScopes(req.Scope, client, res, rules, acc.Subject)
	if err != nil {
		return nil, err
	}
	jkt, x5t, err := bind(res)
	if err != nil {
		return nil, err
	}
	subject := acc.Subject.Subject
	if acc.Subject.AccountSubject != "" {
		subject = s.subjectFor(client, acc.Subject.AccountSubject) // the user as this client sees them
	}
	tr := accessTokenRequest{client: client, subject: subject, resource: res, scopes: scopes,
		jkt: jkt, x5t: x5t, grantType: exchange.GrantType,
		grantID: acc.Subject.GrantID, sessionID: acc.Subject.SessionID, accountSubject: acc.Subject.AccountSubject,
		notAfter: acc.Subject.Expiry}
	if acc.Act != nil {
		tr.claims = map[string]any{"act": acc.Act}
	}
	resp, err := s.issueAccessToken(ctx, tr)
	if err != nil {
		return nil, err
	}
	resp.IssuedTokenType = req.IssuedType()
	s.log.Info("token exchanged", zap.String("client_id", client.ID), zap.String("resource", res.Identifier),
		zap.String("subject_iss", acc.Subject.Issuer), zap.Bool("delegated", acc.Actor != nil))
	return resp, nil
}

// exchangeScopes are the new token's scopes: those requested (or, when none are, the subject
// token's that the resource accepts), within the client's and the resource's allowlists, the
// subject token's scopes, and one of the rules.
func (s *Server) exchangeScopes(param string, client *store.Client, res *store.Resource, rules []exchange.Rule, subject *exchange.Token) ([]string, error) {
	var scopes []string
	if strings.TrimSpace(param) == "" && subject.Scopes != nil {
		for _, sc := range subject.Scopes {
			if sc != "offline_access" && allowedBy(client.Scopes, sc) && (isIdentityScope(sc) || allowedBy(res.AllowedScopes, sc)) {
				scopes = append(scopes, sc)
			}
		}
	} else {
		var err error
		if scopes, err = grantScopes(param, client, res); err != nil {
			return nil, err
		}
	}
	for _, rule := range rules {
		if rule.AllowsScopes(scopes, subject) {
			return scopes, nil
		}
	}
	return nil, oautherr.New(oautherr.InvalidScope, "the requested scope exceeds the subject_token's or the token exchange policy's")
}

// exchangeCore validates subject and actor tokens for package exchange.
type exchangeCore struct{ s *Server }

// AccessToken accepts an active access token of this server.
func (c exchangeCore) AccessToken(ctx context.Context, token string) (*exchange.Token, error) {
	info, err := c.s.ActiveAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errors.New("not an active access token")
	}
	t := &exchange.Token{Issuer: exchange.SelfIssuer, Subject: info.Subject, Scopes: strings.Fields(info.Scope),
		Expiry: info.ExpiresAt}
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	t.Act, _ = info.Claims["act"].(map[string]any)
	t.MayAct, _ = info.Claims["may_act"].(map[string]any)
	t.GrantID, _ = info.Claims["grant_id"].(string)
	t.SessionID, _ = info.Claims["sid"].(string)
	if t.GrantID != "" {
		// A user's token: its grant knows the account behind the (maybe pairwise) sub.
		g, err := c.s.st.GetGrant(ctx, t.GrantID)
		if err != nil || g.Revoked {
			return nil, errors.New("the token's grant is gone")
		}
		t.AccountSubject = g.Subject
	}
	return t, nil
}

// IDToken accepts an unexpired ID token of this server, to any client.
func (c exchangeCore) IDToken(ctx context.Context, token string) (*exchange.Token, error) {
	claims, err := c.s.verifyIDToken(token)
	if err != nil {
		return nil, err
	}
	if claims.Expiry == 0 || !c.s.now().Before(time.Unix(claims.Expiry, 0)) {
		return nil, errors.New("the ID token has expired")
	}
	auds := claims.audiences()
	if len(auds) == 0 {
		return nil, errors.New("the ID token has no audience")
	}
	to, err := c.s.lookups.GetClient(ctx, auds[0])
	if err != nil {
		return nil, err
	}
	local, ok := c.s.localSubject(to, claims.Subject)
	if !ok {
		return nil, errors.New("the ID token's subject is not one of ours")
	}
	if _, err := c.s.accounts.Account(ctx, local); err != nil {
		return nil, err // gone or disabled since
	}
	return &exchange.Token{Issuer: exchange.SelfIssuer, Subject: claims.Subject, AccountSubject: local,
		SessionID: claims.SID, Expiry: time.Unix(claims.Expiry, 0)}, nil
}

// ExternalJWT accepts a JWT of a trusted issuer whose aud names this server.
func (c exchangeCore) ExternalJWT(ctx context.Context, token string) (*exchange.Token, error) {
	t, err := c.s.trusted.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if !t.HasAudience(c.s.cfg.Issuer) {
		return nil, errors.New("the token's aud does not name this server")
	}
	out := &exchange.Token{Issuer: t.Issuer, Subject: t.Subject, Expiry: t.Expiry}
	if scope, ok := t.Claims["scope"].(string); ok {
		out.Scopes = strings.Fields(scope)
	}
	out.Act, _ = t.Claims["act"].(map[string]any)
	out.MayAct, _ = t.Claims["may_act"].(map[string]any)
	return out, nil
}

// ExchangedToken is a token ExchangeToken minted.
type ExchangedToken struct {
	AccessToken string
	ExpiresAt   time.Time
}

// ExchangeToken exchanges subjectToken (an access token of this server or a JWT of a trusted
// issuer) for a Bearer access token to resource, for a gateway in the same process acting as
// clientID: the token exchange policy's rules for that client apply as at the token endpoint,
// without client authentication (the gateway's configuration names the client). An OAuth
// refusal is an *oautherr.Error.
func (s *Server) ExchangeToken(ctx context.Context, clientID, subjectToken, resource string, scopes []string) (*ExchangedToken, error) {
	if s.exchange == nil {
		return nil, oautherr.New(oautherr.UnsupportedGrantType, "token exchange has no rules on this server")
	}
	client, err := s.lookups.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && client.Disabled {
		return nil, oautherr.New(oautherr.InvalidClient, "the exchanging client is unknown or disabled")
	} else if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, exchange.GrantType) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client is not allowed to use token exchange")
	}
	typ := exchange.TypeAccessToken
	if strings.Count(subjectToken, ".") == 2 {
		typ = exchange.TypeJWT // ours or a trusted issuer's: exchange tells them apart
	}
	req := &exchange.Request{SubjectToken: subjectToken, SubjectTokenType: typ, Scope: strings.Join(scopes, " ")}
	if resource != "" {
		req.Targets = []string{resource}
	}
	resp, err := s.exchangeToken(ctx, client, req, func(res *store.Resource) (string, string, error) {
		if res.DPoPBoundAccessTokensRequired || client.DPoPBoundAccessTokens {
			return "", "", oautherr.New(oautherr.InvalidTarget, "the resource takes only DPoP-bound tokens, which an in-process exchange cannot bind")
		}
		return "", "", nil
	})
	if err != nil {
		return nil, err
	}
	return &ExchangedToken{AccessToken: resp.AccessToken, ExpiresAt: s.now().Add(time.Duration(resp.ExpiresIn) * time.Second)}, nil
}
