package rsvalidate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/caddy-oauth/caddy-oauth/jwa"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/go-jose/go-jose/v4"
)

// Config configures a Validator for one protected resource.
type Config struct {
	// Resource is the resource identifier (RFC 9728); the token's aud must contain it unless
	// Audience says otherwise.
	Resource string
	// Audience, when set, is what this issuer's tokens carry in aud for the resource (an
	// issuer may know the API by another name, e.g. api://orders); default Resource.
	Audience string
	// AuthorizationServers are listed in the resource's metadata; default the issuer alone.
	AuthorizationServers []string
	// Claims maps an issuer's claim names onto the identity, for issuers that do not use the
	// RFC 9068 names (Azure AD's oid or azp, for instance).
	Claims ClaimNames
	// Issuer is the expected iss. With Local it defaults to Local.Issuer().
	Issuer string
	// Local is an in-process issuer: when set, it validates tokens (Keys/Introspector unused).
	Local LocalIssuer
	// Keys yields the keys of a remote issuer's JWT access tokens.
	Keys KeySource
	// Introspector validates a remote issuer's opaque tokens (and JWTs when Keys is nil);
	// nil → opaque tokens are invalid_token.
	Introspector Introspector
	// Algs are the JWT algorithms accepted; default RS256 PS256 ES256 ES384 EdDSA.
	// none and HS* are never accepted.
	Algs []string
	// AcceptPlainJWT also accepts typ "JWT" or no typ (foreign issuers without RFC 9068).
	AcceptPlainJWT bool
	// Skew is the exp/nbf/iat leeway, default 30s.
	Skew time.Duration
	// AllowQueryToken and AllowBodyToken enable RFC 6750 §2.3 and §2.2; off by default.
	AllowQueryToken, AllowBodyToken bool
	// AllowSubprotocolToken accepts a token in a WebSocket handshake's Sec-WebSocket-Protocol
	// (SubprotocolTokenPrefix), for browsers; off by default.
	AllowSubprotocolToken bool
	// RequireDPoP refuses Bearer tokens; the issuer's ResourcePolicy can also require DPoP.
	RequireDPoP bool
	// DPoP verifies proofs; nil → the DPoP scheme is refused.
	DPoP *dpop.Verifier
	// Origin returns the scheme://host[:port] the client addressed, which a DPoP proof's htu
	// must name; false when the request is for a host this resource is not served at (no
	// proof can then match). Required with DPoP: the Host header alone is the client's word,
	// and would let a proof minted for another gateway of the resource pass here.
	Origin func(r *http.Request) (origin string, ok bool)
	// ClientCertificate returns the TLS client certificate of a request, against which a
	// certificate-bound token (cnf.x5t#S256) is checked; nil means the connection's own
	// (r.TLS.PeerCertificates[0]). Behind a TLS-terminating proxy it reads what the proxy
	// forwarded, from trusted proxies only.
	ClientCertificate func(r *http.Request) *x509.Certificate
	// ResourceMetadataURL is the absolute URL of this resource's RFC 9728 document, for
	// challenges.
	ResourceMetadataURL string
	// ScopesSupported is listed in the metadata document.
	ScopesSupported []string
	// Revocations, when set, is consulted on every request after the token validated (cache
	// hit or not): what a remote issuer revoked since, learned from its revocation stream
	// (backchannel/ssfreceiver). Nil: only expiry ends a remote JWT's validity.
	Revocations Revocations
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// ClaimNames name the claims the identity is read from; empty means the RFC 9068 name.
type ClaimNames struct {
	Subject  string // default sub
	Scope    string // default scope (or scp); a string or an array of strings
	ClientID string // default client_id
}

// Revocations is what a gateway knows the issuer revoked. It sits on the request path:
// Revoked must be cheap and must not allocate.
type Revocations interface {
	// Revoked reports whether the token (with what its issuer vouched for) was revoked.
	Revoked(token string, info *TokenInfo) bool
	// Err is non-nil (wrapping ErrUnavailable) when what is known can no longer be trusted
	// to be current: requests then fail with 503.
	Err() error
}

// Identity is an authenticated caller. Identities of cached JWTs are shared between requests:
// treat them as read-only.
type Identity struct {
	TokenInfo
	Scheme string   // "Bearer" or "DPoP"
	Scopes []string // parsed from Scope
}

// Validator validates the credentials of requests to one resource. It is safe for
// concurrent use.
type Validator struct {
	cfg      Config
	issuer   string
	algs     []jose.SignatureAlgorithm
	dpop     proofVerifier // nil when DPoP is not configured
	dpopAlgs []string
	nonces   *dpop.Nonces
	now      func() time.Time
	// verified caches remote JWTs whose signature and claims were checked; nil disables it.
	verified *ristretto.Cache[uint64, *verifiedJWT]
	policy   policyCache
}

// proofVerifier is what the Validator needs of *dpop.Verifier (tests substitute a fake).
type proofVerifier interface {
	Verify(ctx context.Context, proof string, req dpop.Request) (*dpop.Proof, error)
}

var (
	defaultAlgs = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}
	// supportedAlgs are the asymmetric JWS algorithms a configuration may enable.
	supportedAlgs = jwa.Asymmetric()
)

