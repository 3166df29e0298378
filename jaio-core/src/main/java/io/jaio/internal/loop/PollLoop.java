// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.Arrays;

import io.jaio.AioContext;
import io.jaio.ErrnoException;

import io.jaio.internal.fdmon.AioHandler;
import io.jaio.internal.fdmon.FdMonitor;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollSet;
import io.jaio.internal.fdmon.ReadyList;
import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.jfr.LoopIterationEvent;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;

/**
 * One iteration of a context's loop (QEMU {@code util/aio-posix.c}: aio_poll,
 * aio_compute_timeout, aio_dispatch_ready_handlers, aio_dispatch_handler), phase by phase as
 * docs/poll-loop.md describes it, and the nesting depth it shares with {@link io.jaio.AioSource}'s
 * dispatch.
 *
 * <p>Implementation notes. Each nesting depth has its own {@link ReadyList}, made once and
 * reused, so an iteration allocates nothing; {@code readyLists.length >= depth} always holds.
 * The wake-up protocol (phases 5, 7 and 8) is {@link Wakeup}'s; this class only calls it in order.
 * It counts iterations and blocking waits in the context's {@link LoopCounters}; while a
 * recording takes {@code io.jaio.LoopIteration}, {@link #pollRecorded} wraps the iteration in an
 * event and {@link #timeWaits} makes the waits read the clock.
 *
 * <p>Threading: home thread only. {@link AioContext#poll} checks the thread and that the context
 * is open before it calls {@link #poll}.
 */
public final class PollLoop {
    private final AioContext ctx;
    private final HandlerTable table;
    private final PollSet pollSet;
    private final BhQueue bhs;
    private final TimerListGroup timers;
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;

    /** The nesting depth of poll() and outer-loop dispatch calls now running (0 = none). */
    private int depth;
    private ReadyList[] readyLists = new ReadyList[4];
    private final LoopCounters counters;
    /** A LoopIteration event is open: the waits add their time to {@link #waitedNs}. */
    private boolean timeWaits;
    /** Time spent in the monitor's wait since the innermost recorded poll() began. */
    private long waitedNs;

    public PollLoop(AioContext ctx, HandlerTable table, PollSet pollSet, BhQueue bhs, TimerListGroup timers, Wakeup wakeup,
            CallbackRunner callbacks) {
        this.ctx = ctx;
        this.table = table;
        this.pollSet = pollSet;
        this.bhs = bhs;
        this.timers = timers;
        this.wakeup = wakeup;
        this.callbacks = callbacks;
        this.counters = callbacks.counters();
        for (int i = 0; i < readyLists.length; i++) {
            readyLists[i] = new ReadyList();
        }
    }

    /** QEMU aio_poll; see {@link AioContext#poll}. */
    public boolean poll(boolean blocking) {
        counters.onIteration();
        if (JaioEvents.loopIteration()) {
            return pollRecorded(blocking);
        }
        return pollNow(blocking);
    }

    /** {@link #poll} inside an io.jaio.LoopIteration event; a nested poll() gets its own. */
    private boolean pollRecorded(boolean blocking) {
        boolean outerTimed = timeWaits;
        long outerWaited = waitedNs;
        timeWaits = true;
        waitedNs = 0;
        LoopIterationEvent e = new LoopIterationEvent();
        e.begin();
        boolean progress = false;
        try {
            progress = pollNow(blocking);
        } finally {
            e.end();
            long waited = waitedNs;
            timeWaits = outerTimed;
            waitedNs = outerWaited + waited; // the outer iteration waited through this one
            if (e.shouldCommit()) {
                e.context = ctx.name();
                e.blocking = blocking;
                e.progress = progress;
                e.blockedNs = waited;
                e.depth = depth + 1;
                e.commit();
            }
        }
        return progress;
    }

    /** The monitor's wait, timed while a LoopIteration event is open. */
    private void waitTimed(FdMonitor monitor, ReadyList ready, long timeoutNs, int myDepth) throws ErrnoException {
        if (!timeWaits) {
            monitor.wait(ready, timeoutNs, myDepth);
            return;
        }
        long t0 = System.nanoTime();
        try {
            monitor.wait(ready, timeoutNs, myDepth);
        } finally {
            waitedNs += System.nanoTime() - t0;
        }
    }

