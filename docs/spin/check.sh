#!/usr/bin/env bash
# Model-checks docs/spin/jaio_notify.pml with spin (apt-get install spin gcc): the fixed protocol
# must show no error, each bug variant must show one. Exits non-zero otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v spin >/dev/null || { echo "check.sh: spin is not installed (apt-get install spin)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/jaio_notify.pml" "$work/"
cd "$work"
status=0
check() { # $1 = expected ("ok" or "violation"), $2.. = spin defines
  local want="$1"; shift
  spin -a "$@" jaio_notify.pml >/dev/null
  gcc -O2 -DVECTORSZ=2048 -o pan pan.c
  local out; out=$(./pan -a -f -m100000 2>&1)
  local errors; errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -n1)
  local states; states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | head -n1)
  local got=ok; [ "${errors:-1}" = 0 ] || got=violation
  if [ "$got" = "$want" ]; then
    echo "spin ${*:-(fixed)}: $got as expected (errors=$errors, states=$states)"
  else
    echo "spin ${*:-(fixed)}: expected $want, got $got (errors=$errors)"; echo "$out" | tail -20; status=1
  fi
}
check ok
check violation -DBUG
check violation -DBUG_NORECHECK
check violation -DBUG2
exit $status
