// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.Arrays;
import java.util.List;

import io.jaio.AioContext;
import io.jaio.ClockType;

/**
 * The armed timers of one clock of one context (QEMU's {@code QEMUTimerList}).
 *
 * <p>Implementation notes. QEMU keeps a sorted linked list, which makes arming O(n); with a
 * million timers that is unusable, so this is a 4-ary min-heap ordered by (deadline, arming
 * sequence), which keeps QEMU's FIFO order among equal deadlines. Keys live in two parallel
 * {@code long[]} so comparisons do not touch the timer objects; each timer knows its heap index,
 * so deleting is O(log n). All heap state is guarded by {@code this}. {@link #headNs} mirrors the
 * earliest deadline (or {@link #NONE}) so that the loop can see "no timers" or "nothing due"
 * without the lock (QEMU 8caa05d889 checks the head atomically, then again under the lock).
 *
 * <p>Threading: {@link #mod} and {@link #delete} from any thread; {@link #run} on the home thread.
 */
public final class TimerList {
    public static final long NONE = Long.MAX_VALUE;
    /** How many re-arms to the past one run() tolerates beyond the timers due at its start. */
    private static final int REARM_ALLOWANCE = 1024;

    final AioContext ctx;
    final ClockType clock;
    /** The context's wake-up and callback runner, copied from it (one load less per arm and fire). */
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;
    private TimerNode[] heap = new TimerNode[16];
    private long[] deadlines = new long[16];
    private long[] seqs = new long[16];
    private int size;
    private long nextSeq;
    /** The earliest deadline, or NONE; written under the lock, read without it (volatile). */
    private volatile long headNs = NONE;

    /** A list of {@code ctx} that wakes it through {@code wakeup} and runs callbacks through {@code callbacks}. */
    public TimerList(AioContext ctx, ClockType clock, Wakeup wakeup, CallbackRunner callbacks) {
        this.ctx = ctx;
        this.clock = clock;
        this.wakeup = wakeup;
        this.callbacks = callbacks;
    }

    /** QEMU timer_mod_ns / timer_mod_anticipate_ns. */
    public void mod(TimerNode t, long expireNs, boolean anticipate) {
        ContextCore.checkOpen(ctx); // an armed timer of a closed context would never fire nor be reported
        long e = Math.max(expireNs, 0);
        boolean becameHead;
        synchronized (this) {
            if (anticipate && t.heapIndex >= 0 && deadlines[t.heapIndex] <= e) {
                return;
            }
            if (t.heapIndex >= 0) {
                removeAt(t.heapIndex);
            }
            insert(t, e);
            becameHead = heap[0] == t;
            headNs = deadlines[0];
        }
        if (becameHead) {
            wakeup.wakeForChange(); // QEMU timerlist_notify: let a sleeping loop recompute its deadline
        }
    }

    public void delete(TimerNode t) {
        synchronized (this) {
            if (t.heapIndex >= 0) {
                removeAt(t.heapIndex);
                headNs = size == 0 ? NONE : deadlines[0];
            }
        }
    }

    /** The earliest deadline in ns on this clock, or NONE. Any thread, no lock. */
    public long headNs() {
        return headNs;
    }

    /**
     * Runs the timers due at this clock's current time, read once (QEMU timerlist_run_timers).
     * A callback that re-arms its timer to a time already past runs again in this call.
     */
    public boolean run(long nowNs) {
        if (headNs > nowNs) {
            return false;
        }
        boolean progress = false;
        int budget;
        synchronized (this) {
            budget = size + REARM_ALLOWANCE;
        }
        while (budget-- > 0) {
            TimerNode t;
            synchronized (this) {
                if (size == 0 || deadlines[0] > nowNs) {
                    break;
                }
                t = heap[0];
                removeAt(0);
                headNs = size == 0 ? NONE : deadlines[0];
            }
            callbacks.runTimer(t);
            progress = true;
        }
        return progress;
    }

    /** Disarms everything and names each armed timer (close()). */
    public synchronized void collectLeaks(List<String> leaks) {
        for (int i = 0; i < size; i++) {
            leaks.add("timer on " + clock + " still armed (expires at " + deadlines[i] + " ns)");
            heap[i].heapIndex = -1;
            heap[i].setExpire(-1);
            heap[i] = null;
        }
        size = 0;
        headNs = NONE;
    }

    public synchronized int size() {
        return size;
    }

    // ---- 4-ary heap, guarded by this ----

    private boolean less(int i, long d, long s) {
        return deadlines[i] < d || (deadlines[i] == d && seqs[i] < s);
    }

    private void insert(TimerNode t, long e) {
        if (size == heap.length) {
            int cap = size * 2;
            heap = Arrays.copyOf(heap, cap);
            deadlines = Arrays.copyOf(deadlines, cap);
            seqs = Arrays.copyOf(seqs, cap);
        }
        t.setExpire(e);
        siftUp(size++, t, e, nextSeq++);
    }

    private void place(int i, TimerNode t, long d, long s) {
        heap[i] = t;
        deadlines[i] = d;
        seqs[i] = s;
        t.heapIndex = i;
    }

    private void siftUp(int i, TimerNode t, long d, long s) {
        while (i > 0) {
            int p = (i - 1) >>> 2;
            if (!lessKey(d, s, deadlines[p], seqs[p])) { // the parent comes first: stop
                break;
            }
            place(i, heap[p], deadlines[p], seqs[p]);
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
                if (deadlines[k] < deadlines[best] || (deadlines[k] == deadlines[best] && seqs[k] < seqs[best])) {
                    best = k;
                }
            }
            if (!less(best, d, s)) {
                break;
            }
            place(i, heap[best], deadlines[best], seqs[best]);
            i = best;
        }
        place(i, t, d, s);
    }

    private void removeAt(int i) {
        TimerNode removed = heap[i];
        removed.heapIndex = -1;
        removed.setExpire(-1);
        int last = --size;
        if (i == last) {
            heap[last] = null;
            return;
        }
        TimerNode t = heap[last];
        long d = deadlines[last];
        long s = seqs[last];
        heap[last] = null;
        int p = (i - 1) >>> 2;
        if (i > 0 && lessKey(d, s, deadlines[p], seqs[p])) {
            siftUp(i, t, d, s);
        } else {
            siftDown(i, t, d, s);
        }
    }

    private static boolean lessKey(long d1, long s1, long d2, long s2) {
        return d1 < d2 || (d1 == d2 && s1 < s2);
    }
}
