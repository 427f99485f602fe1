#!/usr/bin/env bash
# Opaque access-token issuance beside oidc-provider, with each server as the bottleneck. Three
# servers, each pinned with taskset to the same core (BENCH_SERVER_CPU, default 0) and loaded in
# turn by wrk pinned to the other (BENCH_LOAD_CPU, default 1):
#   sqlite     caddy-oauth (bench/Caddyfile), tokens in its embedded SQLite file
#   postgres   the same Caddyfile with a PostgreSQL store; the PostgreSQL server is pinned to the
#              server core too, so the database's cost counts against the server
#   peer       oidc-provider (npm, bench/peers), its default in-memory store (tokens are lost on a
#              restart and not shared between processes: the comparison favours it)
# Every server answers the same request: client_credentials with client_secret_basic for an
# opaque-token resource, scope read. Rounds are interleaved (BENCH_ROUNDS, default 5); the
# report gives, per server, the median req/s and p99 of the rounds, and the median of each
# round's ratio to the peer's req/s. A run whose load core was more than 90% busy is flagged.
#
#   bench/opaque.sh                                  # 5 rounds × 3 servers × 8 s (≈ 3 min)
#   BENCH_ROUNDS=7 BENCH_DURATION=10s BENCH_CONCURRENCY=32 bench/opaque.sh
#   CADDY_BIN=/path/caddy bench/opaque.sh
#
# Needs 2 cores, taskset, node and npm (installs oidc-provider into bench/peers/node_modules),
# and PostgreSQL's server (scripts/postgres.sh installs it). Not a timed test: run on demand.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
rounds="${BENCH_ROUNDS:-5}"
concurrency="${BENCH_CONCURRENCY:-32}"
duration="${BENCH_DURATION:-8s}"
warmup="${BENCH_WARMUP:-2s}"
server_core="${BENCH_SERVER_CPU:-0}"
load_core="${BENCH_LOAD_CPU:-1}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-opaque-bench.XXXXXX")"
cleanup_on_exit "$tmp" 60

(($(nproc) >= 2)) || { echo "opaque.sh needs two cores" >&2; exit 1; }
need_debian_packages wrk:wrk taskset:util-linux
echo "== opaque token issuance: caddy-oauth (SQLite, PostgreSQL) and oidc-provider on core $server_core, wrk on core $load_core"
echo "command     BENCH_ROUNDS=$rounds BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup bench/opaque.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go version | cut -d' ' -f3), node $(node --version), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
use_caddy "$tmp"
npm_ci_once "$here/peers"

secret="$(random_secret)"
basic="Basic $(printf '%s' "bench-client:$secret" | base64 -w0)"
body="grant_type=client_credentials&resource=https%3A%2F%2Fopaque.bench.test&scope=read"
declare -A pid port

# PostgreSQL for the postgres server, outside $tmp (it runs as the postgres user under root).
take_port pg_port
export CADDY_OAUTH_PG_PORT="$pg_port" CADDY_OAUTH_PG_DIR="${TMPDIR:-/tmp}/caddy-oauth-opaque-pg.$$"
pg() { "$root/scripts/postgres.sh" "$@"; }
# opaque_cleanup stops the servers, then PostgreSQL, keeping the script's exit status.
opaque_cleanup() {
	local status=$?
	stop_tracked_pids
	pg stop >/dev/null 2>&1 || true
	(exit "$status") || _cleanup_on_exit
	_cleanup_on_exit
}
trap opaque_cleanup EXIT
pg start >/dev/null
pg_pids() { pgrep -f -- "-p $pg_port" || true; pgrep -f "postgres.*$CADDY_OAUTH_PG_DIR" || true; }
for p in $(pg_pids | sort -u); do taskset -acp "$server_core" "$p" >/dev/null; done

start_caddy() { # NAME DRIVER DSN
	take_port "port[$1]"
	mkdir -p "$tmp/$1/data" "$tmp/$1/config"
	BENCH_PORT="${port[$1]}" BENCH_DRIVER="$2" BENCH_DB="$3" BENCH_MASTER_KEY="$(random_secret)" BENCH_SECRET="$secret" \
		XDG_DATA_HOME="$tmp/$1/data" XDG_CONFIG_HOME="$tmp/$1/config" \
		taskset -c "$server_core" "$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/$1.log" 2>&1 &
	pid[$1]=$!
	track_pid "${pid[$1]}"
	wait_for_url "http://127.0.0.1:${port[$1]}/.well-known/openid-configuration" "${pid[$1]}" >/dev/null
}
start_caddy sqlite sqlite "$tmp/sqlite/oauth.db"
start_caddy postgres postgres "$(pg dsn)"
take_port "port[peer]"
(cd "$here/peers" && NODE_ENV=production PEER_PORT="${port[peer]}" PEER_SECRET="$secret" \
	exec taskset -c "$server_core" node oidc-provider.mjs >"$tmp/peer.log" 2>&1) &
