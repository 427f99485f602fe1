package authserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/opaquetoken"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// maxTokenLen bounds the token parameter; our tokens are far shorter.
const maxTokenLen = 8 << 10

// tokenInfo is what the server knows about one of its active access tokens.
type tokenInfo struct {
	jwt        bool
	hash       string // opaque tokens stored as rows only: sealed ones and JWTs go by jti
	clientID   string
	subject    string
	scope      string
	audience   []string
	resourceID string
	issuedAt   int64
	// issuedAtMilli is the issue time to the millisecond where the token keeps it (opaque
	// tokens); 0 for a JWT, whose iat has whole seconds.
	issuedAtMilli int64
	expiresAt     int64
	jti           string
	jkt           string
	x5t           string         // cnf.x5t#S256 (RFC 8705 §3)
	grantID       string         // the grant the token was issued under (grant_id), if any
	sessionID     string         // the grant's login session (sid), if any
	extra         map[string]any // claims beyond the registered ones, shown by introspection
}

// registeredIntrospectionFields are set by the server and never taken from extra claims.
var registeredIntrospectionFields = map[string]bool{
	"active": true, "scope": true, "client_id": true, "sub": true, "aud": true, "iss": true,
	"exp": true, "iat": true, "nbf": true, "jti": true, "token_type": true, "cnf": true, "username": true,
	"grant_id": true, "sid": true,
}

// activeToken returns the token's info, or nil when it is not an active access token of this
// server: malformed, unknown, expired, revoked, issued for a resource that no longer exists
// (a disabled resource only stops new issuance), issued to a client that has since been
// deleted or disabled, or issued before its client's cut-off. Only store failures are errors.
func (s *Server) activeToken(ctx context.Context, token string) (*tokenInfo, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, nil
	}
	var (
		info *tokenInfo
		err  error
	)
	if strings.Count(token, ".") == 2 {
		info, err = s.activeJWT(ctx, token)
	} else {
		info, err = s.activeOpaque(ctx, token)
	}
	if err != nil || info == nil {
		return nil, err
	}
	if live, err := s.clientIsLive(ctx, info.clientID); err != nil || !live {
		return nil, err
	}
	if cut, err := s.cutOff(ctx, info); err != nil || cut {
		return nil, err
	}
	return info, nil
}

// cutOff reports whether the token was issued at or before its client's cut-off: every token
// of the client revoked up to a time (manage's revocation of a client's tokens), whatever its
// kind. A JWT's iat has whole seconds, so a JWT of the cut-off's own second is refused too.
func (s *Server) cutOff(ctx context.Context, info *tokenInfo) (bool, error) {
	if info.clientID == "" {
		return false, nil
	}
	cutoff, err := s.st.ClientTokenCutoff(ctx, info.clientID)
	if err != nil || cutoff.IsZero() {
		return false, err
	}
	if info.issuedAtMilli != 0 {
		return info.issuedAtMilli <= cutoff.UnixMilli(), nil
	}
	return info.issuedAt <= cutoff.Unix(), nil
}

// clientIsLive reports whether the client a token was issued to still exists and is enabled.
// JWT access tokens cannot be revoked one by one when a client is deleted, so this check ends
// them; it reads the cached client lookup, which every change clears.
func (s *Server) clientIsLive(ctx context.Context, clientID string) (bool, error) {
	if s.lookups.documents != nil && s.lookups.documents.Handles(clientID) {
		return s.documentClientIsLive(ctx, clientID)
	}
	c, err := s.lookups.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return !c.Disabled, nil
}

// documentClientIsLive is clientIsLive for a client ID that is a metadata document URL: only
// a stored (pre-registered) row can end its tokens. Validating a token never fetches the
// document: that would put a network round trip, and the document host's availability, on
// every gateway check.
func (s *Server) documentClientIsLive(ctx context.Context, clientID string) (bool, error) {
	c, err := s.lookups.storedClient(ctx, clientID)
	if err != nil {
		return false, err
	}
	return c == nil || !c.Disabled, nil
}

