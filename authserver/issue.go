package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/opaquetoken"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// accessTokenRequest is what a grant decided; issueAccessToken turns it into a token under the
// resource's policy.
type accessTokenRequest struct {
	client   *store.Client
	subject  string
	resource *store.Resource
	scopes   []string
	// jkt binds the token to a DPoP key (RFC 9449 §6); empty for a Bearer token.
	jkt string
	// x5t binds the token to a TLS client certificate (RFC 8705 §3, its x5t#S256); empty
	// when unbound. Both bindings may be set: the token then needs both.
	x5t string
	// grantID names the user grant the token belongs to (empty for client credentials):
	// revoking the grant revokes the token.
	grantID string
	// sessionID is the login session of the grant (sid), if it has one: ending the session
	// revokes the token.
	sessionID string
	// userinfo adds the userinfo endpoint to the audience (the openid scope was granted).
	userinfo bool
	// grantType names the grant the token is issued by (told to claim contributors).
	grantType string
	// accountSubject is the account's own subject for a user's token (subject may be its
	// pairwise form); empty for a token a client holds for itself.
	accountSubject string
	// claims are claims this token carries beyond the resource's: an extension grant's
	// (reserved ones already dropped) or token exchange's act (extension_wiring.go).
	claims map[string]any
	// notAfter, when set, caps the token's expiry: an exchanged token never outlives the
	// token it was exchanged for.
	notAfter time.Time
}

// tokenResponse is the successful token endpoint response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is token exchange's (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`

	// jti and exp of the access token (JWT or sealed opaque), to revoke it if the response
	// is never delivered.
	jti string
	exp time.Time
}

// accessTokenClaims are the RFC 9068 claims of a JWT access token. Custom claims of the
// resource are merged in beside them (reserved names were stripped at seeding).
type accessTokenClaims struct {
	Issuer   string        `json:"iss"`
	Subject  string        `json:"sub"`
	Audience audience      `json:"aud"`
	Expiry   int64         `json:"exp"`
	IssuedAt int64         `json:"iat"`
	JTI      string        `json:"jti"`
	ClientID string        `json:"client_id"`
	Scope    string        `json:"scope,omitempty"`
	Cnf      *confirmation `json:"cnf,omitempty"`
	// GrantID and SID name the grant and login session the token was issued under, so that a
	// gateway told of a revoked grant or ended session (Shared Signals) can match the token.
	GrantID string `json:"grant_id,omitempty"`
	SID     string `json:"sid,omitempty"`
}

// audience is the aud claim: a string for one audience (what most resource servers expect),
// an array for several (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// confirmation is the RFC 7800 cnf claim.
type confirmation struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// newTokenValue returns 256 random bits, base64url: the value of opaque tokens.
func newTokenValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newJTI returns 128 random bits, base64url: unique enough for token ids.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how opaque token values are stored and looked up.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// accessTTL resolves the resource's access token TTL against the server default.
func (s *Server) accessTTL(r *store.Resource) time.Duration {
	if r.AccessTokenTTL != nil && *r.AccessTokenTTL > 0 {
		return time.Duration(*r.AccessTokenTTL) * time.Second
	}
	return s.cfg.AccessTokenTTL
}

func (s *Server) accessFormat(r *store.Resource) string {
	if r.AccessTokenFormat != "" {
		return r.AccessTokenFormat
	}
	return s.cfg.AccessTokenFormat
}

func (s *Server) accessAlg(r *store.Resource) string {
	if r.SigningAlg != "" {
		return r.SigningAlg
	}
	return s.cfg.AccessTokenSigningAlg
}

