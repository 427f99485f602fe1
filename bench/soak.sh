#!/usr/bin/env bash
# Soak: one Caddy (bench/soak.Caddyfile, SQLite) under a mixed load for SOAK_DURATION (default
# 30m) — client_credentials tokens (JWT, opaque, DPoP-bound), introspection, gateway calls with
# a JWT, an opaque token and a DPoP proof per call, sign-ins through the pages and refresh
# rotation (bench/cmd/soakload). Every 10 s it records Caddy's RSS, goroutines, open files, the
# database's size and the rows of its main tables; lifetimes are minutes and the cleanup runs
# every SOAK_CLEANUP (default 2m), so expired rows must be pruned as the run goes.
#
# It fails when any request got an unexpected answer, or when the last third of the run (after
# a warm-up of SOAK_WARMUP, default 5m) sits above the first third by more than a small
# allowance (soakload's judge). The curves go to $SOAK_OUT (default bench/soak-results):
# soak.csv, soak.png (gnuplot) and soak.txt (the report).
#
#   bench/soak.sh                                   # 30 minutes
#   SOAK_DURATION=6m SOAK_WARMUP=1m bench/soak.sh   # a quick look
#   CADDY_BIN=/path/caddy bench/soak.sh
#
# Not a timed test and not part of `make test`: run on demand.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
duration="${SOAK_DURATION:-30m}"
warmup="${SOAK_WARMUP:-5m}"
workers="${SOAK_WORKERS:-6}"
out="${SOAK_OUT:-$here/soak-results}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-soak.XXXXXX")"
cleanup_on_exit "$tmp" 80

need_debian_packages gnuplot:gnuplot-nox
mkdir -p "$out"
echo "== caddy-oauth soak: $duration, $workers workers + 1 signing in"
echo "command     SOAK_DURATION=$duration SOAK_WARMUP=$warmup SOAK_WORKERS=$workers bench/soak.sh"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "commit      $commit"
echo "machine     $(nproc) cores, $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
use_caddy "$tmp"
(cd "$root" && go build -o "$tmp/soakload" ./bench/cmd/soakload)

take_port port
take_port upstream_port
take_port admin_port
export SOAK_PORT="$port" SOAK_UPSTREAM_PORT="$upstream_port" SOAK_ADMIN_PORT="$admin_port"
export SOAK_DB="$tmp/oauth.db" SOAK_MASTER_KEY="$(random_secret)" SOAK_CLEANUP="${SOAK_CLEANUP:-2m}"
export SOAK_CLIENT_SECRET="$(random_secret)" SOAK_WEB_SECRET="$(random_secret)"
export SOAK_GATEWAY_SECRET="$(random_secret)" SOAK_PASSWORD="soak-$(random_secret)"
mkdir -p "$tmp/xdg/data" "$tmp/xdg/config"
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	"$caddy" run --config "$here/soak.Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
wait_for_url "http://127.0.0.1:$port/.well-known/openid-configuration" "$caddy_pid" >/dev/null
echo "caddy       pid $caddy_pid on :$port, admin metrics on :$admin_port, cleanup every $SOAK_CLEANUP"
echo

status=0
"$tmp/soakload" -base "http://127.0.0.1:$port" -metrics "http://127.0.0.1:$admin_port/metrics" -pid "$caddy_pid" \
	-db "$SOAK_DB" -d "$duration" -warmup "$warmup" -c "$workers" -csv "$out/soak.csv" | tee "$out/soak.txt" || status=$?
grep -q '"level":"error"' "$tmp/caddy.log" && { echo "Caddy logged errors:" >&2; grep '"level":"error"' "$tmp/caddy.log" | head -20 >&2; status=1; }

gnuplot <<PLOT
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 1200,900 font ",10" noenhanced
set output "$out/soak.png"
set multiplot layout 3,2 title "caddy-oauth soak ($duration, cleanup every $SOAK_CLEANUP): commit $commit"
set key left top
set xlabel "minutes"
set grid
set yrange [0:*]
set xrange [0:*]
# Columns by their header names (soakload writes the header).
series(name) = sprintf('"%s" using (column("elapsed_s")/60):(column("%s")) with lines lw 2 notitle', "$out/soak.csv", name)
set title "Caddy RSS (MiB)"; eval "plot " . series("rss_mib")
set title "goroutines"; eval "plot " . series("goroutines")
set title "open files"; eval "plot " . series("open_files")
set title "database file + WAL (MiB)"; eval "plot " . series("db_mib")
set title "rows"
plot for [n in "$(head -1 "$out/soak.csv" | tr ',' '\n' | grep '_rows$' | tr '\n' ' ')"] "$out/soak.csv" using (column("elapsed_s")/60):(column(n)) with lines lw 1.5 title n
set title "requests and errors per 10 s"
plot "$out/soak.csv" using (column("elapsed_s")/60):(column("requests")) with lines lw 2 title "requests", "" using (column("elapsed_s")/60):(column("errors")) with lines lw 2 title "errors"
unset multiplot
PLOT
echo "wrote $out/soak.csv, $out/soak.png, $out/soak.txt"
exit "$status"
