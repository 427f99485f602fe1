#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, listening on 127.0.0.1 only.
#
#   scripts/postgres.sh start    initialize (first time) and start it, create the test database
#   scripts/postgres.sh stop     stop it and delete its directory
#   scripts/postgres.sh status   exit 0 when it is running
#   scripts/postgres.sh dsn      print the connection URL
#   scripts/postgres.sh restart  restart it (fault tests: connections are cut)
#   scripts/postgres.sh halt     stop it but keep its data; `start` brings it back
#
# Installs Debian's postgresql package when initdb/pg_ctl are missing. When run as root the
# server runs as the "postgres" system user, because initdb and postgres refuse root.
# Environment: CADDY_OAUTH_PG_PORT (default 55432), CADDY_OAUTH_PG_DIR (default
# ${TMPDIR:-/tmp}/caddy-oauth-postgres).
set -euo pipefail

port=${CADDY_OAUTH_PG_PORT:-55432}
base=${CADDY_OAUTH_PG_DIR:-${TMPDIR:-/tmp}/caddy-oauth-postgres}
data=$base/data
pwfile=$base/password
logfile=$base/server.log
superuser=postgres
dbname=caddy_oauth_test

die() { echo "postgres.sh: $*" >&2; exit 1; }

# bindir prints the directory holding initdb and pg_ctl, or fails.
bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then echo "$d"; return; fi
	fi
	# Debian keeps server binaries out of PATH; prefer the newest installed major version.
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then echo "$d"; return; fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	return 1
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_postgres() {
	echo "postgres.sh: installing PostgreSQL with apt-get" >&2
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
}

# as_owner runs a command as the user owning the server: the postgres system user when we are
# root, ourselves otherwise. It runs from $base so the owner can always read its working dir.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		if command -v runuser >/dev/null 2>&1; then
			(cd "$base" && runuser -u postgres -- "$@")
		else
			(cd "$base" && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
		fi
	else
		(cd "$base" && "$@")
	fi
}

is_running() {
	[[ -f $data/PG_VERSION ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

psql_cmd() {
	PGPASSWORD=$(cat "$pwfile") "$bin/psql" -X -q -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$port" -U "$superuser" "$@"
}

init_cluster() {
	mkdir -p "$base"
	chmod 700 "$base"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 ||
			useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		chown postgres: "$base"
	fi
	# A random password, so other local users cannot use the server over TCP.
	if [[ ! -s $pwfile ]]; then
		(umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pwfile")
		if [[ $(id -u) -eq 0 ]]; then chown postgres: "$pwfile"; fi
	fi
	as_owner "$bin/initdb" -D "$data" -U "$superuser" --pwfile="$pwfile" \
		--auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C >"$base/initdb.log" 2>&1 ||
		{ cat "$base/initdb.log" >&2; die "initdb failed"; }
	# Durability is pointless for a throwaway server; speed is not.
	cat >>"$data/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$base'
		max_connections = 200
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
}

start() {
	bin=$(bindir) || { install_postgres; bin=$(bindir) || die "no initdb/pg_ctl after installing postgresql"; }
	if is_running; then
		echo "postgres.sh: already running on 127.0.0.1:$port" >&2
	else
		[[ -f $data/PG_VERSION ]] || init_cluster
		as_owner "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null ||
			{ tail -n 20 "$logfile" >&2 || true; die "server did not start (is port $port taken?)"; }
		echo "postgres.sh: started on 127.0.0.1:$port (data in $data)" >&2
	fi
	if [[ -z $(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$dbname'") ]]; then
		psql_cmd -d postgres -c "CREATE DATABASE $dbname"
	fi
}

stop() {
	if bin=$(bindir) && is_running; then
		as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
		echo "postgres.sh: stopped" >&2
	fi
	rm -rf "$base"
}

restart() {
	bin=$(bindir) && is_running || die "not running"
	as_owner "$bin/pg_ctl" -D "$data" -l "$logfile" -m fast -w -t 60 restart >/dev/null
	echo "postgres.sh: restarted" >&2
}

halt() {
	bin=$(bindir) && is_running || die "not running"
	as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	echo "postgres.sh: halted (data kept)" >&2
}

dsn() {
	[[ -s $pwfile ]] || die "not initialized; run: $0 start"
	echo "postgres://$superuser:$(cat "$pwfile")@127.0.0.1:$port/$dbname?sslmode=disable"
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) bin=$(bindir) && is_running ;;
dsn) dsn ;;
restart) restart ;;
halt) halt ;;
*) echo "usage: $0 start|stop|status|dsn|restart|halt" >&2; exit 2 ;;
esac
