#!/usr/bin/env bash
# Runs every jaio benchmark side by side with Netty 4.2 and the JDK, in one go, and writes the
# results into bench-results/ (git-ignored): jmh.json + jmh.txt (JMH, with -prof gc),
# timers.json + timers.txt (TimerLateness), jmh-io.json + jmh-io.txt (UringNopBenchmark,
# ThreadPoolBenchmark), uring-nop-c.txt (the C raw-ring NOP loop, bench/c/uring_nop.c),
# fileread.json + fileread.txt (FileReadBench: jaio file engines vs FileChannel,
# AsynchronousFileChannel and fio), jmh-fixed.json + jmh-fixed.txt (UringFixedReadBenchmark:
# plain vs registered files/buffers; UringPollRearmBenchmark: one-shot vs multishot poll; the
# txt keeps the home thread's B/read lines), env.txt (machine), then prints a summary and writes
# summary.json: the headline rows (medians of this run, jaio beside its competitor, with the
# ratio), made by io.jaio.bench.Summary from the files of the sets this run ran.
#   bench/run.sh            the full set (~19 minutes on 2 vCPUs)
#   QUICK=1 bench/run.sh    a smoke run: 1 fork, short iterations, 100k timers, 1 s file rows
#   SETS=uring,pool,file bench/run.sh   only some sets (loop, timers, uring, fixed, pool, file)
# FileReadBench reads a 1 GiB file made on first use in $READ_FILE (default
# /var/tmp/jaio-bench/read-1g.img: a disk file system, since O_DIRECT does not work on tmpfs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-results"
mkdir -p "$OUT"
cd "$ROOT"

if [ -n "${QUICK:-}" ]; then
  JMH_OPTS=(-f 1 -wi 1 -w 1 -i 2 -r 1)
  TIMER_ARGS=(100000 2 1 0,1000)
  FILE_ARGS=(1 2)          # seconds per row, rounds
  C_NOP_ARGS=(0.5 3)       # seconds per round, rounds
else
  JMH_OPTS=(-f 2 -wi 3 -w 1 -i 5 -r 1)
  TIMER_ARGS=(1000000 5 1 0,1000)
  FILE_ARGS=(2 5)
  C_NOP_ARGS=(1 7)
fi
SETS="${SETS:-loop,timers,uring,fixed,pool,file}"
has() { [[ ",$SETS," == *",$1,"* ]]; }
READ_FILE="${READ_FILE:-/var/tmp/jaio-bench/read-1g.img}"
BENCHES='BhLocalBenchmark|BhCrossThreadBenchmark|WakeupPingPongBenchmark'
IO_BENCHES=()
has uring && IO_BENCHES+=('UringNopBenchmark')
has pool && IO_BENCHES+=('ThreadPoolBenchmark')
JAVA_RUN=(./jaio java --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)

{
  echo "date: $(date -u +%FT%TZ)"
  echo "git: $(git rev-parse --short HEAD) ($(git rev-parse --abbrev-ref HEAD))"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -sr)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "jmh options: ${JMH_OPTS[*]} -prof gc"
  echo "timer args: ${TIMER_ARGS[*]}"
  echo "sets: $SETS; file rows: ${FILE_ARGS[*]} (s per row, rounds) on $READ_FILE; C NOP: ${C_NOP_ARGS[*]}"
  echo "fio: $(fio --version 2>/dev/null || echo none); cc: $(cc --version 2>/dev/null | head -n1 || echo none)"
  echo "file system of the read file: $(df -T "$(dirname "$READ_FILE")" 2>/dev/null | tail -n1 | awk '{print $1, $2}')"
} > "$OUT/env.txt"

# JMH refuses to start while another JMH run holds /tmp/jmh.lock (another user's run on a shared
# machine): wait for it, up to 30 minutes, rather than fail half-way through this script.
wait_jmh_lock() {
  python3 -c '
import fcntl, os, sys, time
path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "jmh.lock")
deadline = time.time() + 1800
said = False
while True:
    try:
        with open(path, "a") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # JMH holds a POSIX lock on this file
            fcntl.lockf(f, fcntl.LOCK_UN)
        sys.exit(0)
    except OSError:
        if time.time() > deadline:
            sys.exit("bench/run.sh: another JMH run still holds " + path + " after 30 minutes")
        if not said:
            print("bench/run.sh: another JMH run holds " + path + "; waiting for it", file=sys.stderr)
            said = True
        time.sleep(5)
