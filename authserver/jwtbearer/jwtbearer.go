// Package jwtbearer is the JWT bearer authorization grant (RFC 7523 §2.1): a client presents
// a JWT a trusted issuer signed (an identity provider's assertion about a user, a workload
// identity token) and gets an access token for the subject it names. The package owns the
// assertion's rules; which issuers are trusted and how their keys are found is package
// trust's, and minting is the server's.
package jwtbearer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
)

// GrantType is the grant's grant_type.
const GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// How an assertion's sub becomes the token's subject.
const (
	// SubjectAccount: sub is a local account's subject; the token is that user's (pairwise
	// for pairwise clients, with the account's claims), and the account must be active.
	SubjectAccount = "account"
	// SubjectClient: sub must be the presenting client's ID; the token is the client's own.
	SubjectClient = "client"
	// SubjectExternal: the token's sub is the assertion's, as is (a workload or partner
	// identity that has no account here).
	SubjectExternal = "external"
)

// DefaultMaxLifetime bounds how far ahead an assertion's exp may be.
const DefaultMaxLifetime = time.Hour

// Policy says what one trusted issuer's assertions may obtain.
type Policy struct {
	// Issuer is the trusted issuer (package trust) the policy is for.
	Issuer string
	// Subject is SubjectAccount, SubjectClient or SubjectExternal.
	Subject string
	// Clients may present the issuer's assertions (required: no client may by default).
	Clients []string
	// Scopes and Resources bound what the tokens may carry and be for (nil: no bound beyond
	// the client's own allowlists and links).
	Scopes    []string
	Resources []string
	// MaxLifetime bounds exp − now (default 1 h).
	MaxLifetime time.Duration
}

// Validate checks the policy, given whether its issuer is trusted.
func (p *Policy) Validate(trusted bool) error {
	if !trusted {
		return fmt.Errorf("jwt_bearer: issuer %q is not a trusted_issuer", p.Issuer)
	}
	switch p.Subject {
	case SubjectAccount, SubjectClient, SubjectExternal:
	default:
		return fmt.Errorf("jwt_bearer of %q: subject %q: want account, client or external", p.Issuer, p.Subject)
	}
	if len(p.Clients) == 0 {
		return fmt.Errorf("jwt_bearer of %q: name the clients that may present its assertions", p.Issuer)
	}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = DefaultMaxLifetime
	}
	if p.MaxLifetime < 0 || p.MaxLifetime > 24*time.Hour {
		return fmt.Errorf("jwt_bearer of %q: max_lifetime %s: want at most 24h", p.Issuer, p.MaxLifetime)
	}
	return nil
}

// Grant checks assertions.
type Grant struct {
	Trust *trust.Set
	// Policies by issuer.
	Policies map[string]Policy
	// Audience is this server's issuer identifier, which an assertion's aud must name.
	Audience string
	Replay   store.ReplayStore
	Now      func() time.Time
}

// Accepted is a verified assertion and the policy that admitted it.
type Accepted struct {
	Token  *trust.Token
	Policy Policy
}

// invalid is the one answer for an unusable assertion: the client learns nothing that would
// help forge one.
func invalid(why string) error { return oautherr.New(oautherr.InvalidGrant, why) }

// Check verifies assertion for clientID without spending it: the signature and times
// (package trust), the issuer's policy, the audience, exp's bound and jti's presence.
func (g *Grant) Check(ctx context.Context, clientID, assertion string) (*Accepted, error) {
	if assertion == "" {
		return nil, oautherr.Request("assertion is required")
	}
	tok, err := g.Trust.Verify(ctx, assertion)
	switch {
	case errors.Is(err, trust.ErrUnknownIssuer):
		return nil, invalid("the assertion's issuer is not trusted")
	case err != nil:
		return nil, invalid("the assertion is not valid")
	}
	p, ok := g.Policies[tok.Issuer]
	if !ok {
		return nil, invalid("the assertion's issuer is not trusted for this grant")
	}
	if !slices.Contains(p.Clients, clientID) {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "the client may not present this issuer's assertions")
	}
	if !tok.HasAudience(g.Audience) {
		return nil, invalid("the assertion's aud must name this authorization server's issuer identifier")
	}
	if tok.Expiry.Sub(g.Now()) > p.MaxLifetime {
		return nil, invalid("the assertion's exp is too far ahead")
	}
	if tok.JTI == "" {
		return nil, invalid("the assertion has no jti")
	}
	if p.Subject == SubjectClient && tok.Subject != clientID {
		return nil, invalid("the assertion's sub must be the client's ID")
	}
	return &Accepted{Token: tok, Policy: p}, nil
}

// Spend records the assertion's jti until it expires: a second presentation, on this or
// another instance sharing the store, is invalid_grant.
func (g *Grant) Spend(ctx context.Context, a *Accepted) error {
	// A space cannot occur in an issuer URI; a NUL byte, which would, cannot be stored in
	// PostgreSQL text.
	key := "jwt-bearer:" + a.Token.Issuer + " " + a.Token.JTI
	err := g.Replay.UseOnce(ctx, key, a.Token.Expiry.Add(trust.Skew))
	if errors.Is(err, store.ErrConflict) {
		return invalid("the assertion was already used")
	}
	return err
}
