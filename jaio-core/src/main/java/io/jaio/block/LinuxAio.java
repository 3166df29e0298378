// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ErrnoException;
import io.jaio.internal.aio.LinuxAioAbi;
import io.jaio.internal.aio.LinuxAioSyscalls;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The Linux AIO state of one context (QEMU {@code block/linux-aio.c}: {@code LinuxAioState},
 * made by {@code aio_setup_linux_aio}): one kernel AIO context ({@code io_setup}), one eventfd
 * the kernel signals each completion on ({@code IOCB_FLAG_RESFD}), watched by the context as an
 * fd handler, and the queue of requests waiting for {@code io_submit}. Kept in the context's
 * {@code LINUX_AIO} slot and shared by every {@link LinuxAioFileIoEngine} of the context; the
 * context closes it.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Batching (QEMU {@code laio_do_submit} + {@code laio_deferred_fn}): {@link #enqueue} only
 *     links the request at the tail of the pending queue and schedules the submit bottom half
 *     once; that bottom half runs after the callbacks of the current loop iteration, so every
 *     request they queued goes to the kernel in one {@code io_submit}. Nothing is submitted
 *     inside the call that starts an operation, so no completion (not even a refusal) runs
 *     there.</li>
 * <li>Bounded depth (QEMU {@code MAX_EVENTS}, {@code ioq_submit}): at most {@link #depth}
 *     requests are in the kernel; the rest wait in the queue. A partial {@code io_submit} keeps
 *     the rest queued; {@code -EAGAIN} with requests in flight does the same, and the queue is
 *     "blocked" until completions free room, when the completion handler submits again. A
 *     refusal of the first iocb ({@code -EBADF}, {@code -EINVAL}) fails that request only and
 *     the loop retries the rest; {@code -EAGAIN} with nothing in flight fails the first request
 *     too, so a blocked queue always has completions coming.</li>
 * <li>Completions (QEMU {@code qemu_laio_completion_cb}, {@code qemu_laio_process_completions}):
 *     the eventfd handler drains the counter, then reaps with {@code io_getevents(min_nr 0)} into
 *     one event array and completes each request on the home thread. The position in that array
 *     lives in fields and the completion bottom half is scheduled while requests complete, so a
 *     completion that runs a nested {@code poll()} continues with the remaining events; the
 *     bottom half is cancelled when the kernel has no more (a call that returns fewer events than
 *     asked has drained the ring, so no second call confirms it). The reap loop is bounded
 *     ({@link #MAX_REAP_ROUNDS}); past the bound the bottom half stays scheduled and the next
 *     iteration goes on.</li>
 * <li>Requests are identified by {@code aio_data}, an index into {@link #ops}; their iocbs are
 *     64-byte slices of this state's arena, made when an engine first needs a request and reused
 *     afterwards, so steady-state operations allocate nothing.</li>
 * <li>Close: nothing new is accepted, io_cancel is tried on the requests in the kernel (file I/O
 *     cannot be cancelled, so it takes none of those) and the rest are waited for (reaped without
 *     calling their completions) for up to {@link #CLOSE_WAIT_NS}, then {@code io_destroy} (which
 *     itself waits for what it cannot cancel, so no buffer is written after close returns); the
 *     report names how many were in flight and how many were still queued.</li>
 * </ul>
 *
 * <p>Threading: home thread of the context only (asserted); made through
 * {@link FileIoEngines#linuxAio}, which checks the thread.
 */
final class LinuxAio implements ContextCore.Extension {
    /** Requests in the kernel at once (QEMU's MAX_EVENTS is 1024; 128 is the io_uring monitor's ring size). */
    static final int DEFAULT_DEPTH = 128;
    /** The largest depth taken (io_setup itself allows up to /proc/sys/fs/aio-max-nr, 65536 by default). */
    static final int MAX_DEPTH = 1 << 20;
    /** io_submit calls per submission pass (each takes all it can; refusals fail one request each). */
    private static final int MAX_SUBMIT_ROUNDS = 64;
    /** io_getevents calls per completion pass, of up to {@link #depth} events each. */
    private static final int MAX_REAP_ROUNDS = 8;
    /** How long close waits for requests in the kernel before leaving them to io_destroy. */
    static final long CLOSE_WAIT_NS = 5_000_000_000L;

    /** One request as the queue sees it; the engine's requests extend it. Home thread only. */
    abstract static class Op {
        /** Index in {@link #ops}; the iocb's aio_data. */
        final int id;
        /** This request's struct iocb, filled by {@link #prepare()} before each submission. */
        final MemorySegment iocb;
        /** Next in the pending or ready queue. */
        Op nextQueued;
        /** Submitted and not reaped: its iocb is the kernel's (close tries io_cancel on it). */
        boolean inKernel;

        Op(LinuxAio aio) {
            this.id = aio.register(this);
            this.iocb = aio.arena.allocate(LinuxAioAbi.IOCB_SIZE, 8);
        }

        /** Fills {@link #iocb} for the next step of the operation. */
        abstract void prepare();

        /** io_submit refused this request with {@code errno}; it is no longer queued. */
        abstract void onSubmitError(int errno);

        /** The kernel completed this request's iocb with {@code res} (bytes or {@code -errno}). */
        abstract void onEvent(long res);

        /** A request queued with {@link #completeLater} is due. */
        abstract void onReady();
    }

    final AioContext ctx;
    /** Requests in the kernel at most. */
    final int depth;
    private final Arena arena = Arena.ofShared();
    /** errno capture for this state's calls (home thread). */
    private final MemorySegment ccs = Syscalls.newErrnoSegment();
    /** io_submit's array of iocb pointers: {@code depth} entries. */
    private final MemorySegment iocbPtrs;
    /** io_getevents' array of struct io_event: {@code depth} entries. */
    private final MemorySegment events;
    /** A zero struct __kernel_timespec: io_getevents returns at once. */
    private final MemorySegment zeroTimeout;
    /** The 8-byte counter read from the eventfd. */
    private final MemorySegment eventfdValue;
    /** aio_context_t: the address of the kernel's completion ring. */
    private final long aioCtx;
    /** The eventfd every iocb names in aio_resfd. */
    final int eventFd;
    private final BottomHalf submitBh;
    private final BottomHalf completionBh;

    private Op pendingHead;
    private Op pendingTail;
    private Op readyHead;
    private Op readyTail;
    /** Requests in the kernel (submitted, not reaped). */
    private int inFlight;
    /** Pending requests wait for completions to free room (QEMU io_q.blocked). */
    private boolean blocked;
    private boolean submitScheduled;
    /** Position in {@link #events}: kept in fields so a nested poll() continues the same pass. */
    private int eventIdx;
    private int eventMax;
    /** The last io_getevents returned fewer events than asked: the kernel's ring was empty then. */
    private boolean lastReapShort;
    private Op[] ops = new Op[16];
    private int opCount;
    private boolean closed;
    /** The kernel refused IOCB_CMD_FDSYNC (before 4.18, or a file without fsync): flush on the thread pool. */
    boolean fdsyncRefused;

    // Diagnostics for tests.
    long submitCalls;
    long submittedIocbs;
    int maxInFlight;

    /** Thrown out of the slot's factory to carry the checked failure of io_setup or eventfd. */
    private static final class SetupFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final transient ErrnoException failure;

        SetupFailed(ErrnoException cause) {
            super(cause.getMessage(), cause, false, false);
            this.failure = cause;
        }
    }

    /**
     * The state of {@code ctx}, made with {@code depth} on first use (a later call gets the first
     * one, whatever its depth). Home thread.
     *
     * @throws ErrnoException when the kernel has no Linux AIO (io_setup: ENOSYS), the system-wide
     *     limit /proc/sys/fs/aio-max-nr leaves no room (EAGAIN), or the eventfd cannot be made
     */
    static LinuxAio of(AioContext ctx, int depth) throws ErrnoException {
        if (depth < 1 || depth > MAX_DEPTH) {
            throw new IllegalArgumentException("depth=" + depth + " (expected 1.." + MAX_DEPTH + ")");
        }
        try {
            return (LinuxAio) ContextCore.of(ctx).extension(ContextCore.Slot.LINUX_AIO, c -> open(c, depth));
        } catch (SetupFailed f) {
            throw f.failure;
        }
    }

    private static LinuxAio open(AioContext ctx, int depth) {
        try {
            return new LinuxAio(ctx, depth);
        } catch (ErrnoException e) {
            throw new SetupFailed(e);
        }
    }

    private LinuxAio(AioContext ctx, int depth) throws ErrnoException {
        this.ctx = ctx;
        this.depth = depth;
        this.zeroTimeout = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        this.eventfdValue = arena.allocate(8, 8);
        MemorySegment ctxId = arena.allocate(8, 8);
        int efd;
        try {
            efd = Syscalls.eventfd(0, Syscalls.EFD_NONBLOCK | Syscalls.EFD_CLOEXEC);
        } catch (ErrnoException e) {
            arena.close();
            throw e;
        }
        int r = LinuxAioSyscalls.setup(ccs, depth, ctxId);
        if (r < 0) {
            Syscalls.close(efd);
            arena.close();
            throw new ErrnoException("Linux AIO unavailable: io_setup(nr_events=" + depth + setupHint(-r) + ")", -r);
        }
        this.aioCtx = ctxId.get(JAVA_LONG, 0);
        this.iocbPtrs = arena.allocate(8L * depth, 8); // after io_setup: a refused depth costs no memory
        this.events = arena.allocate(LinuxAioAbi.IO_EVENT_SIZE * depth, 8);
        this.eventFd = efd;
        this.submitBh = ctx.newBottomHalf("linux-aio-submit", this::onSubmitBh);
        this.completionBh = ctx.newBottomHalf("linux-aio-completion", this::processCompletionsAndSubmit);
        try {
            ctx.setFdHandler(efd, this::onEventFdReadable, null, null, null);
        } catch (ErrnoException e) {
            submitBh.delete();
            completionBh.delete();
            LinuxAioSyscalls.destroy(ccs, aioCtx);
            Syscalls.close(efd);
            arena.close();
            throw e;
        }
    }

    /** Why io_setup said {@code errno}, in the words of the kernel's limits. */
    private static String setupHint(int errno) {
        if (errno == Errno.ENOSYS) {
            return "; the kernel is built without CONFIG_AIO";
        }
        if (errno == Errno.EAGAIN) {
            return "; over the system-wide limit: /proc/sys/fs/aio-nr=" + procValue("aio-nr") + " of aio-max-nr="
                    + procValue("aio-max-nr") + " (nr_events must fit in what is left)";
        }
        return "";
    }

    private static String procValue(String name) {
        try {
            return Files.readAllLines(Path.of("/proc/sys/fs", name)).get(0).strip(); // procfs reports size 0
        } catch (java.io.IOException | RuntimeException e) {
            return "?";
        }
    }

    // ---- requests (home thread) ----

    private int register(Op op) {
        assert ctx.inHomeThread();
        if (opCount == ops.length) {
            ops = Arrays.copyOf(ops, opCount * 2);
        }
        ops[opCount] = op;
        return opCount++;
    }

    /** Request objects made for this context so far (a diagnostic). */
    int requestsCreated() {
        return opCount;
    }

    /** Refuses fds opened without O_DIRECT (read and write only). */
    final DirectFds directFds = new DirectFds();

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("Linux AIO of context '" + ctx.name() + "' is closed");
        }
    }

    /** Prepares {@code op}'s iocb and queues it for the submission at the end of this loop iteration. */
    void enqueue(Op op) {
        assert ctx.inHomeThread();
        checkOpen();
        op.prepare();
        op.nextQueued = null;
        if (pendingTail == null) {
            pendingHead = op;
        } else {
            pendingTail.nextQueued = op;
        }
        pendingTail = op;
        if (!blocked && !submitScheduled) {
            submitScheduled = true;
            submitBh.schedule();
        }
    }

    /** Completes {@code op} from the submit bottom half ({@link Op#onReady}): for operations with nothing to do. */
    void completeLater(Op op) {
        assert ctx.inHomeThread();
        checkOpen();
        op.nextQueued = null;
        if (readyTail == null) {
            readyHead = op;
        } else {
            readyTail.nextQueued = op;
        }
        readyTail = op;
        if (!submitScheduled) {
            submitScheduled = true;
            submitBh.schedule();
        }
    }

    private Op popPending() {
        Op op = pendingHead;
        pendingHead = op.nextQueued;
        if (pendingHead == null) {
            pendingTail = null;
        }
        op.nextQueued = null;
        return op;
    }

    private void onSubmitBh() {
        submitScheduled = false;
        if (!blocked && pendingHead != null) {
            submit();
        }
        Op op = readyHead; // only those queued so far: a completion that queues another runs it next time
        readyHead = null;
        readyTail = null;
        while (op != null) {
            Op next = op.nextQueued;
            op.nextQueued = null;
            op.onReady();
            op = next;
        }
    }

    /** Submits the pending queue, up to {@link #depth} in flight (QEMU ioq_submit). */
    private void submit() {
        try {
            submitRounds();
        } finally { // also when a refused request's completion threw: what is left still gets submitted
            blocked = pendingHead != null && inFlight > 0;
            if (pendingHead != null && !blocked && !submitScheduled) {
                submitScheduled = true; // the round bound left requests with nothing in flight: go on next iteration
                submitBh.schedule();
            }
        }
    }

    private void submitRounds() {
        for (int round = 0; round < MAX_SUBMIT_ROUNDS && pendingHead != null && inFlight < depth; round++) {
            int room = depth - inFlight;
            int n = 0;
            for (Op op = pendingHead; op != null && n < room; op = op.nextQueued) {
                iocbPtrs.setAtIndex(JAVA_LONG, n++, op.iocb.address());
            }
            int ret = LinuxAioSyscalls.submit(ccs, aioCtx, n, iocbPtrs);
            submitCalls++;
            if (ret == -Errno.EAGAIN && inFlight > 0) {
                break; // the kernel is full: completions will free room
            }
            if (ret == -Errno.EINTR) {
                continue;
            }
            if (ret < 0) {
                popPending().onSubmitError(-ret); // the first iocb was refused: fail it, retry the rest
                continue;
            }
            for (int i = 0; i < ret; i++) {
                popPending().inKernel = true;
            }
            inFlight += ret;
            submittedIocbs += ret;
            maxInFlight = Math.max(maxInFlight, inFlight);
            if (ret < n) {
                break; // the kernel took only a part: keep the rest queued
            }
        }
    }

    // ---- completions (home thread) ----

    private void onEventFdReadable() {
        long r = Syscalls.read(ccs, eventFd, eventfdValue, 8); // drains the counter (not EFD_SEMAPHORE)
        if (r == 8) {
            processCompletionsAndSubmit();
        }
    }

    private void processCompletionsAndSubmit() {
        processCompletions();
        if (pendingHead != null) {
            submit();
        }
    }

    /** Reaps and completes what the kernel has finished (QEMU qemu_laio_process_completions). */
    private void processCompletions() {
        completionBh.schedule(); // a nested poll() in a completion continues this pass
        for (int round = 0; round < MAX_REAP_ROUNDS; round++) {
            if (eventIdx >= eventMax) {
                if (round > 0 && lastReapShort) {
                    // the ring was drained by the last call; what completed since has written the
                    // eventfd again, so the fd handler comes back: no empty io_getevents to confirm
                    eventIdx = 0;
                    eventMax = 0;
                    completionBh.cancel();
                    return;
                }
                int n = LinuxAioSyscalls.getEvents(ccs, aioCtx, 0, depth, events, zeroTimeout);
                if (n == -Errno.EINTR) {
                    continue;
                }
                eventIdx = 0;
                eventMax = 0;
                if (n < 0) {
                    completionBh.cancel();
                    throw new IllegalStateException("io_getevents(ctx of '" + ctx.name() + "', min_nr=0, nr=" + depth + "): "
                            + Errno.describe(-n));
                }
                if (n == 0) {
                    completionBh.cancel();
                    return;
                }
                eventMax = n;
                lastReapShort = n < depth;
            }
            while (eventIdx < eventMax) {
                int i = eventIdx++;
                long data = LinuxAioAbi.eventData(events, i);
                long res = LinuxAioAbi.eventRes(events, i);
                inFlight--;
                if (data < 0 || data >= opCount) {
                    throw new IllegalStateException("io_event.data=" + data + " (expected a request id 0.." + (opCount - 1) + ")");
                }
                Op op = ops[(int) data];
                op.inKernel = false;
                op.onEvent(res);
            }
        }
        // bound reached: completionBh stays scheduled and the next iteration goes on
    }

    // ---- close ----

    @Override
    public void closeWithContext(List<String> leaks) {
        closed = true;
        ctx.removeFdHandler(eventFd);
        submitBh.delete();
        completionBh.delete();
        int queued = 0;
        for (Op op = pendingHead; op != null; op = op.nextQueued) {
            queued++;
        }
        for (Op op = readyHead; op != null; op = op.nextQueued) {
            queued++;
        }
        pendingHead = pendingTail = readyHead = readyTail = null;
        for (int i = eventIdx; i < eventMax; i++) { // reaped but not completed: done, as far as the kernel goes
            ops[(int) LinuxAioAbi.eventData(events, i)].inKernel = false;
        }
        int inFlightAtClose = inFlight - (eventMax - eventIdx);
        inFlight = inFlightAtClose;
        int cancelled = cancelInKernel();
        MemorySegment timeout = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        Structs.setTimespec(timeout, 100_000_000L);
        long deadline = System.nanoTime() + CLOSE_WAIT_NS;
        while (inFlight > 0 && System.nanoTime() - deadline < 0) { // bounded by the deadline
            int n = LinuxAioSyscalls.getEvents(ccs, aioCtx, 1, depth, events, timeout);
            if (n > 0) {
                inFlight -= n;
            } else if (n < 0 && n != -Errno.EINTR) {
                break;
            }
        }
        if (inFlightAtClose > 0) {
            leaks.add("Linux AIO had " + inFlightAtClose + " request(s) in flight (io_cancel took " + cancelled + "; waited for"
                    + (inFlight > 0 ? "; " + inFlight + " still running after " + CLOSE_WAIT_NS / 1_000_000 + " ms, left to io_destroy" : "")
                    + "; their completions were not called)");
        }
        if (queued > 0) {
            leaks.add("Linux AIO had " + queued + " request(s) queued, never submitted (their completions were not called)");
        }
        int r = LinuxAioSyscalls.destroy(ccs, aioCtx); // waits for whatever it cannot cancel
        if (r < 0) {
            leaks.add("io_destroy(ctx of '" + ctx.name() + "'): " + Errno.describe(-r));
        }
        Syscalls.close(eventFd);
        arena.close();
    }

    /**
     * io_cancel on every request in the kernel; returns how many it took. Reads and writes of
     * regular files and block devices cannot be cancelled (EINVAL: fs/aio.c cancels only iocbs
     * with a cancel hook, such as USB gadget I/O), so for them this takes none and close waits.
     */
    private int cancelInKernel() {
        int cancelled = 0;
        MemorySegment result = events.asSlice(0, LinuxAioAbi.IO_EVENT_SIZE); // the reaped events are done with
        for (int i = 0; i < opCount && inFlight > 0; i++) {
            Op op = ops[i];
            if (op.inKernel && LinuxAioSyscalls.cancel(ccs, aioCtx, op.iocb, result) == 0) {
                op.inKernel = false;
                inFlight--;
                cancelled++;
            }
        }
        return cancelled;
    }

    @Override
    public String toString() {
        return "LinuxAio[" + ctx.name() + ", depth=" + depth + ", inFlight=" + inFlight + (blocked ? ", blocked" : "") + "]";
    }
}
