// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.function.BooleanSupplier;

import io.jaio.AioContext;
import io.jaio.CallbackErrorHandler;
import io.jaio.internal.fdmon.CallbackGuard;
import io.jaio.internal.jfr.BottomHalfRunEvent;
import io.jaio.internal.jfr.JaioEvents;

/**
 * Runs the user callbacks of one context (bottom halves, timers, fd handlers and their io_poll;
 * the io_uring submission API runs its CQE handlers the same way and reports through
 * {@link #report}) so that a {@link RuntimeException} goes to the context's
 * {@link CallbackErrorHandler} and the loop goes on; an {@link Error} propagates.
 *
 * <p>It also counts the bottom halves it runs ({@link #counters()}) and, while a recording takes
 * {@code io.jaio.BottomHalfRun}, times them.
 *
 * <p>Threading: the {@code run*} methods, {@link #run}, {@link #poll} and {@link #report} on the
 * home thread; {@link #scheduleReport} and {@link #setHandler} from any thread.
 */
public final class CallbackRunner implements CallbackGuard {
    private static final System.Logger LOG = System.getLogger("io.jaio");

    private final AioContext ctx;
    private volatile CallbackErrorHandler errorHandler;
    private final LoopCounters counters = new LoopCounters();

    public CallbackRunner(AioContext ctx, CallbackErrorHandler errorHandler) {
        this.ctx = ctx;
        this.errorHandler = errorHandler;
    }

    public void setHandler(CallbackErrorHandler handler) {
        errorHandler = handler;
    }

    /** The context's home-thread counters (written by this runner and by PollLoop). */
    public LoopCounters counters() {
        return counters;
    }

    public void runBottomHalf(BhNode bh) {
        counters.onBottomHalf();
        if (JaioEvents.bottomHalfRun()) {
            BottomHalfRunEvent e = new BottomHalfRunEvent();
            e.begin();
            runBottomHalfNow(bh);
            e.end();
            if (e.shouldCommit()) { // the threshold: only slow callbacks
                e.context = ctx.name();
                e.name = bh.name;
                e.commit();
            }
            return;
        }
        runBottomHalfNow(bh);
    }

    private void runBottomHalfNow(BhNode bh) {
        GuardState g = bh.guard; // copy first: the callback may delete the bottom half (QEMU 7915bd06f2)
        boolean old = g != null && g.engage();
        try {
            bh.callback.run();
        } catch (RuntimeException e) {
            report("bottom half '" + bh.name + "'", e);
        } finally {
            if (g != null) {
                g.restore(old);
            }
        }
    }

    /** A one-shot from the one-shot ring: no node, no guard. */
    public void runOneShot(String name, Runnable cb) {
        counters.onBottomHalf();
        if (JaioEvents.bottomHalfRun()) {
            BottomHalfRunEvent e = new BottomHalfRunEvent();
            e.begin();
            runOneShotNow(name, cb);
            e.end();
            if (e.shouldCommit()) {
                e.context = ctx.name();
                e.name = name;
                e.oneShot = true;
                e.commit();
            }
            return;
        }
        runOneShotNow(name, cb);
    }

    private void runOneShotNow(String name, Runnable cb) {
        try {
            cb.run();
        } catch (RuntimeException e) {
            report("bottom half '" + name + "'", e);
        }
    }

    public void runTimer(TimerNode t) {
        try {
            t.callback.run();
        } catch (RuntimeException e) {
            report("timer on " + t.list.clock, e);
        }
    }

    /** An fd handler's io_read, io_write, io_poll_ready, io_poll_begin or io_poll_end. */
    @Override
    public void run(Runnable r, String what, int fd) {
        try {
            r.run();
        } catch (RuntimeException e) {
            report(what + " of fd " + fd, e);
        }
    }

    @Override
    public boolean poll(BooleanSupplier p, int fd) {
        try {
            return p.getAsBoolean();
        } catch (RuntimeException e) {
            report("io_poll of fd " + fd, e);
            return false;
        }
    }

    /** Reports a failure to the error handler; a throwing handler is logged. Home thread. */
    public void report(String source, Throwable e) {
        try {
            errorHandler.onCallbackError(ctx, source, e);
        } catch (RuntimeException handlerFailure) {
            LOG.log(System.Logger.Level.ERROR, "context '" + ctx.name() + "': error handler threw", handlerFailure);
        }
    }

    /** Reports a failure met on another thread (a pool worker) through the home thread. */
    public void scheduleReport(String source, Throwable e) {
        if (!ctx.isClosed()) {
            ctx.scheduleOneShot("error-report", () -> report(source, e));
        }
    }
}
