#!/usr/bin/env bash
# Runs the Go tests (race detector on) through gotestsum and prints, besides gotestsum's own
# summary, how many PostgreSQL subtests really ran, so a skipped database leg cannot hide.
# Run it under scripts/with-postgres.sh (make unit does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
json=$(mktemp "${TMPDIR:-/tmp}/caddy-oauth-gotest.XXXXXX.json")
trap 'rm -f "$json"' EXIT

status=0
(cd tools && go build -o "$json.gotestsum" gotest.tools/gotestsum)
"$json.gotestsum" --format pkgname --jsonfile "$json" -- -race -count=1 "$@" ./... || status=$?
rm -f "$json.gotestsum"

count() { jq -s "[.[] | select(.Test != null and .Action == \"$1\" and (.Test | test(\"(?i)/postgres(/|$)\")))] | length" "$json"; }
pg_pass=$(count pass) pg_fail=$(count fail) pg_skip=$(count skip)
echo "PostgreSQL leg: $pg_pass passed, $pg_fail failed, $pg_skip skipped"
if [[ -n "${CADDY_OAUTH_REQUIRE_POSTGRES:-}" && "$pg_pass" -eq 0 ]]; then
	echo "PostgreSQL leg: no PostgreSQL test ran" >&2
	status=1
fi
exit "$status"
