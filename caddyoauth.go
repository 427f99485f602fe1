// Package caddyoauth is the module's root: importing it (as xcaddy does with
// `--with github.com/caddy-oauth/caddy-oauth`) registers every Caddy module of the bundle.
package caddyoauth

import (
	_ "github.com/caddy-oauth/caddy-oauth/caddymodule"
)
