#!/usr/bin/env bash
# The gateway and token endpoint benchmark with the server as the bottleneck: Caddy (which
# also serves the upstream, its own `respond` site) is pinned to one core with taskset and wrk
# to the other, so nothing of the server's cost hides in spare CPU. Every scenario goes through
# the same Caddy process and the same upstream (bench/gateway.Caddyfile), one route each:
#   plain         reverse_proxy alone: the yardstick of every round
#   jwt           oauth_resource, a repeated ES256 JWT bearer token (in-process issuer)
#   dpop          a DPoP-bound ES256 JWT with a fresh proof per request
#   opaque        an opaque token, looked up in-process
#   token         the token endpoint: client_credentials, an ES256 JWT
#   token_dpop    the same with a fresh DPoP proof per request (a DPoP-bound JWT)
# Scenarios are interleaved and repeated (BENCH_ROUNDS, default 5). Every gateway scenario runs
# between two plain runs (plain jwt plain dpop plain opaque plain …) and its ratio is taken
# against the mean of those two, so a machine that drifts during a round (other tenants on a
# shared host) moves both sides alike; the report gives the median and the spread (min–max) of
# the rounds. The token endpoint is reported as Caddy CPU per token (µs), with and
# without DPoP, and the difference.
#
#   bench/pinned.sh                                    # 5 rounds × 9 runs × (2 + 8) s (≈ 9 min)
#   BENCH_ROUNDS=7 BENCH_DURATION=10s BENCH_CONCURRENCY=32 bench/pinned.sh
#   CADDY_BIN=/path/caddy bench/pinned.sh
#
# wrk's core must not be saturated, or the load generator, not the server, sets the pace: a
# run where wrk used more than 90% of its core is flagged (WRK-BOUND) and left out of the
# medians. Needs 2 cores and taskset (util-linux). Not a timed test: run on demand.
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
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-pinned-bench.XXXXXX")"
cleanup_on_exit "$tmp" 60

seconds() { case "$1" in *s) echo "${1%s}" ;; *m) echo $((${1%m} * 60)) ;; *) echo "$1" ;; esac; }
tick="$(getconf CLK_TCK)"
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

(($(nproc) >= 2)) || { echo "pinned.sh needs two cores" >&2; exit 1; }
need_debian_packages wrk:wrk taskset:util-linux
echo "== caddy-oauth pinned benchmark: Caddy on core $server_core, wrk on core $load_core"
echo "command     BENCH_ROUNDS=$rounds BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup bench/pinned.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
(cd "$root" && go build -o "$tmp/dpopproofs" ./bench/cmd/dpopproofs)
use_caddy "$tmp"

take_port port
take_port upstream_port
take_port remote_port # gateway.Caddyfile's remote gateway is not started here
base="http://127.0.0.1:$port"
export BENCH_PORT="$port" BENCH_UPSTREAM_PORT="$upstream_port" BENCH_REMOTE_PORT="$remote_port"
export BENCH_DB="$tmp/oauth.db" BENCH_MASTER_KEY="$(random_secret)"
export BENCH_SECRET="$(random_secret)" BENCH_GATEWAY_SECRET="$(random_secret)"
mkdir -p "$tmp/xdg/data" "$tmp/xdg/config"
XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" \
	taskset -c "$server_core" "$caddy" run --config "$here/gateway.Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
wait_for_url "$base/.well-known/openid-configuration" "$caddy_pid" >/dev/null
echo "caddy       pid $caddy_pid, affinity $(taskset -cp "$caddy_pid" | awk '{print $NF}')"

