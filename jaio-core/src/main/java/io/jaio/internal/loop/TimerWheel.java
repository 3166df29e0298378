// SPDX-License-Identifier: Apache-2.0
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
 *         {@code tick & (SLOTS - 1)}: an unordered bag kept in chunks of {@link #CHUNK}
 *         references (only the slot's first chunk is not full), each node knowing its chunk
 *         and index (ints), so adding is O(1) and removing is O(1) (the slot's last entry
 *         moves into the hole). Chunks come from a free list owned by the wheel, so memory
 *         follows the number of armed timers, and arming stores one reference, into a chunk,
 *         next to the previous one: no reference into another timer, which with G1 dirties
 *         a card at a random place per arming (linked lists armed 3-10x slower under G1 than
 *         under ParallelGC);</li>
 *     <li>{@code >= cursorTick + SLOTS} is in the <b>far heap</b>.</li>
 *     </ul>
 *     So every near timer is earlier than every wheel timer, which is earlier than every far
 *     timer; inside the near and far heaps the order is (deadline, arming sequence).</li>
 * <li><b>Moving the cursor</b> ({@link #pollDue}, one non-empty slot at a time as the near
 *     heap runs dry; {@link #advanceTo}): the slots of the ticks passed are emptied into the
 *     near heap (each slot once, its chunks read in order so the misses on the timers overlap;
 *     slots found through an occupancy bitmap and its summary, so a clock that jumps hours
 *     forward costs O(slots / 64) words plus the timers moved), then far timers that came
 *     within the span move into the wheel (or straight into the near heap). A timer moves at
 *     most twice (far to wheel, wheel to near heap) before it fires, and the fire path pops a
 *     heap of one tick's timers, even when the loop has fallen behind. There is no cascade of
 *     a coarse slot: the wheel has one level, and what lies beyond it is exact already.</li>
 * <li><b>FIFO among equal deadlines</b>: equal deadlines fall in the same tick, hence always in
 *     the same part (the far-to-wheel move happens in {@link #advanceTo} before anything is
 *     placed against the new cursor), and the heaps break ties by the arming sequence, which a
 *     cascade carries along.</li>
 * <li><b>The earliest deadline</b> ({@link #headNs}): the near heap's top; else the exact
 *     minimum of the wheel, kept in {@link #minNs} with how many wheel timers have it
 *     ({@link #minCount}); else the far heap's top. Adding keeps the minimum exact; removing the
 *     last timer with it makes it unknown ({@link #minValid} false), and {@link #headNs} then
 *     returns the start of the first non-empty slot, a lower bound, until {@link #refine} makes
 *     it exact: by moving the cursor to that slot when it is at most {@link #PULL_TICKS} ahead
 *     (its timers go to the near heap, where they would go within 2 ms anyway), else by
 *     scanning that one slot (a tick's worth of timers). So {@code headNs() <=} the true
 *     earliest deadline always, equal to it whenever {@link #headExact}.</li>
 * <li><b>A cursor ahead of the clock</b> (by up to {@link #PULL_TICKS} after a refine, by any
 *     amount when HOST is set back): timers armed before the cursor go to the near heap, which
 *     is exact for any deadline, so nothing fires late or early; only that heap grows.
 *     {@link #advanceTo} never moves the cursor back; when the list is empty, {@link #rebase}
 *     puts it on the clock. A clock that jumps forward: see above.</li>
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
    private static final int WORDS = SLOTS / 64;
    /** References per chunk of a slot. */
    static final int CHUNK = 64;
    /** How far ahead of the cursor refine() moves it rather than scan a slot (2 ms). */
    private static final int PULL_TICKS = 4;

    /** The chunk each slot is filling (the first of its chain), or -1 when the slot is empty. */
    private final int[] slotTop = new int[SLOTS];
    /** Chunks by id; chunkNext links a slot's chunks, chunkFill counts the used entries. */
    private TimerNode[][] chunks = new TimerNode[64][];
    private int[] chunkNext = new int[64];
    private int[] chunkFill = new int[64];
    /** Chunk ids made so far; ids of free chunks (a stack). */
    private int chunkIds;
    private int[] freeChunks = new int[64];
    private int freeCount;
    /** Bit s of word s/64: slot s is not empty. */
    private final long[] occupied = new long[WORDS];
    /** Bit w of word w/64: occupied[w] != 0. */
    private final long[] summary = new long[(WORDS + 63) / 64];
    private final TimerHeap near = new TimerHeap(TimerNode.IN_NEAR);
    private final TimerHeap far = new TimerHeap(TimerNode.IN_FAR);
    private long cursorTick;
    private int wheelCount;
    /** Whether minNs/minCount are exact for the wheel's timers (always true when it is empty). */
    private boolean minValid = true;
    private long minNs = TimerList.NONE;
    private int minCount;

    TimerWheel() {
        Arrays.fill(slotTop, -1);
    }

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

    /**
     * The earliest timer if it is due at {@code nowNs} (removed), else null. When the near heap
     * is empty, moves the cursor to the next non-empty slot (or the far heap's first tick) if
     * that tick has begun, one slot at a time: a loop that fell behind fires from a heap of one
     * tick's timers, not of its whole backlog.
     */
    TimerNode pollDue(long nowNs) {
        long nowTick = Math.max(nowNs, 0) >>> TICK_SHIFT;
        for (;;) { // each turn empties one slot or moves far timers in; bounded by size()
            if (near.size() > 0) { // near ticks <= cursor < wheel ticks < far ticks
                return near.topDeadline() <= nowNs ? near.poll() : null;
            }
            long next;
            if (wheelCount > 0) {
                next = firstSlotTick();
            } else if (far.size() > 0) {
                next = far.topDeadline() >>> TICK_SHIFT;
            } else {
                return null;
            }
            if (next > nowTick) {
                return null;
            }
            advanceTo(next << TICK_SHIFT);
        }
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

    /**
     * Makes {@link #headNs} exact. When the first non-empty slot is at most {@link #PULL_TICKS}
     * ahead (the steady state of a busy wheel: the near heap has just run dry), moves the
     * cursor there, which empties that slot into the near heap, so its timers are read once
     * and fire from the heap; the cursor is then up to that far ahead of the clock, which only
     * sends a few more armings to the (exact) near heap. Otherwise scans that one slot.
     */
    void refine() {
        if (headExact()) {
            return;
        }
        long firstTick = firstSlotTick();
        if (firstTick - cursorTick <= PULL_TICKS) {
            advanceTo(firstTick << TICK_SHIFT);
            return;
        }
        long min = TimerList.NONE;
        int count = 0;
        for (int c = slotTop[(int) firstTick & MASK]; c >= 0; c = chunkNext[c]) { // bounded by the slot's chunks
            TimerNode[] entries = chunks[c];
            for (int i = 0, n = chunkFill[c]; i < n; i++) {
                long d = entries[i].expireNs;
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
        for (int slot = 0; slot < SLOTS && wheelCount > 0; slot++) {
            for (int c = slotTop[slot]; c >= 0; c = takeChunk(c)) { // bounded by the slot's chunks
                TimerNode[] entries = chunks[c];
                for (int i = 0, n = chunkFill[c]; i < n; i++) {
                    leak(entries[i], clock, leaks);
                    entries[i] = null;
                    wheelCount--;
                }
            }
            slotTop[slot] = -1;
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
        int c = slotTop[slot];
        if (c < 0 || chunkFill[c] == CHUNK) {
            int fresh = newChunk();
            chunkNext[fresh] = c;
            slotTop[slot] = fresh;
            if (c < 0) {
                setOccupied(slot);
            }
            c = fresh;
        }
        int i = chunkFill[c]++;
        chunks[c][i] = t;
        t.where = slot;
        t.chunk = c;
        t.pos = i;
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
        int slot = t.where;
        int top = slotTop[slot];
        int last = --chunkFill[top];
        TimerNode[] topEntries = chunks[top];
        TimerNode moved = topEntries[last];
        topEntries[last] = null;
        if (moved != t) { // the slot's last entry fills the hole
            chunks[t.chunk][t.pos] = moved;
            moved.chunk = t.chunk;
            moved.pos = t.pos;
        }
        if (last == 0) {
            int next = takeChunk(top);
            slotTop[slot] = next;
            if (next < 0) {
                clearOccupied(slot);
            }
        }
        t.chunk = -1;
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
        for (int slot = nextOccupied(a); slot >= 0 && slot <= b; slot = nextOccupied(slot + 1)) { // at most b - a + 1 slots
            for (int c = slotTop[slot]; c >= 0; c = takeChunk(c)) { // bounded by the slot's chunks
                TimerNode[] entries = chunks[c];
                for (int i = 0, n = chunkFill[c]; i < n; i++) { // in order: the misses on the timers overlap
                    TimerNode t = entries[i];
                    entries[i] = null;
                    near.add(t);
                }
                wheelCount -= chunkFill[c];
            }
            slotTop[slot] = -1;
            clearOccupied(slot);
        }
        if (wheelCount != before) {
            // The first non-empty slot, which holds the minimum, was among those flushed; the
            // near heap is not empty now, so headNs() reads it and the wheel's minimum can wait.
            minValid = false;
        }
    }

    /** A free chunk's id (a new chunk only when none is free: the pool grows to its peak, then stays). */
    private int newChunk() {
        if (freeCount > 0) {
            return freeChunks[--freeCount];
        }
        int id = chunkIds++;
        if (id == chunks.length) {
            int cap = id * 2;
            chunks = Arrays.copyOf(chunks, cap);
            chunkNext = Arrays.copyOf(chunkNext, cap);
            chunkFill = Arrays.copyOf(chunkFill, cap);
            freeChunks = Arrays.copyOf(freeChunks, cap);
        }
        chunks[id] = new TimerNode[CHUNK];
        return id;
    }

    /** Gives chunk {@code c} (emptied by the caller) back; returns the next chunk of its slot. */
    private int takeChunk(int c) {
        int next = chunkNext[c];
        chunkFill[c] = 0;
        chunkNext[c] = -1;
        freeChunks[freeCount++] = c;
        return next;
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
