// Pinned developer tools, kept out of the main module's dependency graph.
// Run them with: (cd tools && go tool xcaddy ...)
module github.com/caddy-oauth/caddy-oauth/tools

go 1.26.0

tool (
	github.com/caddyserver/xcaddy/cmd/xcaddy
	gotest.tools/gotestsum
)

require (
	github.com/Masterminds/semver/v3 v3.4.0 // indirect
	github.com/akavel/rsrc v0.10.2 // indirect
	github.com/bitfield/gotestdox v0.2.2 // indirect
	github.com/caddyserver/xcaddy v0.4.5 // indirect
	github.com/dnephin/pflag v1.0.7 // indirect
	github.com/fatih/color v1.18.0 // indirect
	github.com/fsnotify/fsnotify v1.8.0 // indirect
	github.com/google/shlex v0.0.0-20191202100458-e7afc7fbc510 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/josephspurrier/goversioninfo v1.5.0 // indirect
	github.com/mattn/go-colorable v0.1.13 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/spf13/cobra v1.9.1 // indirect
	github.com/spf13/pflag v1.0.6 // indirect
	golang.org/x/mod v0.25.0 // indirect
	golang.org/x/sync v0.15.0 // indirect
	golang.org/x/sys v0.33.0 // indirect
	golang.org/x/term v0.32.0 // indirect
	golang.org/x/text v0.17.0 // indirect
	golang.org/x/tools v0.34.0 // indirect
	gotest.tools/gotestsum v1.12.3 // indirect
)
