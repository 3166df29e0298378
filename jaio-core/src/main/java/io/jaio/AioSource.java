// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.MemorySegment;

import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.loop.PollLoop;
import io.jaio.internal.loop.Wakeup;
import io.jaio.internal.fdmon.OuterWaitSet;
import io.jaio.internal.fdmon.PollSet;
import io.jaio.internal.fdmon.ReadyList;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/**
 * A context driven by an outer event loop instead of {@link AioContext#poll}, with the semantics
 * of QEMU's AioContext GSource ({@code util/async.c: aio_ctx_prepare/check/dispatch}). One
 * iteration of the outer loop is:
 * <ol>
 * <li>{@link #prepare()}: the timeout in ms (rounded up, -1 = none, 0 = do not wait);</li>
 * <li>wait until {@link #fd()} polls readable (POLLIN) or the timeout passes;</li>
 * <li>{@link #check()}: whether anything is to be done;</li>
 * <li>if so, {@link #dispatch()}: bottom halves, backend completions (io_uring CQE handlers),
 *     ready fd handlers, then expired timers, in QEMU's GSource order.</li>
 * </ol>
 * {@link #iterate(boolean)} is that iteration with this source alone (glib's
 * {@code g_main_context_iteration}); {@link #attachTo(AioContext)} runs it from another
 * context's loop; {@link MainLoop} drives two sources at once. The context may still be polled
 * directly between iterations, and from inside callbacks, as before.
 *
 * <p><b>The fd to watch</b> is one epoll fd owned by this source, the same for the context's
 * whole life and on every {@link FdMonitorKind}: it holds the context's notifier eventfd and
 * either the monitor's own pollable fd (the epoll fd, or the io_uring ring fd, readable when
 * completions wait) or, for the poll(2) monitor, a mirror of the registered fds. A set of its own,
 * rather than the monitor's fd, because the monitor changes at run time (the poll(2) to epoll
 * upgrade at 64 fds, the fall-back from epoll when it refuses a regular file), and an outer loop
 * cannot follow that; a mirror for poll(2), rather than a switch to epoll, so that the context's
 * own (nested) polls keep the monitor they were given, and a context built with
 * {@code epollUpgrade(false)} works too. Fds epoll refuses (regular files, always ready for
 * poll(2)) make {@link #prepare()} return 0, and the context's own non-blocking poll finds them.
 *
 * <p><b>Wake-ups.</b> {@link #prepare()} sets bit 0 of the context's notify word, so from then
 * until {@link #check()} an {@link AioContext#aioNotify()} from any thread, and any bottom half,
 * timer or fd change from the home thread too, writes the eventfd, which makes {@link #fd()}
 * readable. Before computing the timeout, prepare reads the notified flag after setting the bit
 * (both volatile): either it sees a notification (and returns 0) or the notifier sees the bit (and
 * writes the eventfd), the argument of {@link AioContext#poll}.
 *
 * <p><b>Poll mode</b> cannot run under an outer loop: {@link #prepare()} turns it off, as QEMU's
 * {@code aio_prepare} does. The handlers that the final io_poll finds ready are kept on this
 * source's ready list and dispatched by the next {@link #dispatch()}; QEMU drops them and leaves
 * their links pointing into a dead stack frame (its latent issue L1).
 *
 * <p><b>Threading.</b> Every method except {@link #fd()} runs on the context's home thread, and
 * may be called from inside the context's own callbacks (an outer loop may recurse, as GSource
 * {@code can_recurse} allows). {@link #fd()} may be called from any thread. The source belongs
 * to its context and is closed with it.
 */
public final class AioSource {
    private final AioContext ctx;
    private final HandlerTable table;
    private final PollSet pollSet;
    private final PollLoop loop;
    private final Wakeup wakeup;
    private final OuterWaitSet waitSet;
    /** Handlers found ready by prepare (final io_poll) and check, until dispatch pops them. */
    private final ReadyList ready = new ReadyList();
    private final MemorySegment pollfd;
    private final MemorySegment timespec;
    private final MemorySegment errno = Syscalls.newErrnoSegment();