'
}

# ./jaio bench builds jaio-core + jaio-bench (mvn package) and runs benchmarks.jar with the args.
if has loop; then
  wait_jmh_lock
  ./jaio bench "$BENCHES" "${JMH_OPTS[@]}" -prof gc -jvmArgsAppend -Xmx2g \
    -rf json -rff "$OUT/jmh.json" -o "$OUT/jmh.txt"
fi
if [ ${#IO_BENCHES[@]} -gt 0 ]; then
  wait_jmh_lock
  ./jaio bench "$(IFS='|'; echo "${IO_BENCHES[*]}")" "${JMH_OPTS[@]}" -prof gc -jvmArgsAppend -Xmx2g \
    -rf json -rff "$OUT/jmh-io.json" -o "$OUT/jmh-io.txt"
fi
./jaio java -version 2>> "$OUT/env.txt"

if has fixed; then
  wait_jmh_lock
  # No -o: JMH leaves the forks' own output (the home thread's B/read lines) out of that file.
  ./jaio bench 'UringFixedReadBenchmark|UringPollRearmBenchmark' "${JMH_OPTS[@]}" -prof gc \
    -jvmArgsAppend "-Xmx2g -Djaio.bench.file=$READ_FILE" -rf json -rff "$OUT/jmh-fixed.json" 2>&1 | tee "$OUT/jmh-fixed.txt"
fi

if has uring; then
  # The C side of UringNopBenchmark, right after it in the same session (needs a C compiler).
  if command -v cc >/dev/null 2>&1; then
    cc -O2 -Wall -o "$OUT/uring_nop" bench/c/uring_nop.c
    : > "$OUT/uring-nop-c.txt"
    for b in 1 8 32; do "$OUT/uring_nop" "$b" "${C_NOP_ARGS[@]}" | tee -a "$OUT/uring-nop-c.txt"; done
  else
    echo "no C compiler (cc): C raw-ring NOP loop skipped" | tee "$OUT/uring-nop-c.txt"
  fi
fi

if has timers; then
  "${JAVA_RUN[@]}" -Xms4g -Xmx4g \
    -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.TimerLateness \
    "${TIMER_ARGS[@]}" "$OUT/timers.json" | tee "$OUT/timers.txt"
fi

if has file; then
  [ -f "$ROOT/jaio-bench/target/benchmarks.jar" ] || ./jaio bench -l > /dev/null
  "${JAVA_RUN[@]}" -Xms1g -Xmx1g -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.FileReadBench \
    "$READ_FILE" "${FILE_ARGS[@]}" "$OUT/fileread.json" | tee "$OUT/fileread.txt"
fi

echo
echo "== summary (JMH: score ns/op, -prof gc B/op; all threads counted) =="
JSONS=()
has loop && JSONS+=("$OUT/jmh.json")
[ ${#IO_BENCHES[@]} -gt 0 ] && JSONS+=("$OUT/jmh-io.json")
has fixed && JSONS+=("$OUT/jmh-fixed.json")
python3 - "${JSONS[@]}" <<'PY'
import json, os, sys
rows = []
for f in sys.argv[1:]:
    if os.path.exists(f):
        rows += json.load(open(f))
print(f"{'benchmark':52} {'params':28} {'ns/op':>10} {'error':>9} {'B/op':>8}")
for r in rows:
    name = r["benchmark"].replace("io.jaio.bench.", "")
    params = ",".join(f"{k}={v}" for k, v in (r.get("params") or {}).items())
    pm = r["primaryMetric"]
    alloc = r.get("secondaryMetrics", {}).get("gc.alloc.rate.norm", {}).get("score", "nan")
    print(f"{name:52} {params:28} {float(pm['score']):10.1f} {float(pm['scoreError']):9.1f} {float(alloc):8.2f}")
PY
if has timers; then grep '^MEDIAN' "$OUT/timers.txt"; fi
if has uring; then grep '^MEDIAN\|skipped' "$OUT/uring-nop-c.txt"; fi
if has file; then sed -n '/== summary/,$p' "$OUT/fileread.txt"; fi
echo
echo "== summary.json (medians of this run; ratio = jaio / other, 'better' says which way wins) =="
"${JAVA_RUN[@]}" -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.Summary "$OUT" "$(git rev-parse HEAD)" "$SETS"
echo "results in $OUT"
