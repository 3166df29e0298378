// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/**
 * {@link TimerWheel} on its own, single-stepped with explicit times: which part holds a timer
 * (near heap, wheel slot, far heap), the tick and span boundaries, FIFO among equal deadlines
 * across parts, removal from each part, the head's lower bound and its exactness, a cursor ahead
 * of the clock, and a seeded random run against a sorted reference.
 */
class TimerWheelTest {
    private static final long TICK = 1L << TimerWheel.TICK_SHIFT;
    private static final long SPAN = (long) TimerWheel.SLOTS << TimerWheel.TICK_SHIFT;
    /** An arbitrary tick-aligned origin, far from 0, as a clock would be. */
    private static final long T0 = 1_000_000L * TICK;

    private final TimerWheel wheel = new TimerWheel();
    private long seq;

    private TimerNode arm(long deadlineNs) {
        return arm(new TimerNode(null, () -> { }), deadlineNs);
    }

    private TimerNode arm(TimerNode t, long deadlineNs) {
        if (t.isArmed()) {
            wheel.remove(t);
        }
        t.expireNs = deadlineNs;
        t.seq = seq++;
        wheel.add(t);
        return t;
    }

    private List<TimerNode> runUntil(long nowNs) {
        wheel.advanceTo(nowNs);
        List<TimerNode> fired = new ArrayList<>();
        TimerNode t;
        while ((t = wheel.pollDue(nowNs)) != null) {
            t.where = TimerNode.NOT_ARMED;
            fired.add(t);
        }
        return fired;
    }

    @Test
    void partsFollowTheDeadlineAndTheSpanBoundaries() {
        wheel.rebase(T0 + 5);
        TimerNode past = arm(T0 - 1);
        TimerNode sameTick = arm(T0 + TICK - 1);
        TimerNode nextTick = arm(T0 + TICK);
        TimerNode lastSlot = arm(T0 + SPAN - 1); // tick T0 + SLOTS - 1: the wheel's last slot
        TimerNode beyond = arm(T0 + SPAN); // tick T0 + SLOTS: one past the span
        TimerNode max = arm(Long.MAX_VALUE);
        assertEquals(TimerNode.IN_NEAR, past.where);
        assertEquals(TimerNode.IN_NEAR, sameTick.where);
        assertTrue(nextTick.where >= 0, "the next tick is a wheel slot");
        assertTrue(lastSlot.where >= 0);
        assertEquals(TimerNode.IN_FAR, beyond.where);
        assertEquals(TimerNode.IN_FAR, max.where);
        assertEquals(6, wheel.size());

        assertEquals(List.of(past), runUntil(T0 + 5));
        assertEquals(List.of(sameTick), runUntil(T0 + TICK - 1), "expiry is inclusive, to the ns");
        assertEquals(List.of(), runUntil(T0 + TICK - 1));
        assertEquals(List.of(nextTick), runUntil(T0 + TICK)); // one tick on: 'beyond' is within the span now
        assertTrue(beyond.where >= 0, "a far timer moves into the wheel once the cursor is less than a span away");
        assertEquals(TimerNode.IN_FAR, max.where);
        assertEquals(List.of(lastSlot), runUntil(T0 + SPAN - 1));
        assertEquals(List.of(beyond), runUntil(T0 + SPAN));
        assertEquals(List.of(), runUntil(Long.MAX_VALUE - 1));
        assertEquals(List.of(max), runUntil(Long.MAX_VALUE));
        assertTrue(wheel.isEmpty());
    }

    @Test
    void equalDeadlinesFireInArmingOrderAcrossParts() {
        long d = T0 + 3 * SPAN + 7;
        wheel.rebase(T0);
        TimerNode a = arm(d); // far
        TimerNode x = arm(d + 1);
        assertEquals(TimerNode.IN_FAR, a.where);
        runUntil(d - SPAN / 2); // the cursor moves: 'a' comes into the wheel first
        TimerNode b = arm(d);
        assertTrue(a.where >= 0 && a.where == b.where, "equal deadlines share a slot");
        runUntil(d - 3); // the same tick: 'a' and 'b' are in the near heap now
        TimerNode c = arm(d);
        assertEquals(TimerNode.IN_NEAR, a.where);
        assertEquals(TimerNode.IN_NEAR, c.where);
        arm(a, d); // re-arming goes behind every timer with the same deadline
        assertEquals(List.of(b, c, a, x), runUntil(d + 1));
    }