basic="Basic $(printf '%s' "bench-client:$BENCH_SECRET" | base64 -w0)"
issue() {
	curl -fsS -H "Authorization: $basic" --data-urlencode grant_type=client_credentials \
		--data-urlencode "resource=$1" --data-urlencode scope=read "$base/token" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
declare -A url=([plain]="$base/plain/x" [jwt]="$base/jwt/x" [dpop]="$base/dpop/x" [opaque]="$base/opaque/x"
	[token]="$base/token" [token_dpop]="$base/token")
declare -A auth=([plain]="" [jwt]="Bearer $(issue https://jwt.gateway.bench.test)"
	[opaque]="Bearer $(issue https://opaque.gateway.bench.test)" [token]="$basic" [token_dpop]="$basic")
declare -A body=([token]="grant_type=client_credentials&resource=https%3A%2F%2Fjwt.gateway.bench.test&scope=read"
	[token_dpop]="grant_type=client_credentials&resource=https%3A%2F%2Fdpop.gateway.bench.test&scope=read")
order=(plain jwt plain dpop plain opaque plain token token_dpop)

# DPoP proofs are single-use and expire (iat older than 5 minutes is refused), so each round
# gets its own, made just before it on the load generator's core: 1.5× what the plain proxy
# served in a probe (an upper bound for DPoP) per measured and warm-up second.
probe="$(taskset -c "$load_core" wrk -t1 -c "$concurrency" -d 3s "${url[plain]}" | awk '/^Requests\/sec/ {printf "%d", $2}')"
per_run=$(((probe * 3 / 2) * ($(seconds "$duration") + $(seconds "$warmup")) + 1000))
echo "proofs      plain probe $probe req/s → $per_run proofs per DPoP run and per token_dpop run, made before each round"
# make_proofs ROUND: proofs for GET /dpop/x and for POST /token, and the DPoP-bound token.
make_proofs() {
	DPOPPROOFS_CLIENT_SECRET="$BENCH_SECRET" taskset -c "$load_core" "$tmp/dpopproofs" -token-url "$base/token" -client bench-client \
		-resource https://dpop.gateway.bench.test -scope read -url "${url[dpop]}" -n "$per_run" \
		-proofs "$tmp/get.$1" -token "$tmp/dpop.token" \
		-token-endpoint-proofs "$per_run" -token-endpoint-proofs-file "$tmp/post.$1" >/dev/null
	auth[dpop]="DPoP $(cat "$tmp/dpop.token")"
}
make_proofs 0

# Correctness: each scenario answers 200 with a real result, and the gateways refuse no token.
for name in jwt opaque; do
	[[ "$(curl -s -o /dev/null -w '%{http_code}' "${url[$name]}")" == 401 ]] || { echo "$name passes without a token" >&2; exit 1; }
	[[ "$(curl -s -H "Authorization: ${auth[$name]}" "${url[$name]}")" == ok ]] || { echo "$name refuses its token" >&2; exit 1; }
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ${auth[dpop]}" "${url[dpop]}")" == 401 ]] ||
	{ echo "dpop passes without a proof" >&2; exit 1; }

results="$tmp/results"
: >"$results"
# run NAME ROUND: one warm-up and one measured wrk run, pinned; appends a RESULT line.
run() {
	local name=$1 round=$2 script="$here/lua/header.lua" proofs="" out c0 c1 w0 w1 n
	case "$name" in
	dpop) script="$here/lua/dpop.lua" proofs="$tmp/get.$round" ;;
	token) script="$here/lua/token.lua" ;;
	token_dpop) script="$here/lua/token.lua" proofs="$tmp/post.$round" ;;
	esac
	if [[ -n "$proofs" ]]; then
		# The warm-up takes the head of the round's proofs, the measured run the rest.
		n=$(((probe * 3 / 2) * $(seconds "$warmup") + 500))
		head -n "$n" "$proofs" >"$proofs.warm"
		tail -n +"$((n + 1))" "$proofs" >"$proofs.run"
	fi
	BENCH_AUTHORIZATION="${auth[$name]}" BENCH_BODY="${body[$name]:-}" BENCH_DPOP_PROOFS="${proofs:+$proofs.warm}" \
		taskset -c "$load_core" wrk -t1 -c "$concurrency" -d "$warmup" -s "$script" "${url[$name]}" >/dev/null
	c0="$(proc_ticks "$caddy_pid")"
	out="$(BENCH_AUTHORIZATION="${auth[$name]}" BENCH_BODY="${body[$name]:-}" BENCH_DPOP_PROOFS="${proofs:+$proofs.run}" \
		taskset -c "$load_core" wrk -t1 -c "$concurrency" -d "$duration" --latency -s "$script" "${url[$name]}" 2>&1)"
	c1="$(proc_ticks "$caddy_pid")"
	echo "$out" >"$tmp/$name.$round.wrk"
	local rps requests errors cpu_us
	rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
	requests="$(awk '/ requests in / {print $1}' <<<"$out")"
	errors="$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} /requests_without_proof=/ {split($NF, kv, "="); n += kv[2]} END {print n + 0}' <<<"$out")"
	cpu_us="$(awk -v c=$((c1 - c0)) -v t="$tick" -v n="$requests" 'BEGIN { printf "%.1f", c * 1e6 / t / n }')"
	echo "RESULT seq=$(($(wc -l <"$results") + 1)) round=$round name=$name rps=$rps errors=$errors cpu_us=$cpu_us load_core_busy=$(load_busy_pct)" >>"$results"
	printf '%-6s %-11s %9.1f req/s  caddy %6s us/req  errors %s  load core %s%%\n' "$round" "$name" "$rps" "$cpu_us" "$errors" "$(load_busy_pct)"
}

