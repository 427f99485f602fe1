# Shell helpers shared by the scripts that start Caddy on loopback (test/interop/run.sh,
# bench/run.sh, bench/gateway.sh). Source it; it defines functions and one variable only.

# Ports handed out so far in this run, space-separated.
taken_ports=" "

# take_port NAME sets the variable NAME to a loopback TCP port that nothing listens on and no
# earlier call handed out. (It sets a variable rather than printing, because a $(…) subshell
# could not record the port as taken.)
take_port() {
	# The local name must not be one a caller passes as NAME, or printf -v would set it.
	local _take_port_candidate
	for _ in $(seq 1 100); do
		_take_port_candidate=$((20000 + RANDOM % 40000))
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

# random_secret prints 256 random bits as hex.
random_secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# to_ms converts a wrk duration (850.00us, 1.23ms, 2.00s) to milliseconds.
to_ms() { awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v += 0; else if (d ~ /s$/) v *= 1000; printf "%.2f", v }'; }
