// Package caddymodule is the only package that imports Caddy: it registers the oauth app and
// the oauth_server handler, parses their Caddyfile syntax and hands plain Go config to authserver.
package caddymodule
