// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.ErrnoException;
import io.jaio.Timer;
import io.jaio.TimerScale;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;

/**
 * Timer insert cost and firing lateness: arm N timers (default 1,000,000) from the loop's own
 * thread with deadlines uniform over one second, starting {@code delayMs} after the timer is
 * armed, and let them all fire. Not a JMH benchmark: one round takes seconds and is measured
 * once, so this is a plain {@code main} that runs warm-up rounds and then reports medians over
 * several rounds for every side, alternating the sides round by round in one JVM.
 *
 * <ul>
 * <li><b>insert</b>: wall time of the arming loop / N. Per timer: one {@code System.nanoTime()},
 *     the deadline computed and recorded, and the arming call: jaio {@code timer.modNs(deadline)}
 *     on a REALTIME timer made once and reused across rounds (reusable timers, as in QEMU);
 *     Netty {@code loop.schedule(task, delay, NANOSECONDS)} inside a task on the loop (it
 *     allocates a ScheduledFutureTask per call, by design).</li>
 * <li><b>lateness</b>: {@code System.nanoTime()} in the callback minus the intended deadline
 *     (the nanoTime read at arming + delay); p50, p99 and max over the N timers of a round.</li>
 * <li><b>B/timer</b>: bytes the arming thread allocated while arming, and the loop thread while
 *     firing (HotSpot's per-thread allocation counter), divided by N.</li>
 * </ul>
 * jaio runs on the main thread, which builds the context (its home thread) and then calls
 * {@code poll(true)} until all have fired. Arguments: {@code [N] [rounds] [warmupRounds]
 * [delaysMs, comma-separated] [jsonFile]}; defaults {@code 1000000 5 1 0,1000 -}.
 */
public final class TimerLateness {
    private static final long WINDOW_NS = 1_000_000_000L;

    /** Shared per-round record: what each timer was meant to fire at and how late it was. */
    static final class Recorder {
        final long[] deadlines;
        final long[] late;
        int fired;
        int expected;
        final Waiter waiter = new Waiter();

        Recorder(int n) {
            deadlines = new long[n];
            late = new long[n];
        }
    }

    /** One timer's callback (the same objects serve both sides). */
    static final class Fire implements Runnable {
        final int index;
        final Recorder rec;

        Fire(int index, Recorder rec) {
            this.index = index;
            this.rec = rec;
        }

        @Override
        public void run() {
            Recorder r = rec;
            r.late[index] = System.nanoTime() - r.deadlines[index];
            if (++r.fired == r.expected) {
                r.waiter.signal();
            }
        }
    }

    record Result(String side, long delayMs, double insertNs, double p50Us, double p99Us, double maxUs, double drainMs,
            double armBytes, double fireBytes, double[] cdfUs) {
    }

    /** The percentiles of lateness each round records for the report's CDF ({@code cdfUs}, in µs). */
    static final double[] CDF_PERCENTILES = {0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 99.99, 100};

    /** Bytes allocated by a thread (HotSpot's per-thread counter), to show the arming and firing paths allocate nothing. */
    private static final com.sun.management.ThreadMXBean MX =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

    private TimerLateness() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        long[] delaysMs = Arrays.stream((args.length > 3 ? args[3] : "0,1000").split(",")).mapToLong(Long::parseLong).toArray();
        String json = args.length > 4 ? args[4] : "-";

