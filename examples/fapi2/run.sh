#!/usr/bin/env bash
# The README's FAPI 2.0 example, runnable: an authorization server under `profile fapi2` and a
# DPoP-only API (Caddyfile), and a bank app written with openid-client (app.mjs) that pushes its
# request (PAR), authenticates with private_key_jwt, proves PKCE and DPoP, signs alice in through
# the pages and calls the API. It fails (non-zero) if any step does not go as the README says,
# so `make test` keeps the example working.
#
#   examples/fapi2/run.sh
#   CADDY_BIN=/path/caddy examples/fapi2/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-fapi2-example.XXXXXX")"
cleanup_on_exit "$tmp" 40

use_caddy "$tmp"
# openid-client and jose, as the interop suite pins them.
npm_ci_once "$root/test/interop"
mkdir -p "$tmp/app"
cp "$here/app.mjs" "$tmp/app/"
ln -s "$root/test/interop/node_modules" "$tmp/app/node_modules"

take_port FAPI_PORT
export FAPI_PORT FAPI_DB="$tmp/oauth.db" FAPI_ISSUER="http://127.0.0.1:$FAPI_PORT"
FAPI_MASTER_KEY="$(random_secret)" FAPI_ALICE_PASSWORD="alice-$(random_secret)"
export FAPI_MASTER_KEY FAPI_ALICE_PASSWORD
export HTML_FORMS="file://$root/test/interop/tests/html-forms.js"
BANK_APP_JWKS="$(node "$tmp/app/app.mjs" keygen "$tmp/bank-app.jwk.json")"
export BANK_APP_JWKS

mkdir -p "$tmp/xdg"
XDG_DATA_HOME="$tmp/xdg" XDG_CONFIG_HOME="$tmp/xdg" "$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
track_pid "$!"
wait_for_url "$FAPI_ISSUER/.well-known/openid-configuration" "${tracked_pids[0]}" >/dev/null
node "$tmp/app/app.mjs" flow "$tmp/bank-app.jwk.json"
