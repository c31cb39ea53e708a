#!/usr/bin/env bash
# Prints statement coverage of the module's library packages, per package and
# in total, and fails when the total is under the floor (90% by default).
#   scripts/cover.sh            # print, enforce 90%
#   FLOOR=0 scripts/cover.sh    # print only
set -euo pipefail
cd "$(dirname "$0")/.."
floor=${FLOOR:-90}
pkgs=$(go list ./ports/... ./core/... ./adapters/... ./flags/... ./app/...)
profile=$(mktemp)
trap 'rm -f "$profile" "$profile.pkgs" "$profile.total"' EXIT
# -coverpkg also counts code that other packages' tests exercise (the
# contract suite, the wiring tests).
# Quiet when the tests pass; their whole output when one fails.
out=$(go test -count=1 -coverpkg="$(echo "$pkgs" | paste -sd, -)" -coverprofile="$profile" $pkgs 2>&1) || {
  echo "$out" | grep -v '^ok'; echo "tests failed under coverage"; exit 1; }
# A block may appear once per test binary: count it once, covered if any hit.
awk 'NR > 1 {
    split($1, loc, ":"); pkg = loc[1]; sub(/\/[^\/]*$/, "", pkg)
    if (!($1 in stmts)) { stmts[$1] = $2; owner[$1] = pkg }
    if ($3 > 0) hit[$1] = 1
  }
  END {
    for (b in stmts) { t[owner[b]] += stmts[b]; if (b in hit) c[owner[b]] += stmts[b] }
    for (p in t) { printf "%-56s %6.1f%%\n", p, 100 * c[p] / t[p]; all += t[p]; allc += c[p] }
    printf "total %.1f\n", 100 * allc / all > "/dev/stderr"
  }' "$profile" 2> "$profile.total" | sort | tee "$profile.pkgs"
total=$(awk '{ print $2 }' "$profile.total"); rm -f "$profile.total"
echo "total statement coverage: ${total}% (floor ${floor}%)"
awk -v t="$total" -v f="$floor" 'BEGIN { exit !(t + 0 >= f + 0) }' || { echo "coverage is under the floor"; exit 1; }
# The status store carries the access rules: it keeps the floor on its own.
store=$(awk '$1 ~ /\/adapters\/postgres$/ { sub(/%/, "", $2); print $2 }' "$profile.pkgs"); rm -f "$profile.pkgs"
echo "adapters/postgres statement coverage: ${store}% (floor ${floor}%)"
awk -v t="${store:-0}" -v f="$floor" 'BEGIN { exit !(t + 0 >= f + 0) }' || { echo "adapters/postgres coverage is under the floor"; exit 1; }
