#!/usr/bin/env bash
# Runs a command against a throwaway Redis server and stops the server afterwards:
#
#   scripts/with-redis.sh go test ./dpop/ -count=1
#
# The command sees CADDY_OAUTH_TEST_REDIS_URL and CADDY_OAUTH_REQUIRE_REDIS=1, so Redis tests
# fail instead of skipping if the URL gets lost. Exits with the command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi
rs=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/redis.sh

# Stop the server however we leave, including on Ctrl-C; a signal exits through the EXIT trap.
trap '"$rs" stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$rs" start
CADDY_OAUTH_TEST_REDIS_URL=$("$rs" url)
export CADDY_OAUTH_TEST_REDIS_URL
export CADDY_OAUTH_REQUIRE_REDIS=1

status=0
"$@" || status=$?
exit "$status"
