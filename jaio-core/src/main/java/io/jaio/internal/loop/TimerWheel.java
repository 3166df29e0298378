package io.jaio.internal.loop;

import java.util.Arrays;
import java.util.List;

import io.jaio.ClockType;

/**
 * The armed timers of one {@link TimerList}: a timing wheel for the next 4.3 s between a small
 * exact heap for the current tick and an exact heap for deadlines beyond the wheel's span.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Structure.</b> Time is cut into ticks of {@code 2^TICK_SHIFT} ns (524 us). {@link #cursorTick}
 *     is the wheel's tick. A timer whose deadline falls in tick {@code d >>> TICK_SHIFT}:
 *     <ul>
 *     <li>{@code <= cursorTick} is in the <b>near heap</b> (due now or within the current tick);</li>
 *     <li>{@code cursorTick + 1 .. cursorTick + SLOTS - 1} is in the <b>wheel</b>, slot
 *         {@code tick & (SLOTS - 1)}: an unordered bag kept as four intrusive doubly linked
 *         lists (pushed at the front), so adding and removing are O(1) and a slot costs four
 *         references;</li>
 *     <li>{@code >= cursorTick + SLOTS} is in the <b>far heap</b>.</li>
 *     </ul>
 *     So every near timer is earlier than every wheel timer, which is earlier than every far
 *     timer; inside the near and far heaps the order is (deadline, arming sequence).</li>
 * <li><b>Moving the cursor</b> ({@link #advanceTo}, from {@code TimerList.run} with the clock's
 *     now): the slots of the ticks passed are emptied into the near heap (each slot once, found
 *     through an occupancy bitmap and a summary of it, so a clock that jumps hours forward costs
 *     O(slots visited / 64) words plus the timers moved), then far timers that came within the
 *     wheel's span move into it (or straight into the near heap). A timer therefore moves at
 *     most twice (far to wheel, wheel to near heap) before it fires, and the fire path pops a
 *     heap of about one tick's worth of timers, not of all of them. There is no cascade of a
 *     coarse slot: the wheel has one level, and what lies beyond it is exact already.</li>
 * <li><b>FIFO among equal deadlines</b>: equal deadlines fall in the same tick, hence always in
 *     the same part (the far-to-wheel move happens in {@link #advanceTo} before anything is
 *     placed against the new cursor), and the heaps break ties by the arming sequence, which a
 *     cascade carries along.</li>
 * <li><b>The earliest deadline</b> ({@link #headNs}): the near heap's top; else the exact
 *     minimum of the wheel, kept in {@link #minNs} with how many wheel timers have it
 *     ({@link #minCount}); else the far heap's top. Adding keeps the minimum exact; removing the
 *     last timer with it makes it unknown ({@link #minValid} false), and {@link #headNs} then
 *     returns the start of the first non-empty slot, a lower bound, until {@link #refine} scans
 *     that one slot (a tick's worth of timers). So {@code headNs() <=} the true
 *     earliest deadline always, equal to it whenever {@link #headExact}.</li>
 * <li><b>Clocks that jump.</b> Forward: see above. Backward (HOST set back; the cursor is then
 *     ahead of the clock): timers armed before the cursor go to the near heap, which is exact for
 *     any deadline, so nothing fires late or early; only that heap grows. When the list is
 *     empty, {@link #rebase} puts the cursor back on the clock.</li>
 * </ul>
 *
 * <p>Threading: none of its own; every method runs under the owning {@link TimerList}'s lock.
 */
final class TimerWheel {
    /** A tick is 2^19 ns = 524 us: the near heap holds one tick's worth of timers. */
    static final int TICK_SHIFT = 19;
    /** 2^13 slots of one tick: the wheel spans 2^32 ns = 4.29 s. */
    static final int SLOT_BITS = 13;
    static final int SLOTS = 1 << SLOT_BITS;
    private static final int MASK = SLOTS - 1;
    /**
     * Each slot is four lists (lanes), a timer going to lane {@code seq & 3}: emptying a slot
     * walks the four lists side by side, so four cache misses are in flight instead of one.
     */
    static final int LANE_BITS = 2;
    private static final int LANES = 1 << LANE_BITS;
    private static final int LISTS = SLOTS << LANE_BITS;
    private static final int WORDS = LISTS / 64;

    /** The first node of each list (slot << LANE_BITS | lane) of the wheel (null: empty). */
    private final TimerNode[] heads = new TimerNode[LISTS];
    /** Bit l of word l/64: list l is not empty. */
    private final long[] occupied = new long[WORDS];
    /** Bit w of word w/64: occupied[w] != 0. */
    private final long[] summary = new long[WORDS / 64];
    private final TimerHeap near = new TimerHeap(TimerNode.IN_NEAR);
    private final TimerHeap far = new TimerHeap(TimerNode.IN_FAR);
    private long cursorTick;
    private int wheelCount;
    /** Whether minNs/minCount are exact for the wheel's timers (always true when it is empty). */
    private boolean minValid = true;
    private long minNs = TimerList.NONE;
    private int minCount;