    AioSource(AioContext ctx, HandlerTable table, PollSet pollSet, PollLoop loop, Wakeup wakeup) throws ErrnoException {
        this.ctx = ctx;
        this.table = table;
        this.pollSet = pollSet;
        this.loop = loop;
        this.wakeup = wakeup;
        this.waitSet = new OuterWaitSet(table, wakeup.fd());
        this.pollfd = table.arena().allocate(Structs.POLLFD_SIZE, 8);
        this.timespec = table.arena().allocate(Structs.TIMESPEC_SIZE, 8);
    }

    /** {@return the context this source drives} */
    public AioContext context() {
        return ctx;
    }

    /**
     * The fd an outer loop waits on for POLLIN (the class notes say what it holds). Any thread.
     * It stays the same until the context closes, which closes it.
     *
     * @return the source's fd, owned by the context
     */
    public int fd() {
        return waitSet.fd();
    }

    /**
     * QEMU aio_ctx_prepare: marks the outer loop as about to wait, turns poll mode off, hands the
     * kernel what the monitor queued, and computes how long the outer loop may wait.
     *
     * @return the timeout in ms, rounded up so the loop never wakes before a timer is due: 0 when
     *     work is ready (or a notification came), -1 when nothing is scheduled
     */
    public int prepare() {
        ctx.checkOuterLoopCall("AioSource.prepare()");
        wakeup.beginOuterWait();
        boolean notified = wakeup.isNotified(); // after setting bit 0: see "Wake-ups" in the class notes
        // Poll mode off; what the final io_poll finds stays on 'ready' for dispatch (not QEMU's L1).
        pollSet.setStarted(ready, false);
        boolean mustNotBlock;
        try {
            table.monitor().flush();
            mustNotBlock = waitSet.sync();
        } catch (ErrnoException e) {
            ctx.reportCallbackError("outer-loop fd of context '" + ctx.name() + "'", e);
            mustNotBlock = true; // never let the outer loop sleep on a set that may miss events
        }
        if (notified || mustNotBlock || !ready.isEmpty()) {
            return 0;
        }
        return timeoutNsToMs(loop.computeTimeoutNs());
    }

    /**
     * QEMU aio_ctx_check: ends the wait (clears bit 0 and the notified flag), collects the ready
     * fds with a non-blocking wait of the monitor, and says whether {@link #dispatch()} has work:
     * a ready fd, a scheduled bottom half (idle ones too), a queued completion or a due timer.
     *
     * @return whether {@link #dispatch()} has work to do
     */
    public boolean check() {
        ctx.checkOuterLoopCall("AioSource.check()");
        wakeup.endOuterWait();
        try {
            table.monitor().wait(ready, 0, loop.depth() + 1);
        } catch (ErrnoException e) {
            ctx.reportCallbackError("fd monitor " + table.monitor().name(), e);
        }
        return !ready.isEmpty() || ctx.bhs.timeoutNs() >= 0 || loop.computeTimeoutNs() == 0;
    }

    /**
     * QEMU aio_ctx_dispatch / aio_dispatch: runs the bottom halves, then backend completions (io_uring
     * CQE handlers), then the fd handlers found ready, then the expired timers. Note the order
     * differs from {@link AioContext#poll}, which runs completions first, as in QEMU.
     *
     * @return whether progress was made, as {@link AioContext#poll} counts it
     */
    public boolean dispatch() {
        ctx.checkOuterLoopCall("AioSource.dispatch()");
        int d = loop.enterDispatch();
        boolean progress;
        try {
            progress = ctx.bhs.poll();
            progress |= table.monitor().dispatch();
            progress |= loop.dispatchReadyHandlers(ready, 0);
            if (d == 0 && table.takeDeletedPending()) {
                pollSet.purgeDeleted(); // QEMU aio_free_deleted_handlers: only the outermost level frees
            }
        } finally {
            loop.exitDispatch(d);
        }
        return progress | ctx.timers.run();
    }

    /**
     * One outer-loop iteration with this source alone (glib {@code g_main_context_iteration}):
     * prepare, wait on {@link #fd()} for the timeout if {@code mayBlock}, check, and dispatch if
     * check said so. Home thread.
     *
     * @param mayBlock whether to wait on the fd until the prepared timeout
     * @return whether check found work and dispatch ran (not whether it made progress)
     */
    public boolean iterate(boolean mayBlock) {
        int timeoutMs = prepare();
        if (mayBlock && timeoutMs != 0) {
            waitReadable(timeoutMs);
        }
        boolean work = check();
        if (work) {
            dispatch();
        }
        return work;
    }

