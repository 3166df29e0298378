package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * A coroutine moved to another IOThread must see that thread afterwards: {@code
 * Thread.currentThread()}, {@link AioContext#current()} and everything built on thread-locals
 * ({@link Coroutine#self()}, {@link Coroutine#yield()}).
 *
 * <p>Known failure, found by {@link SoakStressTest} with {@code -Djaio.soak.coMove=true}: once
 * the frame that calls {@link Coroutine#rescheduleSelf} is compiled by C2, it reads the thread
 * it ran on <em>before</em> the move (41,068 of 100,000 moves in one run here, 72-78% in others; 0 with
 * {@code -XX:TieredStopAtLevel=1}). HotSpot treats the current thread as fixed within a compiled
 * frame, which holds for the only supported migrating continuation, a virtual thread (whose
 * identity does not change with its carrier), and not for a raw {@code
 * jdk.internal.vm.Continuation} resumed on another platform thread, which is what jaio does for
 * rescheduleSelf and for a coSchedule into another context. The same holds for a frame that
 * inlines {@code AioContext.current()}. Not fixable inside jaio-core without a design choice
 * (coroutines pinned to the thread that first entered them, or thread-free lookups that C2
 * cannot inline); see docs/reliability.md.
 */
@Disabled("known: C2 keeps the pre-move thread in a compiled frame across a migrating yield; see the class comment")
class CoroutineMigrationTest {
    private static final int MOVES = 100_000;

    private long stale;

    /** Kept small so C2 compiles it; the check is in the same frame as the move. */
    private void moveTo(IOThread to) {
        Coroutine.rescheduleSelf(to.context());
        if (Thread.currentThread() != to.thread() || AioContext.current() != to.context()) {
            stale++; // the coroutine runs on one thread at a time: no race on this field
        }
    }

    @Test
    void aCoroutineMovedToAnotherThreadSeesThatThreadInCompiledFrames() throws Exception {
        IOThread a = IOThread.start("migrate-a");
        IOThread b = IOThread.start("migrate-b");
        try {
            CountDownLatch done = new CountDownLatch(1);
            a.context().coSchedule(Coroutine.create(() -> {
                for (int i = 0; i < MOVES; i++) {
                    moveTo((i & 1) == 0 ? b : a);
                }
                done.countDown();
            }));
            if (!done.await(TestSupport.HANG_NS, TimeUnit.NANOSECONDS)) {
                throw new AssertionError("the coroutine did not finish its moves\n" + TestSupport.threadDump());
            }
            assertEquals(0, stale, "moves after which the coroutine saw the thread it left, of " + MOVES);
        } finally {
            a.stop();
            b.stop();
        }
    }
}
