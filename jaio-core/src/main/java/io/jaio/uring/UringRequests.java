// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import java.util.Arrays;
import java.util.List;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.internal.loop.CallbackRunner;
import io.jaio.internal.loop.ContextCore;

import io.jaio.internal.uring.CqeSink;
import io.jaio.internal.uring.Ring;
import io.jaio.internal.uring.Uring;
import io.jaio.internal.uring.UringFdMonitor;

/**
 * The submission API's bookkeeping (QEMU aio_add_sqe and the CQE-handler ready list of
 * fdmon-io_uring): a slot per request in flight, and a FIFO of completed handlers that the loop
 * dispatches.
 *
 * <p>Implementation notes. user_data = {@link CqeSink#USER_BIT} | (generation &lt;&lt; 32) | slot. The
 * generation is a 31-bit counter of this context's submissions, kept in the handler
 * ({@link CqeHandler#gen}) while its request is in flight, so no two requests in flight, and no
 * request and a stale user_data (cancel, poll-remove, a CQE after close), share a user_data
 * until 2^31 submissions later; a CQE is routed only if its slot holds a handler of its
 * generation. A slot is freed when the request's final CQE is reaped: its only CQE, or for a
 * multishot request the first one without IORING_CQE_F_MORE; until then the slot keeps routing
 * CQEs to the handler. Each reaped CQE is queued as (handler, res | flags &lt;&lt; 32) in a FIFO ring of
 * two arrays (a multishot handler may be queued several times at once), and {@link CqeHandler#queuedCqes}
 * counts a handler's entries so {@link CqeHandler#isInFlight()} holds until its last one ran. The
 * FIFO lives in the context, not in a poll() frame, so a nested poll() keeps draining completions
 * the outer call reaped, and handlers queued during dispatch run too. The dispatch loop ends
 * because each queued entry corresponds to one reaped CQE. The FIFO grows (doubling) only when a
 * reap finds it full; steady state allocates nothing.
 *
 * <p>Threading: home thread only.
 */
final class UringRequests implements CqeSink, ContextCore.Extension {
    private final AioContext ctx;
    /** The context's CallbackRunner: a handler's exception goes to the error handler. */
    private final CallbackRunner callbacks;
    /** The public face, made with this object. */
    private final IoUring api;
    private final UringFdMonitor monitor;
    private final Ring ring;
    private final Sqe sqe = new Sqe();
    private CqeHandler[] slots = new CqeHandler[256];
    private int[] free = new int[256];
    private int freeTop;
    private int inFlight;
    /** The generation given to the last request submitted (31 bits, wraps). */
    private int lastGen;
    // Ready FIFO: entries [readyHead, readyTail) of the two arrays, indexes masked by readyMask;
    // readyCqes holds res in the low and flags in the high 32 bits.
    private CqeHandler[] readyHandlers = new CqeHandler[256];
    private long[] readyCqes = new long[256];
    private int readyMask = 255;
    private int readyHead;
    private int readyTail;

    private UringRequests(AioContext ctx, ContextCore core) {
        this.ctx = ctx;
        this.callbacks = core.callbacks();
        this.monitor = core.uring();
        this.ring = monitor.ring();
        this.api = new IoUring(ctx, this, monitor.resources(ctx.name()));
        for (int i = slots.length - 1; i >= 0; i--) {
            free[freeTop++] = i;
        }
    }

    /**
     * The {@link ContextCore.Slot#IO_URING} extension of {@code ctx} (IoUring.of, home thread,
     * under the core's lock): from now on the ring's CQEs with the user bit come here.
     */
    static UringRequests create(AioContext ctx) {
        ContextCore core = ContextCore.of(ctx);
        UringRequests r = new UringRequests(ctx, core);
        core.uring().setSink(r);
        return r;
    }

    IoUring api() {
        return api;
    }

    /** The monitor drains what is in flight when it closes (after this); nothing to do here. */
    @Override
    public void closeWithContext(List<String> leaks) {
    }

    /** Reserves an SQE for {@code h} and binds the view to it; finish with commit() or abort(). */
    Sqe begin(CqeHandler h) throws ErrnoException {
        requireIdle(h);
        long off = monitor.sqeOrFlush();
        sqe.bind(ring.sqes(), off);
        return sqe;
    }

