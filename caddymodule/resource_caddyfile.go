package caddymodule

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauth_resource", parseResourceCaddyfile)
	// With Caddy's own authentication handlers, just after basic_auth and forward_auth:
	// before every handler of its block that could answer the request (templates, invoke,
	// handle, route, respond, metrics, reverse_proxy, php_fastcgi, file_server…), and before
	// request_header, which may then use {oauth.*}. Anchored on request_header so that a
	// directive registered earlier after forward_auth (oauth_server, if it moves there)
	// stays ahead of it. TestResourceDirectiveOrder checks it.
	httpcaddyfile.RegisterDirectiveOrder("oauth_resource", httpcaddyfile.Before, "request_header")
}

func parseResourceCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(ResourceHandler)
	// The helper knows the site block's named matchers, which rules refer to.
	if err := m.unmarshal(h.Dispenser, func() (caddy.ModuleMap, bool, error) { return h.MatcherToken() }); err != nil {
		return nil, err
	}
	if m.ForwardAuth && m.ExternalURL == "" && len(m.Hosts) == 0 {
		return nil, h.Err("oauth_resource: " + errForwardAuthOrigin)
	}
	if m.ExternalURL == "" && len(m.Hosts) == 0 {
		hosts, err := siteHosts(h)
		if err != nil {
			return nil, h.Errf("oauth_resource: %v", err)
		}
		m.Hosts = hosts
	}
	return m, nil
}

// siteHosts returns the host[:port] of each of the site's addresses, for Hosts: an address
// without a port listens on the http_port or https_port option when set, else on its
// scheme's default port. It fails when the site accepts any host (:8080, http://): the
// origin DPoP proofs must name can then not be told from the request.
func siteHosts(h httpcaddyfile.Helper) ([]string, error) {
	const what = "set external_url <origin> (or hosts <host[:port]>...)"
	if h.IsNamedRoute() {
		return nil, fmt.Errorf("a named route has no site addresses, so the origin DPoP proofs must name is unknown: %s", what)
	}
	keys, err := siteAddresses(h)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, what)
	}
	var hosts []string
	for _, key := range keys {
		addr, err := httpcaddyfile.ParseAddress(key)
		if err != nil {
			return nil, err
		}
		if addr.Host == "" || strings.Contains(addr.Host, "{") {
			return nil, fmt.Errorf("this site accepts any host (address %q), so the origin DPoP proofs must name cannot be told from the request: %s", key, what)
		}
		host := strings.ToLower(addr.Host)
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if port := listenPort(h, addr); port != "" {
			host += ":" + port
		}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	return hosts, nil
}

// listenPort is the port an address is served on, "" for its scheme's default; like Caddy,
// an address without a port listens on the https_port (or, for http://, http_port) option.
func listenPort(h httpcaddyfile.Helper, addr httpcaddyfile.Address) string {
	if addr.Port != "" {
		return addr.Port
	}
	option, standard := "https_port", "443"
	if strings.EqualFold(addr.Scheme, "http") {
		option, standard = "http_port", "80"
	}
	if port, ok := h.Option(option).(int); ok && strconv.Itoa(port) != standard {
		return strconv.Itoa(port)
	}
	return ""
}

// siteAddresses returns the keys (addresses) of the site block the directive is in. Caddy
// v2.11's Helper keeps that block in an unexported field and offers no accessor, so it is
// read by reflection (read-only); TestResourceSiteHosts fails if an upgrade moves it, and
// the error then asks for external_url or hosts.
func siteAddresses(h httpcaddyfile.Helper) ([]string, error) {
	errUnknown := errors.New("cannot read the site's addresses from this Caddy version")
	keys := reflect.ValueOf(h).FieldByName("parentBlock")
	if keys.IsValid() {
		keys = keys.FieldByName("Keys")
	}
	if !keys.IsValid() || keys.Kind() != reflect.Slice || keys.Len() == 0 {
		return nil, errUnknown
	}
	out := make([]string, keys.Len())
	for i := range out {
		text := keys.Index(i).FieldByName("Text")
		if text.Kind() != reflect.String {
			return nil, errUnknown
		}
		out[i] = text.String()
	}
	return out, nil
}

