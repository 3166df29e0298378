// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.ErrnoException;
import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.jfr.UringSubmitEvent;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * One io_uring instance driven from Java through raw system calls: setup with the best flags the
 * kernel accepts, the rings mapped with mmap, SQE filling and CQE reaping.
 *
 * <p>Memory ordering (shared with the kernel, which uses smp_load_acquire/smp_store_release on
 * the same words):
 * <ul>
 * <li>SQ: SQEs are written with plain stores, then the tail is published with
 *     {@code setRelease} (pairs with the kernel's acquire of sq.tail). The head is read with
 *     {@code getAcquire} (pairs with the kernel's release after it consumed SQEs).</li>
 * <li>CQ: the tail is read with {@code getAcquire} (pairs with the kernel's release after it
 *     wrote a CQE); CQEs are read plainly; the head is returned with {@code setRelease} after
 *     they have been consumed (pairs with the kernel's acquire before reusing slots).</li>
 * <li>sq.flags (TASKRUN, CQ_OVERFLOW) are hints, read with {@code getAcquire}.</li>
 * </ul>
 * Flags tried, best first, each dropped in turn when the kernel answers EINVAL:
 * SINGLE_ISSUER (only the creating thread submits; that is the home thread),
 * COOP_TASKRUN + TASKRUN_FLAG (no IPIs; sq.flags says when to enter for pending task work),
 * SUBMIT_ALL (an SQE that fails to prepare does not stop the batch), NO_SQARRAY (no index
 * array). DEFER_TASKRUN is not used: it hides completions until the next enter, which would
 * defeat userspace polling of the CQ.
 *
 * <p>Threading: home thread only (SINGLE_ISSUER); {@link #close()} on the home thread.
 */
public final class Ring {
    // The ring's accessors: static final, exact types (MemorySegment, long offset), so each access
    // is one bounds check and the load or store, with no layout lookup or type adaptation on the way.
    private static final VarHandle INT = JAVA_INT.varHandle().withInvokeExactBehavior();
    private static final VarHandle LONG = JAVA_LONG.varHandle().withInvokeExactBehavior();
    // The statistics counters: written by the home thread only (plain read, opaque store: no
    // atomic instruction), read racily by AioContext.stats() with opaque loads.
    private static final VarHandle SUBMITTED;
    private static final VarHandle REAPED;
    private static final VarHandle OVERFLOWS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SUBMITTED = l.findVarHandle(Ring.class, "sqesSubmitted", long.class);
            REAPED = l.findVarHandle(Ring.class, "cqesReaped", long.class);
            OVERFLOWS = l.findVarHandle(Ring.class, "overflowFlushes", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    static {
        // putSqe() packs SQE fields into little-endian words; io_uring runs here on x86-64 and
        // aarch64, both little-endian. Fail at once rather than corrupt entries elsewhere.
        if (java.nio.ByteOrder.nativeOrder() != java.nio.ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("io_uring Ring needs a little-endian platform (found "
                    + java.nio.ByteOrder.nativeOrder() + ")");
        }
    }
    private static final int[] FLAG_ATTEMPTS = {
        Uring.SETUP_SINGLE_ISSUER | Uring.SETUP_COOP_TASKRUN | Uring.SETUP_TASKRUN_FLAG | Uring.SETUP_SUBMIT_ALL
                | Uring.SETUP_NO_SQARRAY | Uring.SETUP_CLAMP,
        Uring.SETUP_SINGLE_ISSUER | Uring.SETUP_COOP_TASKRUN | Uring.SETUP_TASKRUN_FLAG | Uring.SETUP_SUBMIT_ALL
                | Uring.SETUP_CLAMP,
        Uring.SETUP_COOP_TASKRUN | Uring.SETUP_TASKRUN_FLAG | Uring.SETUP_SUBMIT_ALL | Uring.SETUP_CLAMP,
        Uring.SETUP_SUBMIT_ALL | Uring.SETUP_CLAMP,
        Uring.SETUP_CLAMP,
        0,
    };

    @SuppressWarnings("unused")
    private long sqesSubmitted;
    @SuppressWarnings("unused")
    private long cqesReaped;
    @SuppressWarnings("unused")
    private long overflowFlushes;
    /** For io.jaio.UringSubmit events; set once by the monitor that owns the ring. */
    private String contextName = "";
    private final int fd;
    private final int flags;
    private final int features;
    private final MemorySegment ringMem;
    private final MemorySegment cqMem;
    private final MemorySegment sqes;
    private final long sqHeadOff;
    private final long sqTailOff;
    private final long sqFlagsOff;
    private final long cqHeadOff;
    private final long cqTailOff;
    private final long cqesOff;
    private final int sqMask;
    private final int sqEntries;
    private final int cqMask;
    private final int cqEntries;
    private final boolean[] supportedOps = new boolean[256];
    private final MemorySegment errno = Syscalls.newErrnoSegment();
    private final MemorySegment timespec;
    private final MemorySegment extArg;
    /** Our copy of the SQ tail: SQEs up to here are filled; published up to {@link #sqTailPublished}. */
    private int sqTail;
    private int sqTailPublished;
    private int sqHeadCached;
    private boolean closed;

    private Ring(int fd, MemorySegment params, Arena arena) throws ErrnoException {
        this.fd = fd;
        this.flags = params.get(JAVA_INT, Uring.P_FLAGS);
        this.features = params.get(JAVA_INT, Uring.P_FEATURES);
        this.sqEntries = params.get(JAVA_INT, Uring.P_SQ_ENTRIES);
        this.cqEntries = params.get(JAVA_INT, Uring.P_CQ_ENTRIES);
        long sqo = Uring.P_SQ_OFF;
        long cqo = Uring.P_CQ_OFF;
        boolean noSqArray = (flags & Uring.SETUP_NO_SQARRAY) != 0;
        long sqArrayOff = params.get(JAVA_INT, sqo + Uring.SQO_ARRAY);
        long sqSize = noSqArray ? 0 : sqArrayOff + 4L * sqEntries;
        long cqSize = params.get(JAVA_INT, cqo + Uring.CQO_CQES) + Uring.CQE_SIZE * cqEntries;
        if ((features & Uring.FEAT_SINGLE_MMAP) == 0) {
            Syscalls.close(fd);
            throw new ErrnoException("io_uring_setup: kernel lacks IORING_FEAT_SINGLE_MMAP (5.4+)", Errno.EOPNOTSUPP);
        }
        long ringSize = Math.max(sqSize, cqSize);
        MemorySegment ring = UringSyscalls.mmap(errno, ringSize, fd, Uring.OFF_SQ_RING);
        if (ring == null) {
            int e = Syscalls.errno(errno);
            Syscalls.close(fd);
            throw new ErrnoException("mmap(io_uring rings, " + ringSize + " bytes)", e);
        }
        MemorySegment sq = UringSyscalls.mmap(errno, Uring.SQE_SIZE * sqEntries, fd, Uring.OFF_SQES);
        if (sq == null) {
            int e = Syscalls.errno(errno);
            UringSyscalls.munmap(ring);
            Syscalls.close(fd);
            throw new ErrnoException("mmap(io_uring SQEs)", e);
        }
        this.ringMem = ring;
        this.cqMem = ring;
        this.sqes = sq;
        this.sqHeadOff = params.get(JAVA_INT, sqo + Uring.SQO_HEAD);
        this.sqTailOff = params.get(JAVA_INT, sqo + Uring.SQO_TAIL);
        this.sqFlagsOff = params.get(JAVA_INT, sqo + Uring.SQO_FLAGS);
        this.sqMask = ring.get(JAVA_INT, params.get(JAVA_INT, sqo + Uring.SQO_RING_MASK));
        this.cqHeadOff = params.get(JAVA_INT, cqo + Uring.CQO_HEAD);
        this.cqTailOff = params.get(JAVA_INT, cqo + Uring.CQO_TAIL);
        this.cqesOff = params.get(JAVA_INT, cqo + Uring.CQO_CQES);
        this.cqMask = ring.get(JAVA_INT, params.get(JAVA_INT, cqo + Uring.CQO_RING_MASK));
        if (!noSqArray) {
            for (int i = 0; i < sqEntries; i++) {
                ring.set(JAVA_INT, sqArrayOff + 4L * i, i); // identity: SQE i is always slot i
            }
        }
        this.sqTail = (int) INT.getAcquire(ring, sqTailOff);
        this.sqTailPublished = sqTail;
        this.sqHeadCached = (int) INT.getAcquire(ring, sqHeadOff);
        this.timespec = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        this.extArg = arena.allocate(Uring.GETEVENTS_ARG_SIZE, 8);
        probe(arena);
    }

    /**
     * Creates a ring of (at least) {@code entries} entries with the best flags the kernel accepts.
     *
     * @throws ErrnoException ENOSYS without io_uring, EPERM when a sysctl or seccomp forbids it
     */
    public static Ring create(int entries, Arena arena) throws ErrnoException {
        MemorySegment ccs = Syscalls.newErrnoSegment();
        int lastErr = Errno.EINVAL;
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = tmp.allocate(Uring.PARAMS_SIZE, 8);
            for (int attempt : FLAG_ATTEMPTS) {
                params.fill((byte) 0);
                params.set(JAVA_INT, Uring.P_FLAGS, attempt);
                int r = UringSyscalls.setup(ccs, entries, params);
                if (r >= 0) {
                    return new Ring(r, params, arena);
                }
                lastErr = -r;
                if (lastErr != Errno.EINVAL) {
                    break; // ENOSYS, EPERM, ENOMEM...: no flag combination will help
                }
            }
        }
        throw new ErrnoException("io_uring_setup(" + entries + ")", lastErr);
    }

    private void probe(Arena arena) {
        int n = 256;
        MemorySegment p = arena.allocate(Uring.PROBE_HEADER + Uring.PROBE_OP_SIZE * n, 8);
        int r = UringSyscalls.register(errno, fd, Uring.REGISTER_PROBE, p.address(), n);
        if (r < 0) {
            // Kernels before 5.6 have no probe: assume what 5.1 had.
            for (int op = Uring.OP_NOP; op <= Uring.OP_POLL_REMOVE; op++) {
                supportedOps[op] = true;
            }
            return;
        }
        int len = Byte.toUnsignedInt(p.get(JAVA_BYTE, 1));
        for (int i = 0; i < len && i < n; i++) {
            long off = Uring.PROBE_HEADER + Uring.PROBE_OP_SIZE * i;
            int op = Byte.toUnsignedInt(p.get(JAVA_BYTE, off));
            int opFlags = Short.toUnsignedInt(p.get(JAVA_SHORT, off + 2));
            supportedOps[op] = (opFlags & Uring.IO_URING_OP_SUPPORTED) != 0;
        }
    }

    public int fd() {
        return fd;
    }

    public int setupFlags() {
        return flags;
    }

    public int features() {
        return features;
    }

    public boolean hasFeature(int feature) {
        return (features & feature) != 0;
    }

    public boolean supportsOp(int op) {
        return op >= 0 && op < supportedOps.length && supportedOps[op];
    }

    public int sqEntries() {
        return sqEntries;
    }

    public int cqEntries() {
        return cqEntries;
    }

    public MemorySegment sqes() {
        return sqes;
    }

    // ---- SQ ----

    /** SQEs filled but not yet seen by the kernel (published or not). */
    public int sqPending() {
        return sqTail - sqHeadCached;
    }

    /** Free SQ entries: how many {@link #claimSqe()} calls succeed before a submit is needed. */
    public int sqSpaceLeft() {
        if (sqTail - sqHeadCached >= sqEntries) {
            sqHeadCached = (int) INT.getAcquire(ringMem, sqHeadOff); // pairs with the kernel's release of sq.head
        }
        return sqEntries - (sqTail - sqHeadCached);
    }

    /**
     * The byte offset in {@link #sqes()} of the next SQE, not zeroed (the caller writes all 64
     * bytes, with {@link #putSqe} or after zeroing it), or -1 when the SQ is full (then
     * {@link #submit()} and try again).
     */
    public long claimSqe() {
        if (sqTail - sqHeadCached >= sqEntries) {
            sqHeadCached = (int) INT.getAcquire(ringMem, sqHeadOff); // pairs with the kernel's release of sq.head
            if (sqTail - sqHeadCached >= sqEntries) {
                return -1;
            }
        }
        long off = Uring.SQE_SIZE * (sqTail & sqMask);
        sqTail++;
        return off;
    }

    /**
     * Writes a whole SQE at {@code off} (from {@link #claimSqe}) in eight 8-byte stores, every
     * byte of it: the submission fast path, with no zeroing pass. The words are the SQE's
     * 8-byte groups in little-endian order: opcode | flags &lt;&lt; 8 | ioprio &lt;&lt; 16 | fd &lt;&lt; 32; off;
     * addr; len | op_flags &lt;&lt; 32; user_data; buf_index | personality &lt;&lt; 16 | file_index &lt;&lt; 32;
     * addr3; and 8 bytes of zero padding. Plain stores: the tail's release in enter() publishes
     * them.
     */
    public void putSqe(long off, long head, long offWord, long addr, long lenAndOpFlags, long userData, long bufWord,
            long addr3) {
        MemorySegment s = sqes;
        LONG.set(s, off, head);
        LONG.set(s, off + Uring.SQE_OFF, offWord);
        LONG.set(s, off + Uring.SQE_ADDR, addr);
        LONG.set(s, off + Uring.SQE_LEN, lenAndOpFlags);
        LONG.set(s, off + Uring.SQE_USER_DATA, userData);
        LONG.set(s, off + Uring.SQE_BUF_INDEX, bufWord);
        LONG.set(s, off + Uring.SQE_ADDR3, addr3);
        LONG.set(s, off + Uring.SQE_ADDR3 + 8, 0L);
    }

    private void publish() {
        if (sqTailPublished != sqTail) {
            INT.setRelease(ringMem, sqTailOff, sqTail); // pairs with the kernel's acquire of sq.tail
            sqTailPublished = sqTail;
        }
    }

    private int unsubmitted() {
        return sqTail - (int) INT.getAcquire(ringMem, sqHeadOff); // pairs with the kernel's release of sq.head
    }

    /** The flags word of the SQ ring (TASKRUN, CQ_OVERFLOW, NEED_WAKEUP). */
    public int sqFlags() {
        return (int) INT.getAcquire(ringMem, sqFlagsOff); // the kernel sets these bits atomically
    }

    /**
     * Submits the filled SQEs and, if {@code waitNr > 0}, waits for that many completions or
     * {@code timeoutNs} (-1 = forever; needs FEAT_EXT_ARG for a timeout). EINTR and ETIME are
     * not errors: they return early. Returns the number of SQEs consumed, or {@code -errno} for
     * EBUSY/EAGAIN (the caller reaps and retries).
     */
    public int enter(int waitNr, long timeoutNs, boolean getEvents) throws ErrnoException {
        publish();
        int toSubmit = unsubmitted();
        int enterFlags = (waitNr > 0 || getEvents) ? Uring.ENTER_GETEVENTS : 0;
        long arg = 0;
        long argSize = 0;
        if (waitNr > 0 && timeoutNs >= 0) {
            Structs.setTimespec(timespec, timeoutNs);
            extArg.set(JAVA_LONG, 0, 0L);
            extArg.set(JAVA_LONG, 8, 0L);
            extArg.set(JAVA_LONG, Uring.GEA_TS, timespec.address());
            enterFlags |= Uring.ENTER_EXT_ARG;
            arg = extArg.address();
            argSize = Uring.GETEVENTS_ARG_SIZE;
        }
        UringSubmitEvent event = null;
        if (JaioEvents.uringSubmit()) {
            event = new UringSubmitEvent();
            event.begin();
        }
        int r = UringSyscalls.enter(errno, fd, toSubmit, waitNr, enterFlags, arg, argSize);
        if (r > 0) {
            SUBMITTED.setOpaque(this, (long) SUBMITTED.get(this) + r); // single writer; read by sqesSubmitted()
        }
        if (event != null) {
            recordEnter(event, toSubmit, r, waitNr);
        }
        sqHeadCached = (int) INT.getAcquire(ringMem, sqHeadOff); // pairs with the kernel's release of sq.head
        if (r >= 0) {
            return r;
        }
        if (r == -Errno.EINTR || r == -62 /* ETIME */ || r == -Errno.EAGAIN || r == -Errno.EBUSY) {
            return r;
        }
        throw new ErrnoException("io_uring_enter(fd=" + fd + ", to_submit=" + toSubmit + ", min_complete=" + waitNr + ")", -r);
    }

    private void recordEnter(UringSubmitEvent event, int toSubmit, int r, int waitNr) {
        event.end();
        if (event.shouldCommit()) {
            event.context = contextName;
            event.toSubmit = toSubmit;
            event.submitted = r;
            event.minComplete = waitNr;
            event.commit();
        }
    }

    /** Names the context in this ring's events. Home thread, once. */
    public void setContextName(String name) {
        contextName = name;
    }

    /** SQEs the kernel consumed so far. Any thread (a racy read). */
    public long sqesSubmitted() {
        return (long) SUBMITTED.getOpaque(this); // pairs with the opaque store in enter()
    }

    /** CQEs handed back to the kernel so far. Any thread (a racy read). */
    public long cqesReaped() {
        return (long) REAPED.getOpaque(this); // pairs with the opaque store in cqAdvance()
    }

    /** Reaps that found the kernel's CQ overflow flag and flushed its backlog. Any thread (racy). */
    public long overflowFlushes() {
        return (long) OVERFLOWS.getOpaque(this); // pairs with the opaque store in onOverflowFlush()
    }

    /** The reaper found SQ_CQ_OVERFLOW set and is about to flush the backlog. Home thread. */
    public void onOverflowFlush() {
        OVERFLOWS.setOpaque(this, (long) OVERFLOWS.get(this) + 1); // single writer; read by overflowFlushes()
    }

    /** Submits the filled SQEs without waiting. */
    public int submit() throws ErrnoException {
        return enter(0, 0, false);
    }

    /**
     * io_uring_register(fd, opcode, arg, nrArgs) on this ring: the kernel's result, or
     * {@code -errno}. Home thread (SINGLE_ISSUER rings refuse other threads with EEXIST).
     */
    public int register(int opcode, long arg, int nrArgs) {
        return UringSyscalls.register(errno, fd, opcode, arg, nrArgs);
    }

    // ---- CQ ----

    /** The CQ tail, read with acquire (pairs with the kernel's release after writing CQEs). */
    public int cqTail() {
        return (int) INT.getAcquire(cqMem, cqTailOff);
    }

    /** The CQ head as we last returned it. */
    public int cqHead() {
        return (int) INT.get(cqMem, cqHeadOff); // only we write it
    }

    /** Whether completions are waiting in the CQ. */
    public boolean cqReady() {
        return cqTail() != cqHead();
    }

    /** The byte offset of CQE {@code index} (masked) for the cqe* readers. */
    public long cqeAt(int index) {
        return cqesOff + Uring.CQE_SIZE * (index & cqMask);
    }

    public long cqeUserData(long at) {
        return (long) LONG.get(cqMem, at + Uring.CQE_USER_DATA);
    }

    public int cqeRes(long at) {
        return (int) INT.get(cqMem, at + Uring.CQE_RES);
    }

    public int cqeFlags(long at) {
        return (int) INT.get(cqMem, at + Uring.CQE_FLAGS);
    }

    /** Returns CQ slots up to {@code head} to the kernel. */
    public void cqAdvance(int head) {
        int old = (int) INT.get(cqMem, cqHeadOff); // only we write it
        REAPED.setOpaque(this, (long) REAPED.get(this) + (head - old)); // wraps correctly; single writer
        INT.setRelease(cqMem, cqHeadOff, head); // pairs with the kernel's acquire of cq.head
    }

    /** Unmaps the rings and closes the ring fd; the kernel cancels what is still in flight. */
    public void close() {
        if (!closed) {
            closed = true;
            UringSyscalls.munmap(sqes);
            UringSyscalls.munmap(ringMem);
            Syscalls.close(fd);
        }
    }

    public boolean isClosed() {
        return closed;
    }
}
