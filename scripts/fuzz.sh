#!/usr/bin/env bash
# Runs every fuzz target of the module for a fixed time each.
#   scripts/fuzz.sh          # 10s per target
#   scripts/fuzz.sh 10m      # a longer local run
# New crashers are written to the package's testdata/fuzz/<Target>/ and
# then run as regression cases by plain go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "--- $pkg $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
  done
done
