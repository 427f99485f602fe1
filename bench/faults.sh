#!/usr/bin/env bash
# Fault tests, run on demand (not in `make test`): a real Caddy serving the authorization
# server on a real PostgreSQL and a gateway for its opaque tokens, under steady load from
# bench/cmd/faultload, while this script breaks the database:
#   restart      PostgreSQL restarted mid-flow (every connection cut at once)
#   outage       PostgreSQL stopped for FAULTS_OUTAGE seconds (default 30), then started
#   disk-full    the file system under a SQLite database filled up for 15 s, then freed
#                (a tmpfs mounted for the test: needs root; skipped, and said so, without)
# Each phase must answer only 200 or 503 temporarily_unavailable (never a 500, never a hang),
# must lose no token whose response was sent (all still active at introspection afterwards),
# and must recover by itself: the last seconds of each phase answer 200 again, without
# restarting Caddy.
#
#   bench/faults.sh                      # about 2 minutes
#   FAULTS_OUTAGE=60 bench/faults.sh
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
fs="$tmp/sqlite-fs"
fs_mounted=""
# faults_cleanup stops Caddy before the file system under its database goes, then PostgreSQL;
# every step may fail without hiding the script's own exit status (set -e holds in traps).
faults_cleanup() {
	local status=$?
	stop_tracked_pids
	if [[ -n "$fs_mounted" ]]; then umount "$fs" 2>/dev/null || true; fi
	pg stop >/dev/null 2>&1 || true
	# _cleanup_on_exit reads the status from $?: "(exit N) || …" sets it without tripping set -e.
	(exit "$status") || _cleanup_on_exit
	_cleanup_on_exit
}
trap faults_cleanup EXIT
pg start

use_caddy "$tmp"
(cd "$root" && go build -o "$tmp/faultload" ./bench/cmd/faultload)
take_port port
take_port upstream_port
export FAULTS_PORT="$port" FAULTS_UPSTREAM_PORT="$upstream_port" FAULTS_STORAGE="postgres $(pg dsn)"
export FAULTS_MASTER_KEY="$(random_secret)" FAULTS_SECRET="$(random_secret)" FAULTS_GATEWAY_SECRET="$(random_secret)"
mkdir -p "$tmp/xdg/data" "$tmp/xdg/config"
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	"$caddy" run --config "$here/faults.Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
base="http://127.0.0.1:$port"
wait_for_url "$base/.well-known/openid-configuration" "$caddy_pid" >/dev/null

# phase NAME SECONDS ACTION: load $base for SECONDS while ACTION runs (in the background,
# after a few seconds of steady load); prints the per-second timeline and judges it.
failed=0
phase() {
	local name=$1 secs=$2 action=$3 out
	echo
	echo "== $name: $action"
	(sleep 4 && eval "$action") >"$tmp/$name.action.log" 2>&1 &
	local action_pid=$!
	out="$(FAULTLOAD_CLIENT_SECRET="$FAULTS_SECRET" FAULTLOAD_GATEWAY_SECRET="$FAULTS_GATEWAY_SECRET" "$tmp/faultload" \
		-issuer "$base" -client load-client -gateway-client load-gateway -resource https://opaque.faults.test \
		-api "$base/opaque/x" -d "${secs}s" -c 8)"
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
			bad = r["token_5xx"] + r["token_other"] + r["gateway_5xx"] + r["gateway_other"]
			printf "%-8s tokens issued %d, lost %d; token 200/503/5xx/other %d/%d/%d/%d; gateway %d/%d/%d/%d; recovered by itself: %s\n",
				name, r["tokens"], r["lost"], r["token_200"], r["token_503"], r["token_5xx"], r["token_other"],
				r["gateway_200"], r["gateway_503"], r["gateway_5xx"], r["gateway_other"], rec
			exit (bad > 0 || r["lost"] > 0 || rec != "yes") ? 1 : 0
		}' <<<"$result" >>"$tmp/summary" || failed=1
}

phase restart 25 "'$root/scripts/postgres.sh' restart"
phase outage $((outage + 25)) "'$root/scripts/postgres.sh' halt && sleep $outage && '$root/scripts/postgres.sh' start"

# The SQLite phase: a second Caddy whose database lives on a small tmpfs that is then filled.
mkdir -p "$fs"
if mount -t tmpfs -o size=64m tmpfs "$fs" 2>/dev/null; then
	fs_mounted=yes
	stop_tracked_pids
	take_port port
	export FAULTS_PORT="$port" FAULTS_STORAGE="sqlite $fs/oauth.db"
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
