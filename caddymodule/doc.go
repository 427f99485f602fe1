// Package caddymodule is the only package that imports Caddy: it registers the oauth app and
// the oauth_server handler, parses their Caddyfile syntax and hands plain Go config to authserver.
//
// Registered here:
//   - app `oauth` (global option `oauth { }`): shared stores and the in-process issuer registry;
//   - handler `http.handlers.oauth_server` (directive `oauth_server`, ordered before reverse_proxy);
//   - handler `http.handlers.oauth_resource` (directive `oauth_resource`, ordered after
//     oauth_server and before reverse_proxy): the resource-server gateway, validating access
//     tokens in-process when this Caddy serves the issuer, else through discovery, JWKS and
//     introspection (rsvalidate). Its handler matcher must let the resource's metadata path
//     (/.well-known/oauth-protected-resource…) through. Behind a TLS-terminating proxy that
//     is not in Caddy's trusted_proxies, set external_url so DPoP htu checks see https;
//   - admin route POST /oauth/keys/rotate (module `admin.api.oauth`);
//   - command `caddy oauth-secret`, which prints a client secret and the hash to configure.
package caddymodule
