#!/usr/bin/env bash
# Runs every fuzz target of the module for a fixed budget each: a time, or
# a count of executions (Nx).
#   scripts/fuzz.sh          # 100000 executions per target (CI)
#   scripts/fuzz.sh 10m      # a longer local run
# CI gives a count, not a time: with a time, Go 1.26's fuzzing coordinator
# may report "context deadline exceeded" as the time runs out, with no
# failing input (golang/go#75804, fixed in Go 1.27); a count has no deadline.
# New crashers are written to the package's testdata/fuzz/<Target>/ and
# then run as regression cases by plain go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-100000x}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "--- $pkg $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
  done
done
