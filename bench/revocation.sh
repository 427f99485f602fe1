#!/usr/bin/env bash
# Benchmark of the revocation stream (issue 10), all numbers from one run on this machine:
#
#   latency     1 authorization server + 3 gateway processes, each subscribed to its revocation
#               stream. BENCH_REVOCATIONS times (default 1000): a client_credentials JWT, a GET
#               through each gateway (200: now cached as verified), POST /revoke, then each
#               gateway polled every millisecond until it answers 401. Prints p50/p99/max of
#               revoke call -> 401 (target: p99 <= 1 s).
#   throughput  wrk against one gateway whose revoked set is empty, and against one holding
#               BENCH_REVOKED (default 1,000,000) live jti revocations, alternately, twice each,
#               with the same configuration and token shape. The 1,000,000 entries are seeded
#               through the stream itself, from `revbench fake-issuer` (a stand-in issuer whose
#               log holds them; seeding them through the real AS would mean a million /revoke
#               calls and a million RS/ES signatures per gateway). Prints req/s and the ratio
#               (target >= 0.95), and each gateway's RSS.
#
#   bench/revocation.sh
#   BENCH_REVOCATIONS=200 BENCH_REVOKED=200000 BENCH_DURATION=5s bench/revocation.sh
#   CADDY_BIN=/path/caddy bench/revocation.sh
#   BENCH_PARTS=throughput bench/revocation.sh            # one part only (latency, throughput)
#
# Not a timed test: targets are reported, not enforced. A busy machine skews the ratio.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
revocations="${BENCH_REVOCATIONS:-1000}"
revoked="${BENCH_REVOKED:-1000000}"
duration="${BENCH_DURATION:-10s}"
concurrency="${BENCH_CONCURRENCY:-32}"
parts="${BENCH_PARTS:-latency,throughput}"
rounds="${BENCH_ROUNDS:-3}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-revocation-bench.XXXXXX")"
cleanup_on_exit "$tmp" 30


