#!/bin/sh
# Runs a test command with the whole process tree's wall clock a year ahead (libfaketime,
# Debian package `faketime`): a test that passes only near the day it was written fails
# here. The monotonic clock stays real (timers behave); test/helpers/faketime.ts composes
# its own per-agent offsets with this one. Usage: sh test/year-ahead.sh npm test
set -eu
lib=$(find /usr/lib /usr/lib64 /usr/local/lib -name libfaketime.so.1 -path '*faketime*' 2>/dev/null | head -n 1)
if [ -z "$lib" ]; then
  echo "year-ahead: libfaketime not found (apt-get install faketime)" >&2
  exit 1
fi
export LD_PRELOAD="$lib" FAKETIME="${LOA_FAKETIME:-+365d}" FAKETIME_DONT_FAKE_MONOTONIC=1
echo "year-ahead: FAKETIME=$FAKETIME, the clock here says $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec "$@"
