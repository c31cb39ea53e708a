#!/usr/bin/env bash
# How the cost grows with the roster: a pass into the status store at
# 10,000, 100,000 and 1,000,000 certifications (each size in a process of
# its own, so that its peak memory is its own), a second pass after 1% of
# each table was deleted in the portal, and the status query from 32
# concurrent callers for 30 s over 100,000 and 1,000,000 rows. Prints one
# table. Run it on an otherwise idle machine.
#   test/bench/scale.sh                      # about 15 minutes on 2 cores
#   SIZES="10000 100000" test/bench/scale.sh
#   BENCH_OUT=dir test/bench/scale.sh        # keep the raw outputs in dir
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"
sizes=${SIZES:-10000 100000 1000000}
load_sizes=${LOAD_SIZES-100000 1000000}

echo "building the benchmarks" >&2
go test -c -o "$out/bench.test" ./test/bench
: > "$out/scale.txt"
for n in $sizes; do
  echo "BenchmarkStoreScale at $n" >&2
  (cd test/bench && PORTALSYNC_BENCH_SCALE_SIZE=$n "$out/bench.test" -test.run='^$' \
    -test.bench='^BenchmarkStoreScale$' -test.benchtime=1x) | tee -a "$out/scale.txt" | grep '^Benchmark' >&2
done
for n in $load_sizes; do
  echo "BenchmarkStatusesUnderLoad at $n" >&2
  (cd test/bench && PORTALSYNC_BENCH_SCALE_SIZE=$n PORTALSYNC_BENCH_LOAD_SECONDS=${LOAD_SECONDS:-30} "$out/bench.test" \
    -test.run='^$' -test.bench='^BenchmarkStatusesUnderLoad$' -test.benchtime=1x) | sed "s/^BenchmarkStatusesUnderLoad/BenchmarkStatusesUnderLoad@$n/" \
    | tee -a "$out/scale.txt" | grep '^Benchmark' >&2
done

# value BENCH ROWS UNIT: UNIT of the line of BENCH whose "certifications"
# (or "rows") metric is ROWS.
value() {
  awk -v name="$1" -v rows="$2" -v unit="$3" '
    { n = $1; sub(/-[0-9]+$/, "", n); if (n != name) next
      r = ""; v = ""
      for (i = 3; i < NF; i++) { if ($(i+1) == "certifications" || $(i+1) == "rows") r = $i; if ($(i+1) == unit) v = $i }
      if (r == rows) print v }' "$out/scale.txt"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "–"; else printf "%.2f", a / b }'; }
{
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(go env GOVERSION), $(date -u +%Y-%m-%d)"
  echo
  echo "| certifications | assignments | time per record | peak RSS above start | peak live heap above start | database | second pass after 1% deleted ÷ first |"
  echo "|---|---|---|---|---|---|---|"
  for n in $sizes; do
    printf '| %s | %s | %.1f µs | %.0f MiB | %.0f MiB | %.0f MiB | %.2f (%s rows swept) |\n' "$n" \
      "$(value BenchmarkStoreScale "$n" assignments)" "$(awk -v v="$(value BenchmarkStoreScale "$n" ns/record)" 'BEGIN{print v/1000}')" \
      "$(value BenchmarkStoreScale "$n" peak-rss-MiB)" "$(value BenchmarkStoreScale "$n" peak-heap-MiB)" \
      "$(value BenchmarkStoreScale "$n" db-MiB)" "$(value BenchmarkStoreScale "$n" second/first)" "$(value BenchmarkStoreScale "$n" swept-rows)"
  done
  echo
  set -- $sizes
  if [ $# -ge 2 ]; then
    big=${*: -1}; small=${*: -2:1}
    echo "- time per record at $big ÷ at $small: $(ratio "$(value BenchmarkStoreScale "$big" ns/record)" "$(value BenchmarkStoreScale "$small" ns/record)") (goal ≤ 1.25)"
    echo "- peak RSS above start at $big ÷ at $small: $(ratio "$(value BenchmarkStoreScale "$big" peak-rss-MiB)" "$(value BenchmarkStoreScale "$small" peak-rss-MiB)") (goal ≤ 1.2)"
    echo "- peak live heap above start at $big ÷ at $small: $(ratio "$(value BenchmarkStoreScale "$big" peak-heap-MiB)" "$(value BenchmarkStoreScale "$small" peak-heap-MiB)")"
    echo
  fi
  echo "| rows (certifications and assignments) | median | p99 | calls/s | sequential scans in the plan |"
  echo "|---|---|---|---|---|"
  for n in $load_sizes; do
    printf '| %s | %s ms | %s ms | %.0f | %s |\n' "$n" "$(value "BenchmarkStatusesUnderLoad@$n" "$n" median-ms)" \
      "$(value "BenchmarkStatusesUnderLoad@$n" "$n" p99-ms)" "$(value "BenchmarkStatusesUnderLoad@$n" "$n" calls/s)" \
      "$(value "BenchmarkStatusesUnderLoad@$n" "$n" seq-scans)"
  done
} | tee "$out/scale-table.md"
echo "raw outputs: $out/scale.txt" >&2