// activeJWT checks a JWT access token. The signature check and parsing are cached per token
// (they cost ~100 µs and never change); expiry, revocation and the resource are checked on
// every call.
func (s *Server) activeJWT(ctx context.Context, token string) (*tokenInfo, error) {
	info := s.verifiedJWT(token)
	if info == nil || info.expiresAt <= s.now().Unix() {
		return nil, nil
	}
	revoked, err := s.st.IsJTIRevoked(ctx, info.jti)
	if err != nil || revoked {
		return nil, err
	}
	resourceAud := info.audience[0]
	if resourceAud == s.endpoint(pathUserinfo) {
		// A token for the userinfo endpoint only: there is no resource to check.
		return info, nil
	}
	res, err := s.st.GetResourceByIdentifier(ctx, resourceAud)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	active := *info
	active.resourceID = res.ID
	return &active, nil
}

// verifiedJWT returns the claims of a JWT access token issued and signed by this server, or
// nil. Results are cached until the token expires, keyed by its SHA-256: the digest is kept in
// the entry and compared, so a cache-hash collision can never return another token's claims.
func (s *Server) verifiedJWT(token string) *tokenInfo {
	digest := sha256.Sum256([]byte(token))
	if hit, ok := s.verified.Get(string(digest[:])); ok && hit.digest == digest {
		return hit.info
	}
	info := s.parseJWT(token)
	if info != nil {
		if ttl := time.Until(time.Unix(info.expiresAt, 0)); ttl > 0 {
			s.verified.SetWithTTL(string(digest[:]), verifiedToken{digest: digest, info: info}, 1, min(ttl, maxVerifiedTTL))
		}
	}
	return info
}

// maxVerifiedTTL bounds how long a verified token stays cached, whatever its exp says.
const maxVerifiedTTL = time.Hour

type verifiedToken struct {
	digest [sha256.Size]byte
	info   *tokenInfo
}

func (s *Server) parseJWT(token string) *tokenInfo {
	payload, hdr, err := s.keys.Verify(token, s.cfg.SigningAlgs)
	if err != nil {
		return nil
	}
	// Only access tokens: an ID token or logout token signed by the same keys is not one.
	if typ, _ := hdr.ExtraHeaders["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil
	}
	info := &tokenInfo{jwt: true, extra: map[string]any{}}
	var ok bool
	iss, _ := claims["iss"].(string)
	info.clientID, _ = claims["client_id"].(string)
	info.subject, _ = claims["sub"].(string)
	info.scope, _ = claims["scope"].(string)
	info.jti, ok = claims["jti"].(string)
	if iss != s.cfg.Issuer || !ok || info.jti == "" {
		return nil
	}
	if info.expiresAt, ok = numericClaim(claims["exp"]); !ok {
		return nil
	}
	info.issuedAt, _ = numericClaim(claims["iat"])
	switch aud := claims["aud"].(type) {
	case string:
		info.audience = []string{aud}
	case []any:
		for _, a := range aud {
			if a, ok := a.(string); ok && a != "" {
				info.audience = append(info.audience, a)
			}
		}
	}
	if len(info.audience) == 0 || info.audience[0] == "" {
		return nil
	}
	if cnf, ok := claims["cnf"].(map[string]any); ok {
		info.jkt, _ = cnf["jkt"].(string)
		info.x5t, _ = cnf["x5t#S256"].(string)
	}
	info.grantID, _ = claims["grant_id"].(string)
	info.sessionID, _ = claims["sid"].(string)
	for k, v := range claims {
		if !registeredIntrospectionFields[k] {
			info.extra[k] = v
		}
	}
	return info
}

func numericClaim(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return 0, false
		}
		i = int64(f)
	}
	return i, true
}

// resourceExists reports whether the resource an opaque token names still exists ("" is a
// token for the userinfo endpoint only). A deleted resource's tokens end at once.
func (s *Server) resourceExists(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return true, nil
	}
	if _, err := s.st.GetResource(ctx, id); errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// activeSealed checks a sealed opaque access token (package opaquetoken): its seal and
