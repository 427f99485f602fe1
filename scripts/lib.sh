# Shell helpers shared by the scripts that start Caddy on loopback (test/*/run.sh, examples/*/run.sh,
# bench/*.sh). Source it; it defines functions and variables only.

# Ports handed out so far in this run, space-separated.
taken_ports=" "

# take_port NAME sets the variable NAME to a loopback TCP port that nothing listens on and no
# earlier call handed out. (It sets a variable rather than printing, because a $(…) subshell
# could not record the port as taken.) The port is below the kernel's ephemeral range, from
# which every outgoing connection takes its local port: one could take a probed port there
# before Caddy binds it (internal/testport does the same for the Go tests).
take_port() {
	# The local name must not be one a caller passes as NAME, or printf -v would set it.
	local _take_port_candidate _take_port_top=32767 _take_port_eph
	read -r _take_port_eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || _take_port_eph=
	if [[ "$_take_port_eph" =~ ^[0-9]+$ ]] && ((_take_port_eph > 21000 && _take_port_eph - 1 < _take_port_top)); then
		_take_port_top=$((_take_port_eph - 1))
	fi
	for _ in $(seq 1 100); do
		_take_port_candidate=$((20000 + RANDOM % (_take_port_top - 20000 + 1)))
		[[ "$taken_ports" == *" $_take_port_candidate "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$_take_port_candidate") 2>/dev/null; then
			taken_ports+="$_take_port_candidate "
			printf -v "$1" '%s' "$_take_port_candidate"
			return 0
		fi
	done
	echo "no free loopback port found" >&2
	return 1
}

# Every script that starts servers in a temp dir ends the same way, however it exits: stop the
# servers, show the end of their logs if it failed, remove the temp dir, keep the exit status.
#
#   tmp="$(mktemp -d …)"; cleanup_on_exit "$tmp" 100    # show the last 100 lines of each log
#   "$caddy" run … >"$tmp/caddy.log" 2>&1 & track_pid $!
#
# Logs are the files named *.log anywhere under the temp dir.
tracked_pids=()
cleanup_dir=""
cleanup_log_lines=100

cleanup_on_exit() {
	cleanup_dir="$1"
	cleanup_log_lines="${2:-100}"
	trap _cleanup_on_exit EXIT
	trap 'exit 130' INT TERM
}

# track_pid PID: stop PID when the script exits.
track_pid() { tracked_pids+=("$1"); }

# stop_tracked_pids stops every tracked process now (a script that restarts its servers).
stop_tracked_pids() {
	local pid
	for pid in "${tracked_pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	tracked_pids=()
}

_cleanup_on_exit() {
	local status=$? log
	stop_tracked_pids
	if ((status != 0)) && [[ -n "$cleanup_dir" ]]; then
		while IFS= read -r log; do
			[[ -s "$log" ]] || continue
			echo "--- ${log#"$cleanup_dir"/} (last $cleanup_log_lines lines) ---" >&2
			tail -n "$cleanup_log_lines" "$log" >&2
		done < <(find "$cleanup_dir" -type f -name '*.log' 2>/dev/null | sort)
	fi
	[[ -n "$cleanup_dir" ]] && rm -rf "$cleanup_dir"
	exit "$status"
}

# random_secret prints 256 random bits as hex.
random_secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# to_ms converts a wrk duration (850.00us, 1.23ms, 2.00s) to milliseconds.
to_ms() { awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v += 0; else if (d ~ /s$/) v *= 1000; printf "%.2f", v }'; }

# use_caddy TMPDIR sets caddy to $CADDY_BIN, or to a binary built from the tree into TMPDIR.
use_caddy() {
	if [[ -n "${CADDY_BIN:-}" ]]; then
		caddy="$CADDY_BIN"
		return
	fi
	echo "building caddy..."
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." && go build -o "$1/caddy" ./cmd/caddy)
	caddy="$1/caddy"
}

# npm_ci_once DIR runs npm ci in DIR only when node_modules is missing or was installed from
# another lockfile (a stamp in node_modules remembers the lockfile's hash).
npm_ci_once() {
	local lock_sum stamp="$1/node_modules/.lock-sha256"
	lock_sum="$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)"
	if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
		echo "installing node modules in $1..."
		(cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
		echo "$lock_sum" >"$stamp"
	fi
}

# wait_for_url polls url until it answers 2xx, failing when the Caddy with pid exits first.
wait_for_url() {
	local url="$1" pid="$2" i
	echo "waiting for $url ..."
	for i in $(seq 1 150); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "caddy exited before serving $url" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "caddy did not serve $url within 30s" >&2
	return 1
}

# example_caddyfile SRC OUT PORT UPSTREAM RP [ADMIN] copies Caddyfile.example (SRC) to OUT with
# its ports 9080, 9081 and 9082 (the demo web app's redirect URIs) replaced by PORT, UPSTREAM and
# RP and "admin off" (or, given ADMIN, "admin localhost:ADMIN") added to its global options (a
# new block when it has none), so that it runs beside another Caddy; nothing else is changed,
# so the tests cover the shipped file.
example_caddyfile() {
	local src="$1" out="$2" port="$3" upstream="$4" rp="$5" admin="off"
	[[ -n "${6:-}" ]] && admin="localhost:$6"
	grep -q ':9080\b' "$src" && grep -q ':9081\b' "$src" || {
		echo "Caddyfile.example no longer uses ports 9080 and 9081: update scripts/lib.sh" >&2
		return 1
	}
	# The global options block, if any, is the first block, opened by a line of its own "{".
	if awk '/^[[:space:]]*(#|$)/ { next } { exit !/^[[:space:]]*\{[[:space:]]*$/ }' "$src"; then
		awk -v admin="$admin" '!done && /^[[:space:]]*\{[[:space:]]*$/ { print; print "\tadmin " admin; done = 1; next } { print }' "$src"
	else
		printf '{\n\tadmin %s\n}\n\n' "$admin"
		cat "$src"
	fi | sed -e "s/:9080\b/:$port/g" -e "s/:9081\b/:$upstream/g" -e "s/:9082\b/:$rp/g" >"$out"
}

# need_debian_packages CMD:PACKAGE... installs Debian's PACKAGE for each CMD not on PATH.
need_debian_packages() {
	local pair missing=()
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	((${#missing[@]} == 0)) && return 0
	echo "installing ${missing[*]} with apt-get" >&2
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
