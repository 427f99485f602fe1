package spec

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// ClientMetadata is a client in JSON: the RFC 7591 §2 names, OpenID Connect Dynamic
// Registration's, RFC 9449's dpop_bound_access_tokens, and this server's extensions (resources,
// introspects, default_resource, skip_consent, …). Registration, the admin API, the CLI and
// client ID metadata documents all speak it. Unknown members are ignored (RFC 7591 §2).
type ClientMetadata struct {
	ClientID                    string          `json:"client_id,omitempty"`
	ClientSecret                string          `json:"client_secret,omitempty"`
	ClientSecretHash            string          `json:"client_secret_hash,omitempty"`
	ClientName                  string          `json:"client_name,omitempty"`
	RedirectURIs                []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	GrantTypes                  []string        `json:"grant_types,omitempty"`
	ResponseTypes               []string        `json:"response_types,omitempty"`
	Scope                       string          `json:"scope,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	PolicyURI                   string          `json:"policy_uri,omitempty"`
	TosURI                      string          `json:"tos_uri,omitempty"`
	Contacts                    []string        `json:"contacts,omitempty"`
	SoftwareID                  string          `json:"software_id,omitempty"`
	SoftwareVersion             string          `json:"software_version,omitempty"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris,omitempty"`
	SubjectType                 string          `json:"subject_type,omitempty"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg,omitempty"`
	DPoPBoundAccessTokens       bool            `json:"dpop_bound_access_tokens,omitempty"`
	// OpenID Connect Back-Channel and Front-Channel Logout 1.0.
	BackchannelLogoutURI              string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool   `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI             string `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool   `json:"frontchannel_logout_session_required,omitempty"`
	// RFC 9126, RFC 9101, JARM, RFC 8705, RFC 9701 and this server's profile, flattened into
	// the document under their registration names.
	store.ClientSecurity

	// Extensions of this server.
	Resources                   []string `json:"resources,omitempty"`
	Introspects                 []string `json:"introspects,omitempty"`
	DefaultResource             string   `json:"default_resource,omitempty"`
	SectorIdentifier            string   `json:"sector_identifier,omitempty"`
	SkipConsent                 bool     `json:"skip_consent,omitempty"`
	PKCEOptional                bool     `json:"pkce_optional,omitempty"`
	RedirectURIAnyLoopbackPort  bool     `json:"redirect_uri_any_loopback_port,omitempty"`
	RefreshWithoutOfflineAccess bool     `json:"refresh_without_offline_access,omitempty"`
	Disabled                    bool     `json:"disabled,omitempty"`
}

// ResponseTypes this server issues from /authorize; grant_types and response_types must agree
// (RFC 7591 §2.1).
var ResponseTypes = []string{"code"}