// New checks cfg and returns a Validator. Call Close when done with it.
func New(cfg Config) (*Validator, error) {
	if cfg.Resource == "" {
		return nil, errors.New("rsvalidate: resource identifier required")
	}
	if cfg.Local == nil && cfg.Keys == nil && cfg.Introspector == nil {
		return nil, errors.New("rsvalidate: a local issuer, a key source or an introspector is required")
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Resource
	}
	v := &Validator{cfg: cfg, issuer: cfg.Issuer, now: cfg.Now}
	if cfg.Local != nil {
		if v.issuer == "" {
			v.issuer = cfg.Local.Issuer()
		} else if v.issuer != cfg.Local.Issuer() {
			return nil, fmt.Errorf("rsvalidate: issuer %q differs from the local issuer %q", v.issuer, cfg.Local.Issuer())
		}
	}
	if v.issuer == "" {
		return nil, errors.New("rsvalidate: issuer required")
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.cfg.Skew == 0 {
		v.cfg.Skew = 30 * time.Second
	} else if v.cfg.Skew < 0 {
		return nil, errors.New("rsvalidate: negative skew")
	}
	algs := cfg.Algs
	if len(algs) == 0 {
		algs = defaultAlgs
	}
	for _, a := range algs {
		if !slices.Contains(supportedAlgs, a) {
			return nil, fmt.Errorf("rsvalidate: JWT algorithm %q not allowed", a)
		}
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	if cfg.DPoP != nil {
		if cfg.DPoP.Replay == nil {
			return nil, errors.New("rsvalidate: the DPoP verifier needs a replay guard")
		}
		if cfg.Origin == nil {
			return nil, errors.New("rsvalidate: the DPoP verifier needs the resource's Origin")
		}
		v.dpop = cfg.DPoP
		v.nonces = cfg.DPoP.Nonces
		v.dpopAlgs = cfg.DPoP.AllowedAlgs()
	} else if cfg.RequireDPoP {
		return nil, errors.New("rsvalidate: RequireDPoP needs a DPoP verifier")
	}
	if cfg.Local == nil && cfg.Keys != nil {
		c, err := newVerifiedCache()
		if err != nil {
			return nil, err
		}
		v.verified = c
	}
	return v, nil
}

// Close stops the caches.
func (v *Validator) Close() {
	if v.verified != nil {
		v.verified.Close()
	}
}

// Authenticate validates the request's credentials: returns who is calling, or an *Error.
func (v *Validator) Authenticate(r *http.Request) (*Identity, *Error) {
	cred, e := v.credentials(r)
	if e == nil && cred.token == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Description: "access token required"}
	}
	var id *Identity
	if e == nil {
		id, e = v.validate(r.Context(), cred.token)
	}
	if e == nil && v.cfg.Revocations != nil {
		e = v.checkRevoked(cred.token, id)
	}
	if e == nil {
		e = checkCertBinding(v.clientCertificate(r), id)
	}
	if e == nil {
		e = v.checkDPoP(r.Context(), r, cred, id)
	}
	if e != nil {
		// The error belongs in the challenge of the scheme the client used.
		if e.scheme == "" {
			e.scheme = cred.scheme
		}
		return nil, e
	}
	return id, nil
}

// PresentedToken returns the access token r carries, as Authenticate reads it (header, or
// query and body when allowed); "" when there is none or it is ambiguous. A gateway that
// exchanges the token (RFC 8693) needs it after Authenticate accepted the request; never log
// or forward it as is.
func (v *Validator) PresentedToken(r *http.Request) string {
	cred, e := v.credentials(r)
	if e != nil {
		return ""
	}
	return cred.token
}

