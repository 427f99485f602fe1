#!/usr/bin/env bash
# Token issuance with few and with very many registered clients, in one run of one Caddy:
#   few    BENCH_FEW clients (default 10) on one issuer
#   many   BENCH_MANY clients (default 100,000) on a second, identical issuer
# Both issuers live in the same Caddy (bench/clients.Caddyfile, one SQLite database each) and
# issue ES256 JWT access tokens by client_credentials; the clients are registered into the
# databases through the validation contract (bench/cmd/seedclients) with high-entropy secrets.
# Every request authenticates as a client drawn at random from all of its issuer's clients
# (bench/lua/clients.lua), so the lookup caches matter. Caddy is pinned to CPU 0 and wrk to
# CPU 1; the two issuers are measured in BENCH_ROUNDS interleaved rounds (few, many, then
# many, few, …) so drift on a shared machine hits both alike. Reported: tokens/s of each,
# the ratio many/few, and Caddy's CPU time per token. Loopback only.
#
#   bench/clients.sh                                # defaults: 10 vs 100000, 6 rounds of 8s, -c 32
#   BENCH_MANY=20000 BENCH_ROUNDS=4 BENCH_DURATION=5s bench/clients.sh
#   CADDY_BIN=/path/caddy bench/clients.sh
#   BENCH_PROFILE=/tmp/prof bench/clients.sh       # also CPU-profile each set in the last round
#
# Exits non-zero when a request failed. The ratio's target (≥ 0.95) is reported, not enforced.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
few="${BENCH_FEW:-10}"
many="${BENCH_MANY:-100000}"
rounds="${BENCH_ROUNDS:-6}"
concurrency="${BENCH_CONCURRENCY:-32}"
duration="${BENCH_DURATION:-8s}"
warmup="${BENCH_WARMUP:-5s}"
profile_dir="${BENCH_PROFILE:-}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-clients-bench.XXXXXX")"
cleanup_on_exit "$tmp" 100


echo "== caddy-oauth benchmark: token issuance with $few vs $many registered clients"
echo "command     BENCH_FEW=$few BENCH_MANY=$many BENCH_ROUNDS=$rounds BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup ${CADDY_BIN:+CADDY_BIN=$CADDY_BIN }${profile_dir:+BENCH_PROFILE=$profile_dir }bench/clients.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

need_debian_packages wrk:wrk taskset:util-linux
(cd "$root" && go build -o "$tmp/tokenbench" ./bench/cmd/tokenbench && go build -o "$tmp/seedclients" ./bench/cmd/seedclients)
if [[ -n "${CADDY_BIN:-}" ]]; then
	caddy="$CADDY_BIN"
else
	(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy)
	caddy="$tmp/caddy"
fi

take_port port_few
take_port port_many
export BENCH_PORT_FEW="$port_few" BENCH_PORT_MANY="$port_many"
export BENCH_DB_FEW="$tmp/few.db" BENCH_DB_MANY="$tmp/many.db"
export BENCH_MASTER_KEY="$(random_secret)" BENCH_SEED="$(random_secret)"

config="$here/clients.Caddyfile"
if [[ -n "$profile_dir" ]]; then
	# A copy of the configuration with the admin endpoint (and its /debug/pprof/) on loopback.
	mkdir -p "$profile_dir"
	take_port admin_port
	sed "s/^\tadmin off$/\tadmin 127.0.0.1:$admin_port/" "$config" >"$tmp/clients.Caddyfile"
	config="$tmp/clients.Caddyfile"
fi

mkdir -p "$tmp/xdg-data" "$tmp/xdg-config"
# One core for Caddy (Go sizes GOMAXPROCS to it), the other for wrk.
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	taskset -c 0 "$caddy" run --config "$config" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"
wait_for_url "http://127.0.0.1:$port_few/.well-known/oauth-authorization-server" "$caddy_pid"
wait_for_url "http://127.0.0.1:$port_many/.well-known/oauth-authorization-server" "$caddy_pid"
echo "caddy       pid $caddy_pid pinned to CPU 0, $(awk '/^VmRSS/ {print $2/1024 " MiB"}' "/proc/$caddy_pid/status") RSS at start"

resource="https://jwt.bench.test"
body="grant_type=client_credentials&resource=https%3A%2F%2Fjwt.bench.test&scope=read"
"$tmp/seedclients" -db "$BENCH_DB_FEW" -n "$few" -prefix few- -resource "$resource" -out "$tmp/few.clients" | sed 's/^/few         /'
"$tmp/seedclients" -db "$BENCH_DB_MANY" -n "$many" -prefix many- -resource "$resource" -out "$tmp/many.clients" | sed 's/^/many        /'

declare -A url=([few]="http://127.0.0.1:$port_few/token" [many]="http://127.0.0.1:$port_many/token")

