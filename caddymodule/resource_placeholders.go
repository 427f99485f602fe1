package caddymodule

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// identityPlaceholders answers the {oauth.*} placeholders of one authorized request. It is
// consulted only when a placeholder is replaced, so requests that use none pay nothing for
// the claims.
type identityPlaceholders struct{ id *rsvalidate.Identity }

func (p identityPlaceholders) replace(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "oauth.")
	if !ok {
		return nil, false
	}
	if claim, ok := strings.CutPrefix(name, "claim."); ok {
		// An absent claim is known and empty, so templates never keep a literal placeholder.
		return p.claim(claim), true
	}
	switch name {
	case "sub", "client_id", "scope", "iss", "aud", "jti":
		return p.claim(name), true
	}
	return nil, false
}

// claim renders a claim as header-friendly text: registered claims from the identity's
// fields, strings as they are, numbers without exponent, lists comma-separated, objects as
// JSON.
func (p identityPlaceholders) claim(name string) string {
	id := p.id
	switch name {
	case "sub":
		return id.Subject
	case "client_id":
		return id.ClientID
	case "scope":
		return id.Scope
	case "iss":
		return id.Issuer
	case "aud":
		return strings.Join(id.Audience, " ")
	case "jti":
		return id.JTI
	case "exp":
		return unixString(id.ExpiresAt.Unix(), id.ExpiresAt.IsZero())
	case "iat":
		return unixString(id.IssuedAt.Unix(), id.IssuedAt.IsZero())
	}
	return claimString(id.Claims[name])
}

func unixString(sec int64, zero bool) string {
	if zero {
		return ""
	}
	return strconv.FormatInt(sec, 10)
}

func claimString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	case []string:
		return strings.Join(v, ",")
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
