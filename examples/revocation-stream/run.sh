#!/usr/bin/env bash
# The README's three-gateway example, runnable: one authorization server and three gateway
# processes, each subscribed to the server's revocation stream. It gets a token, sees all three
# gateways accept it, revokes it at the server and reports how long each gateway took to refuse
# it. It fails (non-zero) if a gateway does not refuse the revoked token within 5 seconds, so
# `make test` keeps the example working.
#
#   examples/revocation-stream/run.sh
#   CADDY_BIN=/path/caddy examples/revocation-stream/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
need_debian_packages curl:curl jq:jq

tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-revocation-example.XXXXXX")"
cleanup_on_exit "$tmp" 20

use_caddy "$tmp"
take_port AS_PORT
export AS_PORT AS_DB="$tmp/oauth.db" OAUTH_MASTER_KEY GATEWAY_SECRET REPORTS_SECRET
OAUTH_MASTER_KEY="$(random_secret)" GATEWAY_SECRET="$(random_secret)" REPORTS_SECRET="$(random_secret)"

# run NAME CONFIG: one Caddy process with its own data directory and log.
run() {
	mkdir -p "$tmp/$1"
	XDG_DATA_HOME="$tmp/$1" XDG_CONFIG_HOME="$tmp/$1" "$caddy" run --config "$2" --adapter caddyfile >"$tmp/$1.log" 2>&1 &
	track_pid "$!"
}

run as "$here/as.Caddyfile"
wait_for_url "http://127.0.0.1:$AS_PORT/.well-known/ssf-configuration" "${tracked_pids[0]}"
gateways=()
for i in 1 2 3; do
	take_port GATEWAY_PORT
	GATEWAY_PORT="$GATEWAY_PORT" run "gateway-$i" "$here/gateway.Caddyfile"
	gateways+=("http://127.0.0.1:$GATEWAY_PORT/")
done
# Each gateway logs its subscription once its stream exists.
for i in 1 2 3; do
	for _ in $(seq 1 100); do grep -q 'subscribed to the revocation stream' "$tmp/gateway-$i.log" && break; sleep 0.1; done
	grep -q 'subscribed to the revocation stream' "$tmp/gateway-$i.log" || { echo "gateway $i did not subscribe" >&2; exit 1; }
done

token="$(curl -fsS -u "reports:$REPORTS_SECRET" -d grant_type=client_credentials \
	-d resource=https://api.example.com -d scope=read "http://127.0.0.1:$AS_PORT/token" | jq -r .access_token)"
for gw in "${gateways[@]}"; do
	echo "before revocation, $gw: $(curl -sS -H "Authorization: Bearer $token" "$gw")"
done

curl -fsS -u "reports:$REPORTS_SECRET" -d "token=$token" "http://127.0.0.1:$AS_PORT/revoke"
revoked_at=$(date +%s%N)
for gw in "${gateways[@]}"; do
	status=""
	for _ in $(seq 1 500); do
		status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$gw")"
		[[ $status == 401 ]] && break
		sleep 0.01
	done
	[[ $status == 401 ]] || { echo "$gw still answers $status 5 s after the revocation" >&2; exit 1; }
	echo "after revocation,  $gw: 401, $(( ($(date +%s%N) - revoked_at) / 1000000 )) ms after the revoke call"
done
