#!/usr/bin/env bash
# A throwaway Redis server for tests, listening on 127.0.0.1 only, with no persistence.
#
#   scripts/redis.sh start    start it (idempotent)
#   scripts/redis.sh stop     stop it and delete its directory
#   scripts/redis.sh status   exit 0 when it is running
#   scripts/redis.sh url      print the connection URL
#   scripts/redis.sh halt     stop it but keep its directory (and password): `start` brings it
#                             back empty, as a Redis without persistence restarts (fault tests)
#
# Installs Debian's redis-server package when redis-server is missing. A random password
# keeps other local users out. Environment: CADDY_OAUTH_REDIS_PORT (default 56379),
# CADDY_OAUTH_REDIS_DIR (default ${TMPDIR:-/tmp}/caddy-oauth-redis).
set -euo pipefail

port=${CADDY_OAUTH_REDIS_PORT:-56379}
base=${CADDY_OAUTH_REDIS_DIR:-${TMPDIR:-/tmp}/caddy-oauth-redis}
pwfile=$base/password
pidfile=$base/redis.pid
logfile=$base/server.log

die() { echo "redis.sh: $*" >&2; exit 1; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_redis() {
	echo "redis.sh: installing redis-server with apt-get" >&2
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
}

cli() {
	REDISCLI_AUTH=$(cat "$pwfile") redis-cli -h 127.0.0.1 -p "$port" "$@"
}

is_running() {
	[[ -s $pidfile && -s $pwfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
		[[ $(cli ping 2>/dev/null) == PONG ]]
}

start() {
	command -v redis-server >/dev/null 2>&1 || install_redis
	command -v redis-server >/dev/null 2>&1 || die "no redis-server after installing it"
	if is_running; then
		echo "redis.sh: already running on 127.0.0.1:$port" >&2
		return
	fi
	mkdir -p "$base"
	chmod 700 "$base"
	if [[ ! -s $pwfile ]]; then
		(umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pwfile")
	fi
	# The config goes on stdin so the password never shows in the process list.
	redis-server - >/dev/null <<-EOF
		bind 127.0.0.1
		port $port
		requirepass $(cat "$pwfile")
		daemonize yes
		pidfile $pidfile
		logfile $logfile
		dir $base
		save ""
		appendonly no
	EOF
	for _ in $(seq 50); do
		if is_running; then
			echo "redis.sh: started on 127.0.0.1:$port (files in $base)" >&2
			return
		fi
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2 || true
	die "server did not start (is port $port taken?)"
}

halt() {
	if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		local pid
		pid=$(cat "$pidfile")
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		echo "redis.sh: stopped" >&2
	fi
}

stop() {
	halt
	rm -rf "$base"
}

url() {
	[[ -s $pwfile ]] || die "not started; run: $0 start"
	echo "redis://:$(cat "$pwfile")@127.0.0.1:$port/0"
}

case ${1:-} in
start) start ;;
stop) stop ;;
halt) halt ;;
status) is_running ;;
url) url ;;
*) echo "usage: $0 start|stop|status|url|halt" >&2; exit 2 ;;
esac
