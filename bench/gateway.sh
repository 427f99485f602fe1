#!/usr/bin/env bash
# Load benchmark of the oauth_resource gateway, all numbers from one run on this machine,
# everything on loopback and through the same upstream (a Caddy `respond "ok"` site):
#   plain          reverse_proxy alone — the yardstick
#   jwt            (a) oauth_resource, a repeated ES256 JWT bearer token, in-process issuer
#   dpop           (b) a DPoP-bound ES256 JWT with a fresh proof per request
#   opaque         (c) an opaque token, looked up in-process
#   exchange       (e) jwt plus token exchange for the upstream's audience (RFC 8693), cached
#   introspection  (d) an opaque token checked by a second Caddy through RFC 7662 introspection
# For each: a correctness pass (every response 200 with the upstream's body; without a token,
# 401), then wrk (one thread, fixed connections) warms up and measures req/s, p50/p99 latency
# and non-2xx answers; the serving Caddy's VmRSS is read after each run. At the end the DPoP
# replay guard's heap cost per remembered jti is measured (a dpop package test).
#
#   bench/gateway.sh                                   # defaults: -c 32, 10s per scenario
#   BENCH_CONCURRENCY=64 BENCH_DURATION=20s BENCH_WARMUP=3s bench/gateway.sh
#   CADDY_BIN=/path/caddy bench/gateway.sh             # reuse a binary instead of building
#   BENCH_PROFILE=/tmp/prof bench/gateway.sh           # also CPU-profile each measured run
#
# BENCH_PROFILE turns on each Caddy's admin endpoint on a loopback port, saves a pprof CPU
# profile per scenario in that directory and prints its top functions (profiling costs a few
# percent: quote ratios from a run without it).
#
# Other work on the machine skews the ratios: before each scenario the script waits (up to
# BENCH_QUIET_WAIT seconds, default 120) for the machine to be idle, and it reports the CPU that
# processes outside the benchmark used during each run, beside Caddy's CPU per request.
#
# Exits non-zero when any scenario saw an error; targets are reported, not enforced, since a
# busy machine can miss them. Not a timed test: run on demand.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
concurrency="${BENCH_CONCURRENCY:-32}"
duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
profile_dir="${BENCH_PROFILE:-}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-gateway-bench.XXXXXX")"
cleanup_on_exit "$tmp" 60




# seconds converts a wrk duration (10s, 2m, 1h) to whole seconds.
seconds() {
	case "$1" in
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*h) echo $((${1%h} * 3600)) ;;
	*) echo "$1" ;;
	esac
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# CPU accounting in clock ticks, to tell how much of each run the machine gave to others (the
# load generator, Caddy and the upstream share the two cores with whatever else runs here).
tick="$(getconf CLK_TCK)"
machine_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
caddy_cpu() { awk '{n += $14 + $15} END {print n}' "/proc/$as_pid/stat" "/proc/$remote_pid/stat"; }

# wait_quiet: other work on the machine skews the ratios, so before each scenario wait (up to
# BENCH_QUIET_WAIT seconds) for a second in which the machine, idle on our side, is busy less
# than 20% of a core.
wait_quiet() {
	local waited=0 b0 b1 pct
	while :; do
		b0="$(machine_busy)"
		sleep 1
		b1="$(machine_busy)"
		pct=$(((b1 - b0) * 100 / tick))
		((pct < 20)) && break
		if ((++waited >= ${BENCH_QUIET_WAIT:-120})); then
			echo "warning     the machine stayed busy ($pct% of a core outside the benchmark): numbers are skewed" >&2
			break
		fi
	done
	((waited == 0)) || echo "quiet       waited ${waited}s for other work on the machine to finish"
}

echo "== caddy-oauth gateway benchmark"
echo "command     BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration BENCH_WARMUP=$warmup ${CADDY_BIN:+CADDY_BIN=$CADDY_BIN }${profile_dir:+BENCH_PROFILE=$profile_dir }bench/gateway.sh"
echo "commit      $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
echo "machine     $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