    int size() {
        return near.size() + wheelCount + far.size();
    }

    boolean isEmpty() {
        return size() == 0;
    }

    /** Puts the cursor on {@code nowNs}; only when empty. */
    void rebase(long nowNs) {
        assert isEmpty();
        cursorTick = Math.max(nowNs, 0) >>> TICK_SHIFT;
    }

    /** Adds {@code t}, whose expireNs and seq are set and which is in no part. */
    void add(TimerNode t) {
        long d = t.expireNs;
        long tick = d >>> TICK_SHIFT;
        long ahead = tick - cursorTick;
        if (ahead <= 0) {
            near.add(t);
        } else if (ahead < SLOTS) {
            append(((int) tick & MASK) << LANE_BITS | ((int) t.seq & (LANES - 1)), t, d);
        } else {
            far.add(t);
        }
    }

    /** Removes {@code t}, which is armed here; leaves its place for the caller to reset. */
    void remove(TimerNode t) {
        switch (t.where) {
            case TimerNode.IN_NEAR -> near.remove(t);
            case TimerNode.IN_FAR -> far.remove(t);
            default -> removeFromSlot(t);
        }
    }

    /** The near heap's first node if it is due at {@code nowNs} (removed), else null. */
    TimerNode pollDue(long nowNs) {
        if (near.size() == 0 || near.topDeadline() > nowNs) {
            return null;
        }
        return near.poll();
    }

    /** A lower bound of the earliest deadline, exact when {@link #headExact}; NONE when empty. */
    long headNs() {
        if (near.size() > 0) {
            return near.topDeadline();
        }
        if (wheelCount > 0) {
            return minValid ? minNs : firstSlotTick() << TICK_SHIFT;
        }
        return far.size() > 0 ? far.topDeadline() : TimerList.NONE;
    }

    boolean headExact() {
        return near.size() > 0 || wheelCount == 0 || minValid;
    }

    /** Makes {@link #headNs} exact: scans the first non-empty slot for the wheel's minimum. */
    void refine() {
        if (headExact()) {
            return;
        }
        int first = ((int) firstSlotTick() & MASK) << LANE_BITS;
        long min = TimerList.NONE;
        int count = 0;
        for (int l = first; l < first + LANES; l++) {
            for (TimerNode t = heads[l]; t != null; t = t.next) { // bounded by the slot's size
                long d = t.expireNs;
                if (d < min) {
                    min = d;
                    count = 1;
                } else if (d == min) {
                    count++;
                }
            }
        }
        minNs = min;
        minCount = count;
        minValid = true;
    }

    /**
     * Moves the cursor to {@code nowNs}'s tick (never back): the slots passed go to the near
     * heap, far timers now within the span to the wheel. Afterwards every timer due at
     * {@code nowNs} is in the near heap.
     */
    void advanceTo(long nowNs) {
        long to = Math.max(nowNs, 0) >>> TICK_SHIFT;
        long from = cursorTick;
        if (to <= from) {
            return;
        }
        cursorTick = to;
        if (wheelCount > 0) {
            if (to - from >= SLOTS) {
                flushSlots(0, MASK);
            } else {
                int a = (int) (from + 1) & MASK;
                int b = (int) to & MASK;
                if (a <= b) {
                    flushSlots(a, b);
                } else {
                    flushSlots(a, MASK);
                    flushSlots(0, b);
                }
            }
            if (wheelCount == 0) {
                minValid = true;
                minNs = TimerList.NONE;
                minCount = 0;
            }
        }
        while (far.size() > 0 && (far.topDeadline() >>> TICK_SHIFT) - to < SLOTS) { // bounded by far.size()
            add(far.poll());
        }
    }

    /** close(): names every armed timer, disarms it and empties every part. */
    void collectLeaks(ClockType clock, List<String> leaks) {
        for (int i = 0; i < near.size(); i++) {
            leak(near.at(i), clock, leaks);
        }
        near.clear();
        for (int i = 0; i < far.size(); i++) {
            leak(far.at(i), clock, leaks);
        }
        far.clear();
        for (int l = 0; l < LISTS && wheelCount > 0; l++) {
            TimerNode t = heads[l];
            heads[l] = null;
            while (t != null) { // bounded by wheelCount
                TimerNode next = t.next;
                t.next = null;
                t.prev = null;
                leak(t, clock, leaks);
                wheelCount--;
                t = next;
            }
        }
        Arrays.fill(occupied, 0);
        Arrays.fill(summary, 0);
        minValid = true;
        minNs = TimerList.NONE;
        minCount = 0;
    }

