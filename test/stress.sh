#!/bin/sh
# Runs test files again and again under CPU load, to find a timing test that passes only on
# an idle machine: stress-ng --cpu 2 (Debian package stress-ng) busies both cores while
# each file runs N times; prints the failure count per file. A timing test that fails here
# is made deterministic (a clock the test moves, or a wait for the event it needs), never
# given a longer sleep.
# Usage: sh test/stress.sh N FILE... [-- --test-name-pattern=...]
set -u
n=$1
shift
files=""
extra=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra="$*"; break; fi
  files="$files $1"
  shift
done
command -v stress-ng >/dev/null || { echo "stress: stress-ng not found (apt-get install stress-ng)" >&2; exit 2; }
stress-ng --cpu 2 --quiet &
load=$!
trap 'kill $load 2>/dev/null' EXIT INT TERM
total=0
for f in $files; do
  fails=0
  i=1
  while [ $i -le "$n" ]; do
    log=$(mktemp)
    # shellcheck disable=SC2086
    if node --import tsx --test --test-timeout=600000 --test-force-exit $extra "$f" >"$log" 2>&1; then :; else
      fails=$((fails + 1))
      keep="${STRESS_LOGS:-/tmp}/stress-$(basename "$f" .ts)-$i.log"
      cp "$log" "$keep"
      echo "stress: $f run $i FAILED (whole output: $keep):"
      grep -E '^not ok|# (pass|fail)' "$log" | head -20
    fi
    rm -f "$log"
    i=$((i + 1))
  done
  echo "stress: $f: $fails of $n runs failed under stress-ng --cpu 2"
  total=$((total + fails))
done
[ "$total" -eq 0 ]