# The load core's busy share during the last measured run, from /proc/stat snapshots taken
# around it (load_mark before, load_busy_pct after).
load_snapshot() { awk -v l="cpu$load_core" '$1 == l {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
load_busy_pct() { echo "${last_load_pct:-?}"; }

echo
echo "round  scenario       throughput  server cost            errors    load generator"
for round in $(seq 1 "$rounds"); do
	make_proofs "$round"
	for name in "${order[@]}"; do
		read -r b0 t0 < <(load_snapshot)
		last_load_pct="?"
		run_out="$(run "$name" "$round")" || exit 1
		read -r b1 t1 < <(load_snapshot)
		# The warm-up is inside the window too; it runs at the same pace, so the share holds.
		last_load_pct=$(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
		sed -i "\$s/load_core_busy=.*/load_core_busy=$last_load_pct/" "$results"
		sed "s/load core ?%/load core $last_load_pct%/" <<<"$run_out"
	done
done

echo
echo "== summary: median (min–max) of $rounds rounds; ratios to the mean of the plain runs just before and after"
awk '
	/^RESULT/ {
		delete r
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		if (r["errors"] > 0) failed = 1
		# CPU per request is measured on the server: it holds even when wrk set the pace.
		cpu[r["seq"]] = r["cpu_us"]
		at[r["seq"]] = r["name"]; last = r["seq"] + 0
		if (r["load_core_busy"] + 0 > 90) { bound[r["name"]]++; next }
		rps[r["seq"]] = r["rps"]
	}
	# bracket(k): the mean req/s of the nearest usable plain runs before and after run k.
	function bracket(k,   i, sum, n) {
		for (i = k - 1; i >= 1; i--) if (at[i] == "plain" && (i in rps)) { sum += rps[i]; n++; break }
		for (i = k + 1; i <= last; i++) if (at[i] == "plain" && (i in rps)) { sum += rps[i]; n++; break }
		return n ? sum / n : 0
	}
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function report(name, what, target,   k, n, v, lo, hi, m) {
		n = 0; delete v
		for (k = 1; k <= last; k++) if (at[k] == name && (k in rps) && bracket(k) > 0) v[++n] = rps[k] / bracket(k)
		if (n == 0) { printf "%-11s no usable round%s\n", name, bound[name] ? " (load generator saturated)" : ""; return }
		m = median(v, n); lo = v[1]; hi = v[n]
		printf "%-11s %.2fx plain (%.2f–%.2f, %d rounds)%s", name, m, lo, hi, n, bound[name] ? sprintf(", %d WRK-BOUND rounds left out", bound[name]) : ""
		if (target > 0) printf "  target >= %.2fx: %s", target, (m >= target ? "met" : "MISSED")
		printf "\n"
	}
	function cost(name,   k, n, v) {
		n = 0; delete v
		for (k = 1; k <= last; k++) if (at[k] == name && (k in cpu)) v[++n] = cpu[k]
		return n ? median(v, n) : -1
	}
	END {
		report("jwt", "", 0.97); report("dpop", "", 0.65); report("opaque", "", 0)
		t = cost("token"); d = cost("token_dpop"); p = cost("plain")
		printf "\ncaddy CPU per request (median): plain proxy %.1f us, token %.1f us, token with DPoP %.1f us (DPoP adds %.1f us, %.2fx)\n", p, t, d, d - t, (t > 0 ? d / t : 0)
		exit failed
	}
' "$results" || { echo "some requests failed: see the errors column" >&2; exit 1; }
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
