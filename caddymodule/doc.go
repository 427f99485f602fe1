// Package caddymodule is the only package that imports Caddy: it registers the oauth app and
// the oauth_server handler, parses their Caddyfile syntax and hands plain Go config to authserver.
//
// Registered here:
//   - app `oauth` (global option `oauth { }`): shared stores and the in-process issuer registry;
//   - handler `http.handlers.oauth_server` (directive `oauth_server`, ordered before reverse_proxy);
//   - admin route POST /oauth/keys/rotate (module `admin.api.oauth`);
//   - command `caddy oauth-secret`, which prints a client secret and the hash to configure.
package caddymodule
