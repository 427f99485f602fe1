package authserver

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"sort"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// maxClaimsParam bounds the claims parameter: a request for every standard claim in both
// members is under 2 KiB.
const maxClaimsParam = 8 << 10

// claimsRequest is the OpenID Connect claims request parameter (OIDC Core §5.5): individual
// claims wanted in the ID token and from userinfo, beyond what the scopes release.
type claimsRequest struct {
	UserInfo map[string]*claimSpec `json:"userinfo,omitempty"`
	IDToken  map[string]*claimSpec `json:"id_token,omitempty"`
	// Extra are claims a delegated login or consent app added to the ID tokens of this
	// authorization (delegated_wiring.go). Never read from the claims parameter; stored with
	// the code and the grant, so refreshed ID tokens carry them too.
	Extra map[string]any `json:"extra_id_token,omitempty"`
}

// withExtra returns cr with extra added to its Extra claims (cr may be nil).
func (cr *claimsRequest) withExtra(extra map[string]any) *claimsRequest {
	if len(extra) == 0 {
		return cr
	}
	if cr == nil {
		cr = &claimsRequest{}
	}
	if cr.Extra == nil {
		cr.Extra = map[string]any{}
	}
	maps.Copy(cr.Extra, extra)
	return cr
}

// claimSpec is one requested claim; nil (JSON null) asks for it in the default manner.
type claimSpec struct {
	Essential bool  `json:"essential,omitempty"`
	Value     any   `json:"value,omitempty"`
	Values    []any `json:"values,omitempty"`
}

// parseClaimsRequest validates the claims parameter: a JSON object whose userinfo and id_token
// members are objects of claim name → null or {essential, value, values}. Other members are
// ignored, as §5.5 asks.
func parseClaimsRequest(param string) (*claimsRequest, *oautherr.Error) {
	if param == "" {
		return nil, nil
	}
	if len(param) > maxClaimsParam {
		return nil, oautherr.Request("the claims parameter is too large")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(param), &raw); err != nil {
		return nil, oautherr.Request("the claims parameter must be a JSON object (OpenID Connect Core, section 5.5)")
	}
	cr := &claimsRequest{}
	for member, dst := range map[string]*map[string]*claimSpec{"userinfo": &cr.UserInfo, "id_token": &cr.IDToken} {
		body, ok := raw[member]
		if !ok || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			continue
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(body, &claims); err != nil {
			return nil, oautherr.Request("claims." + member + " must be an object")
		}
		*dst = make(map[string]*claimSpec, len(claims))
		for name, spec := range claims {
			var cs *claimSpec
			if err := json.Unmarshal(spec, &cs); err != nil {
				// member is one of the two names above; name is request input.
				return nil, oautherr.Request("every claim in claims." + member + " must be null or an object")
			}
			(*dst)[name] = cs
		}
	}
	if len(cr.UserInfo) == 0 && len(cr.IDToken) == 0 {
		return nil, nil
	}
	return cr, nil
}

// encode is the stored form of the request ("" for none).
func (cr *claimsRequest) encode() string {
	if cr == nil {
		return ""
	}
	b, _ := json.Marshal(cr) // maps of plain JSON values always marshal
	return string(b)
}

// decodeClaimsRequest reads a stored claims request; a corrupt one counts as none.
func decodeClaimsRequest(stored string) *claimsRequest {
	if stored == "" {
		return nil
	}
	var cr claimsRequest
	if json.Unmarshal([]byte(stored), &cr) != nil {
		return nil
	}
	return &cr
}

// names returns the requested claim names of one member, sorted.
func names(m map[string]*claimSpec) []string {
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// forClient returns the request without the claims the client may not have released
// (account.Releasable against its allowed scopes), nil when nothing is left. Claims that no
// scope releases (sub, acr) steer authentication instead of releasing data and stay. OIDC Core
// §5.5 lets the server leave out claims it will not return, so the rest are dropped silently.
func (cr *claimsRequest) forClient(client *store.Client) *claimsRequest {
	if cr == nil {
		return nil
	}
	keep := func(m map[string]*claimSpec) map[string]*claimSpec {
		out := make(map[string]*claimSpec, len(m))
		for name, spec := range m {
			if account.ScopeOf(name) == "" || account.Releasable(name, client.Scopes) {
				out[name] = spec
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	out := &claimsRequest{UserInfo: keep(cr.UserInfo), IDToken: keep(cr.IDToken)}
	if out.UserInfo == nil && out.IDToken == nil {
		return nil
	}
	return out
}

// impliedScopes are the standard scopes whose claims the request asks for: the user consents
// to them as if they had been requested as scopes.
func (cr *claimsRequest) impliedScopes() []string {
	if cr == nil {
		return nil
	}
	var out []string
	for _, m := range []map[string]*claimSpec{cr.UserInfo, cr.IDToken} {
		for name := range m {
			if sc := account.ScopeOf(name); sc != "" && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	sort.Strings(out)
	return out
}

// requiredSubject is the sub the request insists on (a value for sub in either member), or "".
func (cr *claimsRequest) requiredSubject() string {
	if cr == nil {
		return ""
	}
	for _, m := range []map[string]*claimSpec{cr.IDToken, cr.UserInfo} {
		if spec := m["sub"]; spec != nil {
			if v, ok := spec.Value.(string); ok {
				return v
			}
		}
	}
	return ""
}

// acrRequest returns the acr values asked for in the ID token member and whether they are
// essential (OIDC Core §5.5.1.1).
func (cr *claimsRequest) acrRequest() (values []string, essential bool) {
	if cr == nil || cr.IDToken["acr"] == nil {
		return nil, false
	}
	spec := cr.IDToken["acr"]
	if v, ok := spec.Value.(string); ok {
		values = append(values, v)
	}
	for _, v := range spec.Values {
		if v, ok := v.(string); ok {
			values = append(values, v)
		}
	}
	return values, spec.Essential
}
