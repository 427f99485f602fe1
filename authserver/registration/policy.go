package registration

import (
	"context"
	"errors"
	"net/url"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// operatorOnly are the settings only the server's operator may give a client (admin API,
// configuration): registration neither sets nor removes them. Each one weakens a protection
// or widens what a client learns, so a client that registers itself must not grant it:
// introspects (reading other clients' tokens), skip_consent (no consent screen: phishing),
// pkce_optional, redirect_uri_any_loopback_port (looser redirect matching),
// refresh_without_offline_access, sector_identifier (pairwise subjects shared with another
// client's sector) and disabled (a client must not re-enable itself).
type operatorOnly struct {
	Introspects                 []string
	SkipConsent                 bool
	PKCEOptional                bool
	RedirectURIAnyLoopbackPort  bool
	RefreshWithoutOfflineAccess bool
	SectorIdentifier            string
	Disabled                    bool
}

func operatorOnlyOf(c spec.Client) operatorOnly {
	return operatorOnly{
		Introspects: c.Introspects, SkipConsent: c.SkipConsent, PKCEOptional: c.PKCEOptional,
		RedirectURIAnyLoopbackPort: c.RedirectURIAnyLoopbackPort, RefreshWithoutOfflineAccess: c.RefreshWithoutOfflineAccess,
		SectorIdentifier: c.SectorIdentifier, Disabled: c.Disabled,
	}
}

// heldOf is what an existing client holds, as a spec.Client: its operator-only settings and
// its grant types, scopes, resources and method, which stay allowed on update even when the
// operator gave them beyond the registration policy.
func heldOf(c *store.Client, links []spec.LinkView) spec.Client {
	m := spec.MetadataOf(c, links)
	held, _ := m.Client() // a stored client converts back without error
	held.SectorIdentifier = c.SectorIdentifier
	return held
}

// checkOperatorOnly refuses a request that grants an operator-only setting the client does
// not hold: on registration each must be left out (or false); on update it may repeat what
// the client holds (a client sends back what it read), and leaving it out keeps it, since
// only the operator may take it away. The request then carries exactly what the client holds.
func checkOperatorOnly(c *spec.Client, held spec.Client) error {
	want, got := operatorOnlyOf(held), operatorOnlyOf(*c)
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"introspects", len(got.Introspects) > 0 && !sameSet(got.Introspects, want.Introspects)},
		{"skip_consent", got.SkipConsent && !want.SkipConsent},
		{"pkce_optional", got.PKCEOptional && !want.PKCEOptional},
		{"redirect_uri_any_loopback_port", got.RedirectURIAnyLoopbackPort && !want.RedirectURIAnyLoopbackPort},
		{"refresh_without_offline_access", got.RefreshWithoutOfflineAccess && !want.RefreshWithoutOfflineAccess},
		{"sector_identifier", got.SectorIdentifier != "" && got.SectorIdentifier != want.SectorIdentifier},
		{"disabled", got.Disabled && !want.Disabled},
	} {
		if f.changed {
			return metadataError(f.name + ": only the server's operator may set it")
		}
	}
	c.Introspects = slices.Clone(want.Introspects)
	c.SkipConsent, c.PKCEOptional = want.SkipConsent, want.PKCEOptional
	c.RedirectURIAnyLoopbackPort, c.RefreshWithoutOfflineAccess = want.RedirectURIAnyLoopbackPort, want.RefreshWithoutOfflineAccess
	c.SectorIdentifier, c.Disabled = want.SectorIdentifier, want.Disabled
	return nil
}

