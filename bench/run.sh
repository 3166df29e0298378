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
# ratio), made by io.jaio.bench.Summary from the files of the sets this run ran; last,
# report.html with PNG charts (io.jaio.bench.Report: ratio bars from summary.json, timer lateness
# CDFs from timers.json, NBD QD1 latency CDFs from nbd-qd1-*.json when the nbd set ran).
#   bench/run.sh            the full set (~19 minutes on 2 vCPUs)
#   QUICK=1 bench/run.sh    a smoke run: 1 fork, short iterations, 100k timers, 1 s file rows
#   SETS=uring,pool,file bench/run.sh   only some sets (loop, timers, uring, fixed, pool, file, nbd)
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
SETS="${SETS:-loop,timers,uring,fixed,pool,file,nbd}"
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

if has nbd; then
  # NBD at queue depth 1: fio's nbd engine, 4 KiB random reads of a 256 MiB image (in the page
  # cache after the first pass), against jaio-nbd and qemu-nbd alternately, NBD_ROUNDS rounds of
  # NBD_SECONDS each; the last round's fio JSON of each server is kept as nbd-qd1-SERVER.json
  # (the report draws their completion-latency CDFs), every round's in nbd-qd1-SERVER-rN.json.
  NBD_ROUNDS="${NBD_ROUNDS:-3}"; NBD_SECONDS="${NBD_SECONDS:-5}"
  [ -n "${QUICK:-}" ] && NBD_ROUNDS=1 && NBD_SECONDS=2
  rm -f "$OUT"/nbd-qd1-*.json; : > "$OUT/nbd-qd1.txt"
  NBD_IMG="$(mktemp /var/tmp/jaio-bench-nbd.XXXXXX)"
  trap 'rm -f "$NBD_IMG"' EXIT # also when a server or fio fails half-way
  dd if=/dev/urandom of="$NBD_IMG" bs=1M count=256 status=none
  start_server() { # $1: jaio or qemu-nbd, $2: port; prints the pid
    if [ "$1" = jaio ]; then ./jaio nbd serve -t -p "$2" -f raw "$NBD_IMG" > "$OUT/nbd-server-$1.log" 2>&1 &
    else qemu-nbd -t -p "$2" -b 127.0.0.1 -f raw --cache=writeback --aio=io_uring "$NBD_IMG" > "$OUT/nbd-server-$1.log" 2>&1 &
    fi
    local pid=$! i
    for i in $(seq 1 600); do # up to 2 minutes: ./jaio may build jaio-nbd first
      nbdinfo "nbd://127.0.0.1:$2/" > /dev/null 2>&1 && { echo "$pid"; return 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    echo "bench/run.sh: $1 did not serve on port $2 (see $OUT/nbd-server-$1.log)" >&2
    kill "$pid" 2>/dev/null || true
    return 1
  }
  stop_server() { # SIGTERM, then wait until it has exited (it is not this shell's child)
    kill "$1" 2>/dev/null || true
    local i; for i in $(seq 1 150); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$1" 2>/dev/null || true
  }
  for r in $(seq 1 "$NBD_ROUNDS"); do
    for server in jaio qemu-nbd; do
      port=$((10900 + r)); [ "$server" = qemu-nbd ] && port=$((10950 + r))
      pid=$(start_server "$server" "$port")
      fio --name=qd1 --ioengine=nbd --uri="nbd://127.0.0.1:$port/" --rw=randread --bs=4k --iodepth=1 \
        --size=256M --time_based --runtime="$NBD_SECONDS" --ramp_time=2 --output-format=json \
        --output="$OUT/nbd-qd1-$server-r$r.json" > /dev/null # its own messages go to stdout
      stop_server "$pid"
      cp "$OUT/nbd-qd1-$server-r$r.json" "$OUT/nbd-qd1-$server.json"
      python3 - "$OUT/nbd-qd1-$server-r$r.json" "$server" "$r" <<'PY' | tee -a "$OUT/nbd-qd1.txt"
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["read"]
p = j["clat_ns"]["percentile"]
print(f"nbd qd1 {sys.argv[2]:9} round {sys.argv[3]}: {j['iops']:9.0f} IOPS, clat p50 {p['50.000000'] / 1e3:7.1f} us, p99 {p['99.000000'] / 1e3:7.1f} us")
PY
    done
  done
  rm -f "$NBD_IMG"
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
if has nbd; then cat "$OUT/nbd-qd1.txt"; fi
echo
echo "== summary.json (medians of this run; ratio = jaio / other, 'better' says which way wins) =="
"${JAVA_RUN[@]}" -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.Summary "$OUT" "$(git rev-parse HEAD)" "$SETS"
echo
echo "== report (bench-results/report.html and its PNG charts) =="
"${JAVA_RUN[@]}" -Djava.awt.headless=true -cp "$ROOT/jaio-bench/target/benchmarks.jar" io.jaio.bench.Report "$OUT" "$SETS"
echo "results in $OUT"
