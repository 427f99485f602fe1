package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// ResourceIssuer is one more authorization server an oauth_resource trusts, beside its
// `issuer` (several tenants' issuers, or the old and the new one during a migration). Tokens
// are routed to it by their iss, so no other issuer's keys are tried.
type ResourceIssuer struct {
	Issuer string `json:"issuer"`
	// Audience is what this issuer's tokens carry in aud for the resource; default the
	// resource identifier.
	Audience string `json:"audience,omitempty"`
	// Algs restricts its access token signature algorithms.
	Algs           []string `json:"algs,omitempty"`
	AcceptPlainJWT bool     `json:"accept_plain_jwt,omitempty"`
	// IntrospectionClientID and IntrospectionClientSecret authenticate introspection of opaque
	// tokens. Only the handler's own issuer takes them: an opaque token names no issuer, so
	// it is only ever asked of the first.
	IntrospectionClientID     string `json:"introspection_client_id,omitempty"`
	IntrospectionClientSecret string `json:"introspection_client_secret,omitempty"`
	// SubjectClaim, ScopeClaim and ClientIDClaim name the claims the identity is read from
	// when the issuer does not use sub, scope (or scp) and client_id.
	SubjectClaim  string `json:"subject_claim,omitempty"`
	ScopeClaim    string `json:"scope_claim,omitempty"`
	ClientIDClaim string `json:"client_id_claim,omitempty"`
}

// validate checks one issuer's settings; what is named in the error says which one.
func (ri ResourceIssuer) validate() error {
	if err := authserver.ValidateIssuer(ri.Issuer); err != nil {
		return err
	}
	if ri.Audience != "" {
		if err := checkAbsoluteURI("audience", ri.Audience); err != nil {
			return err
		}
	}
	if (ri.IntrospectionClientID == "") != (ri.IntrospectionClientSecret == "") {
		return errors.New("introspection_client: both a client ID and a secret are required")
	}
	for _, alg := range ri.Algs {
		if err := checkEnum("algs", alg, asymmetricAlgs); err != nil || alg == "" {
			return fmt.Errorf("algs: unsupported value %q (want one of %s)", alg, strings.Join(asymmetricAlgs, ", "))
		}
	}
	return nil
}

// issuerSlot is a trusted issuer's live state: its remote state (shared across reloads) and
// its validator, built on first use.
type issuerSlot struct {
	cfg    ResourceIssuer
	remote *remoteIssuer
	// revocations: the handler's revocation stream applies (the first issuer only).
	revocations bool

	mu        sync.Mutex // serializes building the validator
	validator atomic.Pointer[rsvalidate.Validator]
}

// primaryIssuer is the handler's own issuer settings as a ResourceIssuer.
func (h *ResourceHandler) primaryIssuer() ResourceIssuer {
	return ResourceIssuer{Issuer: h.Issuer, Audience: h.Audience, Algs: h.Algs, AcceptPlainJWT: h.AcceptPlainJWT,
		IntrospectionClientID: h.IntrospectionClientID, IntrospectionClientSecret: h.IntrospectionClientSecret,
		SubjectClaim: h.SubjectClaim, ScopeClaim: h.ScopeClaim, ClientIDClaim: h.ClientIDClaim}
}

// provisionIssuers makes a slot per trusted issuer, the handler's own first, taking this
// generation's references to their shared remote state.
func (h *ResourceHandler) provisionIssuers(repl *caddy.Replacer) error {
	all := append([]ResourceIssuer{h.primaryIssuer()}, h.Issuers...)
	h.byIssuer = make(map[string]*issuerSlot, len(all))
	for i, cfg := range all {
		if cfg.IntrospectionClientID != "" {
			var err error
			if cfg.IntrospectionClientID, err = repl.ReplaceOrErr(cfg.IntrospectionClientID, true, true); err != nil {
				return errors.New("introspection_client: unresolved or empty placeholder in the client ID")
			}
			if cfg.IntrospectionClientSecret, err = repl.ReplaceOrErr(cfg.IntrospectionClientSecret, true, true); err != nil {
				return errors.New("introspection_client: unresolved or empty placeholder in the secret")
			}
		}
		remote, release, err := h.app.remoteIssuer(cfg.Issuer)
		if err != nil {
			return err
		}
		h.releases = append(h.releases, release)
		slot := &issuerSlot{cfg: cfg, remote: remote, revocations: i == 0}
		h.slots = append(h.slots, slot)
		h.byIssuer[cfg.Issuer] = slot
		h.authorizationServers = append(h.authorizationServers, cfg.Issuer)
	}
	h.remote = h.slots[0].remote
	h.IntrospectionClientID, h.IntrospectionClientSecret = h.slots[0].cfg.IntrospectionClientID, h.slots[0].cfg.IntrospectionClientSecret
	return nil
}

// getValidator returns the validator of the handler's own issuer.
func (h *ResourceHandler) getValidator(r *http.Request) (*rsvalidate.Validator, error) {
	if len(h.slots) == 0 {
		return nil, errors.New("oauth_resource: used after cleanup")
	}
	return h.build(r, h.slots[0])
}

