// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.function.BooleanSupplier;

import io.jaio.AioContext;
import io.jaio.ErrnoException;

import io.jaio.internal.fdmon.AioHandler;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollSet;

/**
 * The fd-handler registrations of one context as its public methods see them (QEMU
 * aio_set_fd_handler, aio_set_event_notifier_poll): the argument checks, the change in the
 * {@link HandlerTable}, the wake-up a change makes, the diagnostics, and the release of every
 * registration at close. The table itself (locking, publication, the monitor updates) is
 * {@link HandlerTable}'s.
 *
 * <p>Threading: {@link #set}, {@link #remove} and {@link #setPollBeginEnd} from any thread (the
 * table has a lock); the rest on the home thread.
 */
public final class FdHandlers {
    private static final System.Logger LOG = System.getLogger("io.jaio");

    private final AioContext ctx;
    private final HandlerTable table;
    private final PollSet pollSet;
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;

    public FdHandlers(AioContext ctx, HandlerTable table, PollSet pollSet, Wakeup wakeup, CallbackRunner callbacks) {
        this.ctx = ctx;
        this.table = table;
        this.pollSet = pollSet;
        this.wakeup = wakeup;
        this.callbacks = callbacks;
    }

    /** See {@link AioContext#setFdHandler}. */
    public void set(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll, Runnable ioPollReady) throws ErrnoException {
        if (fd < 0) {
            throw new IllegalArgumentException("fd=" + fd + " (expected a file descriptor >= 0)");
        }
        ContextCore.checkOpen(ctx);
        if (fd == wakeup.fd()) {
            throw new IllegalArgumentException("fd=" + fd + " is the context's own notifier (expected a user fd)");
        }
        if (table.set(fd, ioRead, ioWrite, ioPoll, ioPollReady, false)) {
            wakeup.wakeForChange(); // every change of what is watched kicks the loop (QEMU 321d1dba8b)
        }
    }

    /** See {@link AioContext#removeFdHandler}. */
    public void remove(int fd) {
        try {
            if (table.set(fd, null, null, null, null, false)) {
                wakeup.wakeForChange();
            }
        } catch (ErrnoException e) {
            callbacks.report("removal of fd " + fd, e); // unreachable in practice: removal tolerates closed fds
        }
    }

    /** See {@link AioContext#setFdPollBeginEnd}. */
    public void setPollBeginEnd(int fd, Runnable ioPollBegin, Runnable ioPollEnd) {
        table.setPollBeginEnd(fd, ioPollBegin, ioPollEnd);
    }

    /** The adaptive poll time of the handler of {@code fd}, or -1 if none. Home thread. */
    public long pollNs(int fd) {
        AioHandler n = table.lookup(fd);
        return n == null ? -1 : n.pollNs;
    }

    /** Moves the clock of userspace polling (idle removal) forward: a test seam. Home thread. */
    public void advancePollClockForTest(long deltaNs) {
        pollSet.advanceClockForTest(deltaNs);
    }

    /**
     * close(): releases every registration (the log counts the user's, not the context's own
     * notifier) and empties the poll set; the fds stay open (they belong to the caller). Home thread.
     */
    public void releaseAll() {
        int released = table.clear() - 1;
        if (released > 0) {
            LOG.log(System.Logger.Level.DEBUG, () -> "context '" + ctx.name() + "' closed with " + released
                    + " fd handler(s) registered; released");
        }
        pollSet.clear();
    }
}
