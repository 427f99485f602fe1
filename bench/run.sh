#!/usr/bin/env bash
# Load benchmark of the authorization server, all numbers from one run on one Caddy:
#   baseline            GET /baseline (Caddy's `respond`, same server) — the yardstick
#   token-jwt           client_credentials → ES256 at+jwt
#   token-opaque        client_credentials → opaque token (one SQLite insert each)
#   introspect-opaque   RFC 7662 introspection of a pre-issued opaque token
#   introspect-jwt      RFC 7662 introspection of a pre-issued JWT
# Each runs at fixed concurrency for a fixed time after a warm-up; tokenbench reports req/s,
# p50/p99 latency, non-2xx errors and Caddy's VmRSS after the run. Loopback only.
#
#   bench/run.sh                                   # defaults: -c 32, 10s per scenario
#   BENCH_CONCURRENCY=64 BENCH_DURATION=20s BENCH_WARMUP=3s bench/run.sh
#   CADDY_BIN=/path/caddy bench/run.sh             # reuse a binary instead of building
#
# Exits non-zero when any measured scenario saw an error. Not a timed test: run on demand.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
concurrency="${BENCH_CONCURRENCY:-32}"
duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-bench.XXXXXX")"
caddy_pid=""

cleanup() {
	local status=$?
	if [[ -n "$caddy_pid" ]] && kill -0 "$caddy_pid" 2>/dev/null; then
		kill "$caddy_pid" 2>/dev/null || true
		wait "$caddy_pid" 2>/dev/null || true
	fi
	if ((status != 0)) && [[ -s "$tmp/caddy.log" ]]; then
		echo "--- caddy log (last 100 lines) ---" >&2
		tail -n 100 "$tmp/caddy.log" >&2
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

random_secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

echo "== caddy-oauth benchmark"
echo "command     BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup ${CADDY_BIN:+CADDY_BIN=$CADDY_BIN }bench/run.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | cut -d' ' -f3)"

(cd "$root" && go build -o "$tmp/tokenbench" ./bench/cmd/tokenbench)
if [[ -n "${CADDY_BIN:-}" ]]; then
	caddy="$CADDY_BIN"
else
	(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy)
	caddy="$tmp/caddy"
fi

port="$(free_port)"
base="http://127.0.0.1:$port"
export BENCH_PORT="$port" BENCH_DB="$tmp/oauth.db"
export BENCH_MASTER_KEY="$(random_secret)" BENCH_SECRET="$(random_secret)"

mkdir -p "$tmp/xdg-data" "$tmp/xdg-config"
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!

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

auth=(-basic "bench-client:$BENCH_SECRET")
declare -A scenario_args=(
	[baseline]="$base/baseline"
	[token-jwt]="-body $jwt_body -expect access_token $base/token"
	[token-opaque]="-body $opaque_body -expect access_token $base/token"
	[introspect-opaque]="-body-file $tmp/introspect-opaque.body -expect \"active\":true $base/introspect"
	[introspect-jwt]="-body-file $tmp/introspect-jwt.body -expect \"active\":true $base/introspect"
)
order=(baseline token-jwt token-opaque introspect-opaque introspect-jwt)

results="$tmp/results"
: >"$results"
for name in "${order[@]}"; do
	# Word splitting of the stored arguments is intended: none contain spaces.
	# shellcheck disable=SC2206
	args=(${scenario_args[$name]})
	extra=()
	[[ "$name" == baseline ]] || extra=("${auth[@]}")
	"$tmp/tokenbench" -name "$name-warmup" -c "$concurrency" -d "$warmup" "${extra[@]}" "${args[@]}" >/dev/null
	echo
	"$tmp/tokenbench" -name "$name" -c "$concurrency" -d "$duration" -pid "$caddy_pid" "${extra[@]}" "${args[@]}" |
		tee -a "$results" | grep -v '^RESULT'
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
