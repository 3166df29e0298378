#!/usr/bin/env bash
# Alternates NBD servers on one image, round after round, and prints one line per run: fio 4k
# QD32 IOPS (after a 3 s warm-up with the same workload) with the server's CPU (% of one core and
# microseconds per request, io-wq and writer threads included), or nbdcopy MiB/s; the load average
# is printed with each line, since the figures mean little on a busy machine.
#   bench/nbd-writes.sh ROUNDS randwrite|randread|copy CONFIG...
# CONFIG: default, write-threads, write-threads2, threads, nbdkit, qemu (qemu-nbd --aio=io_uring
# --cache=writeback). IMG (default /tmp/nbd-writes.img, made as 1 GiB of random data if missing),
# JAIO (default: this tree's ./jaio; point it at a copy so that editing the tree does not rebuild
# during a run) and SOCK may be set. JAIO_JAVA_OPTS passes, e.g., -Djaio.writers.spinNs=20000.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 3 ]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
ROUNDS=$1; RW=$2; shift 2
IMG=${IMG:-/tmp/nbd-writes.img}; JAIO=${JAIO:-$ROOT/jaio}; SOCK=${SOCK:-/tmp/nbd-writes.sock}
[ -f "$IMG" ] || dd if=/dev/urandom of="$IMG" bs=1M count=1024 status=none
URI="nbd+unix:///?socket=$SOCK"

one() { # one CONFIG: start, warm, measure, stop
  local name=$1 pid
  rm -f "$SOCK"
  case $name in
    default) "$JAIO" nbd serve -t -e 8 -k "$SOCK" "$IMG" >/dev/null 2>&1 & ;;
    write-threads) "$JAIO" nbd serve -t -e 8 -k "$SOCK" --aio=write-threads "$IMG" >/dev/null 2>&1 & ;;
    write-threads2) "$JAIO" nbd serve -t -e 8 -k "$SOCK" --aio=write-threads --write-threads=2 "$IMG" >/dev/null 2>&1 & ;;
    threads) "$JAIO" nbd serve -t -e 8 -k "$SOCK" --aio=threads "$IMG" >/dev/null 2>&1 & ;;
    nbdkit) nbdkit -f -U "$SOCK" file "$IMG" >/dev/null 2>&1 & ;;
    qemu) qemu-nbd --aio=io_uring --cache=writeback -t -e 8 -k "$SOCK" -f raw "$IMG" >/dev/null 2>&1 & ;;
    *) echo "unknown config $name" >&2; return 2 ;;
  esac
  pid=$!
  for _ in $(seq 1 600); do [ -S "$SOCK" ] && break; sleep 0.05; done
  if [ "$RW" = copy ]; then
    nbdcopy "$URI" null: >/dev/null 2>&1
    local s e; s=$(date +%s.%N); nbdcopy "$URI" null:; e=$(date +%s.%N)
    echo "$name copy $(echo "1024/($e-$s)" | bc -l | xargs printf %.0f) MiB/s load $(cut -d' ' -f1 /proc/loadavg)"
  else
    local fio=(fio --name=w --ioengine=nbd --uri="$URI" --rw="$RW" --bs=4k --iodepth=32 --time_based --numjobs=1)
    "${fio[@]}" --runtime=3 >/dev/null 2>&1
    local c0 c1 iops
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    iops=$("${fio[@]}" --runtime=5 --output-format=json 2>/dev/null | sed -n '/^{/,$p' | python3 -c \
      'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(round(j["write"]["iops"]+j["read"]["iops"]))')
    c1=$(awk '{print $14+$15}' /proc/$pid/stat)
    echo "$name $RW $iops cpu $(( (c1 - c0) / 5 ))% us/req $(echo "($c1-$c0)*10000/($iops*5)" | bc -l | xargs printf %.2f) load $(cut -d' ' -f1 /proc/loadavg)"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null
}

for r in $(seq 1 "$ROUNDS"); do
  for c in "$@"; do echo "round $r $(one "$c")"; done
done
