package io.jaio.internal.loop;

import java.util.Arrays;
import java.util.List;

import io.jaio.ClockType;

/**
 * The armed timers of one {@link TimerList}: a timing wheel for the next ~4.3 s between a small
 * exact heap for the current tick and an exact heap for deadlines beyond the wheel's span.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Structure.</b> Time is cut into ticks of {@code 2^TICK_SHIFT} ns (65.5 us). {@link #cursorTick}
 *     is the wheel's tick. A timer whose deadline falls in tick {@code d >>> TICK_SHIFT}:
 *     <ul>
 *     <li>{@code <= cursorTick} is in the <b>near heap</b> (due now or within the current tick);</li>
 *     <li>{@code cursorTick + 1 .. cursorTick + SLOTS - 1} is in the <b>wheel</b>, slot
 *         {@code tick & (SLOTS - 1)}: an unordered bag kept as two parallel arrays (nodes and
 *         their deadlines), each node knowing its index, so adding and removing are O(1)
 *         (removal moves the slot's last entry into the hole);</li>
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
 *     that one slot (a tick's worth of deadlines, in an array). So {@code headNs() <=} the true
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
    /** A tick is 2^16 ns = 65.536 us: the near heap holds one tick's worth of timers. */
    static final int TICK_SHIFT = 16;
    /** 2^16 slots of one tick: the wheel spans 2^32 ns = 4.29 s. */
    static final int SLOT_BITS = 16;
    static final int SLOTS = 1 << SLOT_BITS;
    private static final int MASK = SLOTS - 1;
    private static final int WORDS = SLOTS / 64;
    /** A slot emptied with more room than this gives its arrays back (a burst at one deadline). */
    private static final int KEEP_CAPACITY = 1024;
    private static final int FIRST_CAPACITY = 8;

    private final TimerNode[][] slotNodes = new TimerNode[SLOTS][];
    private final long[][] slotDeadlines = new long[SLOTS][];
    private final int[] slotCounts = new int[SLOTS];
    /** Bit s of word s/64: slot s is not empty. */
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
            append((int) tick & MASK, t, d);
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
        int slot = (int) firstSlotTick() & MASK;
        long[] ds = slotDeadlines[slot];
        long min = TimerList.NONE;
        int count = 0;
        for (int i = 0, n = slotCounts[slot]; i < n; i++) { // bounded by the slot's size
            long d = ds[i];
            if (d < min) {
                min = d;
                count = 1;
            } else if (d == min) {
                count++;
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
        for (int slot = 0; slot < SLOTS && wheelCount > 0; slot++) {
            int n = slotCounts[slot];
            for (int i = 0; i < n; i++) {
                leak(slotNodes[slot][i], clock, leaks);
                slotNodes[slot][i] = null;
            }
            slotCounts[slot] = 0;
            wheelCount -= n;
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

    private void append(int slot, TimerNode t, long d) {
        int n = slotCounts[slot];
        TimerNode[] ns = slotNodes[slot];
        if (ns == null || n == ns.length) {
            ns = grow(slot, n);
        }
        ns[n] = t;
        slotDeadlines[slot][n] = d;
        slotCounts[slot] = n + 1;
        t.where = slot;
        t.pos = n;
        if (n == 0) {
            setOccupied(slot);
        }
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

    private TimerNode[] grow(int slot, int n) {
        int cap = Math.max(FIRST_CAPACITY, n * 2);
        TimerNode[] ns = new TimerNode[cap];
        long[] ds = new long[cap];
        if (n > 0) {
            System.arraycopy(slotNodes[slot], 0, ns, 0, n);
            System.arraycopy(slotDeadlines[slot], 0, ds, 0, n);
        }
        slotNodes[slot] = ns;
        slotDeadlines[slot] = ds;
        return ns;
    }

    private void removeFromSlot(TimerNode t) {
        int slot = t.where;
        int i = t.pos;
        TimerNode[] ns = slotNodes[slot];
        long[] ds = slotDeadlines[slot];
        long d = ds[i];
        int last = --slotCounts[slot];
        if (i != last) {
            TimerNode moved = ns[last];
            ns[i] = moved;
            ds[i] = ds[last];
            moved.pos = i;
        }
        ns[last] = null;
        if (last == 0) {
            clearOccupied(slot);
        }
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
        for (int slot = nextOccupied(a); slot >= 0 && slot <= b; slot = nextOccupied(slot + 1)) { // at most b - a + 1 slots
            int n = slotCounts[slot];
            TimerNode[] ns = slotNodes[slot];
            for (int i = 0; i < n; i++) { // bounded by the slot's size
                TimerNode t = ns[i];
                ns[i] = null;
                near.add(t);
            }
            slotCounts[slot] = 0;
            clearOccupied(slot);
            wheelCount -= n;
            if (ns.length > KEEP_CAPACITY) {
                slotNodes[slot] = null;
                slotDeadlines[slot] = null;
            }
        }
        if (wheelCount != before) {
            // The first non-empty slot, which holds the minimum, was among those flushed; the
            // near heap is not empty now, so headNs() reads it and the wheel's minimum can wait.
            minValid = false;
        }
    }

    /** The tick of the first non-empty slot after the cursor; only when wheelCount > 0. */
    private long firstSlotTick() {
        int start = (int) (cursorTick + 1) & MASK;
        int slot = nextOccupied(start);
        if (slot < 0) {
            slot = nextOccupied(0); // wrapped around
        }
        return cursorTick + 1 + ((slot - start) & MASK);
    }

    private void setOccupied(int slot) {
        int w = slot >>> 6;
        occupied[w] |= 1L << slot;
        summary[w >>> 6] |= 1L << w;
    }

    private void clearOccupied(int slot) {
        int w = slot >>> 6;
        long bits = occupied[w] & ~(1L << slot);
        occupied[w] = bits;
        if (bits == 0) {
            summary[w >>> 6] &= ~(1L << w);
        }
    }

    /** The first non-empty slot >= from, or -1. */
    private int nextOccupied(int from) {
        if (from >= SLOTS) {
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
