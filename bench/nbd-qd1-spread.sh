#!/bin/bash
# Usage: dd if=/dev/urandom of=/tmp/q/img bs=1M count=1024; bench/nbd-qd1-spread.sh (run from anywhere; J= below names the launcher)
# The end-of-session measurements for issue #13, on a quiet machine. Writes /tmp/q/final/*.txt
set -u
O=/tmp/q/final; mkdir -p $O
S=/tmp/q/m.sock
J=${JAIO:-$(cd "$(dirname "$0")/.." && pwd)/jaio}
start() { # who extra-args...
  cat /tmp/q/img > /dev/null
  local who=$1; shift; rm -f $S
  case $who in
    jaio) $J nbd serve -t -k $S "$@" /tmp/q/img >/dev/null 2>>$O/jaio-server.log & ;;
    qnbd) qemu-nbd -f raw -t -e 64 --aio=io_uring --cache=writeback -k $S /tmp/q/img & ;;
    nbdkit) nbdkit -f -U $S file /tmp/q/img & ;;
  esac
  SPID=$!
  for i in $(seq 300); do nbdinfo --size "nbd+unix:///?socket=$S" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server $who did not start" >&2
}
stop() { kill $SPID; wait $SPID 2>/dev/null; }
U="nbd+unix:///?socket=$S"
qd1img() { qemu-img bench -f raw -c 20000 -d 1 "$U" | sed -n 's/.*in \([0-9.]*\) sec.*/\1/p' | awk '{printf "%d", 20000/$1}'; }
fioqd() { fio --name=t --ioengine=nbd --uri="$U" --rw=$1 --bs=4k --iodepth=$2 --numjobs=${3:-1} --group_reporting --runtime=${RT:-4} --time_based --ramp_time=1 --norandommap --randrepeat=0 --output-format=terse --terse-version=3 2>/dev/null | awk -F';' -v rw=$1 'NF>50{ if (rw ~ /write/) printf "%d", $49; else printf "%d", $8 }'; }

# 1. QD1 spread: 5 fresh servers each, first qemu-img bench QD1 (20000) right after start, then fio QD1
{
for r in 1 2 3 4 5; do
  for who in jaio qnbd nbdkit; do
    if [ $who = jaio ]; then start jaio -e 8; else start $who; fi
    a=$(qd1img); b=$(fioqd randread 1)
    stop
    echo "rep$r $who qemu-img-qd1-first=$a fio-randread-qd1=$b"
  done
done
} > $O/qd1-spread.txt 2>&1
# 2. jaio with and without the AOT cache, and with polling, cold (first qemu-img bench after start)
{
for r in 1 2 3; do
  for v in "aot" "noaot" "poll32k" "poll200k"; do
    case $v in
      aot) start jaio -e 8 ;;
      noaot) JAIO_AOT=0 start jaio -e 8 ;;
      poll32k) start jaio -e 8 --poll-max-ns=32768 ;;
      poll200k) start jaio -e 8 --poll-max-ns=200000 ;;
    esac
    a=$(qd1img); b=$(qd1img); c=$(fioqd randread 1)
    stop
    echo "rep$r $v qemu-img-qd1-first=$a second=$b fio-qd1=$c"
  done
done
} > $O/jaio-variants.txt 2>&1
# 3. 64 clients at QD32 (fio numjobs=64, one connection each), randread
{
for r in 1 2; do
  for who in jaio qnbd nbdkit; do
    if [ $who = jaio ]; then start jaio -e 0; else start $who; fi
    echo "rep$r $who 64x QD32 randread=$(RT=4 fioqd randread 32 64)"
    stop
  done
done
} > $O/clients64.txt 2>&1
echo done
