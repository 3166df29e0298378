#!/usr/bin/env bash
# TLS read throughput of jaio-nbd against qemu-nbd, side by side in one run (issue #14).
#
#   bench/nbd-tls.sh [REPS] [SIZE_MIB]      (defaults: 5 reps, 1024 MiB)
#
# Makes certificates with certtool (RSA server key, EC client key: see docs/nbd.md, "TLS"),
# a random raw image of SIZE_MIB, then starts both servers with the same credentials
# (verify-peer=on) and the image in the page cache, and copies the whole export to null: with
# nbdcopy from nbds://...?tls-certificates=DIR after one uncounted warm-up copy each, alternating jaio / qemu-nbd, REPS times each; the
# same in clear text (nbd://) for the cost of TLS. Prints every run and the medians in MiB/s and
# in server CPU seconds per GiB (user + system of the server process, from /proc/PID/stat: less
# sensitive to a loaded machine than wall time), and the ratios jaio / qemu-nbd. Needs qemu-nbd, nbdcopy, certtool; JDK 25 as ./jaio finds it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
SIZE_MIB=${2:-1024}
work=$(mktemp -d /tmp/jaio-nbd-tls-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

pki="$work/pki"; mkdir -p "$pki/server" "$pki/client"
ct() { certtool "$@" >/dev/null 2>&1; }
printf 'cn = bench CA\nca\ncert_signing_key\nexpiration_days = 2\n' > "$pki/ca.info"
printf 'cn = localhost\nip_address = 127.0.0.1\ndns_name = localhost\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' > "$pki/server.info"
printf 'cn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' > "$pki/client.info"
ct --generate-privkey --outfile "$pki/ca-key.pem"
ct --generate-self-signed --load-privkey "$pki/ca-key.pem" --template "$pki/ca.info" --outfile "$pki/server/ca-cert.pem"
cp "$pki/server/ca-cert.pem" "$pki/client/ca-cert.pem"
ct --generate-privkey --outfile "$pki/server/server-key.pem"
ct --generate-certificate --load-ca-certificate "$pki/server/ca-cert.pem" --load-ca-privkey "$pki/ca-key.pem" \
   --load-privkey "$pki/server/server-key.pem" --template "$pki/server.info" --outfile "$pki/server/server-cert.pem"
ct --generate-privkey --key-type ecdsa --outfile "$pki/client/client-key.pem"
ct --generate-certificate --load-ca-certificate "$pki/server/ca-cert.pem" --load-ca-privkey "$pki/ca-key.pem" \
   --load-privkey "$pki/client/client-key.pem" --template "$pki/client.info" --outfile "$pki/client/client-cert.pem"

img="$work/disk.img"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$img"
cat "$img" > /dev/null

obj="tls-creds-x509,id=tls0,dir=$pki/server,endpoint=server"
declare -A pid
./jaio nbd serve -t -e 8 -f raw -p 10850 --object "$obj" --tls-creds tls0 "$img" > "$work/jaio-tls.out" 2>&1 & pids+=($!); pid[jaio-tls]=$!
./jaio nbd serve -t -e 8 -f raw -p 10851 "$img" > "$work/jaio.out" 2>&1 & pids+=($!); pid[jaio]=$!
qemu-nbd -t -e 8 -f raw -p 10852 --object "$obj" --tls-creds tls0 "$img" > "$work/qemu-tls.out" 2>&1 & pids+=($!); pid[qemu-tls]=$!
qemu-nbd -t -e 8 -f raw -p 10853 "$img" > "$work/qemu.out" 2>&1 & pids+=($!); pid[qemu]=$!
for port in 10850 10851 10852 10853; do
  for _ in $(seq 200); do nbdinfo --size "nbd://127.0.0.1:$port/" >/dev/null 2>&1 && break
    nbdinfo --size "nbds://127.0.0.1:$port/?tls-certificates=$pki/client" >/dev/null 2>&1 && break; sleep 0.1; done
done

declare -A runs cpus
# CPU seconds (user + system, every thread) the server process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
one() { # name uri
  local t0 t1 c0 c1
  c0=$(cpu "${pid[$1]}"); t0=$(date +%s.%N); nbdcopy "$2" null: ; t1=$(date +%s.%N); c1=$(cpu "${pid[$1]}")
  local mibs; mibs=$(echo "$SIZE_MIB / ($t1 - $t0)" | bc -l)
  local cpg; cpg=$(echo "($c1 - $c0) * 1024 / $SIZE_MIB" | bc -l)
  runs[$1]="${runs[$1]:-} $mibs"
  cpus[$1]="${cpus[$1]:-} $cpg"
  printf '%-10s %8.1f MiB/s %6.2f server CPU s/GiB\n' "$1" "$mibs" "$cpg"
}
tls="?tls-certificates=$pki/client"
for port in 10850 10852; do nbdcopy "nbds://127.0.0.1:$port/?tls-certificates=$pki/client" null: ; done # warm-up (JIT), not counted
for port in 10851 10853; do nbdcopy "nbd://127.0.0.1:$port/" null: ; done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $SIZE_MIB MiB, nbdcopy to null:, $REPS reps"
for i in $(seq "$REPS"); do
  one jaio-tls "nbds://127.0.0.1:10850/$tls"
  one qemu-tls "nbds://127.0.0.1:10852/$tls"
  one jaio "nbd://127.0.0.1:10851/"
  one qemu "nbd://127.0.0.1:10853/"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A med medc
for k in jaio-tls qemu-tls jaio qemu; do
  med[$k]=$(echo "${runs[$k]}" | median); medc[$k]=$(echo "${cpus[$k]}" | median)
  printf 'median %-9s %8.1f MiB/s %6.2f server CPU s/GiB\n' "$k" "${med[$k]}" "${medc[$k]}"
done
printf 'server CPU per GiB, jaio/qemu-nbd: TLS %.2f, clear %.2f\n' \
  "$(echo "${medc[jaio-tls]} / ${medc[qemu-tls]}" | bc -l)" "$(echo "${medc[jaio]} / ${medc[qemu]}" | bc -l)"
printf 'ratio jaio/qemu-nbd: TLS %.2f, clear %.2f; TLS/clear: jaio %.2f, qemu-nbd %.2f\n' \
  "$(echo "${med[jaio-tls]} / ${med[qemu-tls]}" | bc -l)" "$(echo "${med[jaio]} / ${med[qemu]}" | bc -l)" \
  "$(echo "${med[jaio-tls]} / ${med[jaio]}" | bc -l)" "$(echo "${med[qemu-tls]} / ${med[qemu]}" | bc -l)"
