#!/usr/bin/env bash
# Runs every Go fuzz target briefly (default 10s each): a smoke test that the parsers of
# untrusted input survive mutation. Longer runs: scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
# "package dir<TAB>FuzzName" for every fuzz target in the module.
grep -rHoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)\(' . | sed -E 's#^\./##; s#/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\t\1#' | sort -u |
while IFS=$'\t' read -r dir name; do
  echo "fuzz: ./$dir $name ($fuzztime)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "./$dir"
done