// matcherTokenFunc reads the next argument as a request matcher (@name, /path or *).
type matcherTokenFunc func() (caddy.ModuleMap, bool, error)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	oauth_resource [<matcher>] {
//	    resource <identifier>
//	    issuer <url>
//	    introspection_client <client_id> <secret>
//	    algs <alg...>
//	    accept_plain_jwt [true|false]
//	    clock_skew <duration>
//	    token_in_query [true|false]
//	    token_in_body [true|false]
//	    token_in_subprotocol [true|false]
//	    require_dpop [true|false]
//	    dpop_algs <alg...>
//	    dpop_nonce <secret>
//	    dpop_replay_capacity <n>
//	    dpop_replay_redis <url>
//	    external_url <origin>
//	    hosts <host[:port]...>
//	    client_certificate_header <name>
//	    keep_credentials [true|false]
//	    scopes <scope...>
//	    claim <name> <value...>
//	    rule <matcher> {
//	        scopes <scope...>
//	        claim <name> <value...>
//	    }
//	    header_up <name> <template>
//	    revocation_stream [{
//	        client <client_id> <secret>
//	        fail_closed_after <duration>
//	    }]
//	    outbound_allow_private [true|false]
//	    exchange {
//	        resource <identifier>
//	        scopes <scope...>
//	        client_id <client_id>
//	        client_secret <secret>
//	    }
//	    forward_auth [{
//	        path_prefix <prefix>
//	    }]
//	}
//
// Outside a site block (this method) a rule's matcher can only be a path or *; through the
// directive it can be any named matcher of the site, and hosts defaults to the site's
// addresses.
func (h *ResourceHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return h.unmarshal(d, func() (caddy.ModuleMap, bool, error) { return pathMatcherToken(d) })
}

func (h *ResourceHandler) unmarshal(d *caddyfile.Dispenser, matcherToken matcherTokenFunc) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "resource":
			if h.Resource, err = oneArg(d); err == nil {
				if err = checkAbsoluteURI("resource", h.Resource); err != nil {
					err = d.WrapErr(err)
				}
			}
		case "issuer":
			err = h.unmarshalIssuer(d)
		case "audience":
			h.Audience, err = oneArg(d)
		case "subject_claim":
			h.SubjectClaim, err = oneArg(d)
		case "scope_claim":
			h.ScopeClaim, err = oneArg(d)
		case "client_id_claim":
			h.ClientIDClaim, err = oneArg(d)
		case "introspection_client":
			if !d.AllArgs(&h.IntrospectionClientID, &h.IntrospectionClientSecret) {
				return d.Err("usage: introspection_client <client_id> <secret>")
			}
		case "algs":
			h.Algs, err = enumArgs(d, asymmetricAlgs)
		case "accept_plain_jwt":
			h.AcceptPlainJWT, err = boolArg(d)
		case "clock_skew":
			h.ClockSkew, err = durationArg(d)
		case "token_in_query":
			h.TokenInQuery, err = boolArg(d)
		case "token_in_body":
			h.TokenInBody, err = boolArg(d)
		case "token_in_subprotocol":
			h.TokenInSubprotocol, err = boolArg(d)
		case "require_dpop":
			h.RequireDPoP, err = boolArg(d)
		case "dpop_algs":
			h.DPoPAlgs, err = enumArgs(d, asymmetricAlgs)
		case "dpop_nonce":
			h.DPoPNonce, err = oneArg(d)
		case "dpop_replay_capacity":
			var s string
			if s, err = oneArg(d); err == nil {
				if h.DPoPReplayCapacity, err = strconv.Atoi(s); err != nil || h.DPoPReplayCapacity <= 0 {
					return d.Errf("dpop_replay_capacity: want a positive integer, got %q", s)
				}
			}
		case "dpop_replay_redis":
			h.DPoPReplayRedis, err = oneArg(d)
		case "external_url":
			h.ExternalURL, err = oneArg(d)
		case "hosts":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Hosts = append(h.Hosts, args...)
		case "client_certificate_header":
			if h.ClientCertificateHeader, err = oneArg(d); err == nil {
				err = checkHeaderName("client_certificate_header", h.ClientCertificateHeader)
			}
		case "keep_credentials":
			h.KeepCredentials, err = boolArg(d)
		case "scopes":
			var scopes []string
			if scopes, err = scopeArgs(d); err == nil {
				h.Scopes = append(h.Scopes, scopes...)
			}
		case "claim":
			err = claimArg(d, &h.Claims)
		case "rule":
			var r ResourceRule
			if r, err = parseRule(d, matcherToken); err == nil {
				h.Rules = append(h.Rules, r)
			}
		case "header_up":
			var name, tmpl string
			if !d.AllArgs(&name, &tmpl) {
				return d.Err("usage: header_up <name> <template>")
			}
			if _, dup := h.HeaderUp[name]; dup {
				return d.Errf("header_up %q: set twice", name)
			}
			if h.HeaderUp == nil {
				h.HeaderUp = make(map[string]string)
			}
			h.HeaderUp[name] = tmpl
		case "revocation_stream":
			h.RevocationStream, err = unmarshalRevocationStream(d)
		case "exchange":
			if h.Exchange != nil {
				return d.Err("exchange: set twice")
			}
			h.Exchange, err = parseResourceExchange(d)
		case "outbound_allow_private":
			h.OutboundAllowPrivate, err = boolArg(d)
		case "forward_auth":
			err = h.unmarshalForwardAuth(d)
		default:
			return d.Errf("unknown oauth_resource subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if err := h.Validate(); err != nil {
		return d.Errf("oauth_resource: %v", err)
	}
	return nil
}

