// Package caddymodule is the only package that imports Caddy: it registers the oauth app and
// the oauth_server handler, parses their Caddyfile syntax and hands plain Go config to authserver.
//
// Registered here:
//   - app `oauth` (global option `oauth { }`): shared stores and the in-process issuer registry;
//   - handler `http.handlers.oauth_server` (directive `oauth_server`, ordered right after forward_auth, before oauth_resource);
//   - handler `http.handlers.oauth_resource` (directive `oauth_resource`, ordered with
//     Caddy's authentication handlers, after forward_auth, so before every handler that could
//     answer the request): the resource-server gateway, validating access tokens in-process
//     when this Caddy serves the issuer, else through discovery, JWKS and introspection
//     (rsvalidate). Its handler matcher must let the resource's metadata path
//     (/.well-known/oauth-protected-resource…) through. DPoP proofs must name external_url, or
//     one of hosts (by default the site's addresses); a site that accepts any host needs
//     external_url;
//   - admin route POST /oauth/keys/rotate (module `admin.api.oauth`);
//   - command `caddy oauth-secret`, which prints a client secret and the hash to configure.
package caddymodule
