// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitBlockedInWait;
import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.joinOrDump;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
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
 * Timer semantics (spec 1.10) on every fd monitor. Ordering and re-arming rules are checked on
 * the VIRTUAL clock, which moves only when the test moves it; the REALTIME and HOST cases check
 * that a blocking poll sleeps until the deadline and no less, never how long it took.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class TimerTest {
    @Parameter
    FdMonitorKind kind;

    private AioContext newContext() throws ErrnoException {
        AioContext ctx = AioContext.builder().name("timer-" + kind).fdMonitor(kind).build();
        ctx.setClockEnabled(ClockType.VIRTUAL, true);
        return ctx;
    }

    private static long virtualNow(AioContext ctx) {
        return ctx.clockNs(ClockType.VIRTUAL);
    }

    @Test
    void timersWithEqualDeadlinesFireInArmingOrder() throws Exception {
        try (AioContext ctx = newContext()) {
            List<Integer> fired = new ArrayList<>();
            Timer[] timers = new Timer[6];
            long deadline = virtualNow(ctx) + 1000;
            for (int i = 0; i < timers.length; i++) {
                int k = i;
                timers[i] = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add(k));
                timers[i].modNs(deadline);
            }
            timers[2].modNs(deadline); // re-arming goes behind every timer with the same deadline
            Timer early = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add(-1));
            early.modNs(deadline - 1);
            drain(ctx);
            assertTrue(fired.isEmpty());
            ctx.advanceVirtualClockNs(1000);
            assertTrue(ctx.poll(false));
            assertEquals(List.of(-1, 0, 1, 3, 4, 5, 2), fired);
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void modAnticipateOnlyMovesTheDeadlineEarlier() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer t = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> { });
            long base = virtualNow(ctx);
            t.modAnticipateNs(base + 500); // not armed: arms it
            assertEquals(base + 500, t.expireTimeNs());
            t.modAnticipateNs(base + 900);
            assertEquals(base + 500, t.expireTimeNs(), "a later deadline is ignored");
            t.modAnticipateNs(base + 500);
            assertEquals(base + 500, t.expireTimeNs());
            t.modAnticipateNs(base + 100);
            assertEquals(base + 100, t.expireTimeNs(), "an earlier deadline is taken");
            t.modNs(base + 900);
            assertEquals(base + 900, t.expireTimeNs(), "mod moves it either way");
            t.delete();
        }
    }

    @Test
    void timerStateFollowsModDeleteAndExpiry() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            Timer t = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> n[0]++);
            assertFalse(t.isPending());
            assertEquals(-1, t.expireTimeNs());
            long base = virtualNow(ctx);
            t.modNs(base + 100);
            assertTrue(t.isPending());
            assertEquals(base + 100, t.expireTimeNs());
            assertFalse(t.isExpired(base + 99));
            assertTrue(t.isExpired(base + 100), "expiry is inclusive");
            t.delete();
            assertFalse(t.isPending());
            assertEquals(-1, t.expireTimeNs());
            t.delete(); // deleting a disarmed timer does nothing
            ctx.advanceVirtualClockNs(1000);
            drain(ctx);
            assertEquals(0, n[0], "a deleted timer never fires");

            t.modNs(-5);
            assertEquals(0, t.expireTimeNs(), "a negative deadline means 0");
            assertTrue(ctx.poll(false));
            assertEquals(1, n[0]);
            assertFalse(t.isPending(), "a timer is disarmed before its callback runs");
        }
    }

    @Test
    void timerReArmedInThePastByItsCallbackFiresAgainInTheSamePoll() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            Timer[] self = new Timer[1];
            self[0] = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> {
                if (++n[0] < 3) {
                    self[0].modNs(virtualNow(ctx)); // due now: expiry is inclusive
                }
            });
            self[0].modNs(virtualNow(ctx) + 10);
            ctx.advanceVirtualClockNs(10);
            assertTrue(ctx.poll(false));
            assertEquals(3, n[0]);
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void timerDeletedByAnEarlierCallbackOfTheSameRunDoesNotFire() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] victimRuns = new int[1];
            Timer victim = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> victimRuns[0]++);
            Timer killer = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, victim::delete);
            long deadline = virtualNow(ctx) + 10;
            killer.modNs(deadline); // armed first: fires first
            victim.modNs(deadline);
            ctx.advanceVirtualClockNs(10);
            assertTrue(ctx.poll(false));
            assertEquals(0, victimRuns[0]);
            assertFalse(victim.isPending());
        }
    }

    @Test
    void disabledVirtualClockHoldsItsTimersUntilEnabled() throws Exception {
        try (AioContext ctx = newContext()) {
            ctx.setClockEnabled(ClockType.VIRTUAL, false);
            assertFalse(ctx.isClockEnabled(ClockType.VIRTUAL));
            int[] n = new int[1];
            Timer t = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> n[0]++);
            t.modNs(virtualNow(ctx));
            drain(ctx);
            assertEquals(0, n[0], "a disabled clock runs no timers");
            ctx.setClockEnabled(ClockType.VIRTUAL, true);
            assertTrue(ctx.poll(false));
            assertEquals(1, n[0]);
        }
    }

    @Test
    void timerScaleMultipliesTheDeadline() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[2];
            Timer us = ctx.newTimer(ClockType.VIRTUAL, TimerScale.US, () -> n[0]++);
            Timer ms = ctx.newTimer(ClockType.VIRTUAL, TimerScale.MS, () -> n[1]++);
            assertEquals(TimerScale.US, us.scale());
            long baseNs = virtualNow(ctx);
            us.mod(baseNs / 1_000 + 5);
            ms.mod(baseNs / 1_000_000 + 2);
            assertEquals((baseNs / 1_000 + 5) * 1_000, us.expireTimeNs());
            assertEquals((baseNs / 1_000_000 + 2) * 1_000_000, ms.expireTimeNs());
            drain(ctx);

            ctx.advanceVirtualClockNs(us.expireTimeNs() - virtualNow(ctx) - 1);
            assertFalse(ctx.poll(false), "1 ns before the microsecond deadline");
            ctx.advanceVirtualClockNs(1);
            assertTrue(ctx.poll(false));
            assertEquals(1, n[0]);
            assertTrue(ms.isExpired(ms.expireTimeNs() / 1_000_000), "isExpired takes the timer's scale");

            ctx.advanceVirtualClockNs(ms.expireTimeNs() - virtualNow(ctx) - 1);
            assertFalse(ctx.poll(false), "1 ns before the millisecond deadline");
            ctx.advanceVirtualClockNs(1);
            assertTrue(ctx.poll(false));
            assertEquals(1, n[1]);
        }
    }

    /** Polls blocking until {@code n[0]} moves; allows one early return for the arming notification. */
    private static void assertOneBlockingPollRunsTheTimer(AioContext ctx, int[] n) {
        boolean progress = ctx.poll(true);
        if (!progress) {
            assertEquals(0, n[0], "a poll that ran the timer reported no progress");
            progress = ctx.poll(true); // the first one consumed the notification made by arming the timer
        }
        assertTrue(progress, "the blocking poll returned before the timer's deadline");
        assertEquals(1, n[0]);
    }

    @Test
    void twoMillisecondRealtimeTimerFiresInOneBlockingPollAndNotEarly() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            long[] firedAt = new long[1];
            Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                n[0]++;
                firedAt[0] = System.nanoTime();
            });
            long deadline = ctx.clockNs(ClockType.REALTIME) + TimeUnit.MILLISECONDS.toNanos(2);
            t.modNs(deadline);
            assertOneBlockingPollRunsTheTimer(ctx, n);
            assertTrue(firedAt[0] - deadline >= 0, "fired " + (deadline - firedAt[0]) + " ns early");
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void hostClockTimerFiresOnceTheWallClockPassesIt() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            Timer t = ctx.newTimer(ClockType.HOST, TimerScale.MS, () -> n[0]++);
            assertEquals(ClockType.HOST, t.clock());
            t.mod(ctx.clockNs(ClockType.HOST) / 1_000_000); // this millisecond: already due
            assertTrue(ctx.poll(false));
            assertEquals(1, n[0]);

            n[0] = 0;
            long deadlineMs = ctx.clockNs(ClockType.HOST) / 1_000_000 + 5;
            t.mod(deadlineMs);
            assertOneBlockingPollRunsTheTimer(ctx, n);
            assertTrue(ctx.clockNs(ClockType.HOST) >= deadlineMs * 1_000_000, "the HOST timer fired early");
        }
    }

    /**
     * A poll blocked on a far REALTIME deadline is woken when another thread re-arms that timer
     * to now: the new head notifies the context. A guard timer turns a lost wake-up into a
     * failure instead of an hour-long sleep.
     */
    @Test
    void reArmingTheEarliestTimerFromAnotherThreadWakesABlockedPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            boolean[] guardFired = new boolean[1];
            Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> n[0]++);
            Timer guard = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> guardFired[0] = true);
            long now = ctx.clockNs(ClockType.REALTIME);
            t.modNs(now + TimeUnit.HOURS.toNanos(1));
            guard.modNs(now + TimeUnit.SECONDS.toNanos(10));
            drain(ctx);
            assertEquals(0, ctx.notifierWriteCount());

            Thread home = Thread.currentThread();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread rearmer = Thread.ofPlatform().name("timer-rearmer").start(() -> {
                try {
                    awaitBlockedInWait(home);
                    t.modNs(ctx.clockNs(ClockType.REALTIME));
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            assertTrue(ctx.poll(true));
            joinOrDump(rearmer);
            assertNull(failure.get());
            assertEquals(1, n[0]);
            assertFalse(guardFired[0], "the loop slept through the re-arm (lost wake-up)");
            assertEquals(1, ctx.notifierWriteCount(), "the re-arm woke the blocked loop with one eventfd write");
            guard.delete();
        }
    }

    // ---- the timing wheel (TimerWheel): 524 us ticks, a 4.29 s span, heaps before and beyond ----

    /** The wheel's span (2^32 ns): deadlines beyond it wait in the far heap. */
    private static final long SPAN_NS = 1L << 32;
    /** One wheel tick (2^19 ns): the near heap holds the current one. */
    private static final long TICK_NS = 1L << 19;

    /**
     * Timers with one deadline armed while it was beyond the span, within it, and in the current
     * tick fire in arming order, and a re-armed one goes behind them all (QEMU: FIFO).
     */
    @Test
    void equalDeadlinesFireInArmingOrderAcrossTheWheelsParts() throws Exception {
        try (AioContext ctx = newContext()) {
            List<String> fired = new ArrayList<>();
            long d = virtualNow(ctx) + 3 * SPAN_NS + 7;
            Timer far = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add("far"));
            Timer wheel = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add("wheel"));
            Timer near = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add("near"));
            Timer again = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add("again"));
            Timer pacer = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add("pacer"));
            far.modNs(d);
            again.modNs(d);
            pacer.modNs(d - SPAN_NS / 2);
            ctx.advanceVirtualClockNs(pacer.expireTimeNs() - virtualNow(ctx)); // the loop's cursor moves: d is within the span
            assertTrue(ctx.poll(false));
            wheel.modNs(d);
            pacer.modNs(d - 3);
            ctx.advanceVirtualClockNs(pacer.expireTimeNs() - virtualNow(ctx)); // d is in the current tick now
            assertTrue(ctx.poll(false));
            near.modNs(d);
            again.modNs(d);
            fired.clear();
            assertFalse(ctx.poll(false), "nothing is due 3 ns early");
            ctx.advanceVirtualClockNs(3);
            assertTrue(ctx.poll(false));
            assertEquals(List.of("far", "wheel", "near", "again"), fired);
        }
    }

    /** modAnticipate moves a deadline from beyond the span into the wheel and into the current tick, never later. */
    @Test
    void modAnticipateMovesADeadlineEarlierAcrossTheWheelsParts() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[1];
            Timer t = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> n[0]++);
            long base = virtualNow(ctx);
            t.modNs(base + 10 * SPAN_NS); // far
            t.modAnticipateNs(base + 20 * SPAN_NS);
            assertEquals(base + 10 * SPAN_NS, t.expireTimeNs(), "a later deadline is ignored");
            t.modAnticipateNs(base + SPAN_NS / 2); // into the wheel
            assertEquals(base + SPAN_NS / 2, t.expireTimeNs());
            t.modAnticipateNs(base + 5); // into the current tick
            t.modAnticipateNs(base + SPAN_NS / 3);
            assertEquals(base + 5, t.expireTimeNs());
            ctx.advanceVirtualClockNs(4);
            assertFalse(ctx.poll(false));
            ctx.advanceVirtualClockNs(1);
            assertTrue(ctx.poll(false));
            assertEquals(1, n[0]);
            ctx.advanceVirtualClockNs(20 * SPAN_NS);
            assertFalse(ctx.poll(false), "the earlier deadlines it had were dropped, not left armed");
        }
    }

    /** A timer deleted from the near heap, a wheel slot or the far heap never fires; the others do, in order. */
    @Test
    void timersDeletedFromEachPartOfTheWheelNeverFire() throws Exception {
        try (AioContext ctx = newContext()) {
            List<Integer> fired = new ArrayList<>();
            long base = virtualNow(ctx);
            long[] deadlines = {base + 1, base + 2, base + 5 * TICK_NS, base + 5 * TICK_NS, base + 5 * TICK_NS + 1,
                base + 2 * SPAN_NS, base + 3 * SPAN_NS, Long.MAX_VALUE - 1};
            List<Timer> timers = new ArrayList<>();
            for (int i = 0; i < deadlines.length; i++) {
                int k = i;
                Timer t = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add(k));
                t.modNs(deadlines[i]);
                timers.add(t);
            }
            for (int i : new int[] {0, 2, 5, 7}) { // near, wheel (one of two in a slot), far, far at the end of time
                timers.get(i).delete();
                assertFalse(timers.get(i).isPending());
            }
            ctx.advanceVirtualClockNs(4 * SPAN_NS);
            assertTrue(ctx.poll(false));
            assertEquals(List.of(1, 3, 4, 6), fired);
            ctx.advanceVirtualClockNs(Long.MAX_VALUE - virtualNow(ctx));
            assertFalse(ctx.poll(false));
        }
    }

    /**
     * The virtual clock jumps ten hours at once over timers in every part of the wheel and
     * beyond its span, up to the end of time: one poll runs the due ones in deadline order.
     */
    @Test
    void clockJumpOfHoursRunsEveryDueTimerInOrderInOnePoll() throws Exception {
        try (AioContext ctx = newContext()) {
            List<Long> fired = new ArrayList<>();
            long base = virtualNow(ctx);
            List<Long> want = new ArrayList<>();
            for (int i = 39; i >= 0; i--) { // armed latest first
                long d = base + i * (SPAN_NS / 3) + (i % 4);
                want.add(0, d);
                ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add(d)).modNs(d);
            }
            long endNs = Long.MAX_VALUE - 1; // Long.MAX_VALUE itself means "never", as it always did
            Timer end = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> fired.add(endNs));
            end.modNs(endNs);
            ctx.advanceVirtualClockNs(TimeUnit.HOURS.toNanos(10));
            assertTrue(ctx.poll(false));
            assertEquals(want, fired);
            assertTrue(end.isPending());
            ctx.advanceVirtualClockNs(endNs - 1 - virtualNow(ctx));
            assertFalse(ctx.poll(false), "1 ns before the end of time");
            ctx.advanceVirtualClockNs(1);
            assertTrue(ctx.poll(false));
            assertEquals(endNs, fired.get(fired.size() - 1));
        }
    }

    /**
     * An Error from a timer in the middle of a run that emptied several wheel slots leaves the
     * timers behind it armed; the next poll runs them in order.
     */
    @Test
    void errorFromATimerAfterAClockJumpLeavesTheRestForTheNextPollInOrder() throws Exception {
        try (AioContext ctx = newContext()) {
            List<Integer> fired = new ArrayList<>();
            long base = virtualNow(ctx);
            AssertionError boom = new AssertionError("boom");
            for (int i = 0; i < 6; i++) {
                int k = i;
                ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> {
                    fired.add(k);
                    if (k == 2) {
                        throw boom;
                    }
                }).modNs(base + (k + 1) * 3 * TICK_NS);
            }
            ctx.advanceVirtualClockNs(SPAN_NS);
            try {
                ctx.poll(false);
                throw new IllegalStateException("the Error did not propagate");
            } catch (AssertionError e) {
                assertEquals(boom, e);
            }
            assertEquals(List.of(0, 1, 2), fired);
            assertTrue(ctx.poll(false));
            assertEquals(List.of(0, 1, 2, 3, 4, 5), fired);
        }
    }

    /**
     * While the loop sleeps on a REALTIME timer a second away (in the wheel), another thread
     * re-arms a later timer (no wake-up: the earliest deadline did not move), then re-arms a
     * third one to now, which wakes the loop with one eventfd write.
     */
    @Test
    void reArmFromAnotherThreadWakesTheSleepingLoopOnlyWhenItBecomesTheEarliest() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[3];
            Timer soon = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> n[0]++);
            Timer later = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> n[1]++);
            Timer rearmed = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> n[2]++);
            long now = ctx.clockNs(ClockType.REALTIME);
            soon.modNs(now + TimeUnit.SECONDS.toNanos(1));
            later.modNs(now + TimeUnit.SECONDS.toNanos(2));
            rearmed.modNs(now + TimeUnit.SECONDS.toNanos(3));
            drain(ctx);
            long writes = ctx.notifierWriteCount();

            Thread home = Thread.currentThread();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            long[] writesAfterLater = new long[1];
            Thread rearmer = Thread.ofPlatform().name("timer-rearmer").start(() -> {
                try {
                    awaitBlockedInWait(home);
                    later.modNs(ctx.clockNs(ClockType.REALTIME) + TimeUnit.SECONDS.toNanos(2));
                    writesAfterLater[0] = ctx.notifierWriteCount();
                    rearmed.modNs(ctx.clockNs(ClockType.REALTIME));
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            assertTrue(ctx.poll(true));
            joinOrDump(rearmer);
            assertNull(failure.get());
            assertEquals(writes, writesAfterLater[0], "re-arming a timer that is not the earliest woke the loop");
            assertEquals(writes + 1, ctx.notifierWriteCount(), "the new earliest timer woke the loop with one write");
            assertEquals(0, n[0]);
            assertEquals(1, n[2]);
            soon.delete();
            later.delete();
        }
    }

    /**
     * Deleting the earliest of several timers in one wheel slot leaves a loop that computes its
     * timeout afterwards sleeping until the next one exactly: one blocking poll runs it.
     */
    @Test
    void afterTheEarliestIsDeletedOneBlockingPollRunsTheNext() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] n = new int[2];
            long[] firedAt = new long[1];
            Timer first = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> n[0]++);
            Timer second = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                n[1]++;
                firedAt[0] = ctx.clockNs(ClockType.REALTIME);
            });
            long now = ctx.clockNs(ClockType.REALTIME);
            long d = (now + TimeUnit.MILLISECONDS.toNanos(30)) & -TICK_NS; // both in one tick's slot
            first.modNs(d + 10);
            second.modNs(d + TICK_NS - 1);
            drain(ctx);
            first.delete(); // the wheel's minimum leaves: the head is a lower bound until refined
            assertTrue(ctx.poll(true), "the blocking poll woke before the next timer was due");
            assertEquals(0, n[0]);
            assertEquals(1, n[1]);
            assertTrue(firedAt[0] >= d + TICK_NS - 1, "fired early");
        }
    }
}
