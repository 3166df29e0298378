#!/usr/bin/env bash
# A long run of the randomized soak (jaio-core SoakStressTest): four IOThreads on poll, epoll and
# io_uring, two drivers, every kind of callback checked. The normal test suite runs it for 45 s.
#   bench/soak.sh                 600 s with a fresh seed (printed at the start and on failure)
#   SOAK_SECONDS=3600 bench/soak.sh  an hour
#   SEED=123 bench/soak.sh        replay a driver sequence (interleavings still differ)
#   COMOVE=false bench/soak.sh    keep coroutines in their first context (by default they
#                                 also move between contexts with rescheduleSelf)
# The log goes to bench-results/soak-<date>.log (git-ignored); the counters are at its end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-results"
mkdir -p "$OUT"
cd "$ROOT"
LOG="$OUT/soak-$(date -u +%Y%m%dT%H%M%SZ).log"
ARGS=(-B -pl jaio-core test -Dtest=SoakStressTest -Dsurefire.failIfNoSpecifiedTests=false
      "-Djaio.soak.seconds=${SOAK_SECONDS:-600}")
if [ -n "${SEED:-}" ]; then ARGS+=("-Djaio.soak.seed=$SEED"); fi
if [ -n "${COMOVE:-}" ]; then ARGS+=("-Djaio.soak.coMove=$COMOVE"); fi
echo "mvn ${ARGS[*]}  (log: $LOG)"
mvn "${ARGS[@]}" 2>&1 | tee "$LOG" | grep -E 'SoakStressTest|node [0-9]|^  [a-z]|Tests run|FAIL|BUILD'
