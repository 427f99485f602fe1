#!/usr/bin/env bash
# Load benchmark of the authorization server, all numbers from one run on one Caddy:
#   baseline            GET /baseline (Caddy's `respond`, same server) — the yardstick
#   token-jwt           client_credentials → ES256 at+jwt
#   token-opaque        client_credentials → opaque token (one SQLite insert each)
#   introspect-opaque   RFC 7662 introspection of a pre-issued opaque token
#   introspect-jwt      RFC 7662 introspection of a pre-issued JWT
# For each: tokenbench checks 200 responses for success and the expected body, then wrk (one
# thread, fixed connections) warms up and measures req/s, p50/p99 latency and non-2xx answers;
# Caddy's VmRSS is read after each run. Loopback only.
#
#   bench/run.sh                                   # defaults: -c 32, 10s per scenario
#   BENCH_CONCURRENCY=64 BENCH_DURATION=20s BENCH_WARMUP=3s bench/run.sh
#   CADDY_BIN=/path/caddy bench/run.sh             # reuse a binary instead of building
#
# Exits non-zero when any measured scenario saw an error. Not a timed test: run on demand.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
concurrency="${BENCH_CONCURRENCY:-32}"
duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-bench.XXXXXX")"
cleanup_on_exit "$tmp" 100




echo "== caddy-oauth benchmark"
echo "command     BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup ${CADDY_BIN:+CADDY_BIN=$CADDY_BIN }bench/run.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | cut -d' ' -f3)"

command -v wrk >/dev/null || {
	echo "installing wrk (Debian package) for the load"
	if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
}
(cd "$root" && go build -o "$tmp/tokenbench" ./bench/cmd/tokenbench)
if [[ -n "${CADDY_BIN:-}" ]]; then
	caddy="$CADDY_BIN"
else
	(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy)
	caddy="$tmp/caddy"
fi

take_port port
base="http://127.0.0.1:$port"
export BENCH_PORT="$port" BENCH_DB="$tmp/oauth.db"
export BENCH_MASTER_KEY="$(random_secret)" BENCH_SECRET="$(random_secret)"

mkdir -p "$tmp/xdg-data" "$tmp/xdg-config"
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"

for i in $(seq 1 150); do
	curl -fsS -o /dev/null "$base/.well-known/openid-configuration" 2>/dev/null && break
	kill -0 "$caddy_pid" 2>/dev/null || { echo "caddy exited before serving discovery" >&2; exit 1; }
	((i < 150)) || { echo "caddy did not serve discovery within 30s" >&2; exit 1; }
	sleep 0.2
done
echo "caddy       pid $caddy_pid on $base, $(awk '/^VmRSS/ {print $2/1024 " MiB"}' "/proc/$caddy_pid/status") RSS at start"

# Request bodies go to files so tokens stay off the printed command lines.
jwt_body="grant_type=client_credentials&resource=https%3A%2F%2Fjwt.bench.test&scope=read"
opaque_body="grant_type=client_credentials&resource=https%3A%2F%2Fopaque.bench.test&scope=read"
issue() {
	curl -fsS -u "bench-client:$BENCH_SECRET" -d "$1" "$base/token" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
printf 'token=%s&token_type_hint=access_token' "$(issue "$opaque_body")" >"$tmp/introspect-opaque.body"
printf 'token=%s&token_type_hint=access_token' "$(issue "$jwt_body")" >"$tmp/introspect-jwt.body"
for f in "$tmp"/introspect-*.body; do
	[[ "$(wc -c <"$f")" -gt 60 ]] || { echo "could not pre-issue a token for $(basename "$f")" >&2; exit 1; }
done

# Two tools, two jobs: tokenbench (Go) first checks that every response of a scenario is a
# success with the expected body; wrk (C, from Debian) then measures throughput, because a load
# generator sharing the two cores with Caddy must spend as little CPU as possible.
auth_header="Basic $(printf 'bench-client:%s' "$BENCH_SECRET" | base64 -w0)"
declare -A scenario_url=(
	[baseline]="$base/baseline"
	[token-jwt]="$base/token"
	[token-opaque]="$base/token"
	[introspect-opaque]="$base/introspect"
	[introspect-jwt]="$base/introspect"
)
declare -A scenario_body=(
	[token-jwt]="$jwt_body"
	[token-opaque]="$opaque_body"
	[introspect-opaque]="$(cat "$tmp/introspect-opaque.body")"
	[introspect-jwt]="$(cat "$tmp/introspect-jwt.body")"
)
declare -A scenario_expect=(
	[baseline]="ok"
	[token-jwt]="access_token"
	[token-opaque]="access_token"
	[introspect-opaque]='"active":true'
	[introspect-jwt]='"active":true'
)
order=(baseline token-jwt token-opaque introspect-opaque introspect-jwt)

# wrk_script NAME: a Lua script that sends the scenario's request.
wrk_script() {
	local name=$1 file="$tmp/$1.lua"
	if [[ -n "${scenario_body[$name]:-}" ]]; then
		cat >"$file" <<LUA
wrk.method = "POST"
wrk.body = [[${scenario_body[$name]}]]
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$auth_header"
LUA
	else
		echo 'wrk.method = "GET"' >"$file"
	fi
	echo "$file"
}


results="$tmp/results"
: >"$results"
for name in "${order[@]}"; do
	check=(-name "$name-check" -c 4 -n 200 -expect "${scenario_expect[$name]}")
	if [[ -n "${scenario_body[$name]:-}" ]]; then
		printf '%s' "${scenario_body[$name]}" >"$tmp/$name.body"
		check+=(-basic "bench-client:$BENCH_SECRET" -body-file "$tmp/$name.body")
	fi
	"$tmp/tokenbench" "${check[@]}" "${scenario_url[$name]}" | grep '^RESULT' | grep -q ' errors=0 ' ||
		{ echo "$name: the correctness check saw failed responses" >&2; exit 1; }
	script="$(wrk_script "$name")"
	wrk -t1 -c "$concurrency" -d "$warmup" -s "$script" "${scenario_url[$name]}" >/dev/null
	echo
	echo "== $name: wrk -t1 -c $concurrency -d $duration --latency ${scenario_url[$name]}"
	out="$(wrk -t1 -c "$concurrency" -d "$duration" --latency -s "$script" "${scenario_url[$name]}")"
	echo "$out"
	rss="$(awk '/^VmRSS/ {print $2}' "/proc/$caddy_pid/status")"
	rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
	p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
	p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
	errors="$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
	echo "RESULT name=$name errors=$errors rps=$rps p50_ms=$p50 p99_ms=$p99 rss_kib=$rss" >>"$results"
done
echo
echo "== summary (concurrency $concurrency, $duration each, one Caddy, ratios to baseline req/s)"
awk '
	/^RESULT/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		if (r["name"] == "baseline") base = r["rps"]
		printf "%-18s %10.1f req/s  %7s  p50 %7s ms  p99 %7s ms  errors %-6s rss %6.1f MiB\n",
			r["name"], r["rps"], (base > 0 ? sprintf("%5.1f%%", 100 * r["rps"] / base) : "-"),
			r["p50_ms"], r["p99_ms"], r["errors"], r["rss_kib"] / 1024
		if (r["errors"] > 0) failed = 1
	}
	END { exit failed }
' "$results" || { echo "some requests failed: see the errors lines above" >&2; exit 1; }
