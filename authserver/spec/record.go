package spec

import (
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Metadata keys under which store.Client.Metadata keeps the display and provenance fields
// (RFC 7591 names).
var displayKeys = []string{"client_uri", "logo_uri", "policy_uri", "tos_uri", "contacts", "software_id", "software_version"}

// ClientRecord turns a normalized client into its stored row: the secret is hashed, and sealed
// with seal (the server's master key) for client_secret_jwt, whose HMAC check needs it. Links
// (Resources, Introspects) are not part of the row; see Links.
func ClientRecord(c Client, seal func(secret, clientID []byte) ([]byte, error)) (*store.Client, error) {
	rec := &store.Client{
		ID:                                c.ID,
		Name:                              c.Name,
		TokenEndpointAuthMethod:           c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg:       c.TokenEndpointAuthSigningAlg,
		GrantTypes:                        slices.Clone(c.GrantTypes),
		RedirectURIs:                      slices.Clone(c.RedirectURIs),
		RedirectURIAnyLoopbackPort:        c.RedirectURIAnyLoopbackPort,
		Scopes:                            slices.Clone(c.Scopes),
		JWKS:                              c.JWKS,
		JWKSURI:                           c.JWKSURI,
		DPoPBoundAccessTokens:             c.DPoPBoundAccessTokens,
		Disabled:                          c.Disabled,
		PostLogoutRedirectURIs:            slices.Clone(c.PostLogoutRedirectURIs),
		SubjectType:                       c.SubjectType,
		SectorIdentifier:                  c.SectorIdentifier,
		IDTokenSignedResponseAlg:          c.IDTokenSignedResponseAlg,
		SkipConsent:                       c.SkipConsent,
		PKCEOptional:                      c.PKCEOptional,
		RefreshWithoutOfflineAccess:       c.RefreshWithoutOfflineAccess,
		DefaultResource:                   c.DefaultResource,
		BackchannelLogoutURI:              c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		Security:                          c.Security,
		Metadata:                          displayMetadata(c),
	}
	switch {
	case c.SecretHash != "":
		rec.SecretHash = c.SecretHash
	case c.Secret != "":
		h, err := clientsecret.Hash(c.Secret)
		if err != nil {
			return nil, err
		}
		rec.SecretHash = h
	}
	if c.TokenEndpointAuthMethod == AuthSecretJWT {
		sealed, err := seal([]byte(c.Secret), []byte(c.ID))
		if err != nil {
			return nil, err
		}
		rec.SecretSealed = sealed
	}
	return rec, nil
}

func displayMetadata(c Client) map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"client_uri": c.ClientURI, "logo_uri": c.LogoURI, "policy_uri": c.PolicyURI,
		"tos_uri": c.TosURI, "software_id": c.SoftwareID, "software_version": c.SoftwareVersion} {
		if v != "" {
			m[k] = v
		}
	}
	if len(c.Contacts) > 0 {
		m["contacts"] = slices.Clone(c.Contacts)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// Link is one client–resource link as configuration, the admin API and registration describe
// it: Resource is the resource identifier.
type Link struct {
	ClientID   string
	Resource   string
	Tokens     bool
	Introspect bool
	Metadata   map[string]any
}

// Links merges a client's Resources and Introspects into one link per resource, in the order
// they first appear.
func Links(c Client) []Link {
	var links []Link
	index := map[string]int{}
	grant := func(identifier string) *Link {
		i, ok := index[identifier]
		if !ok {
			i = len(links)
			index[identifier] = i
			links = append(links, Link{ClientID: c.ID, Resource: identifier})
		}
		return &links[i]
	}
	for _, id := range c.Resources {
		grant(id).Tokens = true
	}
	for _, id := range c.Introspects {
		grant(id).Introspect = true
	}
	return links
}

// ValidateLink applies the rules of a link to the normalized client it belongs to.
func ValidateLink(c Client, l Link) error {
	subject := "link"
	if l.ClientID != "" {
		subject = "link of client " + quote(l.ClientID)
	}
	if l.ClientID != c.ID {
		return about(subject, errorf(CodeInvalidValue, "client_id", l.ClientID, "does not name the client"))
	}
	if err := ValidateResourceIdentifier("resource", l.Resource); err != nil {
		return about(subject, err)
	}
	if !l.Tokens && !l.Introspect {
		return about(subject, errorf(CodeInvalidValue, "tokens", "", "a link must grant tokens, introspection or both (to remove a link, delete it)"))
	}
	if l.Introspect && c.IsPublic() {
		return about(subject, errorf(CodeInvalidValue, "introspect", "", "a public client (token_endpoint_auth_method none) cannot introspect; it needs credentials"))
	}
	return nil
}
