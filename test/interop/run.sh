#!/usr/bin/env bash
# Runs the openid-client interop suite against a freshly built Caddy with oauth_server.
#
#   test/interop/run.sh            # from anywhere; needs go, node >= 20.19, npm, curl
#   CADDY_BIN=/path/caddy test/interop/run.sh   # reuse a binary instead of building
#
# Everything lives in a temp dir (binary, database, Caddy's XDG dirs, per-run secrets and the
# private_key_jwt client's key); Caddy listens on a free loopback port and is always stopped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-interop.XXXXXX")"
caddy_pid=""

cleanup() {
	local status=$?
	if [[ -n "$caddy_pid" ]] && kill -0 "$caddy_pid" 2>/dev/null; then
		kill "$caddy_pid" 2>/dev/null || true
		wait "$caddy_pid" 2>/dev/null || true
	fi
	if ((status != 0)) && [[ -s "$tmp/caddy.log" ]]; then
		echo "--- caddy log (last 200 lines) ---" >&2
		tail -n 200 "$tmp/caddy.log" >&2
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback TCP port nobody is listening on.
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

if [[ -n "${CADDY_BIN:-}" ]]; then
	caddy="$CADDY_BIN"
else
	echo "building caddy..."
	(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy)
	caddy="$tmp/caddy"
fi

# npm ci only when node_modules is missing or was installed from another lockfile.
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.interop-lock-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
	echo "installing node modules..."
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$lock_sum" >"$stamp"
fi

port="$(free_port)"
upstream_port="$(free_port)"
while [[ "$upstream_port" == "$port" ]]; do upstream_port="$(free_port)"; done
export INTEROP_PORT="$port"
# The echo upstream behind the oauth_resource gateway (a second site of the same Caddy).
export INTEROP_UPSTREAM_PORT="$upstream_port"
export INTEROP_ISSUER="http://127.0.0.1:$port"
export INTEROP_DB="$tmp/oauth.db"
export INTEROP_MASTER_KEY="$(random_secret)"
export INTEROP_SECRET_BASIC="$(random_secret)"
export INTEROP_SECRET_POST="$(random_secret)"
export INTEROP_SECRET_JWT="$(random_secret)"
export INTEROP_SECRET_RS="$(random_secret)"
export INTEROP_SECRET_OTHER="$(random_secret)"
export INTEROP_SECRET_GATEWAY="$(random_secret)"
export INTEROP_PKJWT_PRIVATE_JWK="$tmp/private-key-jwt-client.jwk.json"
INTEROP_PKJWT_JWKS="$(cd "$here" && node scripts/gen-client-key.js "$INTEROP_PKJWT_PRIVATE_JWK")"
export INTEROP_PKJWT_JWKS

mkdir -p "$tmp/xdg-data" "$tmp/xdg-config"
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!

echo "waiting for $INTEROP_ISSUER ..."
for i in $(seq 1 150); do
	if curl -fsS -o /dev/null "$INTEROP_ISSUER/.well-known/openid-configuration" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$caddy_pid" 2>/dev/null; then
		echo "caddy exited before serving discovery" >&2
		exit 1
	fi
	if ((i == 150)); then
		echo "caddy did not serve discovery within 30s" >&2
		exit 1
	fi
	sleep 0.2
done

cd "$here"
set +e
node --test --test-reporter=spec --test-timeout=60000 tests/*.test.js
status=$?
set -e
exit "$status"
