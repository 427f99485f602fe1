#!/usr/bin/env bash
# Runs the Go tests (race detector on) through gotestsum and prints, besides gotestsum's own
# summary, how many PostgreSQL, Redis and nginx tests really ran, so a skipped backend leg cannot
# hide. Run it under scripts/with-postgres.sh, scripts/with-redis.sh and scripts/with-nginx.sh
# (make unit does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
json=$(mktemp "${TMPDIR:-/tmp}/caddy-oauth-gotest.XXXXXX.json")
trap 'rm -f "$json"' EXIT

status=0
(cd tools && go build -o "$json.gotestsum" gotest.tools/gotestsum)
# -timeout: authserver's tests (every grant, against SQLite and PostgreSQL) take about ten
# minutes under the race detector on this 2-core machine, go test's default per-binary limit.
"$json.gotestsum" --format pkgname --jsonfile "$json" -- -race -count=1 -timeout 30m "$@" ./... || status=$?
rm -f "$json.gotestsum"

# count ACTION REGEX: how many tests whose name matches REGEX ended with ACTION.
count() { jq -s "[.[] | select(.Test != null and .Action == \"$1\" and (.Test | test(\"$2\")))] | length" "$json"; }
# leg NAME REGEX REQUIRED: report a backend's tests; none passing while REQUIRED is set fails.
leg() {
	local pass fail skip
	pass=$(count pass "$2") fail=$(count fail "$2") skip=$(count skip "$2")
	echo "$1 leg: $pass passed, $fail failed, $skip skipped"
	if [[ -n "$3" && "$pass" -eq 0 ]]; then
		echo "$1 leg: no $1 test ran" >&2
		status=1
	fi
}
leg PostgreSQL '(?i)/postgres(/|$)' "${CADDY_OAUTH_REQUIRE_POSTGRES:-}"
leg Redis '(?i)redis' "${CADDY_OAUTH_REQUIRE_REDIS:-}"
leg nginx '(?i)nginx' "${CADDY_OAUTH_REQUIRE_NGINX:-}"
exit "$status"