// applyPolicy fills the defaults registration gives (RFC 7591 §2) and refuses what the policy
// does not allow; held widens the policy by what an updated client already holds.
func (h *Handler) applyPolicy(ctx context.Context, c *spec.Client, held spec.Client) error {
	p := h.cfg
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = h.defaultAuthMethod(*c)
	}
	if !allowed(c.TokenEndpointAuthMethod, p.AuthMethods, []string{held.TokenEndpointAuthMethod}) {
		return metadataError("token_endpoint_auth_method: is not allowed for registered clients")
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"} // RFC 7591 §2's default
	}
	for _, g := range c.GrantTypes {
		if !allowed(g, p.GrantTypes, held.GrantTypes) {
			return metadataError("grant_types: a grant type is not allowed for registered clients")
		}
	}
	if len(c.Scopes) == 0 {
		// A client with no scope list may ask for any scope; registration gives its own.
		c.Scopes = slices.Clone(p.Scopes)
	}
	for _, s := range c.Scopes {
		if !allowed(s, p.Scopes, held.Scopes) {
			return metadataError("scope: a scope is not allowed for registered clients")
		}
	}
	for _, r := range c.Resources {
		if !allowed(r, p.Resources, held.Resources) {
			return metadataError("resources: a resource is not allowed for registered clients")
		}
		if _, err := h.d.Store.GetResourceByIdentifier(ctx, r); errors.Is(err, store.ErrNotFound) {
			return metadataError("resources: names a resource that does not exist")
		} else if err != nil {
			return err
		}
	}
	for field, uris := range map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs} {
		if err := h.checkRedirectHosts(spec.CodeInvalidRedirectURI, field, uris); err != nil {
			return err
		}
	}
	// The server posts to and frames the logout URIs: they obey the same host limits.
	for field, uri := range map[string]string{"backchannel_logout_uri": c.BackchannelLogoutURI, "frontchannel_logout_uri": c.FrontchannelLogoutURI} {
		if uri == "" {
			continue
		}
		if err := h.checkRedirectHosts(spec.CodeInvalidClientMetadata, field, []string{uri}); err != nil {
			return err
		}
	}
	return nil
}

// defaultAuthMethod is the method of a registration that names none: RFC 7591 §2's
// client_secret_basic when the policy allows it, private_key_jwt for a client bringing keys,
// else the first the policy allows (none under an open policy; RFC 7591 §3.2.1 lets the
// server substitute a value, and the response shows it).
func (h *Handler) defaultAuthMethod(c spec.Client) string {
	methods := h.cfg.AuthMethods
	switch {
	case (c.JWKS != "" || c.JWKSURI != "") && slices.Contains(methods, spec.AuthPrivateKey):
		return spec.AuthPrivateKey
	case slices.Contains(methods, spec.AuthSecretBasic):
		return spec.AuthSecretBasic
	case slices.Contains(methods, spec.AuthNone):
		return spec.AuthNone
	}
	return methods[0]
}

// checkRedirectHosts applies the policy's redirect URI limits on top of spec's rules (which
// NormalizeClient applies to every client); code is the error code of the field.
func (h *Handler) checkRedirectHosts(code, field string, uris []string) error {
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil {
			return newError(code, field+": a URI does not parse")
		}
		if h.cfg.RedirectURIsHTTPSOnly && u.Scheme != "https" {
			return newError(code, field+": registered clients must use https URIs")
		}
		if len(h.cfg.RedirectHosts) > 0 && !slices.Contains(h.cfg.RedirectHosts, u.Hostname()) {
			return newError(code, field+": a URI points at a host registered clients may not use")
		}
	}
	return nil
}

// validate applies the one validation contract before anything is spent or stored, so an
// invalid registration neither burns an initial access token use nor leaves a row. A client
// that will authenticate with a secret it does not carry (generated or kept by the write)
// is checked with a stand-in.
func (h *Handler) validate(c spec.Client) error {
	if usesSecret(c) && !c.HasSecret() {
		c.Secret = clientsecret.Generate()
	}
	n, err := spec.NormalizeClient(c, h.d.Clients.Env())
	if err != nil {
		return err
	}
	for _, l := range spec.Links(n) {
		if err := spec.ValidateLink(n, l); err != nil {
			return err
		}
	}
	return nil
}

// usesSecret reports whether the client (method filled in) authenticates with a shared secret.
func usesSecret(c spec.Client) bool {
	switch c.TokenEndpointAuthMethod {
	case spec.AuthSecretBasic, spec.AuthSecretPost, spec.AuthSecretJWT:
		return true
	}
	return false
}

func allowed(v string, policy, held []string) bool {
	return slices.Contains(policy, v) || slices.Contains(held, v)
}

func sameSet(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	for _, v := range b {
		if !slices.Contains(a, v) {
			return false
		}
	}
	return true
}
