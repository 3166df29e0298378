#!/usr/bin/env bash
# Allocating-write cost of two jaio-nbd builds side by side (issue #14's leak fix grows the file
# in steps, with one extra fdatasync per step, before a new cluster's refcount is written).
#
#   bench/qcow2-alloc.sh DIR_A DIR_B [REPS] [CLUSTER_SIZE] [SIZE_MIB]   (defaults: 3, 64k, 64)
#
# Each DIR holds jaio-core-0.1.0-SNAPSHOT.jar, jaio-nbd-0.1.0-SNAPSHOT.jar and
# aircompressor-2.0.3.jar (copies of a build's jaio-core/target and jaio-nbd/target{,/lib} jars).
# Per rep and build, alternating: an empty 256 MiB qcow2 image, a jaio-nbd serving it on a unix
# socket, and nbdcopy of SIZE_MIB of random data into it (every cluster an allocation); prints
# the wall time, the file size and qemu-img check's verdict. Needs qemu-img and nbdcopy.
set -euo pipefail
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); REPS=${3:-3}; CS=${4:-64k}; SIZE_MIB=${5:-64}
JAVA="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
work=$(mktemp -d /tmp/jaio-qcow2-alloc.XXXXXX)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
head -c "${SIZE_MIB}M" /dev/urandom > "$work/src.raw"
one() {
  local dir="$1" img="$work/b.qcow2" sock="$work/b.sock"
  rm -f "$img" "$sock"
  qemu-img create -q -f qcow2 -o cluster_size="$CS" "$img" 256M
  "$JAVA" --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.vm=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xss512k \
    -cp "$dir/jaio-core-0.1.0-SNAPSHOT.jar:$dir/jaio-nbd-0.1.0-SNAPSHOT.jar:$dir/aircompressor-2.0.3.jar" \
    io.jaio.nbd.NbdMain serve -k "$sock" "$img" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
  local s e
  s=$(date +%s%N); nbdcopy "$work/src.raw" "nbd+unix:///?socket=$sock"; e=$(date +%s%N)
  wait "$pid"; pid=""
  local verdict=clean
  qemu-img check -q "$img" || verdict="CHECK FAILED"
  printf '%s clusters %s: %.2f s, file %d bytes, %s\n' "$dir" "$CS" "$(echo "($e - $s) / 1000000000" | bc -l)" \
    "$(stat -c %s "$img")" "$verdict"
}
for _ in $(seq "$REPS"); do one "$A"; one "$B"; done
