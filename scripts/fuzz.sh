#!/usr/bin/env bash
# Runs every Go fuzz target briefly (default 10s each): a smoke test that the parsers of
# untrusted input survive mutation. Longer runs: scripts/fuzz.sh 10m
#
# -fuzzminimizetime=1s: by default a worker spends up to 60 s minimizing every new interesting
# input, executing nothing else meanwhile; in a 10 s smoke run that stalls the target and, on
# Go 1.26, makes the fuzz coordinator fail it with "context deadline exceeded" at the -fuzztime
# boundary (go.dev/issue/75804, fixed in Go 1.27) although no input failed and none is written.
# Such a run is retried once with a count instead of a duration (-fuzztime=20000x has no
# deadline to race); a target that writes a failing input ("Failing input written to …")
# fails at once, as does a second failure of any kind.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
out=$(mktemp "${TMPDIR:-/tmp}/caddy-oauth-fuzz.XXXXXX")
trap 'rm -f "$out"' EXIT

# run_target DIR NAME FUZZTIME: one fuzz run, output shown and kept in $out.
run_target() {
  go test -run='^$' -fuzz="^$2\$" -fuzztime="$3" -fuzzminimizetime=1s "./$1" 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}

# "package dir<TAB>FuzzName" for every fuzz target in the module.
grep -rHoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)\(' . | sed -E 's#^\./##; s#/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\t\1#' | sort -u |
while IFS=$'\t' read -r dir name; do
  echo "fuzz: ./$dir $name ($fuzztime)"
  if run_target "$dir" "$name" "$fuzztime"; then
    continue
  fi
  if grep -q 'Failing input written to' "$out" || ! grep -q 'context deadline exceeded' "$out"; then
    exit 1
  fi
  echo "fuzz: $name hit the Go 1.26 fuzz-coordinator deadline race without a failing input; retrying once, by count"
  run_target "$dir" "$name" 20000x
done
