package authserver

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
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
	if c.CleanupInterval == 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.CleanupInterval < time.Second {
		return errors.New("cleanup_interval must be at least 1s")
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
		if err := spec.ValidateAccount(ac); err != nil {
			return err
		}
		name := account.NormalizeUsername(ac.Username)
		if users[name] {
			return fmt.Errorf("account %q: declared twice", name)
		}
		users[name] = true
		c.Accounts[i].Username = name
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