rss_mib() { awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

echo "== caddy-oauth revocation stream benchmark"
echo "command     BENCH_PARTS=$parts BENCH_REVOCATIONS=$revocations BENCH_REVOKED=$revoked BENCH_DURATION=$duration BENCH_CONCURRENCY=$concurrency bench/revocation.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
use_caddy "$tmp"
(cd "$root" && go build -o "$tmp/revbench" ./bench/cmd/revbench)

# Throughput runs pin the gateway under test to core 0 and wrk to core 1, so the gateway is the
# bottleneck and the two sets are measured on the same core (PIN_GATEWAY/PIN_LOAD are empty
# when taskset is missing or the machine has one core).
PIN_GATEWAY=() PIN_LOAD=() PIN=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_GATEWAY=(taskset -c 0) PIN_LOAD=(taskset -c 1)
fi

# run_caddy NAME CONFIG: starts a Caddy (own XDG dirs and log), its pid in $last_pid;
# PIN (an array) prefixes the command.
run_caddy() {
	mkdir -p "$tmp/$1.xdg"
	XDG_DATA_HOME="$tmp/$1.xdg" XDG_CONFIG_HOME="$tmp/$1.xdg" "${PIN[@]}" "$caddy" run --config "$2" --adapter caddyfile >"$tmp/$1.log" 2>&1 &
	last_pid=$!
	track_pid "$last_pid"
}

# wait_answering URL PID: waits until URL answers with any status.
wait_answering() {
	for _ in $(seq 1 150); do
		[[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ]] && return 0
		kill -0 "$2" 2>/dev/null || { echo "caddy exited before serving $1" >&2; return 1; }
		sleep 0.2
	done
	echo "caddy did not answer at $1 within 30s" >&2
	return 1
}

export BENCH_MASTER_KEY BENCH_SECRET BENCH_GATEWAY_SECRET BENCH_DB="$tmp/oauth.db"
BENCH_MASTER_KEY="$(random_secret)" BENCH_SECRET="$(random_secret)" BENCH_GATEWAY_SECRET="$(random_secret)"

# --- latency: 1 AS + 3 gateways -----------------------------------------------------------
if [[ ",$parts," == *,latency,* ]]; then
take_port BENCH_AS_PORT
export BENCH_AS_PORT
as="http://127.0.0.1:$BENCH_AS_PORT"
run_caddy as "$here/revocation-as.Caddyfile"
as_pid=$last_pid
wait_for_url "$as/.well-known/openid-configuration" "$as_pid" >/dev/null
gateways=()
for i in 1 2 3; do
	take_port gw_port
	BENCH_GW_PORT="$gw_port" BENCH_ISSUER="$as" BENCH_RESOURCE=https://api.revocation.bench.test \
		run_caddy "gateway-$i" "$here/revocation-gateway.Caddyfile"
	wait_answering "http://127.0.0.1:$gw_port/" "$last_pid" # 401 without a token: any answer will do
	gateways+=("http://127.0.0.1:$gw_port")
done
echo "== latency: $revocations revocations, 3 gateway processes (revoke call -> 401 at each)"
REVBENCH_SECRET="$BENCH_SECRET" "$tmp/revbench" latency -issuer "$as" -client bench-client \
	-resource https://api.revocation.bench.test -gateways "$(IFS=,; echo "${gateways[*]}")" -n "$revocations"
stop_tracked_pids
fi
[[ ",$parts," == *,throughput,* ]] || exit 0

# --- throughput: empty revoked set vs BENCH_REVOKED entries --------------------------------
resource=https://api.throughput.bench.test
declare -A gw_url gw_pid token fake_addr
for set in empty full; do
	take_port fake_port
	take_port gw_port
	n=0
	[[ $set == full ]] && n="$revoked"
	"$tmp/revbench" fake-issuer -listen "127.0.0.1:$fake_port" -revoked "$n" -resource "$resource" -token-file "$tmp/token-$set" >"$tmp/fake-$set.log" 2>&1 &
	track_pid "$!"
	fake_addr[$set]="127.0.0.1:$fake_port"
	PIN=("${PIN_GATEWAY[@]}")
	BENCH_GW_PORT="$gw_port" BENCH_ISSUER="http://127.0.0.1:$fake_port" BENCH_RESOURCE="$resource" \
		run_caddy "throughput-$set" "$here/revocation-gateway.Caddyfile"
	PIN=()
	gw_pid[$set]=$last_pid
	gw_url[$set]="http://127.0.0.1:$gw_port/"
	for _ in $(seq 1 150); do [[ -s "$tmp/token-$set" ]] && break; sleep 0.2; done
	token[$set]="$(cat "$tmp/token-$set")"
done
echo "== throughput: seeding $revoked revocations into one gateway through its stream"
seed_start=$(date +%s)
while :; do
	acked="$(curl -fsS "http://${fake_addr[full]}/progress" | sed -n 's/.*"acked":\([0-9]*\).*/\1/p')"
	((acked >= revoked)) && break
	kill -0 "${gw_pid[full]}" || { echo "the gateway exited while seeding" >&2; exit 1; }
	sleep 1
done
echo "seeded      $revoked entries in $(($(date +%s) - seed_start))s; RSS empty-set gateway $(rss_mib "${gw_pid[empty]}") MiB, full-set gateway $(rss_mib "${gw_pid[full]}") MiB"
for set in empty full; do
	status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token[$set]}" "${gw_url[$set]}")"
	[[ $status == 200 ]] || { echo "$set gateway answered $status for the live token" >&2; exit 1; }
done
declare -A rps_sum=([empty]=0 [full]=0)
for round in $(seq 1 "$rounds"); do
	for set in empty full; do
		BENCH_AUTHORIZATION="Bearer ${token[$set]}" "${PIN_LOAD[@]}" wrk -t1 -c "$concurrency" -d 2s -s "$here/lua/header.lua" "${gw_url[$set]}" >/dev/null
		out="$(BENCH_AUTHORIZATION="Bearer ${token[$set]}" "${PIN_LOAD[@]}" wrk -t1 -c "$concurrency" -d "$duration" --latency -s "$here/lua/header.lua" "${gw_url[$set]}")"
		rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
		p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
		non2xx="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
		echo "round $round $set: $rps req/s, p99 $p99, non-2xx ${non2xx:-0}"
		rps_sum[$set]="$(awk -v a="${rps_sum[$set]}" -v b="$rps" 'BEGIN {print a + b}')"
	done
done
echo "RESULT throughput empty_rps=$(awk -v s="${rps_sum[empty]}" -v n="$rounds" 'BEGIN {printf "%.0f", s / n}') full_rps=$(awk -v s="${rps_sum[full]}" -v n="$rounds" 'BEGIN {printf "%.0f", s / n}') ratio=$(awk -v e="${rps_sum[empty]}" -v f="${rps_sum[full]}" 'BEGIN {printf "%.3f", f / e}') revoked=$revoked"