func parseRule(d *caddyfile.Dispenser, matcherToken matcherTokenFunc) (ResourceRule, error) {
	var r ResourceRule
	set, ok, err := matcherToken()
	if err != nil {
		return r, d.WrapErr(err)
	}
	if !ok {
		return r, d.Err("rule: a matcher is required (@name, /path or *)")
	}
	if set != nil {
		r.MatcherSetsRaw = caddyhttp.RawMatcherSets{set}
	}
	if d.NextArg() {
		return r, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "scopes":
			var scopes []string
			if scopes, err = scopeArgs(d); err == nil {
				r.Scopes = append(r.Scopes, scopes...)
			}
		case "claim":
			err = claimArg(d, &r.Claims)
		default:
			return r, d.Errf("unknown rule subdirective %q", d.Val())
		}
		if err != nil {
			return r, err
		}
	}
	if len(r.Scopes) == 0 && len(r.Claims) == 0 {
		return r, d.Err("rule: requires nothing (give it scopes or claim)")
	}
	return r, nil
}

// claimArg reads `claim <name> <value...>` into m: the claim must have one of the values.
func claimArg(d *caddyfile.Dispenser, m *map[string][]string) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.Err("usage: claim <name> <value...>")
	}
	if _, dup := (*m)[args[0]]; dup {
		return d.Errf("claim %q: set twice", args[0])
	}
	if *m == nil {
		*m = make(map[string][]string)
	}
	(*m)[args[0]] = args[1:]
	return nil
}

// pathMatcherToken is httpcaddyfile's matcher-token rule without the site block's named
// matchers: * matches everything, /path is a path matcher.
func pathMatcherToken(d *caddyfile.Dispenser) (caddy.ModuleMap, bool, error) {
	if !d.NextArg() {
		return nil, false, nil
	}
	switch tok := d.Val(); {
	case tok == "*":
		return nil, true, nil
	case strings.HasPrefix(tok, "/"):
		return caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath{tok}, nil)}, true, nil
	case strings.HasPrefix(tok, "@"):
		return nil, false, d.Errf("rule %s: named matchers need a site block", tok)
	}
	return nil, false, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*ResourceHandler)(nil)