# Correctness first: the first and the last client of each set get tokens.
printf '%s' "$body" >"$tmp/body"
for set in few many; do
	for line in 1 '$'; do
		header="$(sed -n "${line}p" "$tmp/$set.clients")"
		"$tmp/tokenbench" -name "$set-check" -c 2 -n 20 -expect access_token -body-file "$tmp/body" \
			-H "Authorization: $header" "${url[$set]}" | grep '^RESULT' | grep -q ' errors=0 ' ||
			{ echo "$set: a registered client did not get tokens" >&2; exit 1; }
	done
done

export BENCH_BODY="$body"
seconds() { local d=$1; case "$d" in *m) echo $((${d%m} * 60)) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$caddy_pid/stat"; }
hz="$(getconf CLK_TCK)"

# measure SET SECONDS: one wrk run on CPU 1; appends a RESULT line.
measure() {
	local set=$1 out t0 t1 rps requests errors profiler=""
	if [[ -n "$profile_dir" && "$round" == "$rounds" ]]; then
		curl -fsS -o "$profile_dir/$set.pprof" \
			"http://127.0.0.1:$admin_port/debug/pprof/profile?seconds=$(($(seconds "$duration") - 1))" &
		profiler=$!
	fi
	t0="$(cpu_ticks)"
	out="$(BENCH_CLIENTS="$tmp/$set.clients" taskset -c 1 wrk -t1 -c "$concurrency" -d "$duration" \
		-s "$here/lua/clients.lua" "${url[$set]}")"
	t1="$(cpu_ticks)"
	[[ -z "$profiler" ]] || wait "$profiler"
	rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
	requests="$(awk '/requests in/ {print $1}' <<<"$out")"
	errors="$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
	echo "RESULT set=$set round=$round rps=$rps requests=$requests errors=$errors cpu_us=$(((t1 - t0) * 1000000 / hz))" >>"$tmp/results"
	printf 'round %-3s %-5s %10.1f tokens/s  errors %s\n' "$round" "$set" "$rps" "$errors"
}

# Warm-up: each set's clients in turn, long enough to reach every one of them (at a rate
# well below what the server sustains), then BENCH_WARMUP of the measured load.
round=warm
for set in few many; do
	sweep=$(($(wc -l <"$tmp/$set.clients") / 2500 + 1))
	BENCH_ORDER=sequential BENCH_CLIENTS="$tmp/$set.clients" taskset -c 1 wrk -t1 -c "$concurrency" -d "${sweep}s" \
		-s "$here/lua/clients.lua" "${url[$set]}" >/dev/null
	BENCH_CLIENTS="$tmp/$set.clients" taskset -c 1 wrk -t1 -c "$concurrency" -d "$warmup" \
		-s "$here/lua/clients.lua" "${url[$set]}" >/dev/null
done

echo
echo "== $rounds interleaved rounds: wrk -t1 -c $concurrency -d $duration (CPU 1), random client per request"
: >"$tmp/results"
for round in $(seq 1 "$rounds"); do
	if ((round % 2)); then order=(few many); else order=(many few); fi
	for set in "${order[@]}"; do measure "$set"; done
done
rss="$(awk '/^VmRSS/ {print $2}' "/proc/$caddy_pid/status")"

echo
echo "== summary ($few vs $many registered clients, $rounds rounds of $duration each, Caddy on one core)"
awk -v few="$few" -v many="$many" -v rss="$rss" '
	/^RESULT/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		n[r["set"]]++; rps[r["set"]] += r["rps"]; req[r["set"]] += r["requests"]; cpu[r["set"]] += r["cpu_us"]
		err += r["errors"]
		per[r["set"], r["round"]] = r["rps"]
	}
	END {
		for (s in n) { mean[s] = rps[s] / n[s]; cpt[s] = cpu[s] / req[s] }
		printf "%-6s %8d clients  %10.1f tokens/s (mean of %d rounds)  %6.1f µs Caddy CPU per token\n", "few", few, mean["few"], n["few"], cpt["few"]
		printf "%-6s %8d clients  %10.1f tokens/s (mean of %d rounds)  %6.1f µs Caddy CPU per token\n", "many", many, mean["many"], n["many"], cpt["many"]
		lo = 1e9; hi = 0
		for (k = 1; k <= n["few"]; k++) { q = per["many", k] / per["few", k]; if (q < lo) lo = q; if (q > hi) hi = q }
		printf "ratio  many/few %.3f tokens/s (rounds: %.3f .. %.3f), CPU per token %.3f; target >= 0.95\n", mean["many"] / mean["few"], lo, hi, cpt["few"] / cpt["many"]
		printf "errors %d; Caddy RSS after the run %.1f MiB\n", err, rss / 1024
		exit err > 0
	}
' "$tmp/results" || { echo "some requests failed" >&2; exit 1; }

if [[ -n "$profile_dir" ]]; then
	for set in few many; do
		echo
		echo "== profile $set, round $rounds ($profile_dir/$set.pprof)"
		go tool pprof -top -nodecount=25 "$caddy" "$profile_dir/$set.pprof" 2>/dev/null | sed -n '1,32p'
	done
fi
