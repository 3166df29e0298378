// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitBlockedInWait;
import static io.jaio.testing.TestSupport.joinOrDump;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Bottom-half behaviour beyond QEMU's test-aio.c: idle and one-shot bottom halves, merging,
 * cancel, the reentrancy guard, and scheduling from another thread. On every fd monitor.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class BottomHalfTest {
    @Parameter
    FdMonitorKind kind;

    private AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("bh-" + kind).fdMonitor(kind).build();
    }

    @Test
    void idleBottomHalfRunsButIsNotProgress() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf idle = ctx.newBottomHalf("idle", () -> runs[0]++);
            idle.scheduleIdle();
            assertTrue(idle.isScheduled());
            assertFalse(ctx.poll(true), "an idle bottom half does not count as progress");
            assertEquals(1, runs[0]);
            assertFalse(ctx.poll(false));
            assertEquals(1, runs[0]);
            idle.delete();
        }
    }

    /**
     * Only an idle bottom half pending and nothing to wake the loop: a blocking poll must still
     * run it (QEMU sleeps at most 10 ms). Every schedule notifies the context, so the sleeping
     * poll is a nested one started by a bottom half of the same slice, after the outer poll has
     * consumed the notification. A REALTIME guard timer bounds the wait should the idle bottom
     * half be ignored.
     */
    @Test
    void idleBottomHalfRunsWithinABlockingPollWhenNothingWakesTheLoop() throws Exception {
        try (AioContext ctx = newContext()) {
            boolean[] guardFired = new boolean[1];
            Timer guard = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> guardFired[0] = true);
            guard.modNs(ctx.clockNs(ClockType.REALTIME) + TimeUnit.SECONDS.toNanos(10));
            int[] idleRuns = new int[1];
            boolean[] nested = new boolean[1];
            BottomHalf idle = ctx.newBottomHalf("idle", () -> idleRuns[0]++);
            BottomHalf sleeper = ctx.newBottomHalf("sleeper", () -> {
                // Bottom halves of a slice run last-scheduled first, so the idle one is still pending.
                assertEquals(0, idleRuns[0], "the idle bottom half ran before the one scheduled after it");
                nested[0] = ctx.poll(true);
            });
            idle.scheduleIdle();
            sleeper.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(1, idleRuns[0]);
            assertFalse(nested[0], "the nested blocking poll ran only an idle bottom half: no progress");
            assertFalse(guardFired[0], "the blocking poll slept until the guard timer instead of running the idle bottom half");
            guard.delete();
            idle.delete();
            sleeper.delete();
        }
    }

    @Test
    void oneShotBottomHalvesRunOnceEachInTheSamePoll() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[3];
            for (int i = 0; i < runs.length; i++) {
                int k = i;
                ctx.scheduleOneShot("one-shot-" + i, () -> runs[k]++);
            }
            assertTrue(ctx.poll(false));
            for (int r : runs) {
                assertEquals(1, r);
            }
            assertFalse(ctx.poll(false), "a one-shot bottom half is forgotten after its run");
        } // close() would report a one-shot that never ran
    }

    @Test
    void schedulingTwiceBeforeAPollMergesIntoOneRun() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("merge", () -> runs[0]++);
            bh.schedule();
            bh.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            assertFalse(ctx.poll(false));
            bh.delete();
        }
    }

    @Test
    void cancelledBottomHalfRunsWhenScheduledAgain() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("cancel-then-schedule", () -> runs[0]++);
            bh.schedule();
            bh.cancel();
            bh.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            bh.cancel(); // cancelling an idle bottom half does nothing
            assertFalse(ctx.poll(false));
            bh.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(2, runs[0]);
            bh.delete();
        }
    }

    @Test
    void deletedBottomHalfCannotBeScheduled() throws Exception {
        try (AioContext ctx = newContext()) {
            BottomHalf bh = ctx.newBottomHalf("deleted", () -> { });
            bh.delete();
            IllegalStateException e = assertThrows(IllegalStateException.class, bh::schedule);
            assertTrue(e.getMessage().contains("'deleted'"), e.getMessage());
            bh.delete(); // deleting twice is harmless
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void reentrancyGuardIsEngagedOnlyWhileItsBottomHalfRuns() throws Exception {
        try (AioContext ctx = newContext()) {
            ReentrancyGuard guard = new ReentrancyGuard();
            List<String> seen = new ArrayList<>();
            BottomHalf[] inner = new BottomHalf[1];
            inner[0] = ctx.newBottomHalf("inner", () -> seen.add("inner engaged=" + guard.isEngaged()), guard);
            BottomHalf outer = ctx.newBottomHalf("outer", () -> {
                seen.add("outer engaged=" + guard.isEngaged());
                inner[0].schedule();
                assertTrue(ctx.poll(false)); // runs the inner bottom half re-entrantly
                seen.add("outer after nested engaged=" + guard.isEngaged());
            }, guard);
            assertFalse(guard.isEngaged());
            outer.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(List.of("outer engaged=true", "inner engaged=true", "outer after nested engaged=true"), seen);
            assertFalse(guard.isEngaged(), "the guard is restored after the bottom half");
            assertEquals(1, guard.reentries(), "the inner run started with the guard already engaged, and still ran");
            outer.delete();
            inner[0].delete();
        }
    }

    @Test
    void guardedBottomHalfDeletingItselfStillRestoresTheGuard() throws Exception {
        try (AioContext ctx = newContext()) {
            ReentrancyGuard guard = new ReentrancyGuard();
            BottomHalf[] self = new BottomHalf[1];
            boolean[] engaged = new boolean[1];
            self[0] = ctx.newBottomHalf("guarded-self-delete", () -> {
                engaged[0] = guard.isEngaged();
                self[0].delete();
            }, guard);
            self[0].schedule();
            assertTrue(ctx.poll(false));
            assertTrue(engaged[0]);
            assertFalse(guard.isEngaged());
            assertEquals(0, guard.reentries());
        }
    }

    @Test
    void oneShotFromAnotherThreadWakesABlockedPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            Thread home = Thread.currentThread();
            Thread[] ranOn = new Thread[1];
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread producer = Thread.ofPlatform().name("one-shot-producer").start(() -> {
                try {
                    awaitBlockedInWait(home);
                    ctx.scheduleOneShot("from-producer", () -> ranOn[0] = Thread.currentThread());
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            assertTrue(ctx.poll(true));
            joinOrDump(producer);
            assertNull(failure.get());
            assertEquals(home, ranOn[0], "bottom halves run on the home thread");
            assertEquals(1, ctx.notifierWriteCount(), "waking the blocked loop takes exactly one eventfd write");
            assertFalse(ctx.poll(false));
        }
    }
}
