package rsvalidate

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// maxPeekPayload bounds the JWT payload decoded to route a token by its issuer, before any
// signature is checked.
const maxPeekPayload = 16 << 10

// IssuerOf returns the iss a JWT names, unverified, so a gateway trusting several issuers can
// hand the token to the right one's validator without trying every key; ok is false for an
// opaque or malformed token. Whatever it returns, the chosen validator still verifies the
// token: a forged iss only picks which issuer's keys will refuse it.
func IssuerOf(token string) (iss string, ok bool) {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return "", false
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return "", false
	}
	enc := rest[:second]
	if len(enc) > base64.RawURLEncoding.EncodedLen(maxPeekPayload) {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Iss == "" {
		return "", false
	}
	return claims.Iss, true
}

// UnknownIssuer is the refusal of a JWT from an issuer the resource does not trust, decided
// without a network call.
func UnknownIssuer() *Error {
	return invalidToken("the access token's issuer is not trusted here", nil)
}