        Recorder rec = new Recorder(n);
        Fire[] fires = new Fire[n];
        for (int i = 0; i < n; i++) {
            fires[i] = new Fire(i, rec);
        }
        long[] offsets = new long[n];
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < n; i++) {
            offsets[i] = rnd.nextLong(WINDOW_NS);
        }

        AioContext ctx = AioContext.builder().name("timers").build();
        long c0 = System.nanoTime();
        Timer[] timers = new Timer[n];
        for (int i = 0; i < n; i++) {
            timers[i] = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, fires[i]);
        }
        double createNs = (double) (System.nanoTime() - c0) / n;
        MultiThreadIoEventLoopGroup nio = NettyLoops.newGroup("nio");
        MultiThreadIoEventLoopGroup epoll = NettyLoops.newGroup("epoll");
        List<Result> results = new ArrayList<>();
        System.out.printf(Locale.ROOT, "TimerLateness: N=%d rounds=%d warmup=%d delaysMs=%s; jaio newTimer cost (once) %.1f ns/timer%n",
                n, rounds, warmup, Arrays.toString(delaysMs), createNs);
        try {
            for (long delayMs : delaysMs) {
                for (int r = 0; r < warmup + rounds; r++) {
                    boolean measured = r >= warmup;
                    List<Result> round = List.of(
                            jaio(ctx, timers, rec, offsets, delayMs),
                            netty("netty-nio", nio.next(), fires, rec, offsets, delayMs),
                            netty("netty-epoll", epoll.next(), fires, rec, offsets, delayMs));
                    for (Result res : round) {
                        System.out.printf(Locale.ROOT, "%s %-12s delay=%4dms insert=%7.1f ns/timer  late p50=%10.1f us p99=%10.1f us max=%10.1f us  insert-end->last-fire=%7.1f ms  B/timer arm=%.2f fire=%.2f%n",
                                measured ? "round  " : "warm-up", res.side, res.delayMs, res.insertNs, res.p50Us, res.p99Us, res.maxUs, res.drainMs,
                                res.armBytes, res.fireBytes);
                        if (measured) {
                            results.add(res);
                        }
                    }
                }
            }
        } finally {
            ctx.close();
            NettyLoops.shutdown(nio);
            NettyLoops.shutdown(epoll);
        }
        summarize(results, delaysMs, createNs, json);
    }

    private static void prepare(Recorder rec, int n) {
        rec.fired = 0;
        rec.expected = n;
        Arrays.fill(rec.late, 0);
        System.gc(); // each side starts from a collected heap
    }

    private static Result jaio(AioContext ctx, Timer[] timers, Recorder rec, long[] offsets, long delayMs) {
        int n = timers.length;
        prepare(rec, n);
        long delayNs = TimeUnit.MILLISECONDS.toNanos(delayMs);
        long[] deadlines = rec.deadlines;
        long tid = Thread.currentThread().threadId();
        long b0 = MX.getThreadAllocatedBytes(tid);
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            long d = System.nanoTime() + delayNs + offsets[i];
            deadlines[i] = d;
            timers[i].modNs(d);
        }
        long t1 = System.nanoTime();
        long b1 = MX.getThreadAllocatedBytes(tid);
        while (rec.fired < n) {
            ctx.poll(true);
        }
        long t2 = System.nanoTime();
        long b2 = MX.getThreadAllocatedBytes(tid);
        return result("jaio", delayMs, rec, t1 - t0, t2 - t1, b1 - b0, b2 - b1);
    }

    private static Result netty(String side, EventLoop loop, Fire[] fires, Recorder rec, long[] offsets, long delayMs) {
        int n = fires.length;
        prepare(rec, n);
        long delayNs = TimeUnit.MILLISECONDS.toNanos(delayMs);
        long[] times = new long[2];
        long[] bytes = new long[3];
        rec.waiter.arm();
        loop.execute(() -> {
            long[] deadlines = rec.deadlines;
            long tid = Thread.currentThread().threadId();
            bytes[0] = tid;
            bytes[1] = MX.getThreadAllocatedBytes(tid);
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long delay = delayNs + offsets[i];
                deadlines[i] = System.nanoTime() + delay;
                loop.schedule(fires[i], delay, TimeUnit.NANOSECONDS);
            }
            times[0] = t0;
            times[1] = System.nanoTime();
            bytes[2] = MX.getThreadAllocatedBytes(tid);
        });
        rec.waiter.await();
        long t2 = System.nanoTime();
        long fired = MX.getThreadAllocatedBytes(bytes[0]); // the loop thread, read from here: it has just fired the last one
        return result(side, delayMs, rec, times[1] - times[0], t2 - times[1], bytes[2] - bytes[1], fired - bytes[2]);
    }

    private static Result result(String side, long delayMs, Recorder rec, long insertNs, long drainNs, long armBytes, long fireBytes) {
        long[] late = rec.late.clone();
        Arrays.sort(late);
        int n = late.length;
        double[] cdf = new double[CDF_PERCENTILES.length];
        for (int i = 0; i < cdf.length; i++) {
            cdf[i] = late[(int) Math.min(n - 1, Math.floor(n * CDF_PERCENTILES[i] / 100))] / 1e3;
        }
        return new Result(side, delayMs, (double) insertNs / n, late[n / 2] / 1e3, late[(int) (n * 0.99)] / 1e3,
                late[n - 1] / 1e3, drainNs / 1e6, (double) armBytes / n, (double) fireBytes / n, cdf);
    }

    private static String jsonArray(double[] v) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            b.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.2f", v[i]));
        }
        return b.append(']').toString();
    }

    private static double median(List<Result> rs, java.util.function.ToDoubleFunction<Result> f) {
        double[] v = rs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static void summarize(List<Result> results, long[] delaysMs, double createNs, String json) throws IOException {
        StringBuilder js = new StringBuilder("{\"jaioNewTimerNs\":").append(String.format(Locale.ROOT, "%.1f", createNs)).append(",\"medians\":[");
        System.out.println();
        System.out.println("medians over the measured rounds:");
        boolean first = true;
        for (long delayMs : delaysMs) {
            for (String side : List.of("jaio", "netty-nio", "netty-epoll")) {
                List<Result> rs = results.stream().filter(r -> r.side.equals(side) && r.delayMs == delayMs).toList();
                double ins = median(rs, Result::insertNs);
                double p50 = median(rs, Result::p50Us);
                double p99 = median(rs, Result::p99Us);
                double max = median(rs, Result::maxUs);
                double armB = median(rs, Result::armBytes);
                double fireB = median(rs, Result::fireBytes);
                System.out.printf(Locale.ROOT, "MEDIAN %-12s delay=%4dms rounds=%d insert=%7.1f ns/timer  late p50=%10.1f us p99=%10.1f us max=%10.1f us  B/timer arm=%.2f fire=%.2f%n",
                        side, delayMs, rs.size(), ins, p50, p99, max, armB, fireB);
                js.append(first ? "" : ",").append(String.format(Locale.ROOT,
                        "{\"side\":\"%s\",\"delayMs\":%d,\"rounds\":%d,\"insertNsPerTimer\":%.1f,\"lateP50Us\":%.1f,\"lateP99Us\":%.1f,\"lateMaxUs\":%.1f,\"armBytesPerTimer\":%.2f,\"fireBytesPerTimer\":%.2f}",
                        side, delayMs, rs.size(), ins, p50, p99, max, armB, fireB));
                first = false;
            }
        }
        js.append("],\"rounds\":[");
        first = true;
        for (Result r : results) {
            js.append(first ? "" : ",").append(String.format(Locale.ROOT,
                    "{\"side\":\"%s\",\"delayMs\":%d,\"insertNsPerTimer\":%.1f,\"lateP50Us\":%.1f,\"lateP99Us\":%.1f,\"lateMaxUs\":%.1f,\"drainMs\":%.1f,\"armBytesPerTimer\":%.2f,\"fireBytesPerTimer\":%.2f,\"cdfUs\":%s}",
                    r.side, r.delayMs, r.insertNs, r.p50Us, r.p99Us, r.maxUs, r.drainMs, r.armBytes, r.fireBytes, jsonArray(r.cdfUs)));
            first = false;
        }
        js.append("],\"cdfPercentiles\":").append(jsonArray(CDF_PERCENTILES)).append("}\n");
        if (!json.equals("-")) {
            Files.writeString(Path.of(json), js);
        }
    }
}
