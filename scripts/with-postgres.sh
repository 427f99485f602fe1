#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server and stops the server afterwards:
#
#   scripts/with-postgres.sh go test ./authserver/store/... -count=1
#
# The command sees CADDY_OAUTH_TEST_POSTGRES_DSN and CADDY_OAUTH_REQUIRE_POSTGRES=1, so
# PostgreSQL tests fail instead of skipping if the DSN gets lost. Exits with the command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi
pg=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres.sh

# Stop the server however we leave, including on Ctrl-C; a signal exits through the EXIT trap.
trap '"$pg" stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$pg" start
CADDY_OAUTH_TEST_POSTGRES_DSN=$("$pg" dsn)
export CADDY_OAUTH_TEST_POSTGRES_DSN
export CADDY_OAUTH_REQUIRE_POSTGRES=1

status=0
"$@" || status=$?
exit "$status"
