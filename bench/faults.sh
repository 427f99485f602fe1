#!/usr/bin/env bash
# Fault tests, run on demand (not in `make test`): a real Caddy serving the authorization
# server on a real PostgreSQL and a gateway for its opaque tokens, under steady load from
# bench/cmd/faultload, while this script breaks the database:
#   restart      PostgreSQL restarted mid-flow (every connection cut at once)
#   outage       PostgreSQL stopped for FAULTS_OUTAGE seconds (default 30), then started
#   redis        the Redis behind the DPoP replay guard stopped for 15 s and started empty, as a
#                Redis without persistence restarts: DPoP calls with a fresh proof each time,
#                and every fifth call replays the previous proof, which must never pass
#   issuer-down  a second Caddy, a remote gateway validating JWTs (JWKS) and opaque tokens
#                (introspection) over HTTP, loses its issuer for 15 s (bench/cmd/faultproxy
#                resets every connection)
#   issuer-slow  the same with the issuer answering after 8 s
#   disk-full    the file system under a SQLite database filled up for 15 s, then freed
#                (a tmpfs mounted for the test: needs root; skipped, and said so, without)
# Made-up tokens are presented to every gateway all along and must never pass.
# Each phase must answer only 200 or 503 temporarily_unavailable (never a 500, never a hang),
# must lose no token whose response was sent (all still active at introspection afterwards),
# and must recover by itself: the last seconds of each phase answer 200 again, without
# restarting Caddy.
#
#   bench/faults.sh                      # about 5 minutes
#   FAULTS_OUTAGE=60 bench/faults.sh
#   FAULTS_PHASES="redis issuer-down" bench/faults.sh   # only these phases
#   CADDY_BIN=/path/caddy bench/faults.sh
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
outage="${FAULTS_OUTAGE:-30}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-faults.XXXXXX")"
cleanup_on_exit "$tmp" 80

take_port pg_port
# Not under $tmp: that is private to us, and the server runs as the postgres user when we are root.
export CADDY_OAUTH_PG_PORT="$pg_port" CADDY_OAUTH_PG_DIR="${TMPDIR:-/tmp}/caddy-oauth-faults-pg.$$"
pg() { "$root/scripts/postgres.sh" "$@"; }
take_port redis_port
export CADDY_OAUTH_REDIS_PORT="$redis_port" CADDY_OAUTH_REDIS_DIR="${TMPDIR:-/tmp}/caddy-oauth-faults-redis.$$"
redis() { "$root/scripts/redis.sh" "$@"; }
fs="$tmp/sqlite-fs"
fs_mounted=""
# faults_cleanup stops Caddy before the file system under its database goes, then PostgreSQL;
# every step may fail without hiding the script's own exit status (set -e holds in traps).
faults_cleanup() {
	local status=$?
	stop_tracked_pids
	if [[ -n "$fs_mounted" ]]; then umount "$fs" 2>/dev/null || true; fi
	pg stop >/dev/null 2>&1 || true
	redis stop >/dev/null 2>&1 || true
	# _cleanup_on_exit reads the status from $?: "(exit N) || …" sets it without tripping set -e.
	(exit "$status") || _cleanup_on_exit
	_cleanup_on_exit
}
trap faults_cleanup EXIT
pg start
redis start

use_caddy "$tmp"
(cd "$root" && go build -o "$tmp/faultload" ./bench/cmd/faultload && go build -o "$tmp/faultproxy" ./bench/cmd/faultproxy)
take_port port
take_port upstream_port
export FAULTS_PORT="$port" FAULTS_UPSTREAM_PORT="$upstream_port" FAULTS_STORAGE="postgres $(pg dsn)"
export FAULTS_ISSUER="http://127.0.0.1:$port" FAULTS_REDIS_URL="$(redis url)"
export FAULTS_MASTER_KEY="$(random_secret)" FAULTS_SECRET="$(random_secret)" FAULTS_GATEWAY_SECRET="$(random_secret)"
mkdir -p "$tmp/xdg/data" "$tmp/xdg/config"
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	"$caddy" run --config "$here/faults.Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
base="http://127.0.0.1:$port"
wait_for_url "$base/.well-known/openid-configuration" "$caddy_pid" >/dev/null

