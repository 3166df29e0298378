// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.Arrays;

import io.jaio.ErrnoException;
import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.jfr.UringCompletionsEvent;
import io.jaio.internal.fdmon.AioHandler;
import io.jaio.internal.fdmon.FdMonitor;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.ReadyList;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The io_uring monitor (QEMU {@code fdmon-io_uring.c}, 10.2): fd handlers are watched with
 * POLL_ADD requests on the context's ring, and the same ring carries the requests of the
 * submission API ({@link CqeSink}). One {@code io_uring_enter} per wait submits what was queued
 * and waits, with a nanosecond timeout through EXT_ARG (or a TIMEOUT SQE on kernels before 5.11).
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Registrations change on any thread (under the table lock), but only the home thread may
 *     touch the ring (SINGLE_ISSUER), so {@link #update} only queues the change; the next
 *     {@link #wait} turns it into SQEs (QEMU's submit_list and fill_sq_ring).</li>
 * <li>POLL_ADD is one-shot and re-armed after each event, which keeps poll(2)'s level-triggered
 *     meaning: a handler that did not drain its fd is called again. The alternatives were
 *     measured on Linux 6.18 (UringPollModesTest: a pipe with 3 bytes, 1 byte read per CQE):
 *     a multishot poll is edge-triggered and posts one CQE for the 3 bytes, so a handler that
 *     reads only part of its data would wait forever with data readable; and
 *     IORING_POLL_ADD_LEVEL, which would make it level-triggered, is refused with -EINVAL both
 *     alone and with IORING_POLL_ADD_MULTI (the kernel turned it off at prep time for 6.0 and
 *     has not turned it back on). No multishot mode gives the semantics, so there is nothing to
 *     fall back from; the re-arm costs one SQE per event, sent with the next enter the loop
 *     makes anyway. docs/performance.md has the figures.</li>
 * <li>Each armed poll owns a slot; user_data = (generation &lt;&lt; 32) | (slot + 1). A removed
 *     handler's poll is cancelled with POLL_REMOVE, and its slot is freed only when the kernel's
 *     final CQE for it arrives, so no CQE can ever reach a recycled slot; the generation makes
 *     POLL_REMOVE unable to hit a newer request in the same slot (QEMU dbf70f0a03).</li>
 * <li>user_data 0 marks internal requests whose completion is ignored (POLL_REMOVE, TIMEOUT).</li>
 * <li>Every reap loop is bounded: one pass takes at most the CQ's size, and at most
 *     {@link #MAX_REAP_PASSES} passes flush an overflowed CQ.</li>
 * </ul>
 * Threading: {@link #update} any thread under the table lock; everything else home thread.
 */
public final class UringFdMonitor implements FdMonitor {
    private static final System.Logger LOG = System.getLogger("io.jaio.fdmon");
    /** Passes over the CQ per reap when the kernel reports an overflow backlog. */
    private static final int MAX_REAP_PASSES = 4;
    /** How long close() waits for cancelled requests to complete. */
    private static final long CLOSE_DRAIN_NS = 2_000_000_000L;

    private final Ring ring;
    private final HandlerTable table;
    private final MemorySegment timeoutTs;
    private CqeSink sink;
    /** Made by the first resources() call; home thread. */
    private UringResources resources;

    // Pending registration changes, from any thread.
    private final Object pendingLock = new Object();
    private final ArrayDeque<AioHandler> pendingAdd = new ArrayDeque<>();
    private final ArrayDeque<AioHandler> pendingRemove = new ArrayDeque<>();
    private volatile boolean hasPending;

    // Armed polls (home thread).
    private AioHandler[] polls = new AioHandler[64];
    private int[] pollGen = new int[64];
    private int[] freeSlots = new int[64];
    private int freeTop;
    private int pollsArmed;

    public UringFdMonitor(HandlerTable table, Arena arena, int entries) throws ErrnoException {
        this.table = table;
        this.ring = Ring.create(entries, arena);
        this.ring.setContextName(table.contextName());
        this.timeoutTs = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        for (int i = polls.length - 1; i >= 0; i--) {
            freeSlots[freeTop++] = i;
        }
    }

    public void setSink(CqeSink sink) {
        this.sink = sink;
    }

    /**
     * The ring's registered files and buffers, made on first use with {@code ctxName} for its
     * messages (the submission API and the io_uring file engine share them). Home thread.
     */
    public UringResources resources(String ctxName) {
        if (resources == null) {
            resources = new UringResources(ring, ctxName);
        }
        return resources;
    }

    public Ring ring() {
        return ring;
    }

    @Override
    public String name() {
        return "io_uring";
    }

    // ---- registration changes ----

    @Override
    public void update(AioHandler oldNode, AioHandler newNode) {
        synchronized (pendingLock) {
            if (newNode != null && newNode.events != 0) {
                pendingAdd.add(newNode);
            }
            if (oldNode != null && oldNode.events != 0) {
                pendingRemove.add(oldNode);
            }
            hasPending = true; // volatile write after the queue change; pairs with the read in needWait()/fill
        }
    }

    private void fillPending() throws ErrnoException {
        if (!hasPending) {
            return;
        }
        synchronized (pendingLock) {
            hasPending = false;
            AioHandler n;
            while ((n = pendingAdd.poll()) != null) {
                if (!n.isDeleted()) {
                    arm(n);
                }
            }
            while ((n = pendingRemove.poll()) != null) {
                if (n.uringSlot >= 0) {
                    long sqe = sqeOrFlush();
                    MemorySegment s = ring.sqes();
                    s.set(ValueLayout.JAVA_BYTE, sqe + Uring.SQE_OPCODE, (byte) Uring.OP_POLL_REMOVE);
                    s.set(JAVA_INT, sqe + Uring.SQE_FD, -1);
                    s.set(JAVA_LONG, sqe + Uring.SQE_ADDR, n.uringUserData); // the poll to cancel
                    s.set(JAVA_LONG, sqe + Uring.SQE_USER_DATA, 0L);
                }
            }
        }
    }

    /** A zeroed SQE's offset, submitting what is queued when the SQ is full. Home thread. */
    public long sqeOrFlush() throws ErrnoException {
        long off = claimOrFlush();
        for (long k = 0; k < Uring.SQE_SIZE; k += 8) {
            ring.sqes().set(JAVA_LONG, off + k, 0L); // zero it: user_data included (QEMU 87ec6f55af)
        }
        return off;
    }

    /**
     * An SQE's offset, not zeroed (the caller fills all of it with {@link Ring#putSqe}),
     * submitting what is queued when the SQ is full. Home thread.
     */
    public long claimOrFlush() throws ErrnoException {
        long off = ring.claimSqe();
        for (int attempt = 0; off < 0 && attempt < 8; attempt++) {
            int r = ring.submit();
            if (r == -Errno.EBUSY || r == -Errno.EAGAIN) {
                reapInto(null); // make room in the CQ so the kernel accepts more
            }
            off = ring.claimSqe();
        }
        if (off < 0) {
            throw new ErrnoException("io_uring: submission queue stays full", Errno.EBUSY);
        }
        return off;
    }

    /**
     * Makes sure the next {@code count} SQEs can be taken without a flush: submits what is queued
     * first when fewer are free. A link chain (IOSQE_IO_LINK) reserves room for all its entries
     * this way, so no automatic flush can submit its head without the entries linked to it.
     * Home thread.
     *
     * @throws IllegalArgumentException when the SQ has fewer than {@code count} entries in all
     */
    public void reserveSq(int count) throws ErrnoException {
        if (count > ring.sqEntries()) {
            throw new IllegalArgumentException("count=" + count + " SQ entries reserved together (expected at most "
                    + ring.sqEntries() + ", the size of the submission queue)");
        }
        for (int attempt = 0; ring.sqSpaceLeft() < count && attempt < 8; attempt++) {
            int r = ring.submit();
            if (r == -Errno.EBUSY || r == -Errno.EAGAIN) {
                reapInto(null); // make room in the CQ so the kernel accepts more
            }
        }
        if (ring.sqSpaceLeft() < count) {
            throw new ErrnoException("io_uring: submission queue stays full (" + count + " entries wanted)", Errno.EBUSY);
        }
    }

    private void arm(AioHandler n) throws ErrnoException {
        if (freeTop == 0) {
            int cap = polls.length;
            polls = Arrays.copyOf(polls, cap * 2);
            pollGen = Arrays.copyOf(pollGen, cap * 2);
            freeSlots = Arrays.copyOf(freeSlots, cap * 2);
            for (int i = cap * 2 - 1; i >= cap; i--) {
                freeSlots[freeTop++] = i;
            }
        }
        int slot = freeSlots[--freeTop];
        int gen = (pollGen[slot] + 1) & 0x7fffffff;
        pollGen[slot] = gen;
        polls[slot] = n;
        pollsArmed++;
        long ud = ((long) gen << 32) | (slot + 1L);
        n.uringSlot = slot;
        n.uringUserData = ud;
        long sqe = sqeOrFlush();
        MemorySegment s = ring.sqes();
        s.set(ValueLayout.JAVA_BYTE, sqe + Uring.SQE_OPCODE, (byte) Uring.OP_POLL_ADD);
        s.set(JAVA_INT, sqe + Uring.SQE_FD, n.fd);
        s.set(JAVA_INT, sqe + Uring.SQE_OP_FLAGS, n.events); // poll32_events: POLLIN etc., little-endian
        s.set(JAVA_LONG, sqe + Uring.SQE_USER_DATA, ud);
    }

    private void freeSlot(int slot) {
        polls[slot] = null;
        freeSlots[freeTop++] = slot;
        pollsArmed--;
    }

    // ---- waiting and reaping ----

    @Override
    public int wait(ReadyList ready, long timeoutNs, int depth) throws ErrnoException {
        fillPending();
        if (timeoutNs == 0 || ring.cqReady() || (sink != null && sink.hasReady())) {
            int sqFlags = ring.sqFlags();
            if (ring.sqPending() > 0 || (sqFlags & (Uring.SQ_TASKRUN | Uring.SQ_CQ_OVERFLOW)) != 0) {
                ring.enter(0, 0, (sqFlags & (Uring.SQ_TASKRUN | Uring.SQ_CQ_OVERFLOW)) != 0);
            }
        } else if (timeoutNs < 0 || ring.hasFeature(Uring.FEAT_EXT_ARG)) {
            ring.enter(1, timeoutNs, true);
        } else {
            // Kernels before 5.11: a TIMEOUT SQE that completes after timeoutNs or one other CQE.
            Structs.setTimespec(timeoutTs, timeoutNs);
            long sqe = sqeOrFlush();
            MemorySegment s = ring.sqes();
            s.set(ValueLayout.JAVA_BYTE, sqe + Uring.SQE_OPCODE, (byte) Uring.OP_TIMEOUT);
            s.set(JAVA_INT, sqe + Uring.SQE_FD, -1);
            s.set(JAVA_LONG, sqe + Uring.SQE_ADDR, timeoutTs.address());
            s.set(JAVA_INT, sqe + Uring.SQE_LEN, 1);
            s.set(JAVA_LONG, sqe + Uring.SQE_OFF, 1L); // complete after one other CQE
            ring.enter(1, -1, true);
        }
        return reapInto(ready);
    }

    /** Processes every CQE available; poll events go to {@code ready} (null: drop them). */
    private int reapInto(ReadyList ready) throws ErrnoException {
        int found = 0;
        long reapedBefore = ring.cqesReaped();
        int overflowFlushes = 0;
        for (int pass = 0; pass < MAX_REAP_PASSES; pass++) {
            int tail = ring.cqTail();
            int head = ring.cqHead();
            int taken = head;
            int limit = ring.cqEntries();
            for (int n = 0; n < limit && head != tail; n++) {
                long at = ring.cqeAt(head);
                long ud = ring.cqeUserData(at);
                int res = ring.cqeRes(at);
                int flags = ring.cqeFlags(at);
                head++;
                if (ud < 0) { // CqeSink.USER_BIT is the sign bit
                    sink.onCqe(ud, res, flags); // only queues the handler: never reaps
                    continue;
                }
                if (ud == 0) {
                    continue;
                }
                // A poll CQE re-arms its poll, and with a full SQ claimOrFlush() then reaps from
                // inside onPollCqe: hand back what was taken first, and read both ends again after.
                ring.cqAdvance(head); // the CQEs are copied out: pairs with the kernel's acquire of cq.head
                if (onPollCqe(ud, res, ready)) {
                    found++;
                }
                head = ring.cqHead();
                taken = head;
                tail = ring.cqTail();
            }
            if (head != taken) {
                ring.cqAdvance(head); // one release for the batch: pairs with the kernel's acquire of cq.head
            }
            boolean overflow = (ring.sqFlags() & Uring.SQ_CQ_OVERFLOW) != 0;
            if (!overflow && ring.cqHead() == ring.cqTail()) {
                break;
            }
            if (overflow) {
                ring.onOverflowFlush();
                overflowFlushes++;
            }
            ring.enter(0, 0, true); // flush the kernel's overflow list into the CQ, then take it
        }
        if (JaioEvents.uringCompletions()) {
            recordReap((int) (ring.cqesReaped() - reapedBefore), overflowFlushes);
        }
        return found;
    }

    /** One io.jaio.UringCompletions event for a reap that took something (QEMU luring_process_completions). */
    private void recordReap(int cqes, int overflowFlushes) {
        if (cqes == 0 && overflowFlushes == 0) {
            return;
        }
        UringCompletionsEvent e = new UringCompletionsEvent();
        if (e.shouldCommit()) {
            e.context = table.contextName();
            e.cqes = cqes;
            e.overflowFlushes = overflowFlushes;
            e.commit();
        }
    }

    private boolean onPollCqe(long ud, int res, ReadyList ready) throws ErrnoException {
        int slot = (int) (ud & 0xffffffffL) - 1;
        int gen = (int) (ud >>> 32);
        if (slot < 0 || slot >= polls.length || pollGen[slot] != gen || polls[slot] == null) {
            LOG.log(System.Logger.Level.DEBUG, () -> "io_uring: stray poll completion user_data=0x" + Long.toHexString(ud));
            return false;
        }
        AioHandler n = polls[slot];
        freeSlot(slot); // one-shot: this was the request's only CQE
        n.uringSlot = -1;
        boolean live = !n.isDeleted() && table.lookup(n.fd) == n;
        if (!live) {
            return false; // removed meanwhile; its POLL_REMOVE (if any) just finds nothing
        }
        if (res == -Errno.EBADF && ready != null) {
            // The fd was closed while registered (for example by its own handler, after the poll
            // was re-armed). Re-arming would fail at once, forever: a busy loop. Report it the way
            // poll(2) does, with POLLNVAL, so the context reports and removes the handler.
            ready.add(n, Structs.POLLNVAL);
            return true;
        }
        if (res < 0) {
            if (res != -Errno.ECANCELED) {
                LOG.log(System.Logger.Level.DEBUG, () -> "io_uring: POLL_ADD on fd " + n.fd + " failed: " + Errno.describe(-res));
            }
            arm(n);
            return false;
        }
        arm(n); // re-arm now; it reaches the kernel with the next enter, after the handler ran
        if (ready != null) {
            ready.add(n, res);
            return true;
        }
        return false;
    }

    @Override
    public boolean needWait() {
        if (hasPending || ring.cqReady() || ring.sqPending() > 0) {
            return true;
        }
        return (ring.sqFlags() & (Uring.SQ_TASKRUN | Uring.SQ_CQ_OVERFLOW)) != 0;
    }

    @Override
    public boolean dispatch() {
        return sink != null && sink.dispatch();
    }

    @Override
    public boolean hasPendingDispatch() {
        return sink != null && sink.hasReady();
    }

    /** The ring fd: readable while CQEs wait in the completion queue. */
    @Override
    public int pollableFd() {
        return ring.fd();
    }

    /** Arms the queued POLL_ADDs (and cancels) in the kernel without waiting or reaping. */
    @Override
    public void flush() throws ErrnoException {
        fillPending();
        if (ring.sqPending() > 0) {
            ring.submit(); // EBUSY/EAGAIN: the CQ is full, so the ring fd is readable and the next wait reaps
        }
    }

    @Override
    public boolean supportsUserspacePolling() {
        return true;
    }

    @Override
    public void close() {
        if (ring.isClosed()) {
            return;
        }
        try {
            drainForClose();
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.DEBUG, () -> "io_uring: cancel at close failed: " + e.getMessage());
        } finally {
            ring.close();
            if (sink != null) {
                sink.abandonAll();
            }
        }
    }

    /**
     * Cancels everything in flight and waits (bounded) until the kernel has completed it, so no
     * request still writes into memory its owner frees after close(). Handlers are not called.
     */
    private void drainForClose() throws ErrnoException {
        int inFlight = pollsArmed + (sink == null ? 0 : sink.inFlight());
        if (inFlight == 0) {
            return;
        }
        long sqe = sqeOrFlush();
        MemorySegment s = ring.sqes();
        s.set(ValueLayout.JAVA_BYTE, sqe + Uring.SQE_OPCODE, (byte) Uring.OP_ASYNC_CANCEL);
        s.set(JAVA_INT, sqe + Uring.SQE_FD, -1);
        s.set(JAVA_INT, sqe + Uring.SQE_OP_FLAGS, Uring.ASYNC_CANCEL_ANY | Uring.ASYNC_CANCEL_ALL);
        long deadline = System.nanoTime() + CLOSE_DRAIN_NS;
        ring.submit();
        CqeSink saved = sink != null ? sink : NO_SINK; // no submission API was made: only the monitor's polls
        sink = new DiscardingSink(saved);
        try {
            while (pollsArmed + saved.inFlight() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    int remaining = pollsArmed + saved.inFlight();
                    LOG.log(System.Logger.Level.WARNING, () -> "io_uring: " + remaining
                            + " request(s) still in flight after cancel at close");
                    return;
                }
                ring.enter(1, Math.min(left, 10_000_000L), true);
                reapInto(null);
            }
        } finally {
            sink = saved;
        }
    }

    /** Stands in for a missing sink while close drains the monitor's own requests. */
    private static final CqeSink NO_SINK = new CqeSink() {
        @Override
        public void onCqe(long userData, int res, int flags) {
        }

        @Override
        public boolean dispatch() {
            return false;
        }

        @Override
        public boolean hasReady() {
            return false;
        }

        @Override
        public int inFlight() {
            return 0;
        }

        @Override
        public void dropReady() {
        }

        @Override
        public void abandonAll() {
        }
    };

    /** Counts completions down during close without queueing their handlers. */
    private static final class DiscardingSink implements CqeSink {
        private final CqeSink target;

        DiscardingSink(CqeSink target) {
            this.target = target;
        }

        @Override
        public void onCqe(long userData, int res, int flags) {
            target.onCqe(userData, res, flags);
            target.dropReady();
        }

        @Override
        public boolean dispatch() {
            return false;
        }

        @Override
        public boolean hasReady() {
            return false;
        }

        @Override
        public int inFlight() {
            return target.inFlight();
        }

        @Override
        public void dropReady() {
            target.dropReady();
        }

        @Override
        public void abandonAll() {
            target.abandonAll();
        }
    }
}