// validatorFor returns the validator of the issuer the request's token names. With one issuer
// that is always it. With several, a JWT goes to the issuer of its iss (an unknown one is
// refused at once, with no network call); a request without a token, or with an opaque one,
// goes to the first issuer. err is set when the chosen issuer cannot be reached (503).
func (h *ResourceHandler) validatorFor(r *http.Request) (*rsvalidate.Validator, *rsvalidate.Error, error) {
	primary, err := h.getValidator(r)
	if len(h.slots) < 2 {
		return primary, nil, err
	}
	probe := primary
	for _, slot := range h.slots[1:] {
		if probe != nil {
			break
		}
		probe, _ = h.build(r, slot)
	}
	if probe == nil {
		return nil, nil, err // no issuer can be reached: nothing can be decided
	}
	// Every validator reads credentials alike (one configuration): any can find the token.
	iss, isJWT := rsvalidate.IssuerOf(probe.PresentedToken(r))
	if !isJWT || iss == h.slots[0].cfg.Issuer {
		return primary, nil, err
	}
	slot, ok := h.byIssuer[iss]
	if !ok {
		return probe, rsvalidate.UnknownIssuer(), nil
	}
	v, err := h.build(r, slot)
	return v, nil, err
}

// build returns slot's validator, building it on first use: the issuer is looked up in this
// Caddy only now, because handlers provision in any order.
func (h *ResourceHandler) build(r *http.Request, slot *issuerSlot) (*rsvalidate.Validator, error) {
	if v := slot.validator.Load(); v != nil {
		return v, nil
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if v := slot.validator.Load(); v != nil {
		return v, nil
	}
	if h.app == nil {
		return nil, errors.New("oauth_resource: used after cleanup")
	}
	iss := slot.cfg
	cfg := h.base
	cfg.Issuer, cfg.Audience, cfg.Algs, cfg.AcceptPlainJWT = iss.Issuer, iss.Audience, iss.Algs, iss.AcceptPlainJWT
	cfg.Claims = rsvalidate.ClaimNames{Subject: iss.SubjectClaim, Scope: iss.ScopeClaim, ClientID: iss.ClientIDClaim}
	cfg.AuthorizationServers = h.authorizationServers
	if srv, ok := h.app.Issuer(iss.Issuer); ok {
		cfg.Local = localIssuer{srv}
	} else {
		_, keys, err := slot.remote.resolve(r.Context())
		if err != nil {
			return nil, err
		}
		cfg.Keys = keys
		if slot.revocations {
			cfg.Revocations = h.revocations()
		}
		if iss.IntrospectionClientID != "" {
			in, err := slot.remote.introspector(iss.IntrospectionClientID, iss.IntrospectionClientSecret)
			if err != nil {
				h.logger.Error("cannot set up introspection", zap.String("issuer", iss.Issuer), zap.Error(err))
				return nil, err
			}
			cfg.Introspector = in
		}
	}
	v, err := rsvalidate.New(cfg)
	if err != nil {
		h.logger.Error("cannot set up access token validation", zap.String("issuer", iss.Issuer), zap.Error(err))
		return nil, err
	}
	slot.validator.Store(v)
	return v, nil
}

// closeValidators closes every built validator (Cleanup).
func (h *ResourceHandler) closeValidators() {
	for _, slot := range h.slots {
		slot.mu.Lock()
		if v := slot.validator.Swap(nil); v != nil {
			v.Close()
		}
		slot.mu.Unlock()
	}
}

// unmarshalIssuer reads `issuer <url> [{ … }]`: the first sets the handler's own issuer (its
// block the same settings as the top-level options), each further one adds a trusted issuer.
func (h *ResourceHandler) unmarshalIssuer(d *caddyfile.Dispenser) error {
	var ri ResourceIssuer
	if !d.NextArg() {
		return d.ArgErr()
	}
	ri.Issuer = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	primary := h.Issuer == ""
	if primary {
		ri = h.primaryIssuer()
		ri.Issuer = d.Val()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "audience":
			ri.Audience, err = oneArg(d)
		case "algs":
			ri.Algs, err = enumArgs(d, asymmetricAlgs)
		case "accept_plain_jwt":
			ri.AcceptPlainJWT, err = boolArg(d)
		case "introspection_client":
			if !d.AllArgs(&ri.IntrospectionClientID, &ri.IntrospectionClientSecret) {
				return d.Err("usage: introspection_client <client_id> <secret>")
			}
		case "subject_claim":
			ri.SubjectClaim, err = oneArg(d)
		case "scope_claim":
			ri.ScopeClaim, err = oneArg(d)
		case "client_id_claim":
			ri.ClientIDClaim, err = oneArg(d)
		default:
			return d.Errf("issuer: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if primary {
		h.Issuer, h.Audience, h.Algs, h.AcceptPlainJWT = ri.Issuer, ri.Audience, ri.Algs, ri.AcceptPlainJWT
		h.IntrospectionClientID, h.IntrospectionClientSecret = ri.IntrospectionClientID, ri.IntrospectionClientSecret
		h.SubjectClaim, h.ScopeClaim, h.ClientIDClaim = ri.SubjectClaim, ri.ScopeClaim, ri.ClientIDClaim
		return nil
	}
	h.Issuers = append(h.Issuers, ri)
	return nil
}

// validateIssuers checks every trusted issuer and that none is named twice.
func (h *ResourceHandler) validateIssuers() error {
	seen := map[string]bool{}
	for i, ri := range append([]ResourceIssuer{h.primaryIssuer()}, h.Issuers...) {
		if err := ri.validate(); err != nil {
			if i == 0 {
				return err
			}
			return fmt.Errorf("issuer %s: %w", ri.Issuer, err)
		}
		if i > 0 && ri.IntrospectionClientID != "" {
			return fmt.Errorf("issuer %s: introspection_client: only the first issuer introspects (an opaque token names no issuer)", ri.Issuer)
		}
		if seen[ri.Issuer] {
			return fmt.Errorf("issuer %s: trusted twice", ri.Issuer)
		}
		seen[ri.Issuer] = true
	}
	return nil
}
