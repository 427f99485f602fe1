package spec

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Resource is a protected resource (RFC 8707) and its token policy. Nil or empty fields
// inherit the server defaults (and, in merge seed mode, leave the stored value alone).
type Resource struct {
	Identifier        string
	Name              string
	AccessTokenTTL    *time.Duration
	RefreshTokenTTL   *time.Duration
	AccessTokenFormat string
	SigningAlg        string
	SigningKeyID      string
	AllowedScopes     []string
	CustomClaims      map[string]any
	// AccountClaims name claims of the account copied into the resource's user tokens.
	AccountClaims                 []string
	DPoPBoundAccessTokensRequired *bool
	Disabled                      *bool
	Metadata                      map[string]any
}

// TokenFormats are the access token formats a resource may ask for.
var TokenFormats = []string{store.FormatJWT, store.FormatOpaque}

// ValidateResource applies every rule about a resource.
func ValidateResource(r Resource, env Env) error {
	subject := fmt.Sprintf("resource %q", r.Identifier)
	if r.Identifier == "" {
		return about("resource", errorf(CodeInvalidValue, "identifier", "", "is required"))
	}
	if err := ValidateResourceIdentifier("identifier", r.Identifier); err != nil {
		return about(subject, err)
	}
	return about(subject, r.check(env))
}

func (r Resource) check(env Env) error {
	if len(r.Name) > maxNameLength || strings.ContainsFunc(r.Name, isControl) {
		return errorf(CodeInvalidValue, "name", "", "must be at most %d characters without control characters", maxNameLength)
	}
	for field, d := range map[string]*time.Duration{"access_token_ttl": r.AccessTokenTTL, "refresh_token_ttl": r.RefreshTokenTTL} {
		if d != nil && *d < 0 {
			return errorf(CodeInvalidValue, field, d.String(), "must not be negative")
		}
	}
	if r.AccessTokenFormat != "" && !slices.Contains(TokenFormats, r.AccessTokenFormat) {
		return errorf(CodeInvalidValue, "access_token_format", r.AccessTokenFormat, "want jwt or opaque")
	}
	if alg := r.SigningAlg; alg != "" {
		if !jwa.IsAsymmetric(alg) {
			return errorf(CodeInvalidValue, "signing_alg", alg, "is not supported (want one of %s)", strings.Join(jwa.Asymmetric(), ", "))
		}
		if env.SigningAlgs != nil && !slices.Contains(env.SigningAlgs, alg) {
			return errorf(CodeInvalidValue, "signing_alg", alg, "the server has no signing key for it (add it to signing_algs)")
		}
	}
	if err := validateScopes(CodeInvalidValue, "scopes", r.AllowedScopes); err != nil {
		return err
	}
	if err := checkAccountClaims(r.AccountClaims); err != nil {
		return err
	}
	for field, m := range map[string]map[string]any{"claims": r.CustomClaims, "metadata": r.Metadata} {
		for k := range m {
			if k == "" {
				return errorf(CodeInvalidValue, field, "", "every entry needs a name")
			}
		}
	}
	return nil
}

// ReservedClaims are the access-token claims the server itself sets (RFC 9068, RFC 7800, RFC
// 8693, and grant_id/sid, which gateways match revocations on): no configuration, account or
// extension may set them.
var ReservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "auth_time", "acr", "amr", "cnf",
	"grant_id", "sid", "act", "may_act"}

// checkAccountClaims: names of account claims, at most maxListLength, none reserved (an
// account's "sub" or "scope" must never reach a token) and none repeated.
func checkAccountClaims(names []string) error {
	if len(names) > maxListLength {
		return errorf(CodeInvalidValue, "account_claims", "", "lists more than %d claims", maxListLength)
	}
	for i, name := range names {
		switch {
		case name == "" || len(name) > maxNameLength || strings.ContainsFunc(name, isControl):
			return errorf(CodeInvalidValue, "account_claims", name, "every entry must be a claim name of at most %d characters", maxNameLength)
		case slices.Contains(ReservedClaims, name):
			return errorf(CodeInvalidValue, "account_claims", name, "is a claim the server sets itself")
		case slices.Contains(names[:i], name):
			return errorf(CodeInvalidValue, "account_claims", name, "is listed twice")
		}
	}
	return nil
}
