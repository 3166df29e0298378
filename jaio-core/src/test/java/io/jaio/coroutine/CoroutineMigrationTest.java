// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import io.jaio.AioContext;
import io.jaio.IOThread;
import io.jaio.testing.TestSupport;

/**
 * A coroutine moved to another IOThread sees that thread afterwards, in compiled frames too:
 * {@link Coroutine#hostThread()}, {@link AioContext#current()}, {@link AioContext#inHomeThread()},
 * while its own identity ({@code Thread.currentThread()}, its thread-locals,
 * {@link Coroutine#self()}) stays the same for its whole life.
 *
 * <p>Regression test for the bug {@link SoakStressTest} found with {@code -Djaio.soak.coMove=true}
 * when coroutines were bare {@code jdk.internal.vm.Continuation}s: HotSpot treats the current
 * thread as fixed within a compiled frame, so once C2 compiled {@link #moveTo} it read the thread
 * it ran on before the move (41,068 of 100,000 moves in one run; 0 with
 * {@code -XX:TieredStopAtLevel=1}). Coroutines now run as virtual threads, whose identity does
 * not change with the carrier, and the host is read from a field set at each entry
 * (internal.coro.VirtualFiber).
 */
class CoroutineMigrationTest {
    private static final int MOVES = 100_000;
    private static final ThreadLocal<Integer> MINE = new ThreadLocal<>();

    private long stale;

    /** Kept small so C2 compiles it; the checks are in the same frame as the move. */
    private void moveTo(IOThread to, Thread me, Coroutine self) {
        Thread before = Thread.currentThread();
        Coroutine.rescheduleSelf(to.context());
        if (Coroutine.hostThread() != to.thread() || AioContext.current() != to.context() || !to.context().inHomeThread()
                || Thread.currentThread() != before || Thread.currentThread() != me || Coroutine.self() != self
                || MINE.get() != 42) {
            stale++; // the coroutine runs on one thread at a time: no race on this field
        }
    }

    @Test
    void aCoroutineMovedToAnotherThreadSeesThatThreadInCompiledFrames() throws Exception {
        IOThread a = IOThread.start("migrate-a");
        IOThread b = IOThread.start("migrate-b");
        try {
            CountDownLatch done = new CountDownLatch(1);
            Coroutine.create(() -> {
                Thread me = Thread.currentThread();
                Coroutine self = Coroutine.self();
                MINE.set(42);
                for (int i = 0; i < MOVES; i++) {
                    moveTo((i & 1) == 0 ? b : a, me, self);
                }
                done.countDown();
            }).scheduleIn(a.context());
            if (!done.await(TestSupport.HANG_NS, TimeUnit.NANOSECONDS)) {
                throw new AssertionError("the coroutine did not finish its moves\n" + TestSupport.threadDump());
            }
            assertEquals(0, stale, "moves after which the coroutine saw a stale host or lost its identity, of " + MOVES);
        } finally {
            a.stop();
            b.stop();
        }
    }

    @Test
    void threadLocalsInsideACoroutineBelongToTheCoroutine() {
        MINE.set(7);
        try {
            Integer[] seen = new Integer[2];
            Coroutine co = Coroutine.create(() -> {
                seen[0] = MINE.get();
                MINE.set(9);
                Coroutine.yield();
                seen[1] = MINE.get();
            });
            Coroutine.enter(co);
            assertEquals(7, MINE.get(), "the coroutine's set leaked into the thread that entered it");
            Coroutine.enter(co);
            assertTrue(co.isDone());
            assertEquals(null, seen[0], "a fresh coroutine sees no value of the entering thread");
            assertEquals(9, seen[1]);
            assertEquals(Thread.currentThread(), Coroutine.hostThread(), "outside coroutines the host is the thread itself");
        } finally {
            MINE.remove();
        }
    }

    @Test
    void anAbandonedYieldedCoroutineCanBeCollected() throws Exception {
        java.lang.ref.WeakReference<Coroutine> ref = abandonOne();
        for (int i = 0; i < 50 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(null, ref.get(), "a coroutine left yielded and unreferenced was never collected");
    }

    private static java.lang.ref.WeakReference<Coroutine> abandonOne() {
        Coroutine co = Coroutine.create(() -> {
            byte[] ballast = new byte[1 << 20];
            Coroutine.yield();
            ballast[0] = 1;
        });
        Coroutine.enter(co);
        return new java.lang.ref.WeakReference<>(co);
    }
}
