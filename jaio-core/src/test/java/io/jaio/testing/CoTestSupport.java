// SPDX-License-Identifier: Apache-2.0
package io.jaio.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import io.jaio.AioContext;
import io.jaio.CallbackErrorHandler;
import io.jaio.IOThread;

/**
 * Helpers of the coroutine tests: bounded draining, bounded cross-thread waits that dump every
 * thread when they give up, running code on an IOThread synchronously (QEMU test-aio-multithread's
 * ctx_run), and collecting failures from other threads. Nothing here sleeps to wait for timing.
 */
public final class CoTestSupport {
    /** How long a cross-thread wait may take before the test calls it a hang. */
    public static final long HANG_MS = 30_000;
    private static final int DRAIN_LIMIT = 100_000;

    private CoTestSupport() {
    }

    /** {@code while (ctx.poll(false));}, bounded. */
    public static int drain(AioContext ctx) {
        return TestSupport.drain(ctx);
    }

    /**
     * Blocking polls until {@code cond} holds. A watchdog timer on the context wakes the last
     * poll at the deadline, so a hang fails with a thread dump instead of blocking forever.
     */
    public static void pollUntil(AioContext ctx, String what, BooleanSupplier cond) {
        TestSupport.pollUntil(ctx, what, cond);
    }

    /** Spins until {@code cond} holds; after {@link #HANG_MS} dumps all threads and fails. */
    public static void awaitCondition(String what, BooleanSupplier cond) {
        TestSupport.awaitCondition(what, cond);
    }

    public static void await(CountDownLatch latch, String what) throws InterruptedException {
        if (!latch.await(HANG_MS, TimeUnit.MILLISECONDS)) {
            fail("gave up waiting for " + what + "\n" + threadDump());
        }
    }

    public static void joinOrDump(Thread t) throws InterruptedException {
        TestSupport.joinOrDump(t);
    }

    /** Runs {@code r} on the IOThread's home thread and waits for it (QEMU ctx_run). */
    public static void runOn(IOThread io, Runnable r, Failures failures) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        io.context().scheduleOneShot("ctx-run", () -> {
            try {
                r.run();
            } catch (Throwable t) {
                failures.add(t);
            } finally {
                done.countDown();
            }
        });
        await(done, "ctx_run on " + io.thread().getName());
    }

    /** Failures seen on other threads, rethrown by {@link #check()}. */
    public static final class Failures {
        private final Queue<Throwable> list = new ConcurrentLinkedQueue<>();

        public void add(Throwable t) {
            list.add(t);
        }

        public Runnable guard(Runnable r) {
            return () -> {
                try {
                    r.run();
                } catch (Throwable t) {
                    list.add(t);
                    throw t;
                }
            };
        }

        /** An error handler for contexts that records instead of logging. */
        public CallbackErrorHandler handler() {
            return (ctx, source, e) -> list.add(new AssertionError(source + " in context '" + ctx.name() + "'", e));
        }

        public void check() {
            Throwable first = list.poll();
            if (first != null) {
                AssertionError e = new AssertionError("failure on another thread", first);
                for (Throwable t : list) {
                    e.addSuppressed(t);
                }
                throw e;
            }
        }
    }

    public static String threadDump() {
        return TestSupport.threadDump();
    }
}
