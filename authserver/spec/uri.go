package spec

import (
	"net"
	"net/url"
	"strings"
)

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateIssuer enforces OIDC Discovery §3 / RFC 8414 §2: an https URL without user info,
// query or fragment; plain http only on loopback, for development.
func ValidateIssuer(iss string) error {
	const field = "issuer"
	if iss == "" {
		return errorf(CodeInvalidValue, field, "", "is required")
	}
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" {
		return errorf(CodeInvalidValue, field, iss, "is not an absolute URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(iss, "#?") {
		return errorf(CodeInvalidValue, field, iss, "must not have user info, a query or a fragment")
	}

	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return errorf(CodeInvalidValue, field, iss, "http is allowed only on loopback; use https")
		}
	default:
		return errorf(CodeInvalidValue, field, iss, "must use https")
	}
	return nil
}

// ValidateServerIssuer is ValidateIssuer for this server's own issuer, which also must not end
// with a slash: endpoint URLs are the issuer plus "/token" etc., and clients compare the
// issuer exactly. (Other servers' issuers may end with one; gateways accept them.)
func ValidateServerIssuer(iss string) error {
	if err := ValidateIssuer(iss); err != nil {
		return err
	}
	if strings.HasSuffix(iss, "/") {
		return errorf(CodeInvalidValue, "issuer", iss, "must not end with a slash")
	}
	return nil
}

// ValidateRedirectURI enforces what a registered redirect URI may be (RFC 6749 §3.1.2,
// RFC 8252 §7, RFC 9700 §2.1): absolute, no fragment, https — or http on loopback only, or a
// private-use scheme of a native app. field names the list it came from.
func ValidateRedirectURI(field, uri string) error {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || strings.Contains(uri, "#") {
		return errorf(CodeInvalidRedirectURI, field, uri, "must be an absolute URI without a fragment")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errorf(CodeInvalidRedirectURI, field, uri, "has no host")
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return errorf(CodeInvalidRedirectURI, field, uri, "http is allowed only on loopback; use https")
		}
	default:
		// Private-use URI schemes (RFC 8252 §7.1) look like reverse domain names.
		if !strings.Contains(u.Scheme, ".") {
			return errorf(CodeInvalidRedirectURI, field, uri, "a native app's scheme must be a reverse domain name (RFC 8252 §7.1)")
		}
	}
	return nil
}

// ValidateResourceIdentifier enforces RFC 8707 §2: an absolute URI without a fragment.
func ValidateResourceIdentifier(field, id string) error {
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() || strings.Contains(id, "#") {
		return errorf(CodeInvalidValue, field, id, "must be an absolute URI without a fragment (RFC 8707)")
	}
	return nil
}

// validateWebURL checks an https URL a client publishes (jwks_uri, logo_uri, …); http only on
// loopback, for development.
func validateWebURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || strings.Contains(v, "#") {
		return errorf(CodeInvalidClientMetadata, field, v, "must be an absolute https URL")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return errorf(CodeInvalidClientMetadata, field, v, "must be an absolute https URL")
	}
	return nil
}

// ValidScopeToken reports whether s is a scope token (RFC 6749 §3.3).
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// validateScopes checks each scope token of a list.
func validateScopes(code, field string, scopes []string) error {
	for _, s := range scopes {
		if !ValidScopeToken(s) {
			return errorf(code, field, s, "is not a valid scope token (RFC 6749 §3.3)")
		}
	}
	return nil
}