    /** Waits for {@link #fd()} to poll readable, at most {@code timeoutMs} (-1 = forever). */
    private void waitReadable(int timeoutMs) {
        Structs.setPollfd(pollfd, 0, waitSet.fd(), Structs.POLLIN);
        MemorySegment ts = MemorySegment.NULL;
        if (timeoutMs >= 0) {
            Structs.setTimespec(timespec, timeoutMs * 1_000_000L);
            ts = timespec;
        }
        int r = Syscalls.ppoll(errno, pollfd, 1, ts);
        if (r < 0 && r != -Errno.EINTR) { // EINTR: io_uring task work or a signal; check() looks anyway
            ctx.reportCallbackError("outer-loop wait of context '" + ctx.name() + "'",
                    new ErrnoException("ppoll(fd=" + waitSet.fd() + ")", -r));
        }
    }

    /**
     * Runs this source from {@code parent}'s loop: the source's fd becomes an fd handler of
     * {@code parent}, its timeout a {@code parent} timer, and "ready now" a {@code parent} bottom
     * half; each of them checks, dispatches and prepares again. So the context runs whenever
     * {@code parent} polls, and a nested poll of this context still works. Both contexts must
     * share a home thread; call from it. Close the attachment before closing either context.
     *
     * @param parent the context whose loop runs this source; same home thread
     * @return the attachment; closing it detaches the source
     * @throws ErrnoException when {@code parent} refuses the fd
     */
    public Attachment attachTo(AioContext parent) throws ErrnoException {
        ctx.checkOuterLoopCall("AioSource.attachTo()");
        if (parent == ctx || parent.homeThread() != ctx.homeThread()) {
            throw new IllegalArgumentException("parent " + parent + " (expected another context of home thread '"
                    + ctx.homeThread().getName() + "')");
        }
        return new Attachment(parent);
    }

    /** QEMU qemu_timeout_ns_to_ms: -1 stays -1, anything else is rounded up to whole ms. */
    static int timeoutNsToMs(long timeoutNs) {
        if (timeoutNs < 0) {
            return -1;
        }
        long ms = timeoutNs / 1_000_000L + (timeoutNs % 1_000_000L != 0 ? 1 : 0);
        return (int) Math.min(ms, Integer.MAX_VALUE);
    }

    /** The context closes: release the fd and forget the ready handlers. */
    void closeWithContext() {
        ready.clear();
        waitSet.close();
    }

    /**
     * This source attached to a parent context ({@link #attachTo}). Home thread; {@link #close()}
     * is idempotent.
     */
    public final class Attachment implements AutoCloseable {
        private final AioContext parent;
        private final Timer timer;
        private final BottomHalf readyNow;
        private boolean closed;

        private Attachment(AioContext parent) throws ErrnoException {
            this.parent = parent;
            this.timer = parent.newTimer(ClockType.REALTIME, TimerScale.NS, this::run);
            this.readyNow = parent.newBottomHalf("aio-source " + ctx.name(), this::run);
            try {
                parent.setFdHandler(fd(), this::run, null, null, null);
            } catch (ErrnoException | RuntimeException e) {
                readyNow.delete();
                throw e;
            }
            arm(prepare());
        }

        /** Check, dispatch, prepare again. Bounded: one dispatch per call. */
        private void run() {
            if (closed || ctx.isClosed()) {
                return;
            }
            try {
                if (check()) {
                    dispatch();
                }
            } finally { // after an Error too: unarmed, the attachment would never run the rest
                if (!closed && !ctx.isClosed()) {
                    arm(prepare());
                }
            }
        }

        private void arm(int timeoutMs) {
            if (timeoutMs == 0) {
                timer.delete();
                readyNow.schedule(); // runs in parent's next poll, once: a busy child cannot starve it
            } else if (timeoutMs > 0) {
                timer.modNs(parent.clockNs(ClockType.REALTIME) + timeoutMs * 1_000_000L);
            } else {
                timer.delete();
            }
        }

        /** Detaches: removes the fd handler, the timer and the bottom half from the parent. */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            parent.removeFdHandler(fd());
            timer.delete();
            readyNow.delete();
            if (!ctx.isClosed()) {
                wakeup.endOuterWait(); // no outer loop waits any more: stop writing the eventfd for it
            }
        }
    }
}
