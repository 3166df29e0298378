#!/usr/bin/env bash
# Alternates two benchmark jars (A B A B ...) on the same JMH selection and prints, per benchmark,
# every run's score, the medians and the ratio B/A, with -prof gc's B/op: the before/after check of
# a change on a shared, noisy machine.
#   bench/ab.sh BEFORE.jar AFTER.jar ROUNDS 'REGEX' [JMH OPTIONS...]
# Default JMH options: -f 1 -wi 3 -w 1 -i 5 -r 1. Results go to bench-results/ab/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 4 ]; then sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
A="$1"; B="$2"; ROUNDS="$3"; REGEX="$4"; shift 4
OPTS=("$@"); [ ${#OPTS[@]} -gt 0 ] || OPTS=(-f 1 -wi 3 -w 1 -i 5 -r 1)
OUT="$ROOT/bench-results/ab"; mkdir -p "$OUT"; rm -f "$OUT"/*.json
for r in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    jar="$A"; [ "$side" = after ] && jar="$B"
    "$ROOT/jaio" java --enable-native-access=ALL-UNNAMED -jar "$jar" "$REGEX" "${OPTS[@]}" -prof gc \
      -rf json -rff "$OUT/$side-$r.json" > "$OUT/$side-$r.txt" 2>&1
    echo "$(date -u +%T) $side round $r done" >&2
  done
done
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
rows = {}
for f in sorted(glob.glob(sys.argv[1] + '/*.json')):
    side = 'before' if '/before-' in f else 'after'
    for r in json.load(open(f)):
        key = r['benchmark'].replace('io.jaio.bench.', '')
        params = ','.join(f"{k}={v}" for k, v in (r.get('params') or {}).items())
        key += (' ' + params) if params else ''
        d = rows.setdefault(key, {'unit': r['primaryMetric']['scoreUnit'], 'before': [], 'after': [], 'gb': [], 'ga': []})
        d[side].append(r['primaryMetric']['score'])
        g = r.get('secondaryMetrics', {}).get('gc.alloc.rate.norm', {}).get('score')
        if g is not None:
            d['gb' if side == 'before' else 'ga'].append(g)
fmt = lambda xs: ' / '.join(f"{x:.4g}" for x in xs)
print(f"{'benchmark':56} {'unit':8} {'before':>28} {'after':>28} {'ratio':>6} {'B/op':>11}")
for k, d in rows.items():
    if not d['before'] or not d['after']:
        continue
    ratio = statistics.median(d['after']) / statistics.median(d['before'])
    gb = max(d['gb']) if d['gb'] else float('nan'); ga = max(d['ga']) if d['ga'] else float('nan')
    print(f"{k:56} {d['unit']:8} {fmt(d['before']):>28} {fmt(d['after']):>28} {ratio:6.3f} {gb:5.1f}/{ga:<5.1f}")
PY
