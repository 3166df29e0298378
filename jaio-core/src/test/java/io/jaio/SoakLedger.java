// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import io.jaio.coroutine.Coroutine;

/**
 * The books of {@link SoakStressTest}: a counter per (kind, event) and the failures seen on any
 * thread. Checks never throw on the thread that finds a violation (an {@code Error} escaping a
 * callback would end an IOThread's loop and hide the rest): they record it, and the test thread
 * rethrows the first with the others suppressed.
 *
 * <p>Threading: any thread.
 */
final class SoakLedger {
    private final long seed;
    private final Map<String, LongAdder> counters = new java.util.concurrent.ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    private final AtomicLong failureCount = new AtomicLong();

    SoakLedger(long seed) {
        this.seed = seed;
    }

    long seed() {
        return seed;
    }

    /** Adds one to {@code kind.event} (for example {@code bh.run}). */
    void count(String key) {
        counters.computeIfAbsent(key, k -> new LongAdder()).increment();
    }

    void add(String key, long n) {
        counters.computeIfAbsent(key, k -> new LongAdder()).add(n);
    }

    long get(String key) {
        LongAdder a = counters.get(key);
        return a == null ? 0 : a.sum();
    }

    /** Records a violation unless {@code ok}; never throws. */
    void check(boolean ok, String what) {
        if (!ok) {
            fail(what);
        }
    }

    void fail(String what) {
        record(new AssertionError(what + " [thread '" + Coroutine.hostThread().getName() + "', seed " + seed + "]"));
    }

    /** Records a throwable from any thread (at most 50 are kept; all are counted). */
    void record(Throwable t) {
        if (failureCount.incrementAndGet() <= 50) {
            failures.add(t);
        }
    }

    /** Runs {@code r}, recording whatever it throws. */
    Runnable guard(Runnable r) {
        return () -> {
            try {
                r.run();
            } catch (Throwable t) {
                record(t);
            }
        };
    }

    /** A context error handler that records callback exceptions as failures. */
    CallbackErrorHandler errorHandler() {
        return (ctx, source, e) -> record(new AssertionError(source + " in context '" + ctx.name() + "' threw", e));
    }

    boolean failed() {
        return failureCount.get() > 0;
    }

    /** Throws the first recorded failure with the others suppressed. */
    void rethrow() {
        Throwable first = failures.poll();
        if (first != null) {
            AssertionError e = new AssertionError(failureCount.get() + " failure(s) in the soak, seed " + seed
                    + " (rerun with -Djaio.soak.seed=" + seed + ")", first);
            for (Throwable t : failures) {
                e.addSuppressed(t);
            }
            throw e;
        }
    }

    /** Every counter, sorted by name, one per line. */
    String report() {
        StringBuilder sb = new StringBuilder();
        Map<String, Long> sorted = new TreeMap<>();
        counters.forEach((k, v) -> sorted.put(k, v.sum()));
        sorted.forEach((k, v) -> sb.append(String.format("  %-28s %,14d%n", k, v)));
        return sb.toString();
    }
}
