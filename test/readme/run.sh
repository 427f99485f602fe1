#!/usr/bin/env bash
# Runs the README's shell blocks, as written, against the configuration `make run` serves and
# checks every output the README shows (test/readme/readme-blocks.mjs explains the rules).
#
#   test/readme/run.sh            # needs go, node, curl, jq, openssl (installed when missing)
#   CADDY_BIN=/path/caddy test/readme/run.sh
#
# Caddyfile.example runs as shipped, only moved to free ports (the README's addresses, the admin
# endpoint's localhost:2019 among them, are rewritten to match), on a fresh data directory, so
# the blocks see what a newcomer sees after `make run` on a new machine. The blocks find the
# built `caddy` on PATH, and its management commands find the admin endpoint through
# CADDY_ADMIN, as they would find localhost:2019 by default.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-readme.XXXXXX")"
cleanup_on_exit "$tmp" 100


# The README lists these as what its examples need; install them like the other test tools.
need_debian_packages curl:curl jq:jq openssl:openssl

use_caddy "$tmp"
take_port port
take_port upstream_port
take_port rp_port
take_port admin_port
example_caddyfile "$root/Caddyfile.example" "$tmp/Caddyfile" "$port" "$upstream_port" "$rp_port" "$admin_port"
export CADDY_ADMIN="localhost:$admin_port"
mkdir -p "$tmp/bin"
ln -sf "$(realpath "$caddy")" "$tmp/bin/caddy"
export PATH="$tmp/bin:$PATH"
mkdir -p "$tmp/xdg-data" "$tmp/xdg-config" "$tmp/work"
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
wait_for_url "http://127.0.0.1:$port/.well-known/oauth-authorization-server" "$caddy_pid"
wait_for_url "http://127.0.0.1:$upstream_port/" "$caddy_pid"

node --test "$here/readme-blocks.test.mjs"

README_PORT_MAP="9080=$port 9081=$upstream_port 9082=$rp_port 2019=$admin_port" \
	node "$here/readme-blocks.mjs" "$root/README.md" "$tmp/work"
