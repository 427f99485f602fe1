package authserver

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
)

// endUserDefaults fills and checks the configuration of the end-user flows: TTLs, accounts
// and the OIDC fields of clients.
func (c *Config) endUserDefaults() error {
	if c.CodeTTL == 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionIdleTTL == 0 {
		c.SessionIdleTTL = DefaultSessionIdleTTL
	}
	if c.InteractionTTL == 0 {
		c.InteractionTTL = DefaultInteractionTTL
	}
	if c.CodeTTL < 0 || c.SessionTTL < 0 || c.InteractionTTL < 0 || c.RefreshGracePeriod < 0 {
		return errors.New("code_ttl, session_ttl, interaction_ttl and refresh_grace_period must not be negative")
	}
	if c.CodeTTL > 10*60e9 {
		return errors.New("code_ttl must not exceed 10 minutes (RFC 6749 §4.1.2)")
	}
	limits, err := c.LoginLimiterConfig()
	if err != nil {
		return err
	}
	c.LoginFailuresPerAccount, c.LoginFailuresPerIP, c.LoginWindow = limits.FailuresPerAccount, limits.FailuresPerIP, limits.Window
	c.LoginDelayBase, c.LoginDelayMax = limits.DelayBase, limits.DelayMax
	users := map[string]bool{}
	for i, ac := range c.Accounts {
		name := account.NormalizeUsername(ac.Username)
		if name == "" {
			return errors.New("an account needs a username")
		}
		if users[name] {
			return fmt.Errorf("account %s is declared twice", name)
		}
		users[name] = true
		c.Accounts[i].Username = name
		switch {
		case ac.Password != "" && ac.PasswordHash != "":
			return fmt.Errorf("account %s: set password or password_hash, not both", name)
		case ac.Password == "" && ac.PasswordHash == "":
			return fmt.Errorf("account %s: password or password_hash is required", name)
		case ac.PasswordHash != "":
			if err := account.ValidateHash(ac.PasswordHash); err != nil {
				return fmt.Errorf("account %s: %w", name, err)
			}
		}
		if err := account.ValidateClaims(ac.Claims); err != nil {
			return fmt.Errorf("account %s: %w", name, err)
		}
	}
	for i := range c.Clients {
		if err := c.checkClientEndUser(&c.Clients[i]); err != nil {
			return fmt.Errorf("client %s: %w", c.Clients[i].ID, err)
		}
	}
	return nil
}

// LoginLimiterConfig is the sign-in throttling c asks for, with defaults for the zero fields
// (the one place these options are checked; caddymodule calls it too). Only Clock is left
// for the caller.
func (c Config) LoginLimiterConfig() (account.LimiterConfig, error) {
	l := account.LimiterConfig{
		FailuresPerAccount: cmp.Or(c.LoginFailuresPerAccount, account.DefaultFailuresPerAccount),
		FailuresPerIP:      cmp.Or(c.LoginFailuresPerIP, account.DefaultFailuresPerIP),
		Window:             cmp.Or(c.LoginWindow, account.DefaultLoginWindow),
		DelayBase:          cmp.Or(c.LoginDelayBase, account.DefaultDelayBase),
		DelayMax:           cmp.Or(c.LoginDelayMax, account.DefaultDelayMax),
	}
	switch {
	case l.FailuresPerAccount < 0 || l.FailuresPerIP < 0:
		return l, errors.New("login_limits: the per-account and per-IP limits must be positive integers")
	case l.Window < 0:
		return l, errors.New("login_limits: the window must be positive")
	case l.DelayBase < 0 || l.DelayMax < 0:
		return l, errors.New("login_delay: the base and the maximum must be positive")
	case l.DelayBase > l.DelayMax:
		return l, fmt.Errorf("login_delay: the base %s exceeds the maximum %s", l.DelayBase, l.DelayMax)
	case l.DelayMax > account.MaxDelay:
		return l, fmt.Errorf("login_delay: the maximum must not exceed %s (a delayed sign-in holds its request open)", account.MaxDelay)
	}
	return l, nil
}

func (c *Config) checkClientEndUser(cc *ClientConfig) error {
	for _, uri := range cc.RedirectURIs {
		if err := ValidateRedirectURI(uri); err != nil {
			return err
		}
	}
	for _, uri := range cc.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(uri); err != nil {
			return fmt.Errorf("post_logout_redirect_uri: %w", err)
		}
	}
	idAlg := cmp.Or(cc.IDTokenSignedResponseAlg, DefaultIDTokenSigningAlg)
	if slices.Contains(cc.GrantTypes, "authorization_code") && !slices.Contains(c.SigningAlgs, idAlg) {
		return fmt.Errorf("ID tokens signed with %s need a signing key: add it to signing_algs", idAlg)
	}
	switch cc.SubjectType {
	case "", "public":
	case "pairwise":
		if cc.SectorIdentifier == "" {
			host, err := sectorFromRedirects(cc.RedirectURIs)
			if err != nil {
				return err
			}
			cc.SectorIdentifier = host
		}
	default:
		return fmt.Errorf("subject_type %q: want public or pairwise", cc.SubjectType)
	}
	return nil
}

// sectorFromRedirects is OIDC Core §8.1: without a sector_identifier_uri the sector is the host
// of the redirect URIs, which must then all share it.
func sectorFromRedirects(uris []string) (string, error) {
	var host string
	for _, uri := range uris {
		u, _ := url.Parse(uri) // validated before
		if host != "" && u.Host != host {
			return "", errors.New("pairwise subjects need one sector: redirect_uris have several hosts, so set sector_identifier")
		}
		host = u.Host
	}
	if host == "" {
		return "", errors.New("pairwise subjects need redirect_uris or a sector_identifier")
	}
	return host, nil
}

// ValidateRedirectURI enforces what a registered redirect URI may be (RFC 6749 §3.1.2,
// RFC 8252 §7, RFC 9700 §2.1): absolute, no fragment, https — or http on loopback only, or a
// private-use scheme of a native app.
func ValidateRedirectURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || strings.Contains(uri, "#") {
		return fmt.Errorf("redirect URI %q must be an absolute URI without a fragment", uri)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", uri)
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http is allowed only on loopback; use https", uri)
		}
	default:
		// Private-use URI schemes (RFC 8252 §7.1) look like reverse domain names.
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("redirect URI %q: a native app's scheme must be a reverse domain name (RFC 8252 §7.1)", uri)
		}
	}
	return nil
}
