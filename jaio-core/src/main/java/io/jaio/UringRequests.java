package io.jaio;

import java.util.Arrays;

import io.jaio.internal.uring.CqeSink;
import io.jaio.internal.uring.Uring;
import io.jaio.internal.uring.UringFdMonitor;

/**
 * The submission API's bookkeeping (QEMU aio_add_sqe and the CQE-handler ready list of
 * fdmon-io_uring): a slot per request in flight, and a FIFO of completed handlers that the loop
 * dispatches.
 *
 * <p>Implementation notes. user_data = {@link CqeSink#USER_BIT} | (generation << 32) | slot. A
 * slot is freed when its CQE is reaped (each request has exactly one), and the handler is queued
 * with the CQE's result. The FIFO lives in the context, not in a poll() frame, so a nested poll()
 * keeps draining completions the outer call reaped, and handlers queued during dispatch run too.
 * The dispatch loop ends because each queued handler corresponds to one reaped CQE.
 *
 * <p>Threading: home thread only.
 */
final class UringRequests implements CqeSink {
    private final AioContext ctx;
    private final UringFdMonitor monitor;
    private final Sqe sqe = new Sqe();
    private CqeHandler[] slots = new CqeHandler[256];
    private int[] gens = new int[256];
    private int[] free = new int[256];
    private int freeTop;
    private int inFlight;
    private CqeHandler readyHead;
    private CqeHandler readyTail;
    private int readyCount;

    UringRequests(AioContext ctx, UringFdMonitor monitor) {
        this.ctx = ctx;
        this.monitor = monitor;
        for (int i = slots.length - 1; i >= 0; i--) {
            free[freeTop++] = i;
        }
    }

    /** Reserves an SQE for {@code h} and binds the view to it; finish with commit() or abort(). */
    Sqe begin(CqeHandler h) throws ErrnoException {
        if (h.isInFlight()) {
            throw new IllegalStateException("CqeHandler " + h + " is already in flight (expected one request at a time)");
        }
        long off = monitor.sqeOrFlush();
        sqe.bind(monitor.ring().sqes(), off);
        return sqe;
    }

    void commit(CqeHandler h) {
        if (freeTop == 0) {
            grow();
        }
        int slot = free[--freeTop];
        int gen = (gens[slot] + 1) & 0x7fffffff;
        gens[slot] = gen;
        slots[slot] = h;
        h.slot = slot;
        inFlight++;
        sqe.userData(USER_BIT | ((long) gen << 32) | slot);
        sqe.unbind();
    }

    /** The preparer failed: turn the reserved entry into an ignored no-op. */
    void abort() {
        sqe.opcode(Uring.OP_NOP).fd(-1).flags(0).addr(0L).len(0).opFlags(0).off(0L);
        sqe.userData(0L);
        sqe.unbind();
    }

    private void grow() {
        int cap = slots.length;
        slots = Arrays.copyOf(slots, cap * 2);
        gens = Arrays.copyOf(gens, cap * 2);
        free = Arrays.copyOf(free, cap * 2);
        for (int i = cap * 2 - 1; i >= cap; i--) {
            free[freeTop++] = i;
        }
    }

    /** The user_data of {@code h}'s request in flight (for cancel and poll-remove). */
    long userDataOf(CqeHandler h) {
        if (h.slot < 0) {
            throw new IllegalStateException("CqeHandler " + h + " is not in flight (expected a submitted request)");
        }
        return USER_BIT | ((long) gens[h.slot] << 32) | h.slot;
    }

    @Override
    public void onCqe(long userData, int res, int flags) {
        int slot = (int) userData;
        int gen = (int) (userData >>> 32) & 0x7fffffff;
        if (slot < 0 || slot >= slots.length || gens[slot] != gen || slots[slot] == null) {
            return; // abandoned at close, or not ours
        }
        CqeHandler h = slots[slot];
        slots[slot] = null;
        free[freeTop++] = slot;
        inFlight--;
        h.slot = -1;
        h.res = res;
        h.flags = flags;
        h.queued = true;
        h.readyNext = null;
        if (readyTail == null) {
            readyHead = h;
        } else {
            readyTail.readyNext = h;
        }
        readyTail = h;
        readyCount++;
    }

    @Override
    public boolean dispatch() {
        boolean progress = false;
        CqeHandler h;
        while ((h = readyHead) != null) {
            readyHead = h.readyNext;
            if (readyHead == null) {
                readyTail = null;
            }
            readyCount--;
            h.readyNext = null;
            h.queued = false;
            ctx.runCqeHandler(h, h.res, h.flags);
            progress = true;
        }
        return progress;
    }

    @Override
    public boolean hasReady() {
        return readyHead != null;
    }

    @Override
    public int inFlight() {
        return inFlight;
    }

    @Override
    public void dropReady() {
        CqeHandler h;
        while ((h = readyHead) != null) {
            readyHead = h.readyNext;
            h.readyNext = null;
            h.queued = false;
        }
        readyTail = null;
        readyCount = 0;
    }

    @Override
    public void abandonAll() {
        dropReady();
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] != null) {
                slots[i].slot = -1;
                slots[i] = null;
            }
        }
        inFlight = 0;
    }
}
