// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * Synchronous waits in an event loop (QEMU {@code include/block/aio-wait.h}, {@code util/aio-wait.c}):
 * poll a context until a condition turns false, and wake such waiters from other threads.
 *
 * <p>Implementation notes. A global count of waiters, as QEMU's {@code global_aio_wait}. The
 * waiter raises the count, then (full fence) evaluates the condition and polls; whoever changes
 * the condition from another thread does so, then (full fence) reads the count and, if anyone
 * waits, schedules an empty bottom half in the main context, which makes its blocking poll return.
 * Each side fences between its write and its read, so at least one sees the other: either the
 * waiter sees the new condition, or the kicker sees the waiter and wakes it (the Dekker argument
 * of QEMU's {@code smp_mb__after_rmw} / {@code smp_mb}). Like QEMU, the kick goes to the main
 * context: a waiter polling another context (its own, on an IOThread) is woken by whatever
 * completes there.
 *
 * <p>Threading: {@link #waitWhile} and {@link #runInContextAndWait} from a context's home thread as
 * described there; {@link #kick()} from any thread.
 */
public final class AioWait {
    private static final AtomicInteger WAITERS = new AtomicInteger();

    private AioWait() {
    }

    /**
     * QEMU AIO_WAIT_WHILE: polls (blocking) while {@code cond} holds. If the caller is the home
     * thread of {@code ctx}, it polls {@code ctx}; otherwise (or with a null {@code ctx}) it must
     * be the main thread, and polls the main context: then whoever makes {@code cond} false must
     * call {@link #kick()}. The iohandler context is never polled here.
     *
     * @param ctx the context whose home thread calls, or null to wait from the main thread
     * @param cond evaluated on the calling thread before each iteration; the wait ends when it is false
     * @return whether it had to wait (cond was true at least once)
     * @throws IllegalStateException from a thread that is neither
     */
    public static boolean waitWhile(AioContext ctx, BooleanSupplier cond) {
        Objects.requireNonNull(cond, "cond");
        AioContext target = ctx;
        if (ctx == null || !ctx.inHomeThread()) {
            MainLoop m = MainLoop.get();
            target = m == null ? null : m.context();
            if (target == null || AioContext.current() != target) {
                throw new IllegalStateException("AioWait.waitWhile(" + ctx + ") from thread '" + Thread.currentThread().getName()
                        + "' (expected the home thread of the context, or the main loop's thread)");
            }
        }
        WAITERS.incrementAndGet();
        VarHandle.fullFence(); // count before reading cond: pairs with the fence in kick()
        try {
            boolean waited = false;
            while (cond.getAsBoolean()) { // a wait, not a drain: it ends when the condition does
                target.poll(true);
                waited = true;
            }
            return waited;
        } finally {
            WAITERS.decrementAndGet();
        }
    }

    /**
     * QEMU aio_wait_kick: call after changing a condition that a {@link #waitWhile} on the main
     * thread may be waiting for. Costs one fence when nobody waits. Any thread.
     */
    public static void kick() {
        VarHandle.fullFence(); // the caller's condition write before the count: pairs with the fence in waitWhile()
        if (WAITERS.get() != 0) {
            MainLoop m = MainLoop.get();
            if (m != null) {
                try {
                    m.context().scheduleOneShot("aio-wait-kick", AioWait::noop);
                } catch (IllegalStateException closed) {
                    // the main loop is closing: nobody polls it any more
                }
            }
        }
    }

    /**
     * QEMU aio_wait_bh_oneshot: runs {@code cb} in a bottom half of {@code ctx} and waits, polling
     * the main context, until it has run. Main thread only.
     *
     * @param ctx the context whose home thread runs {@code cb}
     * @param cb the code to run there
     */
    public static void runInContextAndWait(AioContext ctx, Runnable cb) {
        Objects.requireNonNull(cb, "cb");
        MainLoop m = MainLoop.get();
        if (m == null || AioContext.current() != m.context()) {
            throw new IllegalStateException("AioWait.runInContextAndWait() from thread '" + Thread.currentThread().getName()
                    + "' (expected the main loop's thread)");
        }
        Done done = new Done();
        ctx.scheduleOneShot("aio-wait-bh", () -> {
            try {
                cb.run();
            } finally {
                done.set = true; // volatile; read by the waiter's condition
                kick();
            }
        });
        waitWhile(null, () -> !done.set);
    }

    private static final class Done {
        volatile boolean set;
    }

    private static void noop() {
    }
}
