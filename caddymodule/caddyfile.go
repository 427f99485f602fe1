package caddymodule

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauth_server", parseCaddyfile)
	// Right after Caddy's authentication handlers and just before oauth_resource: it answers
	// only its own endpoints and passes everything else on, so nothing that could answer a
	// request (respond, file_server, templates, reverse_proxy, …) nor an unmatched gateway
	// in the issuer's own site may run before it.
	httpcaddyfile.RegisterDirectiveOrder("oauth_server", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	oauth_server {
//	    issuer <url>
//	    storage sqlite [<path>] | postgres <dsn>
//	    master_key <secret>
//	    access_token_ttl <duration>
//	    refresh_token_ttl <duration>
//	    access_token_format jwt|opaque
//	    access_token_signing_alg <alg>
//	    signing_algs <alg...>
//	    key_rotation <duration>
//	    client_assertion_max_age <duration>
//	    client_assertion_endpoint_audience [true|false]
//	    outbound_allow_private [true|false]
//	    metrics_per_client [true|false]
//	    client_id_metadata_documents [{
//	        allow_private [true|false]
//	        max_size <bytes>
//	        timeout <duration>
//	        cache_min <duration>
//	        cache_max <duration>
//	        allowed_hosts <host...>
//	        resources <identifier...>
//	    }]
//	    pushed_authorization_requests {
//	        required [true|false]
//	        ttl <duration>
//	    }
//	    request_objects off | {
//	        required [true|false]
//	        max_lifetime <duration>
//	        encryption [true|false]
//	    }
//	    grant <module> { … }              (an oauth.grants.<module> extension)
//	    claims <module> { … }             (an oauth.claims.<module> claim contributor)
//	    trusted_issuer <issuer> {
//	        jwks_uri <url> | jwks <JWK Set JSON>
//	        algs <alg...>
//	        jwt_bearer {
//	            subject account|client|external
//	            clients <client_id...>
//	            scopes <scope...>
//	            resources <identifier...>
//	            max_lifetime <duration>
//	        }
//	    }
//	    token_exchange {
//	        rule {
//	            clients <client_id...>
//	            subject_issuers self|<issuer...>
//	            resources <identifier...>
//	            scopes <scope...>
//	            actor optional|required|forbidden
//	        }
//	    }
//	    ciba {
//	        delivery_modes poll|ping|push...
//	        expiry <duration>
//	        max_expiry <duration>
//	        interval <duration>
//	        notifier <url>
//	    }
//	    passkeys {
//	        rp_id <domain>
//	        origins <origin...>
//	        rp_name <name>
//	        challenge_ttl <duration>
//	        phishing_resistant_acr <acr>
//	    }
//	    delegated_login {
//	        login_url <url>
//	        consent_url <url>
//	        api_secret <secret>
//	        ttl <duration>
//	    }
//	    device_authorization off | {
//	        ttl <duration>
//	        interval <duration>
//	        user_code_charset base20|digits
//	        user_code_mask <mask>
//	        verification_uri <url>
//	    }
//	    dpop_algs <alg...>
//	    dpop_nonce <secret>
//	    dpop_replay_redis <url>
//	    enforce_per_client_resources [true|false]
//	    resource_seed_mode insert_only|merge|overwrite
//	    resource <identifier> {
//	        name <name>
//	        access_token_ttl <duration>
//	        refresh_token_ttl <duration>
//	        access_token_format jwt|opaque
//	        signing_alg <alg>
//	        signing_key_id <kid>
//	        scopes <scope...>
//	        claim <name> <value>
//	        account_claims <claim...>
//	        dpop_bound_access_tokens_required [true|false]
//	        disabled [true|false]
//	        metadata <key> <value>
//	    }
//	    client <client_id> {
//	        name <name>
//	        secret <secret> | secret_hash <hash>
//	        auth_method <method>
//	        auth_signing_alg <alg>
//	        grant_types <grant...>
//	        redirect_uris <uri...>
//	        redirect_uri_any_loopback_port [true|false]
//	        scopes <scope...>
//	        resources <identifier...>
//	        introspects <identifier...>
//	        default_resource <identifier>
//	        jwks <JWK Set JSON> | jwks_uri <url>
//	        dpop_bound_access_tokens [true|false]
//	        post_logout_redirect_uris <uri...>
//	        subject_type public|pairwise
//	        sector_identifier <host>
//	        id_token_signed_response_alg <alg>
//	        skip_consent [true|false]
//	        pkce_optional [true|false]
//	        refresh_without_offline_access [true|false]
//	        backchannel_logout_uri <url>
//	        backchannel_logout_session_required [true|false]
//	        frontchannel_logout_uri <url>
//	        frontchannel_logout_session_required [true|false]
//	    }
//	    account <username> {
//	        password <password> | password_hash <hash>
//	        subject <sub>
//	        claim <name> <value>
//	        disabled [true|false]
//	    }
//	    cache_sync_interval <duration>
//	    cleanup_interval <duration>
//	    interaction_ttl <duration>
//	    client_secret_rotation_overlap <duration>
//	    code_ttl <duration>
//	    session_ttl <duration>
//	    session_idle_ttl <duration>
//	    refresh_grace_period <duration>
//	    allow_plain_pkce [true|false]
//	    profile none|fapi2|fapi2_message_signing
//	    acr_values <acr...>
//	    template_dir <dir>
//	    login_limits <per_account> <per_ip> <window>
//	    login_delay <base> <max>
//	    backchannel_logout {
//	        timeout <duration>
//	        max_age <duration>
//	        workers <n>
//	    }
//	    mtls {
//	        endpoint_aliases <url>
//	        client_certificate_header <name>
//	        trusted_ca <pem file...>
//	    }
//	    registration {
//	        policy off|initial_access_token|open
//	        initial_access_token <token>
//	        grant_types <grant...>
//	        scopes <scope...>
//	        resources <identifier...>
//	        auth_methods <method...>
//	        client_secret_ttl <duration>
//	        redirect_uris_https_only [true|false]
//	        redirect_hosts <host...>
//	        software_statement_jwks <JWK Set JSON>
//	        require_software_statement [true|false]
//	    }
//	    shared_signals off | shared_signals {
//	        long_poll <duration>
//	        stream_inactivity <duration>
//	    }
//	}
//
// claim and metadata values are JSON when they parse as JSON, otherwise strings.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "issuer":
			if h.Issuer, err = oneArg(d); err == nil {
				if err = checkIssuer(h.Issuer); err != nil {
					err = d.WrapErr(err)
				}
			}
		case "storage":
			h.Storage, err = parseStorage(d)
		case "master_key":
			h.MasterKey, err = oneArg(d)
		case "access_token_ttl":
			h.AccessTokenTTL, err = durationArg(d)
		case "refresh_token_ttl":
			h.RefreshTokenTTL, err = durationArg(d)
		case "access_token_format":
			h.AccessTokenFormat, err = enumArg(d, tokenFormats)
		case "access_token_signing_alg":
			h.AccessTokenSigningAlg, err = enumArg(d, asymmetricAlgs)
		case "signing_algs":
			h.SigningAlgs, err = enumArgs(d, asymmetricAlgs)
		case "key_rotation":
			h.KeyRotation, err = durationArg(d)
		case "client_assertion_max_age":
			h.ClientAssertionMaxAge, err = durationArg(d)
		case "client_assertion_endpoint_audience":
			h.ClientAssertionEndpointAudience, err = boolArg(d)
		case "outbound_allow_private":
			h.OutboundAllowPrivate, err = boolArg(d)
		case "metrics_per_client":
			h.MetricsPerClient, err = boolArg(d)
		case "client_id_metadata_documents":
			if h.ClientIDMetadataDocuments != nil {
				return d.Errf("client_id_metadata_documents: set twice")
			}
			h.ClientIDMetadataDocuments, err = parseClientIDMetadataDocuments(d)
		case "request_objects":
			if h.RequestObjects != nil {
				return d.Errf("request_objects: set twice")
			}
			h.RequestObjects, err = parseRequestObjects(d)
		case "grant":
			var raw json.RawMessage
			if raw, err = parseGrantModule(d); err == nil {
				h.GrantsRaw = append(h.GrantsRaw, raw)
			}
		case "claims":
			var raw json.RawMessage
			if raw, err = parseClaimsModule(d); err == nil {
				h.ClaimsRaw = append(h.ClaimsRaw, raw)
			}
		case "trusted_issuer":
			var ti TrustedIssuer
			if ti, err = parseTrustedIssuer(d); err == nil {
				h.TrustedIssuers = append(h.TrustedIssuers, ti)
			}
		case "token_exchange":
			if h.TokenExchange != nil {
				return d.Errf("token_exchange: set twice")
			}
			h.TokenExchange, err = parseTokenExchange(d)
		case "ciba":
			if h.CIBA != nil {
				return d.Errf("ciba: set twice")
			}
			h.CIBA, err = parseCIBA(d)
		case "passkeys":
			if h.Passkeys != nil {
				return d.Errf("passkeys: set twice")
			}
			h.Passkeys, err = parsePasskeys(d)
		case "delegated_login":
			if h.DelegatedLogin != nil {
				return d.Errf("delegated_login: set twice")
			}
			h.DelegatedLogin, err = parseDelegatedLogin(d)
		case "device_authorization":
			if h.DeviceAuthorization != nil {
				return d.Errf("device_authorization: set twice")
			}
			h.DeviceAuthorization, err = parseDeviceAuthorization(d)
		case "pushed_authorization_requests":
			if h.PushedAuthorizationRequests != nil {
				return d.Errf("pushed_authorization_requests: set twice")
			}
			h.PushedAuthorizationRequests, err = parsePushedAuthorizationRequests(d)
		case "dpop_algs":
			h.DPoPAlgs, err = enumArgs(d, asymmetricAlgs)
		case "dpop_nonce":
			h.DPoPNonce, err = oneArg(d)
		case "dpop_replay_redis":
			h.DPoPReplayRedis, err = oneArg(d)
		case "enforce_per_client_resources":
			var b bool
			b, err = boolArg(d)
			h.EnforcePerClientResources = &b
		case "resource_seed_mode":
			h.ResourceSeedMode, err = enumArg(d, seedModes)
		case "resource":
			var r Resource
			if r, err = parseResource(d); err == nil {
				h.Resources = append(h.Resources, r)
			}
		case "client":
			var c Client
			if c, err = parseClient(d); err == nil {
				h.Clients = append(h.Clients, c)
			}
		case "account":
			var a Account
			if a, err = parseAccount(d); err == nil {
				h.Accounts = append(h.Accounts, a)
			}
		case "code_ttl":
			h.CodeTTL, err = durationArg(d)
		case "session_ttl":
			h.SessionTTL, err = durationArg(d)
		case "session_idle_ttl":
			h.SessionIdleTTL, err = durationArg(d)
		case "refresh_grace_period":
			h.RefreshGracePeriod, err = durationArg(d)
		case "interaction_ttl":
			h.InteractionTTL, err = durationArg(d)
		case "cleanup_interval":
			h.CleanupInterval, err = durationArg(d)
		case "cache_sync_interval":
			h.CacheSyncInterval, err = durationArg(d)
		case "client_secret_rotation_overlap":
			h.ClientSecretRotationOverlap, err = durationArg(d)
		case "allow_plain_pkce":
			h.AllowPlainPKCE, err = boolArg(d)
		case "profile":
			h.Profile, err = oneArg(d)
		case "acr_values":
			h.ACRValues, err = atLeastOneArg(d)
		case "template_dir":
			h.TemplateDir, err = oneArg(d)
		case "branding":
			if h.Branding != nil {
				return d.Err("branding: declared twice")
			}
			h.Branding, err = parseBranding(d)
		case "consent_remember_default":
			h.ConsentRememberDefault, err = boolArg(d)
		case "scope_description":
			err = parseDescription(d, &h.ScopeDescriptions)
		case "resource_description":
			err = parseDescription(d, &h.ResourceDescriptions)
		case "account_pages":
			if h.AccountPages != nil {
				return d.Err("account_pages: set twice")
			}
			h.AccountPages, err = parseAccountPages(d)
		case "login_limits":
			err = parseLoginLimits(d, h)
		case "login_delay":
			err = parseLoginDelay(d, h)
		case "backchannel_logout":
			if h.BackchannelLogout != nil {
				return d.Err("backchannel_logout: declared twice")
			}
			h.BackchannelLogout, err = parseBackchannelLogout(d)
		case "mtls":
			if h.MTLS != nil {
				return d.Err("mtls: declared twice")
			}
			h.MTLS, err = parseMTLS(d)
		case "registration":
			if h.Registration != nil {
				return d.Err("registration: declared twice")
			}
			h.Registration, err = parseRegistration(d)
		case "shared_signals":
			if h.SharedSignals != nil {
				return d.Err("shared_signals: declared twice")
			}
			h.SharedSignals, err = parseSharedSignals(d)
		default:
			return d.Errf("unknown oauth_server subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if err := h.Validate(); err != nil {
		return d.Errf("oauth_server: %v", err)
	}
	return nil
}

func parseStorage(d *caddyfile.Dispenser) (*Storage, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	s := &Storage{Driver: args[0]}
	switch {
	case s.Driver == "sqlite" && len(args) <= 2:
	case s.Driver == "postgres" && len(args) == 2:
	case s.Driver == "sqlite" || s.Driver == "postgres":
		return nil, d.Errf("usage: storage sqlite [<path>] | storage postgres <dsn>")
	default:
		return nil, d.Errf("storage: unsupported driver %q (want sqlite or postgres)", s.Driver)
	}
	if len(args) == 2 {
		s.DSN = args[1]
	}
	return s, nil
}

func parseResource(d *caddyfile.Dispenser) (Resource, error) {
	var r Resource
	var err error
	if r.Identifier, err = oneArg(d); err != nil {
		return r, err
	}
	if err := checkAbsoluteURI("resource", r.Identifier); err != nil {
		return r, d.WrapErr(err)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "name":
			r.Name, err = oneArg(d)
		case "access_token_ttl":
			r.AccessTokenTTL, err = optDurationArg(d)
		case "refresh_token_ttl":
			r.RefreshTokenTTL, err = optDurationArg(d)
		case "access_token_format":
			r.AccessTokenFormat, err = enumArg(d, tokenFormats)
		case "signing_alg":
			r.SigningAlg, err = enumArg(d, asymmetricAlgs)
		case "signing_key_id":
			r.SigningKeyID, err = oneArg(d)
		case "scopes":
			r.Scopes, err = scopeArgs(d)
		case "claim":
			err = keyValueArg(d, &r.Claims)
		case "account_claims":
			r.AccountClaims, err = atLeastOneArg(d)
		case "metadata":
			err = keyValueArg(d, &r.Metadata)
		case "dpop_bound_access_tokens_required":
			r.DPoPBoundAccessTokensRequired, err = optBoolArg(d)
		case "disabled":
			r.Disabled, err = optBoolArg(d)
		default:
			return r, d.Errf("unknown resource subdirective %q", d.Val())
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func parseClient(d *caddyfile.Dispenser) (Client, error) {
	var c Client
	var err error
	if !d.NextArg() || d.Val() == "{" {
		return c, d.Err("client: client_id: is required")
	}
	c.ID = d.Val()
	if d.NextArg() {
		return c, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "name":
			c.Name, err = oneArg(d)
		case "secret":
			c.Secret, err = oneArg(d)
		case "secret_hash":
			c.SecretHash, err = oneArg(d)
		case "auth_method":
			c.AuthMethod, err = enumArg(d, authMethods)
		case "auth_signing_alg":
			c.AuthSigningAlg, err = enumArg(d, assertionAlgs)
		case "grant_types":
			c.GrantTypes, err = atLeastOneArg(d)
		case "redirect_uris":
			c.RedirectURIs, err = uriArgs(d, func(v string) error { return spec.ValidateRedirectURI("redirect_uris", v) })
		case "redirect_uri_any_loopback_port":
			c.RedirectURIAnyLoopbackPort, err = boolArg(d)
		case "scopes":
			c.Scopes, err = scopeArgs(d)
		case "resources":
			c.Resources, err = uriArgs(d, func(v string) error { return checkAbsoluteURI("resources", v) })
		case "introspects":
			c.Introspects, err = uriArgs(d, func(v string) error { return checkAbsoluteURI("introspects", v) })
		case "default_resource":
			if c.DefaultResource, err = oneArg(d); err == nil {
				if err = checkAbsoluteURI("default_resource", c.DefaultResource); err != nil {
					err = d.WrapErr(err)
				}
			}
		case "jwks":
			var raw string
			if raw, err = oneArg(d); err == nil {
				var buf bytes.Buffer
				if json.Compact(&buf, []byte(raw)) != nil {
					return c, d.Errf("client %q: jwks must be a JSON JWK Set (quote it with backticks)", c.ID)
				}
				c.JWKS = buf.Bytes()
			}
		case "jwks_uri":
			c.JWKSURI, err = oneArg(d)
		case "dpop_bound_access_tokens":
			c.DPoPBoundAccessTokens, err = boolArg(d)
		case "post_logout_redirect_uris":
			c.PostLogoutRedirectURIs, err = uriArgs(d, func(v string) error { return spec.ValidateRedirectURI("post_logout_redirect_uris", v) })
		case "subject_type":
			c.SubjectType, err = enumArg(d, subjectTypes)
		case "sector_identifier":
			c.SectorIdentifier, err = oneArg(d)
		case "id_token_signed_response_alg":
			c.IDTokenSignedResponseAlg, err = enumArg(d, asymmetricAlgs)
		case "skip_consent":
			c.SkipConsent, err = boolArg(d)
		case "pkce_optional":
			c.PKCEOptional, err = boolArg(d)
		case "refresh_without_offline_access":
			c.RefreshWithoutOfflineAccess, err = boolArg(d)
		case "backchannel_logout_uri":
			c.BackchannelLogoutURI, err = oneArg(d)
		case "backchannel_logout_session_required":
			c.BackchannelLogoutSessionRequired, err = boolArg(d)
		case "frontchannel_logout_uri":
			c.FrontchannelLogoutURI, err = oneArg(d)
		case "frontchannel_logout_session_required":
			c.FrontchannelLogoutSessionRequired, err = boolArg(d)
		case "client_uri":
			c.ClientURI, err = oneArg(d)
		case "logo_uri":
			c.LogoURI, err = oneArg(d)
		case "policy_uri":
			c.PolicyURI, err = oneArg(d)
		case "tos_uri":
			c.TosURI, err = oneArg(d)
		default:
			if field, ok := securityField(&c.ClientSecurity, d.Val()); ok {
				err = field(d)
				break
			}
			return c, d.Errf("unknown client subdirective %q", d.Val())
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func parseAccount(d *caddyfile.Dispenser) (Account, error) {
	var a Account
	var err error
	if !d.NextArg() || d.Val() == "{" {
		return a, d.Err("account: a username is required")
	}
	a.Username = d.Val()
	if d.NextArg() {
		return a, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "password":
			a.Password, err = oneArg(d)
		case "password_hash":
			a.PasswordHash, err = oneArg(d)
		case "subject":
			a.Subject, err = oneArg(d)
		case "claim":
			err = keyValueArg(d, &a.Claims)
		case "disabled":
			a.Disabled, err = boolArg(d)
		default:
			return a, d.Errf("unknown account subdirective %q", d.Val())
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

// parseLoginLimits reads `login_limits <per_account> <per_ip> <window>`.
func parseLoginLimits(d *caddyfile.Dispenser, h *Handler) error {
	var perAccount, perIP, window string
	if !d.AllArgs(&perAccount, &perIP, &window) {
		return d.ArgErr()
	}
	var err error
	if h.LoginFailuresPerAccount, err = strconv.Atoi(perAccount); err != nil || h.LoginFailuresPerAccount < 1 {
		return d.Errf("login_limits: per-account limit %q must be a positive integer", perAccount)
	}
	if h.LoginFailuresPerIP, err = strconv.Atoi(perIP); err != nil || h.LoginFailuresPerIP < 1 {
		return d.Errf("login_limits: per-IP limit %q must be a positive integer", perIP)
	}
	w, err := caddy.ParseDuration(window)
	if err != nil || w <= 0 {
		return d.Errf("login_limits: invalid window %q", window)
	}
	h.LoginWindow = caddy.Duration(w)
	return nil
}

// parseLoginDelay reads `login_delay <base> <max>`; authserver checks how they relate.
func parseLoginDelay(d *caddyfile.Dispenser, h *Handler) error {
	var base, maxDelay string
	if !d.AllArgs(&base, &maxDelay) {
		return d.ArgErr()
	}
	for _, v := range []struct {
		arg string
		to  *caddy.Duration
	}{{base, &h.LoginDelayBase}, {maxDelay, &h.LoginDelayMax}} {
		dur, err := caddy.ParseDuration(v.arg)
		if err != nil || dur <= 0 {
			return d.Errf("login_delay: invalid duration %q", v.arg)
		}
		*v.to = caddy.Duration(dur)
	}
	return nil
}

// oneArg reads exactly one argument of the current subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	var v string
	if !d.AllArgs(&v) {
		return "", d.ArgErr()
	}
	return v, nil
}

func atLeastOneArg(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s: invalid duration %q", name, s)
	}
	if err := checkDuration(name, v); err != nil {
		return 0, d.WrapErr(err)
	}
	return caddy.Duration(v), nil
}

func optDurationArg(d *caddyfile.Dispenser) (*caddy.Duration, error) {
	v, err := durationArg(d)
	return &v, err
}

func enumArg(d *caddyfile.Dispenser, allowed []string) (string, error) {
	name := d.Val()
	v, err := oneArg(d)
	if err != nil {
		return "", err
	}
	if err := checkEnum(name, v, allowed); err != nil {
		return "", d.WrapErr(err)
	}
	return v, nil
}

func enumArgs(d *caddyfile.Dispenser, allowed []string) ([]string, error) {
	name := d.Val()
	args, err := atLeastOneArg(d)
	if err != nil {
		return nil, err
	}
	for _, v := range args {
		if err := checkEnum(name, v, allowed); err != nil {
			return nil, d.WrapErr(err)
		}
	}
	return args, nil
}

func scopeArgs(d *caddyfile.Dispenser) ([]string, error) {
	args, err := atLeastOneArg(d)
	if err != nil {
		return nil, err
	}
	if err := checkScopes(args); err != nil {
		return nil, d.WrapErr(err)
	}
	return args, nil
}

func uriArgs(d *caddyfile.Dispenser, check func(string) error) ([]string, error) {
	args, err := atLeastOneArg(d)
	if err != nil {
		return nil, err
	}
	for _, v := range args {
		if err := check(v); err != nil {
			return nil, d.WrapErr(err)
		}
	}
	return args, nil
}

// boolArg reads an optional true/false; the bare subdirective means true.
func boolArg(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	switch args := d.RemainingArgs(); {
	case len(args) == 0:
		return true, nil
	case len(args) == 1 && args[0] == "true":
		return true, nil
	case len(args) == 1 && args[0] == "false":
		return false, nil
	default:
		return false, d.Errf("%s: want true or false, got %q", name, strings.Join(args, " "))
	}
}

func optBoolArg(d *caddyfile.Dispenser) (*bool, error) {
	b, err := boolArg(d)
	return &b, err
}

// keyValueArg reads `<name> <value>` into m; the value is kept as JSON when it is valid
// JSON (numbers, booleans, quoted strings, objects in backticks), else as a JSON string.
func keyValueArg(d *caddyfile.Dispenser, m *map[string]json.RawMessage) error {
	name := d.Val()
	var key, val string
	if !d.AllArgs(&key, &val) {
		return d.Errf("usage: %s <name> <value>", name)
	}
	var raw json.RawMessage
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(val)) == nil {
		raw = buf.Bytes()
	} else {
		raw, _ = json.Marshal(val) // a string always marshals
	}
	if *m == nil {
		*m = make(map[string]json.RawMessage)
	}
	if _, dup := (*m)[key]; dup {
		return d.Errf("%s %q: set twice", name, key)
	}
	(*m)[key] = raw
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