pid[peer]=$!
track_pid "${pid[peer]}"
wait_for_url "http://127.0.0.1:${port[peer]}/.well-known/openid-configuration" "${pid[peer]}" >/dev/null

order=(sqlite postgres peer)
# Correctness: each server issues an opaque (not JWT) token for the request, and refuses a
# wrong secret.
for name in "${order[@]}"; do
	url="http://127.0.0.1:${port[$name]}/token"
	tok="$(curl -fsS -H "Authorization: $basic" -d "$body" "$url" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
	[[ -n "$tok" && "$tok" != *.*.* ]] || { echo "$name did not issue an opaque token" >&2; exit 1; }
	code="$(curl -s -o /dev/null -w '%{http_code}' -u bench-client:wrong -d "$body" "$url")"
	[[ "$code" == 401 ]] || { echo "$name answered $code to a wrong secret" >&2; exit 1; }
	echo "server      $name pid ${pid[$name]} on port ${port[$name]}, affinity $(taskset -cp "${pid[$name]}" | awk '{print $NF}')"
done

load_snapshot() { awk -v l="cpu$load_core" '$1 == l {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
results="$tmp/results"
: >"$results"
echo
echo "round  server      throughput      p50        p99     errors  load core"
for round in $(seq 1 "$rounds"); do
	for name in "${order[@]}"; do
		url="http://127.0.0.1:${port[$name]}/token"
		read -r b0 t0 < <(load_snapshot)
		BENCH_AUTHORIZATION="$basic" BENCH_BODY="$body" taskset -c "$load_core" \
			wrk -t1 -c "$concurrency" -d "$warmup" -s "$here/lua/token.lua" "$url" >/dev/null
		out="$(BENCH_AUTHORIZATION="$basic" BENCH_BODY="$body" taskset -c "$load_core" \
			wrk -t1 -c "$concurrency" -d "$duration" --latency -s "$here/lua/token.lua" "$url" 2>&1)"
		read -r b1 t1 < <(load_snapshot)
		echo "$out" >"$tmp/$name.$round.wrk"
		busy=$(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
		rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
		p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
		p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
		errors="$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
		echo "RESULT round=$round name=$name rps=$rps p99=$p99 errors=$errors busy=$busy" >>"$results"
		printf '%-6s %-9s %9.1f req/s  %6s ms  %7s ms  %6s  %s%%\n' "$round" "$name" "$rps" "$p50" "$p99" "$errors" "$busy"
	done
done

echo
echo "== summary: median (min–max) of $rounds rounds; ratios to the same round's oidc-provider req/s"
awk '
	/^RESULT/ {
		delete r
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		if (r["errors"] > 0) failed = 1
		if (r["busy"] + 0 > 90) bound[r["name"]]++
		rps[r["round"], r["name"]] = r["rps"]; p99[r["round"], r["name"]] = r["p99"]; seen[r["round"]] = 1
	}
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function stat(arr, name, v,   k, n) { n = 0; for (k in seen) if ((k, name) in arr) v[++n] = arr[k, name]; return n }
	END {
		split("sqlite postgres peer", names, " ")
		for (i = 1; i <= 3; i++) {
			name = names[i]
			delete a; n = stat(rps, name, a); mr = median(a, n)
			delete b; n = stat(p99, name, b); mp = median(b, n); lo = b[1]; hi = b[n]
			delete c; m = 0
			for (k in seen) if ((k, name) in rps && rps[k, "peer"] > 0) c[++m] = rps[k, name] / rps[k, "peer"]
			mc = median(c, m)
			printf "%-9s %8.0f req/s  p99 %6.2f ms (%.2f–%.2f)  %.2fx oidc-provider (%.2f–%.2f)%s", name, mr, mp, lo, hi, mc, c[1], c[m], bound[name] ? sprintf("  %d WRK-BOUND rounds", bound[name]) : ""
			if (name != "peer") printf "  target >= 1.50x with p99 <= peer: %s", (bound[name] || bound["peer"] ? "not judged (load core saturated)" : mc >= 1.5 && mp <= peerp99() ? "met" : "MISSED")
			printf "\n"
		}
		exit failed
	}
	function peerp99(   d, n) { delete d; n = stat(p99, "peer", d); return median(d, n) }
' "$results" || { echo "some requests failed: see the errors column" >&2; exit 1; }
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