    private boolean pollNow(boolean blocking) {
        int d = depth;
        if (d == readyLists.length) {
            growReadyLists();
        }
        ReadyList ready = readyLists[d];
        depth = d + 1;
        boolean progress;
        try {
            if (!blocking && pollSet.maxNs() == 0) {
                progress = pollNonBlocking(ready, d + 1);
            } else {
                progress = pollLocked(ready, blocking, d + 1);
            }
        } finally {
            depth = d;
        }
        return progress | timers.run();
    }

    /**
     * {@link #pollLocked} for {@code blocking == false} with adaptive polling off, the phases
     * that can do something kept in the same order. What is left out does nothing there: the
     * timeout is 0, so try_poll_mode returns at once (its budget is soonest(0, ..) = 0) and calls
     * no io_poll, poll mode is not switched off (only when about to block, QEMU 816a430c51),
     * notifyMe is not raised, and no callback runs between the timeout and the wait, so the wait
     * window needs no opening; block_ns is 0 since there is no poll time to adjust.
     */
    private boolean pollNonBlocking(ReadyList ready, int myDepth) {
        ready.timeoutNs = 0;
        FdMonitor monitor = table.monitor();
        boolean progress = false;
        if (monitor.needWait()) {
            try {
                waitTimed(monitor, ready, 0, myDepth);
            } catch (ErrnoException e) {
                callbacks.report("fd monitor " + monitor.name(), e);
            }
        }
        wakeup.accept(); // before the bottom-half queue's take below
        progress |= table.monitor().dispatch();
        progress |= bhs.poll();
        if (!ready.isEmpty()) {
            progress |= dispatchReadyHandlers(ready, 0);
        }
        if (myDepth == 1 && table.takeDeletedPending()) {
            pollSet.purgeDeleted(); // QEMU aio_free_deleted_handlers: only the outermost call frees
        }
        return progress;
    }

    private void growReadyLists() {
        int d = readyLists.length;
        readyLists = Arrays.copyOf(readyLists, d * 2);
        for (int i = d; i < readyLists.length; i++) {
            readyLists[i] = new ReadyList();
        }
    }

    private boolean pollLocked(ReadyList ready, boolean blocking, int myDepth) {
        long pollMaxNs = pollSet.maxNs();
        long start = pollMaxNs != 0 ? System.nanoTime() : 0;
        boolean outerWindow = wakeup.openWaitWindow(); // callbacks from here to the wait must wake the loop themselves
        boolean useNotifyMe = false;
        boolean progress;
        // An Error from io_poll, io_poll_begin or io_poll_end must not leave the window open or
        // notifyMe raised: every later notify would then write the eventfd. Hence the finally.
        try {
            ready.timeoutNs = blocking ? computeTimeoutNs() : 0;
            FdMonitor monitor = table.monitor();
            progress = pollSet.tryPollMode(ready, monitor);
            assert !(ready.timeoutNs != 0 && progress) : "progress with a non-zero timeout";

            useNotifyMe = ready.timeoutNs != 0;
            if (useNotifyMe && wakeup.announceBlocking()) { // notifyMe += 2, then read notified
                ready.timeoutNs = 0;
            }
            if (ready.timeoutNs != 0 || monitor.needWait()) {
                if (ready.timeoutNs != 0) {
                    // Leave poll mode only when about to block (QEMU 816a430c51).
                    progress |= pollSet.setStarted(ready, false);
                }
                if (ready.timeoutNs != 0) {
                    counters.onBlockingWait(); // after setStarted: its final poll may have zeroed the timeout
                }
                try {
                    waitTimed(monitor, ready, ready.timeoutNs, myDepth);
                } catch (ErrnoException e) {
                    callbacks.report("fd monitor " + monitor.name(), e);
                }
            }
        } finally {
            wakeup.closeWaitWindow(outerWindow);
            if (useNotifyMe) {
                wakeup.endBlocking(); // notifyMe -= 2
            }
        }
        wakeup.accept(); // before the bottom-half queue's exchange below
        long blockNs = pollMaxNs != 0 ? System.nanoTime() - start : 0;

        progress |= table.monitor().dispatch();
        progress |= bhs.poll();
        progress |= dispatchReadyHandlers(ready, blockNs);
        if (myDepth == 1 && table.takeDeletedPending()) {
            pollSet.purgeDeleted(); // QEMU aio_free_deleted_handlers: only the outermost call frees
        }
        return progress;
    }

