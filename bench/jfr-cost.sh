#!/usr/bin/env bash
# The cost of the io.jaio.* Flight Recorder events: alternates BEFORE.jar, AFTER.jar and AFTER.jar
# with a recording (-XX:StartFlightRecording, default settings) ROUNDS times on one JMH selection,
# with -prof gc, and prints each benchmark's medians, the ratios after/before and
# recording/after, and the largest B/op of each column. docs/observability.md has a run.
#   bench/jfr-cost.sh BEFORE.jar AFTER.jar ROUNDS 'REGEX' [JMH OPTIONS...]
# Default JMH options: -f 1 -wi 3 -w 1 -i 5 -r 1 (as bench/ab.sh). Results go to bench-results/jfr-cost/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 4 ]; then sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
A="$1"; B="$2"; ROUNDS="$3"; REGEX="$4"; shift 4
OPTS=("$@"); [ ${#OPTS[@]} -gt 0 ] || OPTS=(-f 1 -wi 3 -w 1 -i 5 -r 1)
OUT="$ROOT/bench-results/jfr-cost"; mkdir -p "$OUT"; rm -f "$OUT"/*.json "$OUT"/*.jfr
run() { # SIDE JAR ROUND [JMH ARGS...]
  local side="$1" jar="$2" r="$3"; shift 3
  "$ROOT/jaio" java --enable-native-access=ALL-UNNAMED -jar "$jar" "$REGEX" "${OPTS[@]}" -prof gc "$@" \
    -rf json -rff "$OUT/$side-$r.json" > "$OUT/$side-$r.txt" 2>&1
  echo "$(date -u +%T) $side round $r done" >&2
}
for r in $(seq 1 "$ROUNDS"); do
  run before "$A" "$r"
  run after "$B" "$r"
  run recording "$B" "$r" -jvmArgsAppend "--enable-native-access=ALL-UNNAMED -XX:StartFlightRecording:filename=$OUT/rec-$r.jfr,maxsize=200m"
done
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
rows = {}
for f in sorted(glob.glob(sys.argv[1] + '/*.json')):
    side = f.split('/')[-1].split('-')[0]
    for r in json.load(open(f)):
        key = r['benchmark'].replace('io.jaio.bench.', '')
        params = ','.join(f"{k}={v}" for k, v in (r.get('params') or {}).items())
        key += (' ' + params) if params else ''
        d = rows.setdefault(key, {'unit': r['primaryMetric']['scoreUnit']})
        d.setdefault(side, []).append(r['primaryMetric']['score'])
        g = r.get('secondaryMetrics', {}).get('gc.alloc.rate.norm', {}).get('score')
        if g is not None:
            d.setdefault('g' + side, []).append(g)
med = lambda xs: statistics.median(xs) if xs else float('nan')
runs = lambda xs: ' / '.join(f'{x:.3g}' for x in xs)
gmax = lambda d, s: f"{max(d.get('g' + s, [float('nan')])):.1f}"
print("| benchmark | unit | before (runs) | after (runs) | after/before | with a recording | recording/after | B/op before / after / recording |")
print("|---|---|---|---|---|---|---|---|")
for k, d in rows.items():
    b, a, c = d.get('before', []), d.get('after', []), d.get('recording', [])
    if not b or not a:
        continue
    print(f"| {k} | {d['unit']} | {med(b):.4g} ({runs(b)}) | {med(a):.4g} ({runs(a)}) | {med(a) / med(b):.3f} | "
          f"{med(c):.4g} | {med(c) / med(a):.2f} | {gmax(d, 'before')} / {gmax(d, 'after')} / {gmax(d, 'recording')} |")
PY
