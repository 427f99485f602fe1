#!/usr/bin/env bash
# Runs every Go fuzz target briefly (default 10s each): a smoke test that the parsers of
# untrusted input survive mutation. Longer runs: scripts/fuzz.sh 10m
#
# Go 1.26's fuzz coordinator can fail a target with "context deadline exceeded" at the
# -fuzztime boundary when a worker is busy (go.dev/issue/75804, fixed in Go 1.27): no input
# failed, and none is written. Such a run is retried once; a target that writes a failing
# input ("Failing input written to …") fails at once, as does a second failure of any kind.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
out=$(mktemp "${TMPDIR:-/tmp}/caddy-oauth-fuzz.XXXXXX")
trap 'rm -f "$out"' EXIT

# run_target DIR NAME: one fuzz run, output shown and kept in $out.
run_target() {
  go test -run='^$' -fuzz="^$2\$" -fuzztime="$fuzztime" "./$1" 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}

# "package dir<TAB>FuzzName" for every fuzz target in the module.
grep -rHoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)\(' . | sed -E 's#^\./##; s#/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\t\1#' | sort -u |
while IFS=$'\t' read -r dir name; do
  echo "fuzz: ./$dir $name ($fuzztime)"
  if run_target "$dir" "$name"; then
    continue
  fi
  if grep -q 'Failing input written to' "$out" || ! grep -q 'context deadline exceeded' "$out"; then
    exit 1
  fi
  echo "fuzz: $name hit the Go 1.26 fuzz-coordinator deadline race without a failing input; retrying once"
  run_target "$dir" "$name"
done