    /** QEMU aio_compute_timeout: 0 if work is pending, else the nearest deadline (-1 = none). */
    public long computeTimeoutNs() {
        if (table.monitor().hasPendingDispatch()) {
            return 0; // reaped completions wait for dispatch (QEMU would sleep on them in a nested poll)
        }
        long t = bhs.timeoutNs();
        if (t == 0) {
            return 0;
        }
        long deadline = timers.deadlineNs();
        if (deadline == 0) {
            return 0;
        }
        return PollSet.soonest(t, deadline);
    }

    public boolean dispatchReadyHandlers(ReadyList ready, long blockNs) {
        boolean progress = false;
        AioHandler node;
        while ((node = ready.pop()) != null) { // bounded: nothing adds to this list while we drain it
            progress |= dispatchHandler(node);
            if (pollSet.maxNs() != 0 && node.inPollSet) {
                pollSet.adjust(node, blockNs); // after dispatch, so a handler that just joined grows at once
            }
        }
        return progress;
    }

    /** QEMU aio_dispatch_handler. */
    private boolean dispatchHandler(AioHandler node) {
        int raw = node.revents;
        int revents = raw & node.events;
        node.revents = 0;
        boolean pollReady = node.pollReady;
        node.pollReady = false;

        if ((raw & Structs.POLLNVAL) != 0) {
            onClosedFd(node);
            return false;
        }
        if (!node.isDeleted() && !node.inPollSet && node.ioPoll != null) {
            pollSet.join(node); // handlers join userspace polling once they have been ready
        }
        if (!node.isDeleted() && pollReady && revents == 0 && node.ioPollReady != null) {
            pollSet.unlink(node); // a nested poll() inside io_poll_ready must not poll it again (QEMU 6d740fb01b)
            try {
                callbacks.run(node.ioPollReady, "io_poll_ready", node.fd);
            } finally { // after an Error too: out of the poll set, userspace polling would forget it
                if (!node.isDeleted()) {
                    pollSet.link(node);
                }
            }
            return !node.contextNotifier;
        }
        boolean progress = false;
        if (!node.isDeleted() && (revents & AioHandler.READ_EVENTS) != 0 && node.ioRead != null) {
            callbacks.run(node.ioRead, "io_read", node.fd);
            progress = !node.contextNotifier;
        }
        if (!node.isDeleted() && (revents & AioHandler.WRITE_EVENTS) != 0 && node.ioWrite != null) {
            callbacks.run(node.ioWrite, "io_write", node.fd);
            progress = true;
        }
        return progress;
    }

    /** poll(2) said POLLNVAL: the fd was closed while registered. Report it and drop the handler. */
    private void onClosedFd(AioHandler node) {
        if (node.isDeleted() || table.lookup(node.fd) != node) {
            return;
        }
        callbacks.report("fd handler of fd " + node.fd, new ErrnoException("poll(fd=" + node.fd
                + ") [the fd was closed while still registered; its handler was removed]", Errno.EBADF));
        ctx.removeFdHandler(node.fd);
    }

    // ---- nesting, shared with AioSource.dispatch() ----

    /** The nesting depth of poll() and outer-loop dispatch calls now running (0 = none). */
    public int depth() {
        return depth;
    }

    /** Enters one nesting level for an outer-loop dispatch, as poll() does; returns the previous depth. */
    public int enterDispatch() {
        int d = depth;
        if (d == readyLists.length) { // keep poll()'s invariant: readyLists.length >= depth
            growReadyLists();
        }
        depth = d + 1;
        return d;
    }

    /** Leaves the level entered by {@link #enterDispatch()}. */
    public void exitDispatch(int previousDepth) {
        depth = previousDepth;
    }

    /** close(): forgets every handler still on a ready list. */
    public void clear() {
        for (ReadyList r : readyLists) {
            r.clear();
        }
    }
}