// validate finds who vouches for token and checks what it says.
func (v *Validator) validate(ctx context.Context, token string) (*Identity, *Error) {
	switch {
	case v.cfg.Local != nil:
		info, err := v.cfg.Local.ActiveAccessToken(ctx, token)
		if err != nil {
			// The issuer could not decide (store failure): fail closed, but don't blame the token.
			return nil, unavailable(err)
		}
		if info == nil {
			return nil, invalidToken("invalid access token", nil)
		}
		return v.identity(info, true)
	case v.cfg.Keys != nil && isJWT(token):
		return v.jwtIdentity(ctx, token)
	case v.cfg.Introspector != nil:
		info, err := v.cfg.Introspector.Introspect(ctx, token)
		if errors.Is(err, ErrUnavailable) {
			return nil, unavailable(err)
		}
		if err != nil || info == nil {
			return nil, invalidToken("invalid access token", err)
		}
		return v.identity(info, false)
	default:
		return nil, invalidToken("invalid access token", errors.New("opaque token and no introspector"))
	}
}

// checkRevoked refuses a token the issuer revoked after vouching for it (its verified-JWT
// or introspection cache entry may still be fresh), and fails closed while the revocation
// stream is too stale to rely on.
func (v *Validator) checkRevoked(token string, id *Identity) *Error {
	if err := v.cfg.Revocations.Err(); err != nil {
		return unavailable(err)
	}
	if v.cfg.Revocations.Revoked(token, &id.TokenInfo) {
		return invalidToken("access token revoked", nil)
	}
	return nil
}

// identity checks info again whoever vouched for it (defence in depth) and wraps it.
// strict: iss and exp must be present (JWTs, the local issuer); an introspection response
// may omit them (RFC 7662 §2.2).
func (v *Validator) identity(info *TokenInfo, strict bool) (*Identity, *Error) {
	if e := v.mapClaims(info); e != nil {
		return nil, e
	}
	if e := v.checkClaims(info, strict); e != nil {
		return nil, e
	}
	scheme := "Bearer"
	if info.JKT != "" {
		scheme = "DPoP"
	}
	return &Identity{TokenInfo: *info, Scheme: scheme, Scopes: strings.Fields(info.Scope)}, nil
}

func (v *Validator) checkClaims(info *TokenInfo, strict bool) *Error {
	if info.Issuer != v.issuer && (strict || info.Issuer != "") {
		return invalidToken("invalid access token", fmt.Errorf("iss %q", info.Issuer))
	}
	// A token without aud is never accepted: it could be meant for another resource.
	if !slices.Contains(info.Audience, v.cfg.Audience) {
		return invalidToken("invalid access token", fmt.Errorf("aud %q lacks the resource", info.Audience))
	}
	now := v.now()
	if info.ExpiresAt.IsZero() {
		if strict {
			return invalidToken("invalid access token", errors.New("no exp"))
		}
	} else if !info.ExpiresAt.After(now.Add(-v.cfg.Skew)) {
		return invalidToken("access token expired", nil)
	}
	late := now.Add(v.cfg.Skew)
	if info.NotBefore.After(late) || info.IssuedAt.After(late) {
		return invalidToken("access token not yet valid", nil)
	}
	return nil
}

// mapClaims reads the identity from the claims the issuer uses instead of the RFC 9068 ones.
func (v *Validator) mapClaims(info *TokenInfo) *Error {
	names := v.cfg.Claims
	if names == (ClaimNames{}) {
		return nil
	}
	str := func(name string, dst *string) *Error {
		if name == "" {
			return nil
		}
		s, ok := info.Claims[name].(string)
		if !ok && info.Claims[name] != nil {
			return invalidToken("invalid access token", fmt.Errorf("claim %s: not a string", name))
		}
		*dst = s
		return nil
	}
	if e := str(names.Subject, &info.Subject); e != nil {
		return e
	}
	if e := str(names.ClientID, &info.ClientID); e != nil {
		return e
	}
	if names.Scope != "" {
		info.Scope = ""
		if x, ok := info.Claims[names.Scope]; ok {
			s, err := scpClaim(x)
			if err != nil {
				return invalidToken("invalid access token", fmt.Errorf("claim %s: %w", names.Scope, err))
			}
			info.Scope = s
		}
	}
	return nil
}

func invalidToken(desc string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: desc, Cause: cause}
}

func unavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
		Description: "authorization server unavailable", Cause: cause}
}
