#!/bin/bash
# Usage: [IMG=/tmp/q/img] [REPS=2] [WHO="jaio0 jaio100000 jaio0e nbdkit qnbd"] [ROWS="qd1 qimg qd32 wr32 copy"] [JAIOARGS=...] bench/nbd-ab.sh
# jaioN: ./jaio nbd serve --poll-max-ns=N; jaioNe: the same with -Djaio.fdmon=epoll; jaioNt2: with --iothreads 2; qnbd: qemu-nbd io_uring writeback.
# A/B of NBD servers: for each round and each WHO: fresh server, 5 s randread QD32 warm-up, then rows.
# WHO entries: jaioN (N = --poll-max-ns), qnbd, nbdkit. JAIO=launcher. ROWS subset of qd1 qimg qd32 wr32 copy
JAIO=${JAIO:-$(cd "$(dirname "$0")/.." && pwd)/jaio}; IMG=${IMG:-/tmp/q/img}; REPS=${REPS:-2}
WHO=${WHO:-"jaio0 jaio100000 nbdkit qnbd"}; ROWS=${ROWS:-"qd1 qimg qd32 wr32 copy"}
mkdir -p /tmp/nbd-ab; S=/tmp/nbd-ab/sock
fioj() { fio --name=x --ioengine=nbd --uri="nbd+unix:///?socket=$S" --rw=$1 --bs=4k --iodepth=$2 --runtime=${3:-5} --time_based --output-format=json 2>/dev/null | python3 -c "import json,sys;t=sys.stdin.read();j=json.loads(t[t.index(chr(123)):])['jobs'][0];print(round((j['read']['iops']+j['write']['iops'])/1000,1))"; }
for r in $(seq $REPS); do for w in $WHO; do
  rm -f $S
  case $w in
    jaio*e) n=${w#jaio}; n=${n%e}; JAIO_JAVA_OPTS=-Djaio.fdmon=epoll $JAIO nbd serve -t -e 8 -k $S --poll-max-ns=$n $JAIOARGS $IMG >/tmp/nbd-ab/srv.log 2>&1 & ;;
    jaio*t2) n=${w#jaio}; n=${n%t2}; $JAIO nbd serve -t -e 8 -k $S --iothreads 2 --poll-max-ns=$n $JAIOARGS $IMG >/tmp/nbd-ab/srv.log 2>&1 & ;;
    jaio*) n=${w#jaio}; $JAIO nbd serve -t -e 8 -k $S --poll-max-ns=$n $JAIOARGS $IMG >/tmp/nbd-ab/srv.log 2>&1 & ;;
    qnbd) qemu-nbd -t -e 8 -k $S -f raw --aio=io_uring --cache=writeback $IMG & ;;
    nbdkit) nbdkit -f -U $S file $IMG & ;;
  esac
  pid=$!
  for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
  fioj randread 32 5 >/dev/null
  line="r$r $w load=$(cut -d' ' -f1 /proc/loadavg)"
  for row in $ROWS; do case $row in
    qd1) line="$line qd1=$(fioj randread 1)";;
    qd32) line="$line qd32=$(fioj randread 32)";;
    wr32) line="$line wr32=$(fioj randwrite 32)";;
    qimg) t0=$(date +%s.%N); qemu-img bench -f raw -c 100000 -d 1 -s 4k -t none "nbd+unix:///?socket=$S" >/dev/null 2>&1; t1=$(date +%s.%N); line="$line qimg1=$(python3 -c "print(round(100000/($t1-$t0)/1000,1))")";;
    copy) t0=$(date +%s.%N); nbdcopy "nbd+unix:///?socket=$S" null: ; t1=$(date +%s.%N); line="$line copyMiB=$(python3 -c "print(round(1024/($t1-$t0)))")";;
  esac; done
  echo "$line"
  kill $pid; wait $pid 2>/dev/null
done; done