// issueAccessToken mints a JWT or opaque access token for req under its resource's policy.
func (s *Server) issueAccessToken(ctx context.Context, req accessTokenRequest) (*tokenResponse, error) {
	if req.resource == nil {
		// Only the userinfo endpoint: a token of the server's default policy for it.
		req.resource = &store.Resource{Identifier: s.endpoint(pathUserinfo)}
		req.userinfo = false
	}
	aud := audience{req.resource.Identifier}
	if req.userinfo {
		aud = append(aud, s.endpoint(pathUserinfo))
	}
	now := s.now()
	ttl := s.accessTTL(req.resource)
	if !req.notAfter.IsZero() && req.notAfter.Sub(now) < ttl {
		ttl = req.notAfter.Sub(now).Truncate(time.Second)
	}
	exp := now.Add(ttl)
	scope := strings.Join(req.scopes, " ")
	resp := &tokenResponse{TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: scope}
	if req.jkt != "" {
		resp.TokenType = "DPoP"
	}

	perToken, err := s.tokenClaims(ctx, req)
	if err != nil {
		return nil, err
	}
	if s.accessFormat(req.resource) == store.FormatOpaque {
		extra := req.resource.CustomClaims
		if perToken != nil {
			extra = perToken
		}
		// Sealed: the token carries its facts, so issuing it writes nothing (package opaquetoken).
		jti := newJTI()
		value, err := s.opaque.Seal(&opaquetoken.Claims{
			JTI:        jti,
			ClientID:   req.client.ID,
			Subject:    req.subject,
			ResourceID: req.resource.ID,
			Audience:   aud,
			Scope:      scope,
			JKT:        req.jkt,
			X5TS256:    req.x5t,
			GrantID:    req.grantID,
			SessionID:  req.sessionID,
			Extra:      extra,
			IssuedAt:   now.UnixMilli(),
			ExpiresAt:  exp.UnixMilli(),
		})
		if err != nil {
			return nil, err
		}
		resp.AccessToken = value
		resp.jti, resp.exp = jti, exp
		s.issued(req, store.FormatOpaque, zap.String("jti", jti))
		return resp, nil
	}

	claims := accessTokenClaims{
		Issuer:   s.cfg.Issuer,
		Subject:  req.subject,
		Audience: aud,
		Expiry:   exp.Unix(),
		IssuedAt: now.Unix(),
		JTI:      newJTI(),
		ClientID: req.client.ID,
		Scope:    scope,
		GrantID:  req.grantID,
		SID:      req.sessionID,
	}
	if req.jkt != "" || req.x5t != "" {
		claims.Cnf = &confirmation{JKT: req.jkt, X5TS256: req.x5t}
	}
	base, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	extra, err := s.customClaimsFragment(req.resource)
	if err != nil {
		return nil, err
	}
	if perToken != nil {
		// Claims of this token alone: encoded per token, the resource's among them.
		if extra, err = json.Marshal(perToken); err != nil {
			return nil, err
		}
		extra = extra[1 : len(extra)-1]
	}
	payload := appendExtraClaims(base, extra)
	alg := s.accessAlg(req.resource)
	token, err := s.keys.Sign(alg, req.resource.SigningKeyID, "at+jwt", payload)
	if errors.Is(err, keys.ErrNoKey) && req.resource.SigningKeyID != "" {
		// The pinned key was retired or never existed here: sign with the current key of the
		// same alg rather than fail every request; the operator learns from the log.
		s.log.Warn("resource pins a signing key that cannot sign; using the current key",
			zap.String("resource", req.resource.Identifier), zap.String("kid", req.resource.SigningKeyID))
		token, err = s.keys.Sign(alg, "", "at+jwt", payload)
	}
	if err != nil {
		return nil, err
	}
	if req.grantID != "" {
		// Remember the jti so that revoking the grant (code replay, refresh reuse, logout)
		// revokes this self-contained token too.
		if err := s.st.RecordGrantJTI(ctx, req.grantID, claims.JTI, exp); err != nil {
			return nil, err
		}
	}
	resp.AccessToken = token
	resp.jti, resp.exp = claims.JTI, exp
	s.issued(req, store.FormatJWT, zap.String("jti", claims.JTI))
	return resp, nil
}

// issued counts and audits an access token just issued.
func (s *Server) issued(req accessTokenRequest, format string, ref zap.Field) {
	bound := binding(req.jkt, req.x5t)
	s.observer.TokenIssued(TokenIssued{GrantType: req.grantType, Resource: req.resource.Identifier,
		Format: format, Binding: bound, ClientID: req.client.ID})
	s.audit.Event(audit.TokenIssued, zap.String("client_id", req.client.ID), zap.String("sub", req.subject),
		zap.String("resource", req.resource.Identifier), zap.String("grant_type", req.grantType),
		zap.String("format", format), zap.String("binding", bound), ref)
}

// appendExtraClaims merges a pre-encoded claims fragment (`"a":1,"b":"x"`) into the JSON
// object base. The registered claims cannot clash: reserved names were stripped at seeding.
func appendExtraClaims(base, fragment []byte) []byte {
	if len(fragment) == 0 {
		return base
	}
	out := make([]byte, 0, len(base)+1+len(fragment))
	out = append(out, base[:len(base)-1]...) // drop the closing brace
	out = append(out, ',')
	out = append(out, fragment...)
	return append(out, '}')
}

// customClaimsFragment returns the resource's custom claims encoded once as an object body
// without braces, cached per resource version: re-encoding a map per token costs more than
// the rest of the claims together.
func (s *Server) customClaimsFragment(r *store.Resource) ([]byte, error) {
	if len(r.CustomClaims) == 0 {
		return nil, nil
	}
	if c, ok := s.claimFragments.Load(r.ID); ok {
		if c := c.(claimFragment); c.updatedAt.Equal(r.UpdatedAt) {
			return c.fragment, nil
		}
	}
	claims, _ := manage.StripReservedClaims(r.CustomClaims) // rows edited outside seeding, too
	obj, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	fragment := obj[1 : len(obj)-1]
	s.claimFragments.Store(r.ID, claimFragment{updatedAt: r.UpdatedAt, fragment: fragment})
	return fragment, nil
}

type claimFragment struct {
	updatedAt time.Time
	fragment  []byte
}