    @Test
    void removalFromEachPartLeavesTheRestInOrder() {
        wheel.rebase(T0);
        TimerNode n1 = arm(T0 + 1);
        TimerNode n2 = arm(T0 + 2);
        TimerNode w1 = arm(T0 + 5 * TICK);
        TimerNode w2 = arm(T0 + 5 * TICK); // same slot: removing w1 moves w2 into its place
        TimerNode w3 = arm(T0 + 5 * TICK + 1);
        TimerNode f1 = arm(T0 + 2 * SPAN);
        TimerNode f2 = arm(T0 + 3 * SPAN);
        wheel.remove(n1);
        wheel.remove(w1);
        wheel.remove(f1);
        for (TimerNode t : List.of(n1, w1, f1)) {
            t.where = TimerNode.NOT_ARMED;
        }
        assertEquals(4, wheel.size());
        assertEquals(List.of(n2, w2, w3, f2), runUntil(T0 + 4 * SPAN));
        assertTrue(wheel.isEmpty());
    }

    @Test
    void headIsALowerBoundAndRefineMakesItExact() {
        wheel.rebase(T0);
        assertEquals(TimerList.NONE, wheel.headNs());
        TimerNode a = arm(T0 + 10 * TICK + 100);
        TimerNode b = arm(T0 + 10 * TICK + 300);
        TimerNode c = arm(T0 + 12 * TICK + 5);
        assertEquals(a.expireNs, wheel.headNs());
        assertTrue(wheel.headExact());
        wheel.remove(a); // the wheel's minimum leaves: the next one is not known yet
        assertFalse(wheel.headExact());
        assertEquals(T0 + 10 * TICK, wheel.headNs(), "the start of the first non-empty slot");
        wheel.refine();
        assertTrue(wheel.headExact());
        assertEquals(b.expireNs, wheel.headNs());
        wheel.remove(b);
        wheel.refine();
        assertEquals(c.expireNs, wheel.headNs());
        TimerNode f = arm(T0 + 5 * SPAN);
        wheel.remove(c);
        assertEquals(f.expireNs, wheel.headNs(), "an empty wheel gives the far heap's top");
        assertTrue(wheel.headExact());
    }

    @Test
    void equalMinimaAreCountedSoRemovingOneKeepsTheHeadExact() {
        wheel.rebase(T0);
        TimerNode a = arm(T0 + 3 * TICK);
        TimerNode b = arm(T0 + 3 * TICK);
        wheel.remove(a);
        assertTrue(wheel.headExact());
        assertEquals(b.expireNs, wheel.headNs());
    }

