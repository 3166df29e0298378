#!/usr/bin/env bash
# Runs every jaio benchmark side by side with Netty 4.2 and the JDK, in one go, and writes the
# results into bench-results/ (git-ignored): jmh.json + jmh.txt (JMH, with -prof gc),
# timers.json + timers.txt (TimerLateness), env.txt (machine), then prints a summary.
#   bench/run.sh            the full set (~10 minutes on 2 vCPUs)
#   QUICK=1 bench/run.sh    a smoke run: 1 fork, short iterations, 100k timers
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-results"
mkdir -p "$OUT"
cd "$ROOT"

if [ -n "${QUICK:-}" ]; then
  JMH_OPTS=(-f 1 -wi 1 -w 1 -i 2 -r 1)
  TIMER_ARGS=(100000 2 1 0,1000)
else
  JMH_OPTS=(-f 2 -wi 3 -w 1 -i 5 -r 1)
  TIMER_ARGS=(1000000 5 1 0,1000)
fi
BENCHES='BhLocalBenchmark|BhCrossThreadBenchmark|WakeupPingPongBenchmark'

{
  echo "date: $(date -u +%FT%TZ)"
  echo "git: $(git rev-parse --short HEAD) ($(git rev-parse --abbrev-ref HEAD))"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -sr)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "jmh options: ${JMH_OPTS[*]} -prof gc"
  echo "timer args: ${TIMER_ARGS[*]}"
} > "$OUT/env.txt"

# ./jaio bench builds jaio-core + jaio-bench (mvn package) and runs benchmarks.jar with the args.
./jaio bench "$BENCHES" "${JMH_OPTS[@]}" -prof gc -jvmArgsAppend -Xmx2g \
  -rf json -rff "$OUT/jmh.json" -o "$OUT/jmh.txt"
./jaio java -version 2>> "$OUT/env.txt"

./jaio java --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xms4g -Xmx4g \
  -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.TimerLateness \
  "${TIMER_ARGS[@]}" "$OUT/timers.json" | tee "$OUT/timers.txt"

echo
echo "== summary (JMH: score ns/op, -prof gc B/op; all threads counted) =="
python3 - "$OUT/jmh.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
print(f"{'benchmark':52} {'params':28} {'ns/op':>10} {'error':>9} {'B/op':>8}")
for r in rows:
    name = r["benchmark"].replace("io.jaio.bench.", "")
    params = ",".join(f"{k}={v}" for k, v in (r.get("params") or {}).items())
    pm = r["primaryMetric"]
    alloc = r.get("secondaryMetrics", {}).get("gc.alloc.rate.norm", {}).get("score", "nan")
    print(f"{name:52} {params:28} {float(pm['score']):10.1f} {float(pm['scoreError']):9.1f} {float(alloc):8.2f}")
PY
grep '^MEDIAN' "$OUT/timers.txt"
echo "results in $OUT"
