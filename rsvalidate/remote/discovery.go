package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	maxMetadataBytes = 128 << 10
	discoveryTimeout = 10 * time.Second
)

// Metadata is the part of an authorization server's metadata (RFC 8414 §2, OpenID Connect
// Discovery §3) a resource server needs.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported,omitempty"`
	TLSClientCertificateBoundAccessTokens      bool     `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// Discover fetches the metadata of issuer: the RFC 8414 location first (the well-known
// segment inserted before the issuer's path, §3.1), then the OpenID Connect one (appended to
// the issuer). A document counts only if its issuer equals the configured one exactly
// (RFC 8414 §3.3), so a server cannot make us trust keys or endpoints of another issuer.
// ctx bounds the whole discovery; each request also has its own timeout.
func Discover(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	u, err := checkHTTPURL("issuer", issuer)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, fmt.Errorf("issuer %q: must not have a query (RFC 8414 §2)", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	locations := [...]string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + path + "/.well-known/openid-configuration",
	}
	var errs []error
	for _, loc := range locations {
		md, err := fetchMetadata(ctx, client, loc, issuer)
		if err == nil {
			return md, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("discovery of %s failed: %w", issuer, errors.Join(errs...))
}

func fetchMetadata(ctx context.Context, client *http.Client, loc, issuer string) (*Metadata, error) {
	body, _, err := getJSON(ctx, client, loc, "application/json", maxMetadataBytes, discoveryTimeout)
	if err != nil {
		return nil, err
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("%s: document is for issuer %q, not %q", loc, md.Issuer, issuer)
	}
	for what, v := range map[string]string{"jwks_uri": md.JWKSURI, "introspection_endpoint": md.IntrospectionEndpoint} {
		if v == "" {
			continue
		}
		if _, err := checkHTTPURL(what, v); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
	}
	return &md, nil
}