# phase NAME SECONDS ACTION [FAULTLOAD-ARGS...]: load $base for SECONDS while ACTION runs (in
# the background, after a few seconds of steady load); prints the per-second timeline and
# judges it. The load calls $base/opaque/x unless the arguments name other targets.
failed=0
phase() {
	local name=$1 secs=$2 action=$3 out
	shift 3
	if [[ -n "${FAULTS_PHASES:-}" && " $FAULTS_PHASES " != *" $name "* ]]; then
		echo "== $name: skipped (FAULTS_PHASES)" | tee -a "$tmp/summary"
		return
	fi
	(($# > 0)) || set -- -api "$base/opaque/x"
	echo
	echo "== $name: $action"
	(sleep 4 && eval "$action") >"$tmp/$name.action.log" 2>&1 &
	local action_pid=$!
	out="$(FAULTLOAD_CLIENT_SECRET="$FAULTS_SECRET" FAULTLOAD_GATEWAY_SECRET="$FAULTS_GATEWAY_SECRET" "$tmp/faultload" \
		-issuer "$base" -client load-client -gateway-client load-gateway -resource https://opaque.faults.test \
		-forged -d "${secs}s" -c 8 "$@")"
	wait "$action_pid" || { echo "$name: the fault action failed:" >&2; cat "$tmp/$name.action.log" >&2; failed=1; }
	echo "$out"
	kill -0 "$caddy_pid" 2>/dev/null || { echo "$name: Caddy exited" >&2; exit 1; }
	local result recovered
	result="$(grep '^RESULT' <<<"$out")"
	# Recovered: each of the last three seconds answered tokens and gateway calls with 200s only.
	recovered="$(grep '^t=' <<<"$out" | tail -n 4 | head -n 3 | awk '
		{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "200") ok++; if (kv[1] == "503" || kv[1] == "5xx" || kv[1] == "other") bad += kv[2] } }
		END { print (bad == 0 && ok > 0) ? "yes" : "no" }')"
	awk -v name="$name" -v rec="$recovered" '
		{ for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] } }
		END {
			bad = r["replay_passed"] + r["forged_passed"]
			for (k in r) if (k ~ /_(5xx|other)$/) bad += r[k]
			printf "%-11s tokens issued %d, lost %d; 200/503/5xx/other: token %d/%d/%d/%d, opaque %d/%d/%d/%d, jwt %d/%d/%d/%d, dpop %d/%d/%d/%d; replays passed %d, forged passed %d; recovered by itself: %s\n",
				name, r["tokens"], r["lost"], r["token_200"], r["token_503"], r["token_5xx"], r["token_other"],
				r["gateway_200"], r["gateway_503"], r["gateway_5xx"], r["gateway_other"],
				r["jwt_200"], r["jwt_503"], r["jwt_5xx"], r["jwt_other"],
				r["dpop_200"], r["dpop_503"], r["dpop_5xx"], r["dpop_other"], r["replay_passed"], r["forged_passed"], rec
			if (r["dpop_proof_refused"] > 0) printf "%-11s %d fresh DPoP proofs refused with 401 invalid_dpop_proof (made before the replay guard found Redis empty: fail closed)\n", "", r["dpop_proof_refused"]
			exit (bad > 0 || r["lost"] > 0 || rec != "yes") ? 1 : 0
		}' <<<"$result" >>"$tmp/summary" || failed=1
}

phase restart 25 "'$root/scripts/postgres.sh' restart"
phase outage $((outage + 25)) "'$root/scripts/postgres.sh' halt && sleep $outage && '$root/scripts/postgres.sh' start"
phase redis 40 "'$root/scripts/redis.sh' halt && sleep 15 && '$root/scripts/redis.sh' start" \
	-api "$base/opaque/x" -dpop-resource https://dpop.faults.test -dpop-api "$base/dpop/x"

# The remote gateway: the authorization server now names the fault proxy as its issuer, and a
# second Caddy validates its tokens through the proxy only.
stop_tracked_pids
take_port proxy_port
take_port control_port
take_port gateway_port
"$tmp/faultproxy" -listen "127.0.0.1:$proxy_port" -target "http://127.0.0.1:$port" -control "127.0.0.1:$control_port" >"$tmp/faultproxy.log" 2>&1 &
track_pid $!
export FAULTS_ISSUER="http://127.0.0.1:$proxy_port" FAULTS_GATEWAY_PORT="$gateway_port"
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	"$caddy" run --config "$here/faults.Caddyfile" --adapter caddyfile >>"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
wait_for_url "$base/.well-known/openid-configuration" "$caddy_pid" >/dev/null
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	"$caddy" run --config "$here/faults-gateway.Caddyfile" --adapter caddyfile >"$tmp/gateway.log" 2>&1 &
track_pid $!
gateway="http://127.0.0.1:$gateway_port"
for i in $(seq 1 150); do # up when it refuses a call without a token
	[[ "$(curl -s -o /dev/null -w '%{http_code}' "$gateway/jwt/x")" == 401 ]] && break
	((i < 150)) || { echo "the remote gateway did not start" >&2; exit 1; }
	sleep 0.2
done
proxy_mode() { curl -fsS "http://127.0.0.1:$control_port/mode?$1"; }
remote=(-api "$gateway/opaque/x" -jwt-resource https://jwt.faults.test -jwt-api "$gateway/jwt/x")
phase issuer-down 40 "proxy_mode set=down && sleep 15 && proxy_mode set=ok" "${remote[@]}"
phase issuer-slow 40 "proxy_mode 'set=slow&delay=8s' && sleep 15 && proxy_mode set=ok" "${remote[@]}"

# The SQLite phase: a second Caddy whose database lives on a small tmpfs that is then filled.
mkdir -p "$fs"
if mount -t tmpfs -o size=64m tmpfs "$fs" 2>/dev/null; then
	fs_mounted=yes
	stop_tracked_pids
	take_port port
	export FAULTS_PORT="$port" FAULTS_STORAGE="sqlite $fs/oauth.db" FAULTS_ISSUER="http://127.0.0.1:$port"
	XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
		"$caddy" run --config "$here/faults.Caddyfile" --adapter caddyfile >>"$tmp/caddy.log" 2>&1 &
	caddy_pid=$!
	track_pid "$caddy_pid"
	base="http://127.0.0.1:$port"
	wait_for_url "$base/.well-known/openid-configuration" "$caddy_pid" >/dev/null
	# Fill what is left of the file system, hold it full for 15 s, free it.
	phase disk-full 40 "dd if=/dev/zero of='$fs/filler' bs=1M status=none 2>/dev/null || true; sleep 15; rm -f '$fs/filler'"
else
	echo
	echo "== disk-full: skipped (mounting a tmpfs needs root)" | tee -a "$tmp/summary"
fi

echo
echo "== summary (only 200 and 503 allowed; no token lost; the last seconds all 200)"
cat "$tmp/summary"
if grep -q '"level":"error"' "$tmp/caddy.log"; then
	echo "caddy logged $(grep -c '"level":"error"' "$tmp/caddy.log") error lines (expected while the database is down); first:"
	grep -m1 '"level":"error"' "$tmp/caddy.log" | cut -c1-300
fi
exit "$failed"
