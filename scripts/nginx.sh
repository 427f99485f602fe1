#!/usr/bin/env bash
# A throwaway nginx for tests, run as the current user with its own prefix, configuration and
# logs in a temporary directory; the site configuration decides the (loopback) ports.
#
#   scripts/nginx.sh start SITE.conf  start it with SITE.conf (server blocks, http context)
#   scripts/nginx.sh stop             stop it and delete its directory
#   scripts/nginx.sh status           exit 0 when it is running
#   scripts/nginx.sh bin              print the nginx binary, installing it when missing
#
# Installs Debian's nginx package when the binary is missing. Environment:
# CADDY_OAUTH_NGINX_DIR (default ${TMPDIR:-/tmp}/caddy-oauth-nginx).
set -euo pipefail

base=${CADDY_OAUTH_NGINX_DIR:-${TMPDIR:-/tmp}/caddy-oauth-nginx}
pidfile=$base/nginx.pid

die() { echo "nginx.sh: $*" >&2; exit 1; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# find_nginx prints the binary; Debian puts it in /usr/sbin, outside a user's PATH.
find_nginx() {
	local b
	for b in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx; do
		if [[ -n $b && -x $b ]]; then echo "$b"; return; fi
	done
	return 1
}

install_nginx() {
	echo "nginx.sh: installing nginx with apt-get" >&2
	as_root apt-get update
	# policy-rc.d keeps the package from starting the system nginx on port 80.
	local policy=/usr/sbin/policy-rc.d created=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
		as_root chmod 755 "$policy"
		created=1
	fi
	local status=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx || status=$?
	if [[ -n $created ]]; then as_root rm -f "$policy"; fi
	return "$status"
}

nginx_bin() {
	find_nginx || { install_nginx >&2 && find_nginx; } || die "no nginx binary after installing nginx"
}

is_running() {
	[[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
	local site=${1:-}
	[[ -n $site && -f $site ]] || die "usage: $0 start SITE.conf (server blocks for the http context)"
	site=$(cd "$(dirname "$site")" && pwd)/$(basename "$site")
	local bin
	bin=$(nginx_bin)
	is_running && die "already running (pid $(cat "$pidfile")); stop it first"
	mkdir -p "$base/temp"
	# Every path nginx writes is in $base: the package's defaults (/var/log/nginx,
	# /var/lib/nginx) belong to root and to the system nginx.
	local user=""
	[[ $(id -u) -eq 0 ]] && user="user root root;" # workers as root too: they read $base
	cat >"$base/nginx.conf" <<-EOF
		$user
		worker_processes 1;
		pid $pidfile;
		error_log $base/error.log info;
		events { worker_connections 256; }
		http {
		    access_log $base/access.log;
		    client_body_temp_path $base/temp/body;
		    proxy_temp_path $base/temp/proxy;
		    fastcgi_temp_path $base/temp/fastcgi;
		    uwsgi_temp_path $base/temp/uwsgi;
		    scgi_temp_path $base/temp/scgi;
		    include $site;
		}
	EOF
	"$bin" -p "$base" -e "$base/error.log" -c "$base/nginx.conf" -t -q ||
		die "configuration rejected (see above)"
	"$bin" -p "$base" -e "$base/error.log" -c "$base/nginx.conf" ||
		{ tail -n 20 "$base/error.log" >&2 || true; die "nginx did not start"; }
	for _ in $(seq 1 50); do
		is_running && { echo "nginx.sh: started (pid $(cat "$pidfile"), files in $base)" >&2; return; }
		sleep 0.1
	done
	tail -n 20 "$base/error.log" >&2 || true
	die "nginx did not write its pid file"
}

stop() {
	if is_running; then
		local pid
		pid=$(cat "$pidfile")
		kill -TERM "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		echo "nginx.sh: stopped" >&2
	fi
	rm -rf "$base"
}

case ${1:-} in
start) start "${2:-}" ;;
stop) stop ;;
status) is_running ;;
bin) nginx_bin ;;
*) echo "usage: $0 start SITE.conf|stop|status|bin" >&2; exit 2 ;;
esac
