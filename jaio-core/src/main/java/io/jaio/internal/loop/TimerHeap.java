// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.Arrays;

/**
 * A 4-ary min-heap of timer nodes ordered by (deadline, arming sequence), the exact part of a
 * {@link TimerWheel}: its near heap (the current tick) and its far heap (beyond the wheel's
 * span). Keys live in two parallel {@code long[]} so comparisons do not touch the nodes; each
 * node knows its index ({@link TimerNode#pos}) and which heap holds it ({@link TimerNode#where}),
 * so removing one is O(log n).
 *
 * <p>Threading: none of its own; guarded by the owning {@link TimerList}'s lock.
 */
final class TimerHeap {
    private final int tag;
    private TimerNode[] nodes = new TimerNode[16];
    private long[] deadlines = new long[16];
    private long[] seqs = new long[16];
    private int size;

    /** A heap whose nodes carry {@code tag} ({@link TimerNode#IN_NEAR} or {@link TimerNode#IN_FAR}) in {@code where}. */
    TimerHeap(int tag) {
        this.tag = tag;
    }

    int size() {
        return size;
    }

    /** The smallest deadline; only when {@code size() > 0}. */
    long topDeadline() {
        return deadlines[0];
    }

    /** The node at {@code i} (0 &lt;= i &lt; size), in heap order; for leak reports. */
    TimerNode at(int i) {
        return nodes[i];
    }

    void add(TimerNode t) {
        if (size == nodes.length) {
            int cap = size * 2;
            nodes = Arrays.copyOf(nodes, cap);
            deadlines = Arrays.copyOf(deadlines, cap);
            seqs = Arrays.copyOf(seqs, cap);
        }
        siftUp(size++, t, t.expireNs, t.seq);
    }

    /** Removes and returns the first node; only when {@code size() > 0}. The node's place is left for the caller to set. */
    TimerNode poll() {
        TimerNode t = nodes[0];
        removeAt(0);
        return t;
    }

    /** Removes {@code t}, which this heap holds. */
    void remove(TimerNode t) {
        removeAt(t.pos);
    }

    /** Forgets every node (close()); their places are left for the caller to reset. */
    void clear() {
        Arrays.fill(nodes, 0, size, null);
        size = 0;
    }

    private void place(int i, TimerNode t, long d, long s) {
        nodes[i] = t;
        deadlines[i] = d;
        seqs[i] = s;
        t.pos = i;
        t.where = tag;
    }

    private void siftUp(int i, TimerNode t, long d, long s) {
        while (i > 0) {
            int p = (i - 1) >>> 2;
            if (!less(d, s, deadlines[p], seqs[p])) { // the parent comes first: stop
                break;
            }
            place(i, nodes[p], deadlines[p], seqs[p]);
            i = p;
        }
        place(i, t, d, s);
    }

    private void siftDown(int i, TimerNode t, long d, long s) {
        for (;;) {
            int c = (i << 2) + 1;
            if (c >= size) {
                break;
            }
            int best = c;
            int end = Math.min(c + 4, size);
            for (int k = c + 1; k < end; k++) {
                if (less(deadlines[k], seqs[k], deadlines[best], seqs[best])) {
                    best = k;
                }
            }
            if (!less(deadlines[best], seqs[best], d, s)) {
                break;
            }
            place(i, nodes[best], deadlines[best], seqs[best]);
            i = best;
        }
        place(i, t, d, s);
    }

    private void removeAt(int i) {
        int last = --size;
        if (i == last) {
            nodes[last] = null;
            return;
        }
        TimerNode t = nodes[last];
        long d = deadlines[last];
        long s = seqs[last];
        nodes[last] = null;
        if (i > 0 && less(d, s, deadlines[(i - 1) >>> 2], seqs[(i - 1) >>> 2])) {
            siftUp(i, t, d, s);
        } else {
            siftDown(i, t, d, s);
        }
    }

    private static boolean less(long d1, long s1, long d2, long s2) {
        return d1 < d2 || (d1 == d2 && s1 < s2);
    }
}
