package io.jaio;

import java.util.function.BooleanSupplier;

import io.jaio.internal.fdmon.CallbackGuard;

/**
 * Runs the user callbacks of one context (bottom halves, timers, CQE handlers, fd handlers and
 * their io_poll) so that a {@link RuntimeException} goes to the context's
 * {@link CallbackErrorHandler} and the loop goes on; an {@link Error} propagates.
 *
 * <p>Threading: the {@code run*} methods, {@link #run}, {@link #poll} and {@link #report} on the
 * home thread; {@link #scheduleReport} and {@link #setHandler} from any thread.
 */
final class CallbackRunner implements CallbackGuard {
    private static final System.Logger LOG = System.getLogger("io.jaio");

    private final AioContext ctx;
    private volatile CallbackErrorHandler errorHandler;

    CallbackRunner(AioContext ctx, CallbackErrorHandler errorHandler) {
        this.ctx = ctx;
        this.errorHandler = errorHandler;
    }

    void setHandler(CallbackErrorHandler handler) {
        errorHandler = handler;
    }

    void runBottomHalf(BottomHalf bh) {
        ReentrancyGuard g = bh.guard; // copy first: the callback may delete the bottom half (QEMU 7915bd06f2)
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

    void runCqeHandler(CqeHandler h, int res, int flags) {
        try {
            h.onCompletion(res, flags);
        } catch (RuntimeException e) {
            report("CQE handler " + h, e);
        }
    }

    void runTimer(Timer t) {
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
    void report(String source, Throwable e) {
        try {
            errorHandler.onCallbackError(ctx, source, e);
        } catch (RuntimeException handlerFailure) {
            LOG.log(System.Logger.Level.ERROR, "context '" + ctx.name() + "': error handler threw", handlerFailure);
        }
    }

    /** Reports a failure met on another thread (a pool worker) through the home thread. */
    void scheduleReport(String source, Throwable e) {
        if (!ctx.isClosed()) {
            ctx.scheduleOneShot("error-report", () -> report(source, e));
        }
    }
}
