// Package exchange is OAuth 2.0 Token Exchange (RFC 8693): a client trades a token it holds
// (the subject token) — this server's access or ID token, or a JWT of a trusted issuer — for
// an access token to another resource, narrower in scope, optionally saying who acts for the
// subject (an actor token, the act claim). A policy says which clients may exchange whose
// tokens, for which resources and scopes.
//
// The package owns the request's parameters, the policy and the act claim. Validating tokens
// and minting the new one are the server's (Core).
package exchange

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
)

// GrantType is token exchange's grant_type.
const GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3).
const (
	TypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// SelfIssuer names this server in a rule's subject_issuers.
const SelfIssuer = "self"

// Actor requirements of a rule.
const (
	ActorOptional  = "optional"
	ActorRequired  = "required"
	ActorForbidden = "forbidden"
)

// Rule allows some clients to exchange some issuers' tokens for some resources and scopes.
type Rule struct {
	// Clients may use the rule (required).
	Clients []string
	// SubjectIssuers are whose subject tokens the rule accepts: "self" (this server's access
	// and ID tokens) and trusted issuers' identifiers (default: self).
	SubjectIssuers []string
	// Resources are the targets allowed (nil: any the client is linked to).
	Resources []string
	// Scopes bound the new token's scopes (nil: no bound beyond the subject token's own and
	// the client's and resource's allowlists).
	Scopes []string
	// Actor is optional (default), required (delegation only) or forbidden (impersonation only).
	Actor string
}

// Policy is the list of rules; a request must fit one.
type Policy struct {
	Rules []Rule
}

// Validate checks the policy; trusted reports whether an issuer is a trusted issuer.
func (p *Policy) Validate(trusted func(string) bool) error {
	for i := range p.Rules {
		r := &p.Rules[i]
		if len(r.Clients) == 0 {
			return fmt.Errorf("token_exchange rule %d: name the clients it applies to", i+1)
		}
		if len(r.SubjectIssuers) == 0 {
			r.SubjectIssuers = []string{SelfIssuer}
		}
		for _, iss := range r.SubjectIssuers {
			if iss != SelfIssuer && !trusted(iss) {
				return fmt.Errorf("token_exchange rule %d: subject issuer %q is neither self nor a trusted_issuer", i+1, iss)
			}
		}
		switch r.Actor {
		case "":
			r.Actor = ActorOptional
		case ActorOptional, ActorRequired, ActorForbidden:
		default:
			return fmt.Errorf("token_exchange rule %d: actor %q: want optional, required or forbidden", i+1, r.Actor)
		}
	}
	return nil
}

// Enabled reports whether any rule exists: without one the grant is not served.
func (p *Policy) Enabled() bool { return len(p.Rules) > 0 }

// Token is a validated subject or actor token as the exchange sees it.
type Token struct {
	// Issuer is SelfIssuer for this server's tokens, else the trusted issuer.
	Issuer string
	// Subject is the token's sub, as it says it.
	Subject string
	// AccountSubject is the local account behind a token of this server, when known.
	AccountSubject string
	// Scopes the token carried; nil when it carries none (an ID token, most external JWTs).
	Scopes []string
	// Act and MayAct are its act and may_act claims, if any.
	Act    map[string]any
	MayAct map[string]any
	// GrantID and SessionID tie a token of this server to its grant and login session: the
	// exchanged token inherits them, so revoking either revokes it too.
	GrantID, SessionID string
	Expiry             time.Time
}

// Core validates the tokens. Each returns an error for a token that is not valid (any error
// means the same to the client: invalid_request).
type Core interface {
	AccessToken(ctx context.Context, token string) (*Token, error)
	IDToken(ctx context.Context, token string) (*Token, error)
	ExternalJWT(ctx context.Context, token string) (*Token, error)
}

// Request is a token exchange request's parameters (RFC 8693 §2.1).
type Request struct {
	SubjectToken, SubjectTokenType string
	ActorToken, ActorTokenType     string
	RequestedTokenType             string
	// Targets are the resource and audience parameters together: both name resources here.
	Targets []string
	Scope   string
}

// ParseRequest reads the parameters and checks their shape.
func ParseRequest(form url.Values) (*Request, error) {
	r := &Request{
		SubjectToken: form.Get("subject_token"), SubjectTokenType: form.Get("subject_token_type"),
		ActorToken: form.Get("actor_token"), ActorTokenType: form.Get("actor_token_type"),
		RequestedTokenType: form.Get("requested_token_type"), Scope: form.Get("scope"),
	}
	switch {
	case r.SubjectToken == "" || r.SubjectTokenType == "":
		return nil, oautherr.Request("subject_token and subject_token_type are required")
	case (r.ActorToken == "") != (r.ActorTokenType == ""):
		return nil, oautherr.Request("actor_token and actor_token_type go together")
	}
	switch r.RequestedTokenType {
	case "", TypeAccessToken, TypeJWT:
	default:
		return nil, oautherr.Request("requested_token_type: only access tokens are issued (access_token or jwt)")
	}
	for _, name := range []string{"resource", "audience"} {
		for _, v := range form[name] {
			if !slices.Contains(r.Targets, v) {
				r.Targets = append(r.Targets, v)
			}
		}
	}
	return r, nil
}

// IssuedType is the issued_token_type of the response.
func (r *Request) IssuedType() string {
	if r.RequestedTokenType == TypeJWT {
		return TypeJWT
	}
	return TypeAccessToken
}

// Exchange decides token exchange requests.
type Exchange struct {
	Policy Policy
	Core   Core
}

// Accepted is a request that fits the policy so far: its tokens are valid and some rules
// apply to the client, the subject's issuer and the actor. The server then picks the target
// among the rules' resources (Rule.AllowsResource) and checks the scopes (Rule.AllowsScopes).
type Accepted struct {
	Subject *Token
	Actor   *Token
	// Rules are the policy's rules this request fits.
	Rules []Rule
	// Act is the new token's act claim (nil without an actor and without a prior chain).
	Act map[string]any
}

// bad is RFC 8693 §2.2.2: an invalid or unacceptable subject or actor token is
// invalid_request.
func bad(why string) error { return oautherr.Request(why) }

// Decide validates req's tokens for clientID and finds the rules it fits.
func (e *Exchange) Decide(ctx context.Context, clientID string, req *Request) (*Accepted, error) {
	var forClient []Rule
	for _, r := range e.Policy.Rules {
		if slices.Contains(r.Clients, clientID) {
			forClient = append(forClient, r)
		}
	}
	if len(forClient) == 0 {
		return nil, oautherr.New(oautherr.UnauthorizedClient, "no token exchange rule applies to this client")
	}
	subject, err := e.token(ctx, req.SubjectToken, req.SubjectTokenType)
	if err != nil {
		return nil, bad("the subject_token is not valid")
	}
	var actor *Token
	if req.ActorToken != "" {
		if actor, err = e.token(ctx, req.ActorToken, req.ActorTokenType); err != nil {
			return nil, bad("the actor_token is not valid")
		}
		if !mayAct(subject.MayAct, actor) {
			return nil, bad("the actor is not one the subject_token's may_act allows")
		}
	}
	var fit []Rule
	for _, r := range forClient {
		if !slices.Contains(r.SubjectIssuers, subject.Issuer) {
			continue
		}
		if actor == nil && r.Actor == ActorRequired || actor != nil && r.Actor == ActorForbidden {
			continue
		}
		fit = append(fit, r)
	}
	if len(fit) == 0 {
		return nil, bad("the token exchange policy does not allow this subject_token or actor for this client")
	}
	return &Accepted{Subject: subject, Actor: actor, Rules: fit, Act: actClaim(subject, actor)}, nil
}

func (e *Exchange) token(ctx context.Context, token, typ string) (*Token, error) {
	switch typ {
	case TypeAccessToken:
		return e.Core.AccessToken(ctx, token)
	case TypeIDToken:
		return e.Core.IDToken(ctx, token)
	case TypeJWT:
		// A JWT may be this server's access or ID token too; an external one is tried last.
		if t, err := e.Core.AccessToken(ctx, token); err == nil {
			return t, nil
		}
		if t, err := e.Core.IDToken(ctx, token); err == nil {
			return t, nil
		}
		return e.Core.ExternalJWT(ctx, token)
	}
	return nil, fmt.Errorf("unsupported token type")
}

// actClaim is RFC 8693 §4.1: the actor becomes the outermost act, prior actors (the subject
// token's own act, and the actor token's) nest inside it. Without an actor the subject token's
// chain, if any, is kept.
func actClaim(subject, actor *Token) map[string]any {
	if actor == nil {
		return subject.Act
	}
	act := map[string]any{"sub": actor.Subject}
	if actor.Issuer != SelfIssuer {
		act["iss"] = actor.Issuer
	}
	prior := subject.Act
	if actor.Act != nil {
		prior = actor.Act
	}
	if prior != nil {
		act["act"] = prior
	}
	return act
}

// mayAct is RFC 8693 §4.4: when the subject token names who may act for it, the actor must
// be that party (its sub, and its iss when may_act names one).
func mayAct(allowed map[string]any, actor *Token) bool {
	if allowed == nil {
		return true
	}
	if sub, ok := allowed["sub"].(string); ok && sub != actor.Subject {
		return false
	}
	if iss, ok := allowed["iss"].(string); ok && iss != actor.Issuer {
		return false
	}
	return true
}

// AllowsResource reports whether the rule allows identifier as the target.
func (r Rule) AllowsResource(identifier string) bool {
	return r.Resources == nil || slices.Contains(r.Resources, identifier)
}

// AllowsScopes reports whether scopes fit the rule and the subject token's own scopes: an
// exchange narrows, never widens.
func (r Rule) AllowsScopes(scopes []string, subject *Token) bool {
	for _, sc := range scopes {
		if r.Scopes != nil && !slices.Contains(r.Scopes, sc) {
			return false
		}
		if subject.Scopes != nil && !slices.Contains(subject.Scopes, sc) {
			return false
		}
	}
	return true
}
