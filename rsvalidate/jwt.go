package rsvalidate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/go-jose/go-jose/v4"
)

const (
	// verifiedCacheBytes bounds the verified-token cache (approximate bytes).
	verifiedCacheBytes = 64 << 20
	// maxVerifiedTTL bounds how long a verified JWT stays cached whatever its exp, so a key
	// withdrawn from the issuer's JWKS stops vouching for cached tokens soon.
	maxVerifiedTTL = 5 * time.Minute
	// maxJWTHeader bounds the encoded JOSE header parsed before the signature is checked.
	maxJWTHeader = 2048
)

// verifiedJWT is a cache entry: the full digest is compared on a hit, so a collision of the
// 64-bit cache key can never return another token's identity.
type verifiedJWT struct {
	digest [sha256.Size]byte
	id     *Identity
}

func newVerifiedCache() (*ristretto.Cache[uint64, *verifiedJWT], error) {
	return ristretto.NewCache(&ristretto.Config[uint64, *verifiedJWT]{
		NumCounters:        10 * verifiedCacheBytes / 2048, // ~10× the entries of ~2 KiB
		MaxCost:            verifiedCacheBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
}

// tokenDigest hashes token without copying it: []byte(token) would allocate a copy on every
// request, and SHA-256 neither keeps nor modifies its input.
func tokenDigest(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

func cacheKey(digest [sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(digest[:8]) }

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// jwtIdentity validates a remote JWT access token: from the cache when it was verified
// before (a hash and a lookup), else header, key, signature and claims.
func (v *Validator) jwtIdentity(ctx context.Context, token string) (*Identity, *Error) {
	digest := tokenDigest(token)
	key := cacheKey(digest)
	if v.verified != nil {
		if hit, ok := v.verified.Get(key); ok && hit.digest == digest {
			if !hit.id.ExpiresAt.After(v.now().Add(-v.cfg.Skew)) {
				return nil, invalidToken("access token expired", nil)
			}
			return hit.id, nil
		}
	}
	info, err := v.verifyJWT(ctx, token)
	if errors.Is(err, ErrUnavailable) {
		return nil, unavailable(err)
	} else if err != nil {
		return nil, invalidToken("invalid access token", err)
	}
	id, e := v.identity(info, true)
	if e != nil {
		return nil, e
	}
	if v.verified != nil {
		ttl := min(id.ExpiresAt.Add(v.cfg.Skew).Sub(v.now()), maxVerifiedTTL)
		if ttl > 0 {
			v.verified.SetWithTTL(key, &verifiedJWT{digest: digest, id: id}, int64(2*len(token)+1024), ttl)
		}
	}
	return id, nil
}

// jwtHeader holds the header members judged before any key is fetched.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// verifyJWT checks the header cheaply (typ, alg), then the signature with the issuer's key,
// and returns the claims. Claim values (iss, aud, exp…) are checked by the caller.
func (v *Validator) verifyJWT(ctx context.Context, token string) (*TokenInfo, error) {
	enc, _, _ := strings.Cut(token, ".")
	if len(enc) > maxJWTHeader {
		return nil, errors.New("JOSE header too large")
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("JOSE header: %w", err)
	}
	var hdr jwtHeader
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return nil, fmt.Errorf("JOSE header: %w", err)
	}
	if !v.typAccepted(hdr.Typ) {
		return nil, fmt.Errorf("typ %q", hdr.Typ)
	}
	if !slices.Contains(v.algs, jose.SignatureAlgorithm(hdr.Alg)) {
		return nil, fmt.Errorf("alg %q not allowed", hdr.Alg)
	}
	key, err := v.cfg.Keys.Key(ctx, hdr.Kid, hdr.Alg)
	if err != nil {
		return nil, err
	}
	if key == nil || (key.Algorithm != "" && key.Algorithm != hdr.Alg) || (key.Use != "" && key.Use != "sig") {
		return nil, errors.New("key unusable for this alg")
	}
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, err
	}
	return parseClaims(payload)
}

func (v *Validator) typAccepted(typ string) bool {
	if strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt") {
		return true
	}
	return v.cfg.AcceptPlainJWT && (typ == "" || strings.EqualFold(typ, "JWT") || strings.EqualFold(typ, "application/jwt"))
}

// parseClaims reads a JWT claims set. Registered claims of the wrong type make it invalid.
func parseClaims(payload []byte) (*TokenInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if claims == nil {
		return nil, errors.New("claims: not an object")
	}
	info := &TokenInfo{Claims: claims}
	var err error
	str := func(name string, dst *string) {
		if x, ok := claims[name]; ok && err == nil {
			if *dst, ok = x.(string); !ok {
				err = fmt.Errorf("claim %s: not a string", name)
			}
		}
	}
	str("iss", &info.Issuer)
	str("sub", &info.Subject)
	str("client_id", &info.ClientID)
	str("jti", &info.JTI)
	if _, ok := claims["scope"]; ok {
		str("scope", &info.Scope)
	} else if scp, ok := claims["scp"]; ok {
		// Some issuers (Azure AD, Okta) send scopes as an scp array.
		info.Scope, err = scpClaim(scp)
	}
	if err != nil {
		return nil, err
	}
	if info.Audience, err = audClaim(claims["aud"]); err != nil {
		return nil, err
	}
	for _, c := range [...]struct {
		name string
		dst  *time.Time
	}{{"exp", &info.ExpiresAt}, {"nbf", &info.NotBefore}, {"iat", &info.IssuedAt}} {
		if x, ok := claims[c.name]; ok {
			if *c.dst, err = timeClaim(x); err != nil {
				return nil, fmt.Errorf("claim %s: %w", c.name, err)
			}
		}
	}
	if x, ok := claims["cnf"]; ok {
		cnf, ok := x.(map[string]any)
		if !ok {
			return nil, errors.New("claim cnf: not an object")
		}
		var jkt, x5t bool
		info.JKT, jkt = cnf["jkt"].(string)
		info.X5TS256, x5t = cnf["x5t#S256"].(string)
		// A confirmation we cannot enforce must not be ignored (RFC 7800 §3.1).
		if (cnf["jkt"] != nil && !jkt) || (cnf["x5t#S256"] != nil && !x5t) || (!jkt && !x5t) {
			return nil, errors.New("claim cnf: no usable confirmation method")
		}
	}
	return info, nil
}

func audClaim(x any) ([]string, error) {
	switch a := x.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("claim aud: not a string array")
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, errors.New("claim aud: not a string or array")
}

func scpClaim(x any) (string, error) {
	switch s := x.(type) {
	case string:
		return s, nil
	case []any:
		parts := make([]string, len(s))
		for i, e := range s {
			p, ok := e.(string)
			if !ok {
				return "", errors.New("claim scp: not a string array")
			}
			parts[i] = p
		}
		return strings.Join(parts, " "), nil
	}
	return "", errors.New("claim scp: not a string or array")
}

// timeClaim reads a NumericDate (RFC 7519 §2), seconds possibly with a fraction.
func timeClaim(x any) (time.Time, error) {
	n, ok := x.(json.Number)
	if !ok {
		return time.Time{}, errors.New("not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("not a valid NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