    /**
     * The typed helpers' path: takes an SQE and writes all of it at once (8 stores, no zeroing
     * pass, no view), with {@code h}'s user_data. The words are those of {@link Ring#putSqe}.
     */
    void submit(CqeHandler h, long headWord, long offWord, long addr, long lenAndOpFlags, long bufWord)
            throws ErrnoException {
        requireIdle(h);
        long at = monitor.claimOrFlush();
        ring.putSqe(at, headWord, offWord, addr, lenAndOpFlags, assignSlot(h), bufWord, 0L);
    }

    private static void requireIdle(CqeHandler h) {
        if (h.isInFlight()) {
            throw new IllegalStateException("CqeHandler " + h + " is already in flight (expected one request at a time)");
        }
    }

    /** The context's ring (for io_uring_register). */
    Ring ring() {
        return ring;
    }

    /** Flushes the SQ first unless {@code count} entries are free, so the next {@code count} begin() calls cannot flush. */
    void reserve(int count) throws ErrnoException {
        monitor.reserveSq(count);
    }

    /** Free SQ entries (a test probe). */
    int sqSpaceLeft() {
        return monitor.ring().sqSpaceLeft();
    }

    void commit(CqeHandler h) {
        sqe.userData(assignSlot(h));
        sqe.unbind();
    }

    /** Gives {@code h} a slot and the next generation; returns the request's user_data. */
    private long assignSlot(CqeHandler h) {
        int top = freeTop;
        if (top == 0) {
            grow();
            top = freeTop;
        }
        int slot = free[--top];
        freeTop = top;
        int gen = (lastGen + 1) & 0x7fffffff;
        lastGen = gen;
        slots[slot] = h;
        h.slot = slot;
        h.gen = gen;
        inFlight++;
        return USER_BIT | ((long) gen << 32) | slot;
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
        return USER_BIT | ((long) h.gen << 32) | h.slot;
    }

    @Override
    public void onCqe(long userData, int res, int flags) {
        int slot = (int) userData;
        CqeHandler[] table = slots;
        if (slot < 0 || slot >= table.length) {
            return; // not ours
        }
        CqeHandler h = table[slot];
        if (h == null || h.gen != ((int) (userData >>> 32) & 0x7fffffff)) {
            return; // abandoned at close, or not ours
        }
        if ((flags & Uring.CQE_F_MORE) == 0) { // the request's final CQE: the kernel forgets it
            table[slot] = null;
            free[freeTop++] = slot;
            inFlight--;
            h.slot = -1;
        }
        if (readyTail - readyHead > readyMask) {
            growReady(); // moves the entries: read readyTail after it
        }
        int tail = readyTail;
        int i = tail & readyMask;
        readyHandlers[i] = h;
        readyCqes[i] = (res & 0xffffffffL) | (long) flags << 32;
        readyTail = tail + 1;
        h.queuedCqes++;
    }

    private void growReady() {
        int n = readyTail - readyHead;
        int cap = (readyMask + 1) * 2;
        CqeHandler[] hs = new CqeHandler[cap];
        long[] cs = new long[cap];
        for (int k = 0; k < n; k++) {
            int i = (readyHead + k) & readyMask;
            hs[k] = readyHandlers[i];
            cs[k] = readyCqes[i];
        }
        readyHandlers = hs;
        readyCqes = cs;
        readyMask = cap - 1;
        readyHead = 0;
        readyTail = n;
    }

    @Override
    public boolean dispatch() {
        boolean progress = false;
        while (readyHead != readyTail) { // bounded: one entry per reaped CQE
            int i = readyHead & readyMask;
            CqeHandler h = readyHandlers[i];
            long cqe = readyCqes[i];
            readyHandlers[i] = null;
            readyHead++;
            h.queuedCqes--;
            runHandler(h, (int) cqe, (int) (cqe >>> 32));
            progress = true;
        }
        return progress;
    }

    /** Runs one CQE handler; a RuntimeException goes to the error handler, an Error propagates. */
    private void runHandler(CqeHandler h, int res, int flags) {
        try {
            h.onCompletion(res, flags);
        } catch (RuntimeException e) {
            callbacks.report("CQE handler " + h, e);
        }
    }

    @Override
    public boolean hasReady() {
        return readyHead != readyTail;
    }

    @Override
    public int inFlight() {
        return inFlight;
    }

    @Override
    public void dropReady() {
        while (readyHead != readyTail) { // bounded: the entries queued so far
            int i = readyHead & readyMask;
            readyHandlers[i].queuedCqes = 0;
            readyHandlers[i] = null;
            readyHead++;
        }
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