// expiry, then everything that can revoke it since — its jti (/revoke), its client's cut-off
// (all of a client's tokens revoked), its grant (refresh reuse, logout, account changes) and
// its resource.
func (s *Server) activeSealed(ctx context.Context, token string) (*tokenInfo, error) {
	c, err := s.opaque.Open(token)
	if err != nil || c.ExpiresAt <= s.now().UnixMilli() {
		return nil, nil
	}
	if revoked, err := s.st.IsJTIRevoked(ctx, c.JTI); err != nil || revoked {
		return nil, err
	}
	if live, err := s.resourceExists(ctx, c.ResourceID); err != nil || !live {
		return nil, err
	}
	if c.GrantID != "" {
		g, err := s.st.GetGrant(ctx, c.GrantID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil // revoked and purged, or never stored
		} else if err != nil {
			return nil, err
		}
		if g.Revoked {
			return nil, nil
		}
	}
	return &tokenInfo{
		clientID:      c.ClientID,
		subject:       c.Subject,
		scope:         c.Scope,
		audience:      c.Audience,
		resourceID:    c.ResourceID,
		issuedAt:      c.IssuedAt / 1000,
		issuedAtMilli: c.IssuedAt,
		expiresAt:     c.ExpiresAt / 1000,
		jti:           c.JTI,
		jkt:           c.JKT,
		x5t:           c.X5TS256,
		grantID:       c.GrantID,
		sessionID:     c.SessionID,
		extra:         c.Extra,
	}, nil
}

// activeOpaque checks an opaque access token stored as a row: those issued before tokens were
// sealed, valid until they expire.
func (s *Server) activeOpaque(ctx context.Context, token string) (*tokenInfo, error) {
	if opaquetoken.IsSealed(token) {
		return s.activeSealed(ctx, token)
	}
	hash := hashToken(token)
	t, err := s.st.GetAccessToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if t.Revoked || !t.ExpiresAt.After(s.now()) {
		return nil, nil
	}
	if live, err := s.resourceExists(ctx, t.ResourceID); err != nil || !live {
		return nil, err
	}
	sessionID, err := s.grantSession(ctx, t.GrantID)
	if err != nil {
		return nil, err
	}
	return &tokenInfo{
		hash:          hash,
		clientID:      t.ClientID,
		subject:       t.Subject,
		scope:         t.Scope,
		audience:      t.Audience,
		resourceID:    t.ResourceID,
		issuedAt:      t.IssuedAt.Unix(),
		issuedAtMilli: t.IssuedAt.UnixMilli(),
		expiresAt:     t.ExpiresAt.Unix(),
		jkt:           t.JKT,
		x5t:           t.X5TS256,
		grantID:       t.GrantID,
		sessionID:     sessionID,
		extra:         t.Extra,
	}, nil
}

