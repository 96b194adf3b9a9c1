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
# NO_FAKE_STAT=1: libfaketime 0.9.10 fakes stat() times under a semaphore shared by the
# whole process tree (FAKETIME_SHARED, named after the root's pid). A process killed -9
# between its sem_wait and sem_post (our tests kill agents, players and brokers on purpose)
# leaves it taken for good, and every stat() in the tree after that blocks in a futex: the
# hang CI17 and CI22 saw. Without stat faking nothing here takes that semaphore (no tick
# steps, no save or load file); file times stay real, which no code compares with the clock.
export LD_PRELOAD="$lib" FAKETIME="${LOA_FAKETIME:-+365d}" FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1
echo "year-ahead: FAKETIME=$FAKETIME, the clock here says $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec "$@"