command -v wrk >/dev/null || {
	echo "installing wrk (Debian package) for the load"
	if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
}
(cd "$root" && go build -o "$tmp/tokenbench" ./bench/cmd/tokenbench && go build -o "$tmp/dpopproofs" ./bench/cmd/dpopproofs)
if [[ -n "${CADDY_BIN:-}" ]]; then
	caddy="$CADDY_BIN"
else
	(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy)
	caddy="$tmp/caddy"
fi

take_port port
take_port upstream_port
take_port remote_port
base="http://127.0.0.1:$port"
remote="http://127.0.0.1:$remote_port"
export BENCH_PORT="$port" BENCH_UPSTREAM_PORT="$upstream_port" BENCH_REMOTE_PORT="$remote_port"
export BENCH_DB="$tmp/oauth.db" BENCH_MASTER_KEY="$(random_secret)"
export BENCH_SECRET="$(random_secret)" BENCH_GATEWAY_SECRET="$(random_secret)"

as_config="$here/gateway.Caddyfile"
remote_config="$here/gateway-remote.Caddyfile"
if [[ -n "$profile_dir" ]]; then
	# Copies of the configurations with the admin endpoint (and its /debug/pprof/) on loopback.
	mkdir -p "$profile_dir"
	take_port as_admin
	take_port remote_admin
	sed "s/^\tadmin off$/\tadmin 127.0.0.1:$as_admin/" "$as_config" >"$tmp/gateway.Caddyfile"
	sed "s/^\tadmin off$/\tadmin 127.0.0.1:$remote_admin/" "$remote_config" >"$tmp/gateway-remote.Caddyfile"
	as_config="$tmp/gateway.Caddyfile"
	remote_config="$tmp/gateway-remote.Caddyfile"
fi

# start_caddy NAME CONFIG PIDVAR: runs a Caddy with its own XDG dirs and log, its pid in PIDVAR
# (set before anything can fail, so that cleanup stops it).
start_caddy() {
	mkdir -p "$tmp/$1.xdg/data" "$tmp/$1.xdg/config"
	XDG_DATA_HOME="$tmp/$1.xdg/data" XDG_CONFIG_HOME="$tmp/$1.xdg/config" \
		"$caddy" run --config "$2" --adapter caddyfile >"$tmp/$1.log" 2>&1 &
	printf -v "$3" '%s' "$!"
	track_pid "$!"
}

# wait_for NAME PID URL: waits until URL answers 2xx, failing if the process exits first.
wait_for() {
	for i in $(seq 1 150); do
		curl -fsS -o /dev/null "$3" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { echo "$1 exited before serving $3" >&2; exit 1; }
		((i < 150)) || { echo "$1 did not serve $3 within 30s" >&2; exit 1; }
		sleep 0.2
	done
}
start_caddy caddy "$as_config" as_pid
wait_for caddy "$as_pid" "$base/.well-known/openid-configuration"
echo "caddy       pid $as_pid on $base (upstream on :$upstream_port), $(($(rss_kib "$as_pid") / 1024)) MiB RSS at start"
# The remote gateway answers its metadata document once the issuer's discovery has succeeded.
start_caddy caddy-remote "$remote_config" remote_pid
wait_for caddy-remote "$remote_pid" "$remote/.well-known/oauth-protected-resource"
echo "remote gw   pid $remote_pid on $remote (issuer $base), $(($(rss_kib "$remote_pid") / 1024)) MiB RSS at start"

