#!/usr/bin/env bash
# Runs the jcstress tests of jaio (docs/reliability.md).
#   jaio-jcstress/run.sh quick [ARGS]  the short pass 'mvn verify' runs (~1.5 min on 2 CPUs)
#   jaio-jcstress/run.sh full [ARGS]   jcstress's default mode: every compilation mode, stress forks
# ARGS go to jcstress (for example -t WakeupProtocol). Builds the jar first when it is missing.
# Passes when no test other than the *BugControl ones shows a FORBIDDEN outcome, no test errs,
# and every *BugControl test (a model of a known bug) does show its FORBIDDEN outcome.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="${1:-quick}"; shift || true
java="${JCSTRESS_JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}"
jar="$here/target/jcstress.jar"
if [ ! -f "$jar" ]; then
  (cd "$here/.." && mvn -B -q -Dstyle.color=never -pl jaio-jcstress -am package -DskipTests)
fi
flags="-ea --enable-native-access=ALL-UNNAMED"
case "$mode" in
  quick) args=(-m quick -sc false -jvmArgs "$flags" -f 1 -fsm 1 -iters 3 -time 1000) ;;
  full) args=(-m default -jvmArgsPrepend "$flags") ;;
  *) echo "run.sh: unknown mode '$mode' (expected quick or full)" >&2; exit 2 ;;
esac
out="$here/target/jcstress-$mode"
rm -rf "$out"; mkdir -p "$out"
cd "$out"
start=$(date +%s)
set +e
"$java" $flags -jar "$jar" "${args[@]}" -r "$out/report" "$@" >"$out/output.txt" 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))
grep -v -e '^ *WARNING' -e '^ *$' "$out/output.txt" | sed -n '/^RUN RESULTS:/,/HTML report/p' | grep -v -e '^  *[0-9-].*Acceptable' | head -60
forbidden=$(grep -o '^io\.jaio\.[A-Za-z0-9]*.*Observed forbidden state' "$out/output.txt" | sed 's/ .*//' | sort -u || true)
real=$(grep -v 'BugControl$' <<<"$forbidden" | grep . || true)
controls=$(grep 'BugControl$' <<<"$forbidden" || true)
wanted=$(grep -c 'BugControl' <<<"$("$java" $flags -jar "$jar" -l "$@" 2>/dev/null | grep '^ *io\.jaio\.' | sort -u)" || true)
errors=$(sed -n 's/.*Results: \([0-9]*\) planned; \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) soft errs, \([0-9]*\) hard errs.*/\4 \5/p' "$out/output.txt" | tail -n1)
tests=$(sed -n 's/.*Results: \([0-9]*\) planned.*/\1/p' "$out/output.txt" | tail -n1)
status=0
if [ -n "$real" ]; then echo "jcstress: FORBIDDEN outcome in: $real"; status=1; fi
if [ "${errors:-1 1}" != "0 0" ]; then echo "jcstress: tests erred (soft, hard: ${errors:-none reported}); see $out/output.txt"; status=1; fi
if [ "$(grep -c . <<<"$controls")" -lt "$wanted" ]; then
  echo "jcstress: a known-bad control did not show its bug (saw: ${controls:-none}); the harness may be blind"; status=1
fi
if [ "$rc" -ne 0 ] && [ -z "$controls" ] && [ "$status" -eq 0 ]; then echo "jcstress: exited $rc; see $out/output.txt"; status=1; fi
echo "jcstress $mode: $tests test configurations in ${secs}s; controls reproduced: $(echo $controls)"
if [ "$status" -eq 0 ]; then
  echo "jcstress: $tests passed, 0 failed"
fi
exit $status