// grantSession returns the login session of a grant (the sid of an opaque token, which the
// token row does not keep); "" for no grant or a grant gone since.
func (s *Server) grantSession(ctx context.Context, grantID string) (string, error) {
	if grantID == "" {
		return "", nil
	}
	g, err := s.st.GetGrant(ctx, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return g.SessionID, nil
}

// mayIntrospect: the client the token was issued to, or the server or gateway of the token's
// resource, that is a client whose link to the resource grants introspection
// (ClientConfig.Introspects). A client that may only obtain tokens for the resource learns
// nothing about other clients' tokens.
func (s *Server) mayIntrospect(ctx context.Context, caller *store.Client, info *tokenInfo) (bool, error) {
	if caller.ID == info.clientID {
		return true, nil
	}
	if info.resourceID == "" {
		return false, nil
	}
	return s.lookups.isIntrospector(ctx, caller.ID, info.resourceID)
}

// handleIntrospect is RFC 7662 token introspection.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	resp, caller, err := s.introspect(r.Context(), w, r)
	if err != nil {
		s.observer.Introspected("refused")
		s.writeError(w, r, err)
		return
	}
	if resp["active"] == true {
		s.observer.Introspected("active")
	} else {
		s.observer.Introspected("inactive")
	}
	if wantsIntrospectionJWT(r) {
		s.writeIntrospectionJWT(w, r, caller, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

var inactive = map[string]any{"active": false}

// introspector answers for one kind of token: the response, or nil when token is not an
// active token of that kind that caller may learn about.
type introspector func(ctx context.Context, caller *store.Client, token string) (map[string]any, error)

func (s *Server) introspect(ctx context.Context, w http.ResponseWriter, r *http.Request) (map[string]any, *store.Client, error) {
	if err := parsePostForm(w, r); err != nil {
		return nil, nil, err
	}
	caller, err := s.authenticateClient(r, pathIntrospect)
	if err != nil {
		return nil, nil, err
	}
	token := formValue(r.PostForm, "token")
	if token == "" {
		return nil, nil, oautherr.Request("token is required")
	}
	if len(token) > maxTokenLen {
		return inactive, caller, nil
	}
	// RFC 7662 §2.1: token_type_hint only says where to look first; a token of the other
	// kind is still found, and an unknown hint is ignored.
	order := []introspector{s.introspectAccessToken, s.introspectRefreshToken}
	if formValue(r.PostForm, "token_type_hint") == "refresh_token" {
		slices.Reverse(order)
	}
	for _, kind := range order {
		if resp, err := kind(ctx, caller, token); err != nil || resp != nil {
			return resp, caller, err
		}
	}
	return inactive, caller, nil
}

func (s *Server) introspectAccessToken(ctx context.Context, caller *store.Client, token string) (map[string]any, error) {
	info, err := s.activeToken(ctx, token)
	if err != nil || info == nil {
		return nil, err
	}
	if ok, err := s.mayIntrospect(ctx, caller, info); err != nil || !ok {
		return nil, err
	}
	out := make(map[string]any, 12+len(info.extra))
	for k, v := range info.extra {
		if !registeredIntrospectionFields[k] {
			out[k] = v
		}
	}
	out["active"] = true
	out["iss"] = s.cfg.Issuer
	out["client_id"] = info.clientID
	out["sub"] = info.subject
	out["exp"] = info.expiresAt
	out["iat"] = info.issuedAt
	out["token_type"] = "Bearer"
	if info.scope != "" {
		out["scope"] = info.scope
	}
	if len(info.audience) == 1 {
		out["aud"] = info.audience[0]
	} else if len(info.audience) > 1 {
		out["aud"] = info.audience
	}
	if info.jti != "" {
		out["jti"] = info.jti
	}
	maps.Copy(out, info.matchClaims())
	if cnf := info.confirmation(); cnf != nil {
		out["cnf"] = cnf
	}
	if info.jkt != "" {
		out["token_type"] = "DPoP"
	}
	return out, nil
}

// introspectRefreshToken answers for a refresh token, to the client it was issued to only: a
// refresh token is that client's credential, not something a resource server ever sees. It is
// active while the refresh grant would accept it: not rotated, not expired, its grant not
// revoked and its account neither disabled nor deleted.
func (s *Server) introspectRefreshToken(ctx context.Context, caller *store.Client, token string) (map[string]any, error) {
	if strings.Contains(token, ".") {
		return nil, nil // a JWT; refresh tokens are opaque
	}
	rt, err := s.st.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	g, err := s.st.GetGrant(ctx, rt.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if g.ClientID != caller.ID || g.Revoked || rt.UsedAt != nil {
		return nil, nil
	}
	if acc, err := s.refreshAccount(ctx, rt, g); err != nil || acc == nil {
		return nil, err
	}
	out := map[string]any{
		"active":    true,
		"iss":       s.cfg.Issuer,
		"client_id": g.ClientID,
		"sub":       s.subjectFor(caller, g.Subject), // pairwise clients know their own sub
		"exp":       min(rt.ExpiresAt.Unix(), g.ExpiresAt.Unix()),
		"iat":       rt.CreatedAt.Unix(),
		// Not a token_type of RFC 6749 §7.1; oidc-provider answers the same for refresh tokens.
		"token_type": "refresh_token",
	}
	if len(rt.Scopes) > 0 {
		out["scope"] = strings.Join(rt.Scopes, " ")
	}
	return out, nil
}

// matchClaims are the identifiers, beyond jti, that a gateway matches revocations on
// (grant_id, sid): shown by introspection and to in-process gateways when known.
func (info *tokenInfo) matchClaims() map[string]any {
	out := make(map[string]any, 2)
	if info.grantID != "" {
		out["grant_id"] = info.grantID
	}
	if info.sessionID != "" {
		out["sid"] = info.sessionID
	}
	return out
}
