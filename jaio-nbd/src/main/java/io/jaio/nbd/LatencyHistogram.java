// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Request latencies in log-linear buckets (as HdrHistogram does, with 3 bits of precision): values
 * below 8 ns have a bucket each; above, every power of two is cut into 8 equal buckets, so a
 * bucket's width is at most 1/8 of its lower bound and a percentile read from it is at most 12.5%
 * high. 488 buckets cover every non-negative long; recording is one index computation and one
 * increment, no allocation.
 *
 * <p>Implementation notes. One thread records (the connection's home thread); any thread reads.
 * Each bucket is a plain read and an opaque store on the writer's side and an opaque load on the
 * reader's: no atomic instruction, no torn longs, each bucket monotonic. A reader's walk over the
 * buckets is not a consistent cut: a percentile read while requests complete may count a request
 * in {@link #count()} and not yet in the buckets, or the reverse, which moves it by at most the
 * few requests completing during the walk.
 *
 * <p>Threading: {@link #record} on one thread at a time; the readers from any thread.
 */
final class LatencyHistogram {
    static final int BUCKETS = 8 + 60 * 8;
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] counts = new long[BUCKETS];

    /** The bucket of {@code ns} (negative values count as 0). */
    static int bucketOf(long ns) {
        long v = Math.max(ns, 0);
        if (v < 8) {
            return (int) v;
        }
        int e = 63 - Long.numberOfLeadingZeros(v); // floor(log2 v) >= 3
        int sub = (int) (v >>> (e - 3)) & 7;
        return 8 + (e - 3) * 8 + sub;
    }

    /** The largest value that falls in {@code bucket}. */
    static long upperBound(int bucket) {
        if (bucket < 8) {
            return bucket;
        }
        int e = (bucket - 8) / 8 + 3;
        long sub = (bucket - 8) % 8;
        long lower = (8 + sub) << (e - 3);
        long width = 1L << (e - 3);
        return lower + (width - 1) < 0 ? Long.MAX_VALUE : lower + width - 1;
    }

    /** Counts one request that took {@code ns}. Writer thread. */
    void record(long ns) {
        int b = bucketOf(ns);
        LONGS.setOpaque(counts, b, (long) LONGS.get(counts, b) + 1); // single writer; read by addInto()
    }

    /** Adds every bucket to {@code into} (racy read; see the notes). Any thread. */
    void addInto(long[] into) {
        for (int i = 0; i < BUCKETS; i++) {
            into[i] += (long) LONGS.getOpaque(counts, i); // pairs with the opaque store in record()
        }
    }

    /**
     * The value at or below which {@code fraction} of the requests in {@code buckets} fall, as the
     * upper bound of its bucket (at most 12.5% high), or 0 when the histogram is empty.
     */
    static long percentile(long[] buckets, double fraction) {
        long total = 0;
        for (long c : buckets) {
            total += c;
        }
        if (total == 0) {
            return 0;
        }
        long rank = Math.max(1, (long) Math.ceil(fraction * total));
        long seen = 0;
        for (int i = 0; i < buckets.length; i++) {
            seen += buckets[i];
            if (seen >= rank) {
                return upperBound(i);
            }
        }
        return upperBound(buckets.length - 1);
    }
}
