package rsvalidate

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// policyTTL is how long the local issuer's resource policy is reused: a policy change takes
// effect within it, and the hot path does not ask the store on every request.
const policyTTL = 5 * time.Second

type policyCache struct {
	mu  sync.Mutex // one refresh at a time
	cur atomic.Pointer[policyEntry]
}

type policyEntry struct {
	p  *ResourcePolicy // nil: the issuer does not know the resource
	at time.Time
}

// resourcePolicy returns the local issuer's policy for the resource (nil without a local
// issuer). While one caller refreshes it the others use the previous one; when a refresh
// fails the previous one stays in use.
func (v *Validator) resourcePolicy(ctx context.Context) (*ResourcePolicy, error) {
	if v.cfg.Local == nil {
		return nil, nil
	}
	fresh := func(e *policyEntry) bool { return e != nil && v.now().Sub(e.at) < policyTTL }
	cur := v.policy.cur.Load()
	if fresh(cur) {
		return cur.p, nil
	}
	if cur != nil {
		if !v.policy.mu.TryLock() {
			return cur.p, nil
		}
	} else {
		v.policy.mu.Lock()
	}
	defer v.policy.mu.Unlock()
	if e := v.policy.cur.Load(); fresh(e) {
		return e.p, nil
	}
	p, err := v.cfg.Local.ResourcePolicy(ctx, v.cfg.Audience)
	if err != nil {
		if cur != nil {
			return cur.p, nil
		}
		return nil, err
	}
	v.policy.cur.Store(&policyEntry{p: p, at: v.now()})
	return p, nil
}

// dpopRequired: by local configuration or by the issuer's policy for the resource.
func (v *Validator) dpopRequired(ctx context.Context) (bool, error) {
	if v.cfg.RequireDPoP {
		return true, nil
	}
	p, err := v.resourcePolicy(ctx)
	return p != nil && p.DPoPBoundAccessTokensRequired, err
}

// Authorize applies a route's policy: every scope in scopes must be granted (403
// insufficient_scope with the scope parameter), every claim name must have one of its values.
func (v *Validator) Authorize(id *Identity, scopes []string, claims map[string][]string) *Error {
	for _, s := range scopes {
		if !slices.Contains(id.Scopes, s) {
			return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope,
				Description: "insufficient scope", Scope: strings.Join(scopes, " "), scheme: id.Scheme}
		}
	}
	for name, want := range claims {
		if !claimMatches(claimValue(id, name), want) {
			return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope,
				Description: "access token lacks a required " + name + " claim value", scheme: id.Scheme}
		}
	}
	return nil
}

// claimValue finds a claim by name, in the registered fields first: introspection and the
// local issuer keep those out of Claims.
func claimValue(id *Identity, name string) any {
	switch name {
	case "sub":
		return id.Subject
	case "client_id":
		return id.ClientID
	case "iss":
		return id.Issuer
	case "jti":
		return id.JTI
	case "scope":
		return id.Scopes
	case "aud":
		return id.Audience
	}
	return id.Claims[name]
}

// claimMatches: the claim (or, for an array, one of its elements) equals one of want.
func claimMatches(claim any, want []string) bool {
	switch c := claim.(type) {
	case []string:
		return slices.ContainsFunc(c, func(s string) bool { return slices.Contains(want, s) })
	case []any:
		return slices.ContainsFunc(c, func(e any) bool { return claimMatches(e, want) })
	case string:
		return c != "" && slices.Contains(want, c)
	case json.Number:
		return slices.Contains(want, c.String())
	case float64:
		return slices.Contains(want, strconv.FormatFloat(c, 'f', -1, 64))
	case bool:
		return slices.Contains(want, strconv.FormatBool(c))
	}
	return false
}

// authorizationServers are the issuers the metadata names.
func (v *Validator) authorizationServers() []string {
	if len(v.cfg.AuthorizationServers) > 0 {
		return v.cfg.AuthorizationServers
	}
	return []string{v.issuer}
}

// Metadata returns the RFC 9728 protected resource metadata document (JSON).
func (v *Validator) Metadata() []byte {
	required, _ := v.dpopRequired(context.Background())
	md := struct {
		Resource                      string   `json:"resource"`
		AuthorizationServers          []string `json:"authorization_servers"`
		ScopesSupported               []string `json:"scopes_supported,omitempty"`
		BearerMethodsSupported        []string `json:"bearer_methods_supported"`
		DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
		DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required"`
	}{
		Resource:                      v.cfg.Resource,
		AuthorizationServers:          v.authorizationServers(),
		ScopesSupported:               v.cfg.ScopesSupported,
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: v.dpopAlgs,
		DPoPBoundAccessTokensRequired: required,
	}
	if md.ScopesSupported == nil {
		if p, _ := v.resourcePolicy(context.Background()); p != nil {
			md.ScopesSupported = p.ScopesSupported
		}
	}
	if v.cfg.AllowBodyToken {
		md.BearerMethodsSupported = append(md.BearerMethodsSupported, "body")
	}
	if v.cfg.AllowQueryToken {
		md.BearerMethodsSupported = append(md.BearerMethodsSupported, "query")
	}
	b, _ := json.Marshal(md)
	return b
}
