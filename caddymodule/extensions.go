package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
)

// Extension modules: custom grants (namespace oauth.grants) and claim contributors
// (namespace oauth.claims), built in with `xcaddy build --with <module>`. A guest module
// implements extension.Grant or extension.ClaimContributor (and, as any Caddy module, may
// implement caddy.Provisioner, caddy.Validator, caddy.CleanerUpper and
// caddyfile.Unmarshaler). examples/extension has one of each.

// Namespaces of the guest modules and the JSON keys that name them.
const (
	grantsNamespace = "oauth.grants"
	claimsNamespace = "oauth.claims"
	grantKey        = "grant"
	contributorKey  = "contributor"
)

// parseGrantModule reads `grant <name> { … }` into the module's JSON (its own subdirectives
// are the module's business: caddyfile.UnmarshalModule hands it the block).
func parseGrantModule(d *caddyfile.Dispenser) (json.RawMessage, error) {
	return parseGuestModule(d, grantsNamespace, grantKey)
}

// parseClaimsModule reads `claims <name> { … }`.
func parseClaimsModule(d *caddyfile.Dispenser) (json.RawMessage, error) {
	return parseGuestModule(d, claimsNamespace, contributorKey)
}

func parseGuestModule(d *caddyfile.Dispenser, namespace, key string) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	mod, err := caddyfile.UnmarshalModule(d, namespace+"."+name)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(mod, key, name, nil), nil
}

// extensionGrants loads the configured grant modules. With ctx (Provision) they are
// provisioned by Caddy; without (Validate, `caddy adapt`) they are only decoded, which is
// enough to learn the grant types they serve.
func (h *Handler) extensionGrants(ctx *caddy.Context) ([]extension.Grant, error) {
	if h.grants != nil {
		return h.grants, nil // provisioned: Caddy has dropped GrantsRaw (Validate runs after Provision)
	}
	mods, err := h.guestModules(ctx, "GrantsRaw", h.GrantsRaw, grantsNamespace, grantKey)
	if err != nil {
		return nil, err
	}
	out := make([]extension.Grant, len(mods))
	for i, m := range mods {
		g, ok := m.(extension.Grant)
		if !ok {
			return nil, fmt.Errorf("grants: module %T is not an extension.Grant", m)
		}
		out[i] = g
	}
	if ctx != nil {
		h.grants = out
	}
	return out, nil
}

// claimContributors loads the configured claim contributor modules (as extensionGrants).
func (h *Handler) claimContributors(ctx *caddy.Context) ([]extension.ClaimContributor, error) {
	if h.contributors != nil {
		return h.contributors, nil
	}
	mods, err := h.guestModules(ctx, "ClaimsRaw", h.ClaimsRaw, claimsNamespace, contributorKey)
	if err != nil {
		return nil, err
	}
	out := make([]extension.ClaimContributor, len(mods))
	for i, m := range mods {
		c, ok := m.(extension.ClaimContributor)
		if !ok {
			return nil, fmt.Errorf("claim_contributors: module %T is not an extension.ClaimContributor", m)
		}
		out[i] = c
	}
	if ctx != nil {
		h.contributors = out
	}
	return out, nil
}

func (h *Handler) guestModules(ctx *caddy.Context, field string, raws []json.RawMessage, namespace, key string) ([]any, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	if ctx != nil {
		loaded, err := ctx.LoadModule(h, field)
		if err != nil {
			return nil, fmt.Errorf("loading %s modules: %v", namespace, err)
		}
		return loaded.([]any), nil
	}
	out := make([]any, len(raws))
	for i, raw := range raws {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, fmt.Errorf("%s module %d: %v", namespace, i, err)
		}
		var name string
		if err := json.Unmarshal(named[key], &name); err != nil || name == "" {
			return nil, fmt.Errorf("%s module %d: the %q member naming the module is missing", namespace, i, key)
		}
		info, err := caddy.GetModule(namespace + "." + name)
		if err != nil {
			return nil, fmt.Errorf("%s module %q: %v (was it built in with xcaddy --with?)", namespace, name, err)
		}
		mod := info.New()
		delete(named, key)
		body, _ := json.Marshal(named)
		if err := caddy.StrictUnmarshalJSON(body, mod); err != nil {
			return nil, fmt.Errorf("%s module %q: %v", namespace, name, err)
		}
		out[i] = mod
	}
	return out, nil
}
