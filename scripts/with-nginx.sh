#!/usr/bin/env bash
# Runs a command with nginx installed (Debian's package, through scripts/nginx.sh) for the
# forward-auth tests, which start their own throwaway nginx:
#
#   scripts/with-nginx.sh go test ./caddymodule/ -run ForwardAuth -count=1
#
# The command sees CADDY_OAUTH_REQUIRE_NGINX=1, so those tests fail instead of skipping if
# nginx is missing after all. Exits with the command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi
"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nginx.sh" bin >/dev/null
export CADDY_OAUTH_REQUIRE_NGINX=1
exec "$@"