# issue RESOURCE: a client_credentials token for RESOURCE with scope read.
issue() {
	curl -fsS -u "bench-client:$BENCH_SECRET" \
		--data-urlencode grant_type=client_credentials --data-urlencode "resource=$1" --data-urlencode scope=read \
		"$base/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
declare -A scenario_url=(
	[plain]="$base/plain/x"
	[jwt]="$base/jwt/x"
	[dpop]="$base/dpop/x"
	[opaque]="$base/opaque/x"
	[exchange]="$base/exchange/x"
	[introspection]="$remote/remote/x"
)
# Authorization values stay in this shell and the environment of wrk and tokenbench: never
# printed.
declare -A scenario_auth=([plain]="")
scenario_auth[jwt]="Bearer $(issue https://jwt.gateway.bench.test)"
scenario_auth[opaque]="Bearer $(issue https://opaque.gateway.bench.test)"
scenario_auth[introspection]="Bearer $(issue https://remote.gateway.bench.test)"
scenario_auth[exchange]="Bearer $(issue https://exchange.gateway.bench.test)"
declare -A scenario_pid=([plain]="$as_pid" [jwt]="$as_pid" [dpop]="$as_pid" [opaque]="$as_pid" [exchange]="$as_pid" [introspection]="$remote_pid")
declare -A scenario_admin=([plain]="${as_admin:-}" [jwt]="${as_admin:-}" [dpop]="${as_admin:-}" [opaque]="${as_admin:-}" [exchange]="${as_admin:-}" [introspection]="${remote_admin:-}")
for name in jwt opaque exchange introspection; do
	[[ ${#scenario_auth[$name]} -gt 27 ]] || { echo "could not obtain a token for $name" >&2; exit 1; }
done
order=(plain jwt dpop opaque exchange introspection)

# status URL [AUTHORIZATION [DPOP]]: the status code of one GET, with the body in $tmp/body.
status() {
	local args=(-sS -o "$tmp/body" -w '%{http_code}')
	[[ -n "${2:-}" ]] && args+=(-H "Authorization: $2")
	[[ -n "${3:-}" ]] && args+=(-H "DPoP: $3")
	curl "${args[@]}" "$1"
}

# check NAME: every response of a tokenbench pass must be 200 with the upstream's body, and a
# request without a token must be refused, or the scenario would measure a pass-through.
check() {
	local name=$1 args=(-name "$1-check" -c 4 -n 200 -expect ok)
	[[ -n "${scenario_auth[$name]}" ]] && args+=(-H "Authorization: ${scenario_auth[$name]}")
	"$tmp/tokenbench" "${args[@]}" "${scenario_url[$name]}" | grep '^RESULT' | grep -q ' errors=0 ' ||
		{ echo "$name: the correctness check saw failed responses" >&2; exit 1; }
	if [[ "$name" != plain ]]; then
		local code
		code="$(status "${scenario_url[$name]}")"
		[[ "$code" == 401 ]] || { echo "$name: a request without a token got $code, want 401" >&2; exit 1; }
	fi
}

# dpop_prepare RATE: obtains a DPoP-bound token and enough single-use proofs for the warm-up
# and the measured run at twice RATE req/s, plus a few for the correctness check, which it runs.
dpop_prepare() {
	local rate=$1 n_check=20 n_warm n_run
	n_warm=$(awk -v r="$rate" -v s="$(seconds "$warmup")" 'BEGIN { printf "%d", 2 * r * s + 1000 }')
	n_run=$(awk -v r="$rate" -v s="$(seconds "$duration")" 'BEGIN { printf "%d", 2 * r * s + 1000 }')
	DPOPPROOFS_CLIENT_SECRET="$BENCH_SECRET" "$tmp/dpopproofs" -token-url "$base/token" -client bench-client \
		-resource https://dpop.gateway.bench.test -scope read -url "${scenario_url[dpop]}" \
		-n $((n_check + 1 + n_warm + n_run)) -proofs "$tmp/proofs.all" -token "$tmp/dpop.token"
	[[ "$(sort "$tmp/proofs.all" | uniq -d | wc -l)" == 0 ]] || { echo "dpop: a proof is duplicated" >&2; exit 1; }
	# The first n_check proofs serve the check, the next one the Bearer probe.
	head -n "$n_check" "$tmp/proofs.all" >"$tmp/proofs.check"
	sed -n "$((n_check + 2)),$((n_check + 1 + n_warm))p" "$tmp/proofs.all" >"$tmp/proofs.warmup"
	tail -n +"$((n_check + n_warm + 2))" "$tmp/proofs.all" >"$tmp/proofs.run"
	echo "dpop proofs $n_warm for the warm-up, $n_run for the run (2 × $rate req/s, the plain proxy's rate), none repeated"
	scenario_auth[dpop]="DPoP $(cat "$tmp/dpop.token")"

	local code first
	while read -r proof; do
		first="${first:-$proof}"
		code="$(status "${scenario_url[dpop]}" "${scenario_auth[dpop]}" "$proof")"
		[[ "$code" == 200 && "$(cat "$tmp/body")" == ok ]] || { echo "dpop: a fresh proof got $code" >&2; exit 1; }
	done <"$tmp/proofs.check"
	for probe in replayed-proof bearer-scheme no-proof; do
		case "$probe" in
		replayed-proof) code="$(status "${scenario_url[dpop]}" "${scenario_auth[dpop]}" "$first")" ;;
		bearer-scheme) code="$(status "${scenario_url[dpop]}" "Bearer $(cat "$tmp/dpop.token")" "$(sed -n "$((n_check + 1))p" "$tmp/proofs.all")")" ;;
		no-proof) code="$(status "${scenario_url[dpop]}" "${scenario_auth[dpop]}")" ;;
		esac
		[[ "$code" == 401 ]] || { echo "dpop: $probe got $code, want 401" >&2; exit 1; }
	done
	echo "dpop check  $n_check fresh proofs → 200 ok; replayed proof, Bearer scheme, no proof → 401"
}


# wrk_run NAME DURATION [PROOFS]: one wrk run of the scenario; prints wrk's report and, from
# the subshell that waited for it, wrk's CPU ticks.
wrk_run() {
	local name=$1 dur=$2 proofs=${3:-} script="$here/lua/header.lua"
	[[ "$name" == dpop ]] && script="$here/lua/dpop.lua"
	BENCH_AUTHORIZATION="${scenario_auth[$name]}" BENCH_DPOP_PROOFS="$proofs" \
		wrk -t1 -c "$concurrency" -d "$dur" --latency -s "$script" "${scenario_url[$name]}"
	awk '{print "WRK_CPU_TICKS", $16 + $17}' "/proc/$BASHPID/stat"
}

results="$tmp/results"
: >"$results"
for name in "${order[@]}"; do
	wait_quiet
	if [[ "$name" == dpop ]]; then
		dpop_prepare "$(awk '$2 == "name=plain" { for (i = 3; i <= NF; i++) if ($i ~ /^rps=/) printf "%d", substr($i, 5) }' "$results")"
	else
		check "$name"
	fi
	wrk_run "$name" "$warmup" "$tmp/proofs.warmup" >/dev/null
	echo
	echo "== $name: BENCH_AUTHORIZATION=<token>$([[ $name == dpop ]] && echo ' BENCH_DPOP_PROOFS=<file>') wrk -t1 -c $concurrency -d $duration --latency -s bench/lua/$([[ $name == dpop ]] && echo dpop || echo header).lua ${scenario_url[$name]}"
	prof_pid=""
	if [[ -n "$profile_dir" ]]; then
		curl -fsS -o "$profile_dir/$name.pprof" \
			"http://127.0.0.1:${scenario_admin[$name]}/debug/pprof/profile?seconds=$(($(seconds "$duration") - 1))" &
		prof_pid=$!
	fi
	busy0="$(machine_busy)" caddy0="$(caddy_cpu)"
	out="$(wrk_run "$name" "$duration" "$tmp/proofs.run")"
	busy1="$(machine_busy)" caddy1="$(caddy_cpu)"
	echo "$out" | grep -v '^WRK_CPU_TICKS'
	wrk_ticks="$(awk '$1 == "WRK_CPU_TICKS" {print $2}' <<<"$out")"
	requests="$(awk '/ requests in / {print $1}' <<<"$out")"
	# Caddy's CPU per request (both Caddy processes, upstream included) is steadier than req/s
	# when the machine is shared; "others" is the CPU nobody in this benchmark used.
	cpu_us="$(awk -v c=$((caddy1 - caddy0)) -v t="$tick" -v n="$requests" 'BEGIN { printf "%.1f", c * 1e6 / t / n }')"
	others="$(awk -v b=$((busy1 - busy0)) -v c=$((caddy1 - caddy0)) -v w="$wrk_ticks" -v t="$tick" -v s="$(seconds "$duration")" \
		'BEGIN { o = (b - c - w) * 100 / t / s; printf "%.0f", o < 0 ? 0 : o }')"
	echo "cpu         caddy $cpu_us us/request, wrk $((wrk_ticks * 100 / tick / $(seconds "$duration")))% of a core, other processes $others% of a core"
	[[ -n "$prof_pid" ]] && wait "$prof_pid"
	rss="$(rss_kib "${scenario_pid[$name]}")"
	rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
	p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
	p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
	errors="$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} /requests_without_proof=/ {split($NF, kv, "="); n += kv[2]} END {print n + 0}' <<<"$out")"
	echo "RESULT name=$name errors=$errors rps=$rps p50_ms=$p50 p99_ms=$p99 rss_kib=$rss as_rss_kib=$(rss_kib "$as_pid") cpu_us=$cpu_us others_pct=$others" >>"$results"
done

if [[ -n "$profile_dir" ]]; then
	for name in "${order[@]}"; do
		echo
		echo "== profile $name ($profile_dir/$name.pprof)"
		go tool pprof -top -nodecount=25 "$caddy" "$profile_dir/$name.pprof" 2>/dev/null | sed -n '1,32p'
	done
fi

echo
echo "== DPoP replay guard memory: go test ./dpop -run TestMemoryGuardBytesPerEntry -v"
(cd "$root" && go test ./dpop -run 'TestMemoryGuardBytesPerEntry$' -count=1 -v) | grep -E 'bytes per remembered jti|^(ok|FAIL)'

echo
echo "== summary (concurrency $concurrency, $duration each after a $warmup warm-up, one run; ratios to plain req/s)"
echo "   rss: the serving Caddy after its run (introspection: the remote gateway; the AS's is in as_rss)"
echo "   cpu: both Caddy processes' CPU per request; others: CPU used by processes outside the benchmark"
awk '
	/^RESULT/ {
		delete r
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		n = r["name"]
		if (n == "plain") { base = r["rps"]; base_p99 = r["p99_ms"] }
		if (n == "jwt") jwt_rps = r["rps"]
		ratio = base > 0 ? r["rps"] / base : 0
		printf "%-13s %8.1f req/s %5.2fx  p50 %5s ms  p99 %5s ms  errors %-3s rss %5.1f MiB  as_rss %5.1f MiB  cpu %5s us/req  others %3s%%\n",
			n, r["rps"], ratio, r["p50_ms"], r["p99_ms"], r["errors"], r["rss_kib"] / 1024, r["as_rss_kib"] / 1024, r["cpu_us"], r["others_pct"]
		if (r["errors"] > 0) failed = 1
		if (n == "jwt") {
			verdict = verdict sprintf("(a) jwt     %.2fx plain, target >= 0.85x: %s\n", ratio, ratio >= 0.85 ? "met" : "MISSED")
			added = r["p99_ms"] - base_p99
			verdict = verdict sprintf("(a) jwt     p99 added %.2f ms, target < 1 ms: %s\n", added, added < 1 ? "met" : "MISSED")
		}
		if (n == "dpop") verdict = verdict sprintf("(b) dpop    %.2fx plain, target >= 0.60x: %s\n", ratio, ratio >= 0.60 ? "met" : "MISSED")
		if (n == "opaque") verdict = verdict sprintf("(c) opaque  %.2fx plain, target >= 0.80x: %s\n", ratio, ratio >= 0.80 ? "met" : "MISSED")
		if (n == "exchange" && jwt_rps > 0) {
			x = r["rps"] / jwt_rps
			verdict = verdict sprintf("(e) exchange %.2fx jwt (cached exchange), target >= 0.80x: %s\n", x, x >= 0.80 ? "met" : "MISSED")
		}
	}
	END { printf "\n%s", verdict; exit failed }
' "$results" || { echo "some requests failed: see the errors column above" >&2; exit 1; }
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
