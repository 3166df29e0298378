// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.Timer;
import io.jaio.TimerScale;

/**
 * Where a timer's time goes, apart from the loop's sleeps: the cost of the pieces that
 * {@link TimerLateness} measures together. On the VIRTUAL clock, which moves only when told, so
 * nothing is late and the figures are CPU time per timer:
 * <ul>
 * <li><b>nanoTime</b>: one {@code System.nanoTime()} (TimerLateness reads one per arming);</li>
 * <li><b>arm</b>: {@code modNs} of N disarmed timers, deadlines uniform over one second;</li>
 * <li><b>fire</b>: the virtual clock moved past them all, then one {@code poll(false)} runs all N
 *     (the fire loop: finding the next due timer, disarming it, the callback);</li>
 * <li><b>fire, 1 ms steps</b>: the clock moved 1 ms at a time, one poll per step (the loop's
 *     steady state, a thousand due at a time);</li>
 * <li><b>re-arm</b>: {@code modNs} of N armed timers to a new deadline (delete + insert);</li>
 * <li>the home thread's allocated bytes per timer in each phase.</li>
 * </ul>
 * Arguments: {@code [N] [rounds]}, defaults {@code 1000000 5}; medians over the rounds (after
 * one warm-up round). Uses only the public API, so the same class runs against any jaio jar.
 */
public final class TimerCosts {
    private static final long WINDOW_NS = 1_000_000_000L;

    private TimerCosts() {
    }

    /** Counts its runs. */
    static final class Count implements Runnable {
        long n;

        @Override
        public void run() {
            n++;
        }
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        long[] offsets = new long[n];
        long[] offsets2 = new long[n];
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < n; i++) {
            offsets[i] = rnd.nextLong(WINDOW_NS);
            offsets2[i] = rnd.nextLong(WINDOW_NS);
        }
        double[][] r = new double[8][rounds];
        try (AioContext ctx = AioContext.builder().name("timer-costs").build()) {
            ctx.setClockEnabled(ClockType.VIRTUAL, true);
            Count count = new Count();
            Timer[] timers = new Timer[n];
            for (int i = 0; i < n; i++) {
                timers[i] = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, count);
            }
            for (int round = -1; round < rounds; round++) {
                System.gc();
                long sink = 0;
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    sink += System.nanoTime();
                }
                double nanoTimeNs = (double) (System.nanoTime() - t0) / n;

                long base = ctx.clockNs(ClockType.VIRTUAL) + 1;
                long a0 = mx.getThreadAllocatedBytes(tid);
                t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    timers[i].modNs(base + offsets[i]);
                }
                double armNs = (double) (System.nanoTime() - t0) / n;
                double armBytes = (double) (mx.getThreadAllocatedBytes(tid) - a0) / n;

                a0 = mx.getThreadAllocatedBytes(tid);
                t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    timers[i].modNs(base + offsets2[i]);
                }
                double rearmNs = (double) (System.nanoTime() - t0) / n;
                double rearmBytes = (double) (mx.getThreadAllocatedBytes(tid) - a0) / n;

                count.n = 0;
                ctx.advanceVirtualClockNs(WINDOW_NS + 1);
                a0 = mx.getThreadAllocatedBytes(tid);
                t0 = System.nanoTime();
                while (count.n < n && ctx.poll(false)) {
                    // a poll runs at most the due timers plus an allowance: loop until all ran
                }
                double fireNs = (double) (System.nanoTime() - t0) / n;
                double fireBytes = (double) (mx.getThreadAllocatedBytes(tid) - a0) / n;
                check(count.n, n, "fire");

                base = ctx.clockNs(ClockType.VIRTUAL) + 1;
                for (int i = 0; i < n; i++) {
                    timers[i].modNs(base + offsets[i]);
                }
                count.n = 0;
                a0 = mx.getThreadAllocatedBytes(tid);
                t0 = System.nanoTime();
                for (int step = 0; step <= 1001; step++) {
                    ctx.advanceVirtualClockNs(1_000_000L);
                    ctx.poll(false);
                }
                double stepNs = (double) (System.nanoTime() - t0) / n;
                double stepBytes = (double) (mx.getThreadAllocatedBytes(tid) - a0) / n;
                check(count.n, n, "fire in 1 ms steps");
                if (sink == 42) {
                    System.out.println();
                }
                if (round >= 0) {
                    double[] v = {nanoTimeNs, armNs, rearmNs, fireNs, stepNs, armBytes + rearmBytes, fireBytes, stepBytes};
                    for (int k = 0; k < v.length; k++) {
                        r[k][round] = v[k];
                    }
                }
                System.out.printf(Locale.ROOT, "%s nanoTime=%5.1f ns  arm=%6.1f ns  re-arm=%6.1f ns  fire(all due)=%6.1f ns  fire(1 ms steps)=%6.1f ns/timer"
                        + "  B/timer arm+re-arm=%.3f fire=%.3f steps=%.3f%n", round < 0 ? "warm-up" : "round  ",
                        nanoTimeNs, armNs, rearmNs, fireNs, stepNs, armBytes + rearmBytes, fireBytes, stepBytes);
            }
        }
        System.out.printf(Locale.ROOT, "MEDIAN N=%d rounds=%d nanoTime=%5.1f ns  arm=%6.1f ns  re-arm=%6.1f ns  fire(all due)=%6.1f ns  fire(1 ms steps)=%6.1f ns/timer"
                + "  B/timer arm+re-arm=%.3f fire=%.3f steps=%.3f%n", n, rounds,
                median(r[0]), median(r[1]), median(r[2]), median(r[3]), median(r[4]), median(r[5]), median(r[6]), median(r[7]));
    }

    private static void check(long got, int want, String what) {
        if (got != want) {
            throw new IllegalStateException(what + ": " + got + " timers ran (expected " + want + ")");
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
