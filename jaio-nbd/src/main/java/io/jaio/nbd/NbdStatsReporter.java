// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.Timer;
import io.jaio.TimerScale;

/**
 * {@code --stats N}: every N seconds, one log line on stderr (logger "io.jaio.nbd.stats", INFO,
 * through the server's one-line format) with the figures of the interval just ended:
 * {@code stats: 1520 req/s, 11.9 MiB/s, p50 85 us, p99 420 us, in flight 4, clients 1}.
 * Rates and percentiles are over the interval (the difference of two snapshots of the export's
 * figures, so the not-a-consistent-cut caveat of {@link NbdStats} applies to its edges); in flight
 * and clients are the values at the tick.
 *
 * <p>Threading: the main context's home thread (a timer on it); {@link #close} there too.
 */
final class NbdStatsReporter {
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd.stats");

    private final NbdServer server;
    private final AioContext main;
    private final long periodNs;
    private final Timer timer;
    private NbdStats.Sums previous;
    private long previousNs;

    NbdStatsReporter(NbdServer server, AioContext main, int seconds) {
        this.server = server;
        this.main = main;
        this.periodNs = seconds * 1_000_000_000L;
        this.previous = server.exportSums();
        this.previousNs = System.nanoTime();
        this.timer = main.newTimer(ClockType.REALTIME, TimerScale.NS, this::onTick);
        timer.modNs(main.clockNs(ClockType.REALTIME) + periodNs);
    }

    private void onTick() {
        NbdStats.Sums now = server.exportSums();
        long t = System.nanoTime();
        LOG.log(System.Logger.Level.INFO, line(previous, now, t - previousNs, server.clients()));
        previous = now;
        previousNs = t;
        timer.modNs(main.clockNs(ClockType.REALTIME) + periodNs);
    }

    /** The summary line of the interval from {@code a} to {@code b}, {@code ns} long. */
    static String line(NbdStats.Sums a, NbdStats.Sums b, long ns, int clients) {
        double seconds = Math.max(ns, 1) / 1e9;
        long requests = b.requests() - a.requests();
        long bytes = (b.bytesRead - a.bytesRead) + (b.bytesWritten - a.bytesWritten);
        long[] lat = new long[LatencyHistogram.BUCKETS];
        for (int i = 0; i < lat.length; i++) {
            lat[i] = Math.max(0, b.latency[i] - a.latency[i]);
        }
        return String.format(java.util.Locale.ROOT, "stats: %.0f req/s, %.1f MiB/s, p50 %s, p99 %s, in flight %d, clients %d",
                requests / seconds, bytes / seconds / (1 << 20), duration(LatencyHistogram.percentile(lat, 0.50)),
                duration(LatencyHistogram.percentile(lat, 0.99)), b.inFlight, clients);
    }

    /** "85 us", "1.2 ms", "0 us" for an interval without requests. */
    static String duration(long ns) {
        if (ns < 1_000_000) {
            return (ns + 500) / 1000 + " us";
        }
        if (ns < 1_000_000_000) {
            return String.format(java.util.Locale.ROOT, "%.1f ms", ns / 1e6);
        }
        return String.format(java.util.Locale.ROOT, "%.2f s", ns / 1e9);
    }

    /** Disarms the timer (before the main context closes). */
    void close() {
        timer.delete();
    }
}
