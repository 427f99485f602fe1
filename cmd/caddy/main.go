// Command caddy is Caddy with the caddy-oauth bundle and Caddy's standard modules.
//
//	go run ./cmd/caddy run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-oauth/caddy-oauth/caddymodule"
)

func main() {
	caddycmd.Main()
}