    @Test
    void aClockJumpOfHoursFiresEverythingDueInOrderOnce() {
        wheel.rebase(T0);
        List<TimerNode> want = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            want.add(arm(T0 + i * (SPAN / 7))); // across the near heap, the wheel's slots and the far heap
        }
        TimerNode later = arm(T0 + 3_600_000_000_000L * 10);
        assertEquals(want, runUntil(T0 + 3_600_000_000_000L)); // one hour in one step
        assertEquals(List.of(later), runUntil(T0 + 3_600_000_000_000L * 10));
    }

    @Test
    void cursorAheadOfTheClockStillFiresInOrder() {
        wheel.rebase(T0 + 100 * SPAN); // HOST set back: the cursor is ahead of what the clock says
        TimerNode a = arm(T0 + 20);
        TimerNode b = arm(T0 + 10);
        TimerNode c = arm(T0 + 100 * SPAN + 3 * TICK);
        assertEquals(TimerNode.IN_NEAR, a.where, "before the cursor: the exact near heap");
        assertEquals(b.expireNs, wheel.headNs());
        assertEquals(List.of(), runUntil(T0 + 9));
        assertEquals(List.of(b, a), runUntil(T0 + 20));
        assertSame(c, runUntil(T0 + 100 * SPAN + 3 * TICK).get(0));
    }

    @Test
    void nothingIsDueBeforeItsDeadline() {
        wheel.rebase(T0);
        TimerNode a = arm(T0 + 2 * TICK + 1);
        assertNull(wheel.pollDue(T0 + 2 * TICK));
        assertEquals(List.of(), runUntil(T0 + 2 * TICK));
        assertEquals(TimerNode.IN_NEAR, a.where);
        assertEquals(List.of(a), runUntil(T0 + 2 * TICK + 1));
    }

    @Test
    void refineMovesTheCursorToANearSlotAndLaterArmingsBeforeItStillFireInOrder() {
        wheel.rebase(T0);
        TimerNode a = arm(T0 + 2 * TICK + 10);
        TimerNode b = arm(T0 + 2 * TICK + 20);
        wheel.remove(a);
        a.where = TimerNode.NOT_ARMED;
        assertFalse(wheel.headExact());
        wheel.refine(); // the first slot is 2 ticks ahead: pulled into the near heap
        assertTrue(wheel.headExact());
        assertEquals(b.expireNs, wheel.headNs());
        assertEquals(TimerNode.IN_NEAR, b.where);
        TimerNode c = arm(T0 + TICK + 5); // before the cursor now: the near heap
        assertEquals(TimerNode.IN_NEAR, c.where);
        assertEquals(List.of(), runUntil(T0 + TICK + 4), "the cursor ahead of the clock fires nothing early");
        assertEquals(List.of(c), runUntil(T0 + TICK + 5));
        assertEquals(List.of(b), runUntil(T0 + 2 * TICK + 20));
        assertTrue(wheel.isEmpty());
    }

    @Test
    void aSlotOfManyChunksKeepsEveryTimerThroughRemovals() {
        wheel.rebase(T0);
        List<TimerNode> all = new ArrayList<>();
        for (int i = 0; i < 5 * TimerWheel.CHUNK + 3; i++) { // one slot, six chunks
            all.add(arm(T0 + 7 * TICK + (i * 7919L) % TICK));
        }
        List<TimerNode> kept = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            TimerNode t = all.get(i);
            if (i % 3 == 0 || i >= all.size() - 70) { // from every chunk, and the whole first one
                wheel.remove(t);
                t.where = TimerNode.NOT_ARMED;
            } else {
                kept.add(t);
            }
        }
        assertEquals(kept.size(), wheel.size());
        kept.sort(Comparator.<TimerNode>comparingLong(t -> t.expireNs).thenComparingLong(t -> t.seq));
        assertEquals(kept, runUntil(T0 + 8 * TICK));
        assertTrue(wheel.isEmpty());
        TimerNode again = arm(all.get(0), T0 + 9 * TICK); // chunks went back to the pool and are reused
        assertEquals(List.of(again), runUntil(T0 + 9 * TICK));
    }

    /** A seeded random run against a TreeSet of (deadline, seq): order, head bound and exactness. */
    @Test
    void randomOperationsMatchASortedReference() {
        SplittableRandom rnd = new SplittableRandom(12);
        Comparator<TimerNode> order = Comparator.<TimerNode>comparingLong(t -> t.expireNs).thenComparingLong(t -> t.seq);
        TreeSet<TimerNode> ref = new TreeSet<>(order);
        TimerNode[] nodes = new TimerNode[300];
        for (int i = 0; i < nodes.length; i++) {
            nodes[i] = new TimerNode(null, () -> { });
        }
        long now = T0;
        wheel.rebase(now);
        long[] ranges = {TICK, 40 * TICK, SPAN, 4 * SPAN};
        for (int step = 0; step < 200_000; step++) {
            int op = rnd.nextInt(10);
            TimerNode t = nodes[rnd.nextInt(nodes.length)];
            if (op < 5) {
                long d = Math.max(0, now - TICK + rnd.nextLong(ranges[rnd.nextInt(ranges.length)] + TICK));
                if (rnd.nextInt(5) == 0) {
                    d = ((now >>> TimerWheel.TICK_SHIFT) + 3 << TimerWheel.TICK_SHIFT) + rnd.nextLong(TICK); // crowd one slot: many chunks
                }
                if (rnd.nextInt(8) == 0 && !ref.isEmpty()) {
                    d = ref.first().expireNs; // equal deadlines
                }
                ref.remove(t);
                arm(t, d);
                ref.add(t);
            } else if (op < 7) {
                if (t.isArmed()) {
                    ref.remove(t);
                    wheel.remove(t);
                    t.where = TimerNode.NOT_ARMED;
                }
            } else {
                now += rnd.nextInt(4) == 0 ? rnd.nextLong(2 * SPAN) : rnd.nextLong(3 * TICK);
                for (TimerNode f : runUntil(now)) {
                    TimerNode expected = ref.pollFirst();
                    assertSame(expected, f, "step " + step + ": fired out of order");
                }
                assertTrue(ref.isEmpty() || ref.first().expireNs > now, "step " + step + ": a due timer did not fire");
            }
            assertEquals(ref.size(), wheel.size());
            long trueMin = ref.isEmpty() ? TimerList.NONE : ref.first().expireNs;
            assertTrue(wheel.headNs() <= trueMin, "step " + step + ": head later than the earliest deadline");
            if (wheel.headExact()) {
                assertEquals(trueMin, wheel.headNs(), "step " + step);
            } else if (rnd.nextBoolean()) {
                wheel.refine();
                assertEquals(trueMin, wheel.headNs(), "step " + step + ": refine");
            }
            if (wheel.isEmpty() && rnd.nextInt(4) == 0) {
                wheel.rebase(now);
            }
        }
    }
}
