package account

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// scopeClaims are the claims each standard scope releases (OpenID Connect Core §5.4).
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname",
		"preferred_username", "profile", "picture", "website", "gender", "birthdate",
		"zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// ScopeClaims returns the claims scope releases (OpenID Connect Core §5.4); nil for a scope
// that releases none.
func ScopeClaims(scope string) []string {
	return slices.Clone(scopeClaims[scope])
}

// SupportedClaims returns every claim some scope can release, sorted (for discovery's
// claims_supported, to which the caller adds sub and the like).
func SupportedClaims() []string {
	var all []string
	for _, names := range scopeClaims {
		all = append(all, names...)
	}
	slices.Sort(all)
	return all
}

// ClaimsFor returns the claims of acc that scopes release. It never returns sub or any
// other claim the issuer sets, nor custom claims outside §5.1. updated_at falls back to
// acc.UpdatedAt in Unix seconds. Nested values (address) are shared with acc.
func ClaimsFor(acc *store.Account, scopes []string) map[string]any {
	out := map[string]any{}
	if acc == nil {
		return out
	}
	for _, scope := range scopes {
		for _, name := range scopeClaims[scope] {
			if v, ok := acc.Claims[name]; ok {
				out[name] = v
			}
		}
		if scope == "profile" && acc.Claims["updated_at"] == nil && !acc.UpdatedAt.IsZero() {
			out["updated_at"] = acc.UpdatedAt.Unix()
		}
	}
	return out
}

// ScopeOf returns the standard scope that releases claim name, or "" for a claim no scope
// releases: the consent a claims request parameter (OIDC Core §5.5) needs.
func ScopeOf(name string) string {
	for scope, names := range scopeClaims {
		if slices.Contains(names, name) {
			return scope
		}
	}
	return ""
}

// Releasable reports whether claim name may be released to a client whose allowed scopes are
// allowedScopes (nil: any scope) when it asks for the claim by name (the claims request
// parameter, OIDC Core §5.5): only a standard claim, and only when the client may request the
// scope that releases it. Asking by name must never get more than asking by scope would.
func Releasable(name string, allowedScopes []string) bool {
	scope := ScopeOf(name)
	return scope != "" && (allowedScopes == nil || slices.Contains(allowedScopes, scope))
}

// NamedClaims returns the claims of acc among names that are Releasable to a client allowed
// allowedScopes; others are ignored, as OIDC Core §5.5 allows. updated_at falls back as in
// ClaimsFor.
func NamedClaims(acc *store.Account, names, allowedScopes []string) map[string]any {
	out := map[string]any{}
	if acc == nil {
		return out
	}
	for _, name := range names {
		if !Releasable(name, allowedScopes) {
			continue
		}
		if v, ok := acc.Claims[name]; ok {
			out[name] = v
		} else if name == "updated_at" && !acc.UpdatedAt.IsZero() {
			out[name] = acc.UpdatedAt.Unix()
		}
	}
	return out
}

// reservedClaims are set by the issuer (JWT, OIDC Core, RFC 7800) and must not come from an
// account: a stored "sub" or "aud" would otherwise be a way to forge them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"auth_time": true, "nonce": true, "acr": true, "amr": true, "azp": true, "sid": true,
	"at_hash": true, "c_hash": true, "cnf": true, "_claim_names": true, "_claim_sources": true,
}

// addressFields are the members of the address claim (OpenID Connect Core §5.1.1).
var addressFields = map[string]bool{
	"formatted": true, "street_address": true, "locality": true, "region": true,
	"postal_code": true, "country": true,
}

// ValidateClaims checks account claims at configuration time: no reserved names, and the
// standard claims of §5.1 in their JSON types (strings; email_verified and
// phone_number_verified booleans; address an object of string members; updated_at a
// number). Other claims may hold any value.
func ValidateClaims(claims map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(claims)) {
		if err := validateClaim(name, claims[name]); err != nil {
			return err
		}
	}
	return nil
}

func validateClaim(name string, v any) error {
	if name == "" {
		return fmt.Errorf("account: empty claim name")
	}
	if reservedClaims[name] {
		return fmt.Errorf("account: claim %q is set by the server and cannot be stored on an account", name)
	}
	switch name {
	case "email_verified", "phone_number_verified":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("account: claim %q must be a boolean", name)
		}
	case "updated_at":
		if !isNumber(v) {
			return fmt.Errorf("account: claim %q must be a number (Unix seconds)", name)
		}
	case "address":
		addr, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("account: claim %q must be an object", name)
		}
		for k, fv := range addr {
			if _, ok := fv.(string); !ok || !addressFields[k] {
				return fmt.Errorf("account: address member %q is not a standard string member (OIDC Core §5.1.1)", k)
			}
		}
	default:
		if isStandardString(name) {
			if _, ok := v.(string); !ok {
				return fmt.Errorf("account: claim %q must be a string", name)
			}
		}
	}
	return nil
}

func isStandardString(name string) bool {
	for _, names := range scopeClaims {
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int32, int64, uint, uint32, uint64, float32, float64, json.Number:
		return true
	}
	return false
}