    private static void leak(TimerNode t, ClockType clock, List<String> leaks) {
        leaks.add("timer on " + clock + " still armed (expires at " + t.expireNs + " ns)");
        t.where = TimerNode.NOT_ARMED;
        t.pos = -1;
        t.setExpire(-1);
    }

    // ---- the wheel's slots ----

    private void append(int list, TimerNode t, long d) {
        TimerNode head = heads[list];
        t.next = head;
        t.prev = null;
        if (head != null) {
            head.prev = t;
        } else {
            setOccupied(list);
        }
        heads[list] = t;
        t.where = list;
        t.pos = -1;
        wheelCount++;
        if (minValid) {
            if (d < minNs) {
                minNs = d;
                minCount = 1;
            } else if (d == minNs) {
                minCount++;
            }
        }
    }

    private void removeFromSlot(TimerNode t) {
        int list = t.where;
        TimerNode next = t.next;
        TimerNode prev = t.prev;
        if (prev != null) {
            prev.next = next;
        } else {
            heads[list] = next;
            if (next == null) {
                clearOccupied(list);
            }
        }
        if (next != null) {
            next.prev = prev;
        }
        t.next = null;
        t.prev = null;
        long d = t.expireNs;
        if (--wheelCount == 0) {
            minValid = true;
            minNs = TimerList.NONE;
            minCount = 0;
        } else if (minValid && d == minNs && --minCount == 0) {
            minValid = false; // the next minimum is unknown until refine()
        }
    }

    /** Empties the non-empty slots in [a, b] into the near heap. */
    private void flushSlots(int a, int b) {
        int before = wheelCount;
        for (int l = nextOccupied(a << LANE_BITS); l >= 0 && (l >>> LANE_BITS) <= b; // at most b - a + 1 slots
                l = nextOccupied(((l >>> LANE_BITS) + 1) << LANE_BITS)) {
            int first = l & ~(LANES - 1);
            TimerNode t0 = takeList(first);
            TimerNode t1 = takeList(first + 1);
            TimerNode t2 = takeList(first + 2);
            TimerNode t3 = takeList(first + 3);
            while (t0 != null || t1 != null || t2 != null || t3 != null) { // bounded by the slot's size
                t0 = toNear(t0); // four independent chains: their loads overlap
                t1 = toNear(t1);
                t2 = toNear(t2);
                t3 = toNear(t3);
            }
        }
        if (wheelCount != before) {
            // The first non-empty slot, which holds the minimum, was among those flushed; the
            // near heap is not empty now, so headNs() reads it and the wheel's minimum can wait.
            minValid = false;
        }
    }

    private TimerNode takeList(int l) {
        TimerNode t = heads[l];
        if (t != null) {
            heads[l] = null;
            clearOccupied(l);
        }
        return t;
    }

    /** Moves {@code t} (if any) from its emptied list to the near heap; returns the next one. */
    private TimerNode toNear(TimerNode t) {
        if (t == null) {
            return null;
        }
        TimerNode next = t.next;
        t.next = null;
        t.prev = null;
        near.add(t);
        wheelCount--;
        return next;
    }

    /** The tick of the first non-empty slot after the cursor; only when wheelCount > 0. */
    private long firstSlotTick() {
        int start = (int) (cursorTick + 1) & MASK;
        int l = nextOccupied(start << LANE_BITS);
        if (l < 0) {
            l = nextOccupied(0); // wrapped around
        }
        return cursorTick + 1 + (((l >>> LANE_BITS) - start) & MASK);
    }

    private void setOccupied(int list) {
        int w = list >>> 6;
        occupied[w] |= 1L << list;
        summary[w >>> 6] |= 1L << w;
    }

    private void clearOccupied(int list) {
        int w = list >>> 6;
        long bits = occupied[w] & ~(1L << list);
        occupied[w] = bits;
        if (bits == 0) {
            summary[w >>> 6] &= ~(1L << w);
        }
    }

    /** The first non-empty list >= from, or -1. */
    private int nextOccupied(int from) {
        if (from >= LISTS) {
            return -1;
        }
        int w = from >>> 6;
        long bits = occupied[w] & (-1L << from);
        if (bits != 0) {
            return (w << 6) + Long.numberOfTrailingZeros(bits);
        }
        int nw = w + 1;
        if (nw >= WORDS) {
            return -1;
        }
        int s = nw >>> 6;
        long sb = summary[s] & (-1L << nw);
        while (sb == 0) { // at most WORDS / 64 summary words
            if (++s >= summary.length) {
                return -1;
            }
            sb = summary[s];
        }
        int word = (s << 6) + Long.numberOfTrailingZeros(sb);
        return (word << 6) + Long.numberOfTrailingZeros(occupied[word]);
    }
}
