// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.joinOrDump;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/**
 * A bottom half scheduled on the home thread (the path without atomic instructions) mixed with
 * schedule, cancel and delete on another thread, and one-shots past the one-shot ring's capacity.
 * Single-stepped: each foreign call is made on a thread that is joined before the home thread
 * looks, so every outcome is determined (jaio-jcstress covers the races themselves).
 */
class BottomHalfHomeForeignTest {
    private static AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("bh-home-foreign").build();
    }

    /** Runs {@code r} on a new platform thread and joins it, rethrowing what it threw. */
    private static void onOtherThread(Runnable r) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("foreign").start(() -> {
            try {
                r.run();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        joinOrDump(t);
        if (failure.get() instanceof Exception e) {
            throw e;
        }
        assertNull(failure.get());
    }

    @Test
    void cancelOnAnotherThreadWithdrawsAHomeSchedule() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("cancelled-elsewhere", () -> runs[0]++);
            bh.schedule();
            assertTrue(bh.isScheduled());
            onOtherThread(() -> {
                assertTrue(bh.isScheduled(), "another thread sees the home schedule");
                bh.cancel();
                assertFalse(bh.isScheduled());
            });
            assertFalse(bh.isScheduled());
            assertFalse(ctx.poll(false), "the cancelled run is skipped");
            assertEquals(0, runs[0]);
            bh.schedule(); // a schedule after the cancel runs
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            bh.delete();
        }
    }

    @Test
    void homeScheduleAfterAForeignCancelRuns() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("cancel-first", () -> runs[0]++);
            onOtherThread(bh::cancel); // nothing scheduled: counts a cancel and nothing else
            bh.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            bh.delete();
        }
    }

    @Test
    void homeAndForeignSchedulesOfOneBottomHalfMergeIntoOneRun() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("both-lists", () -> runs[0]++);
            bh.schedule();
            onOtherThread(bh::schedule);
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0], "one run for both schedules");
            assertFalse(ctx.poll(false));
            onOtherThread(bh::schedule); // foreign first, then home: merged too
            bh.schedule();
            assertTrue(ctx.poll(false));
            assertEquals(2, runs[0]);
            assertFalse(ctx.poll(false));
            bh.delete();
        }
    }

    @Test
    void homeCancelWithdrawsAForeignSchedule() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("foreign-then-home-cancel", () -> runs[0]++);
            onOtherThread(bh::schedule);
            bh.schedule();
            bh.cancel();
            assertFalse(bh.isScheduled());
            assertFalse(ctx.poll(false));
            assertEquals(0, runs[0]);
            bh.delete();
        }
    }

    @Test
    void deleteOnAnotherThreadDropsAHomeSchedule() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf bh = ctx.newBottomHalf("deleted-elsewhere", () -> runs[0]++);
            bh.schedule();
            onOtherThread(bh::delete);
            assertFalse(bh.isScheduled());
            ctx.poll(false);
            assertEquals(0, runs[0], "a deleted bottom half never runs");
            IllegalStateException e = assertThrows(IllegalStateException.class, bh::schedule);
            assertTrue(e.getMessage().contains("'deleted-elsewhere' was deleted"), e.getMessage());
        } // close() reports nothing: the bottom half was deleted
    }

    @Test
    void selfReschedulingBottomHalfOnBothListsRunsOncePerPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            BottomHalf[] self = new BottomHalf[1];
            self[0] = ctx.newBottomHalf("self", () -> {
                runs[0]++;
                self[0].schedule();
            });
            self[0].schedule();
            onOtherThread(self[0]::schedule);
            for (int i = 1; i <= 5; i++) {
                assertTrue(ctx.poll(false));
                assertEquals(i, runs[0], "once per poll");
            }
            self[0].delete();
            ctx.poll(false);
        }
    }

    @Test
    void oneShotsPastTheRingCapacityRunOnceEach() throws Exception {
        try (AioContext ctx = newContext()) {
            int n = 10_000; // more than the ring holds: the rest become nodes
            int[] runs = new int[n];
            for (int i = 0; i < n; i++) {
                int k = i;
                ctx.scheduleOneShot("home-" + i, () -> runs[k]++);
            }
            int[] foreignRuns = new int[1];
            Runnable foreign = () -> foreignRuns[0]++; // runs on the home thread
            onOtherThread(() -> {
                for (int i = 0; i < n; i++) {
                    ctx.scheduleOneShot("foreign", foreign);
                }
            });
            assertTrue(ctx.poll(false));
            for (int i = 0; i < n; i++) {
                assertEquals(1, runs[i], "one-shot " + i);
            }
            assertEquals(n, foreignRuns[0], "every foreign one-shot ran once");
            assertFalse(ctx.poll(false), "every one-shot ran in that poll and is forgotten");
        }
    }

    @Test
    void oneShotsLeftInTheRingAreNamedByClose() throws Exception {
        AioContext ctx = newContext();
        ctx.scheduleOneShot("never-polled", () -> { });
        onOtherThread(() -> ctx.scheduleOneShot("never-polled-either", () -> { }));
        IllegalStateException leak = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(leak.getMessage().contains("'never-polled' was scheduled but never ran"), leak.getMessage());
        assertTrue(leak.getMessage().contains("'never-polled-either' was scheduled but never ran"), leak.getMessage());
    }
}