// Client converts the JSON shape to a Client (not yet normalized: call NormalizeClient).
func (m ClientMetadata) Client() (Client, error) {
	for _, rt := range m.ResponseTypes {
		if !slices.Contains(ResponseTypes, rt) {
			return Client{}, errorf(CodeInvalidClientMetadata, "response_types", rt, "is not supported (want code)")
		}
	}
	if len(m.ResponseTypes) > 0 && len(m.GrantTypes) > 0 && !slices.Contains(m.GrantTypes, "authorization_code") {
		return Client{}, errorf(CodeInvalidClientMetadata, "response_types", "code", "needs the authorization_code grant type (RFC 7591 §2.1)")
	}
	grants := slices.Clone(m.GrantTypes)
	if len(m.ResponseTypes) > 0 && len(grants) == 0 {
		grants = []string{"authorization_code"}
	}
	jwks := ""
	if raw := strings.TrimSpace(string(m.JWKS)); raw != "" && raw != "null" {
		jwks = raw
	}
	var scopes []string
	if m.Scope != "" {
		scopes = strings.Fields(m.Scope)
	}
	return Client{
		ID:                                m.ClientID,
		Name:                              m.ClientName,
		Secret:                            m.ClientSecret,
		SecretHash:                        m.ClientSecretHash,
		TokenEndpointAuthMethod:           m.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg:       m.TokenEndpointAuthSigningAlg,
		GrantTypes:                        grants,
		RedirectURIs:                      slices.Clone(m.RedirectURIs),
		RedirectURIAnyLoopbackPort:        m.RedirectURIAnyLoopbackPort,
		Scopes:                            scopes,
		Resources:                         slices.Clone(m.Resources),
		Introspects:                       slices.Clone(m.Introspects),
		DefaultResource:                   m.DefaultResource,
		JWKS:                              jwks,
		JWKSURI:                           m.JWKSURI,
		DPoPBoundAccessTokens:             m.DPoPBoundAccessTokens,
		PostLogoutRedirectURIs:            slices.Clone(m.PostLogoutRedirectURIs),
		SubjectType:                       m.SubjectType,
		SectorIdentifier:                  m.SectorIdentifier,
		IDTokenSignedResponseAlg:          m.IDTokenSignedResponseAlg,
		SkipConsent:                       m.SkipConsent,
		PKCEOptional:                      m.PKCEOptional,
		RefreshWithoutOfflineAccess:       m.RefreshWithoutOfflineAccess,
		Disabled:                          m.Disabled,
		ClientURI:                         m.ClientURI,
		LogoURI:                           m.LogoURI,
		PolicyURI:                         m.PolicyURI,
		TosURI:                            m.TosURI,
		Contacts:                          slices.Clone(m.Contacts),
		SoftwareID:                        m.SoftwareID,
		SoftwareVersion:                   m.SoftwareVersion,
		BackchannelLogoutURI:              m.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  m.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             m.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: m.FrontchannelLogoutSessionRequired,
		Security:                          m.ClientSecurity,
	}, nil
}

// LinkView is one link of a client as MetadataOf shows it.
type LinkView struct {
	Resource   string // the resource identifier
	Tokens     bool
	Introspect bool
}

// MetadataOf shows a stored client in the JSON shape, with its links as resources and
// introspects. It never shows a secret or a hash.
func MetadataOf(c *store.Client, links []LinkView) ClientMetadata {
	m := ClientMetadata{
		ClientID:                          c.ID,
		ClientName:                        c.Name,
		RedirectURIs:                      slices.Clone(c.RedirectURIs),
		TokenEndpointAuthMethod:           c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg:       c.TokenEndpointAuthSigningAlg,
		GrantTypes:                        slices.Clone(c.GrantTypes),
		Scope:                             strings.Join(c.Scopes, " "),
		JWKSURI:                           c.JWKSURI,
		PostLogoutRedirectURIs:            slices.Clone(c.PostLogoutRedirectURIs),
		SubjectType:                       c.SubjectType,
		IDTokenSignedResponseAlg:          c.IDTokenSignedResponseAlg,
		DPoPBoundAccessTokens:             c.DPoPBoundAccessTokens,
		DefaultResource:                   c.DefaultResource,
		SectorIdentifier:                  c.SectorIdentifier,
		SkipConsent:                       c.SkipConsent,
		PKCEOptional:                      c.PKCEOptional,
		RedirectURIAnyLoopbackPort:        c.RedirectURIAnyLoopbackPort,
		RefreshWithoutOfflineAccess:       c.RefreshWithoutOfflineAccess,
		Disabled:                          c.Disabled,
		BackchannelLogoutURI:              c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		ClientSecurity:                    c.Security,
	}
	if c.JWKS != "" {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		m.ResponseTypes = slices.Clone(ResponseTypes)
	}
	str := func(k string) string { s, _ := c.Metadata[k].(string); return s }
	m.ClientURI, m.LogoURI, m.PolicyURI, m.TosURI = str("client_uri"), str("logo_uri"), str("policy_uri"), str("tos_uri")
	m.SoftwareID, m.SoftwareVersion = str("software_id"), str("software_version")
	if list, ok := c.Metadata["contacts"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				m.Contacts = append(m.Contacts, s)
			}
		}
	} else if list, ok := c.Metadata["contacts"].([]string); ok {
		m.Contacts = slices.Clone(list)
	}
	for _, l := range links {
		if l.Tokens {
			m.Resources = append(m.Resources, l.Resource)
		}
		if l.Introspect {
			m.Introspects = append(m.Introspects, l.Resource)
		}
	}
	return m
}

func quote(s string) string { return strconv.Quote(s) }
