package io.jaio;

import java.util.List;

import io.jaio.internal.fdmon.PollSet;

/**
 * The run-time parameters of one context (QEMU's iothread / event-loop-base properties):
 * adaptive polling (kept in the {@link PollSet}), the I/O engines' batch limit, and the thread
 * pool with its size limits, made on first use (QEMU aio_get_thread_pool). Checks every value
 * the setters and the {@link AioContext.Builder} receive.
 *
 * <p>Threading: the setters and getters from any thread; {@link #threadPool()} and
 * {@link #closeThreadPool} on the home thread. {@code this} orders a change of the pool limits
 * against the pool's creation, so the pool starts with the latest limits or receives them.
 */
final class ContextParams {
    private final AioContext ctx;
    private final PollSet pollSet;
    private volatile long aioMaxBatch;
    private volatile int threadPoolMin;
    private volatile int threadPoolMax = 64;
    /** Made on first use by the home thread; read by setThreadPoolParams from any thread. */
    private volatile ThreadPool threadPool;

    ContextParams(AioContext ctx, PollSet pollSet) {
        this.ctx = ctx;
        this.pollSet = pollSet;
    }

    static void requireNonNegative(String param, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(param + "=" + value + " (expected 0.." + Long.MAX_VALUE + ")");
        }
    }

    static void requirePollParams(long pollMaxNs, long pollGrow, long pollShrink) {
        requireNonNegative("pollMaxNs", pollMaxNs);
        requireNonNegative("pollGrow", pollGrow);
        requireNonNegative("pollShrink", pollShrink);
    }

    /** See {@link AioContext#setPollParams}. */
    void setPollParams(long pollMaxNs, long pollGrow, long pollShrink) {
        requirePollParams(pollMaxNs, pollGrow, pollShrink);
        pollSet.setParams(pollMaxNs, pollGrow, pollShrink);
        if (ctx.inHomeThread()) {
            pollSet.resetPollTimes();
        } else if (!ctx.isClosed()) {
            ctx.scheduleOneShot("reset-poll-times", pollSet::resetPollTimes);
        }
        ctx.aioNotify();
    }

    /** See {@link AioContext#setAioMaxBatch}. */
    void setAioMaxBatch(long aioMaxBatch) {
        requireNonNegative("aioMaxBatch", aioMaxBatch);
        this.aioMaxBatch = aioMaxBatch;
        ctx.aioNotify();
    }

    long aioMaxBatch() {
        return aioMaxBatch;
    }

    /** See {@link AioContext#setThreadPoolParams}. */
    void setThreadPoolParams(int min, int max) {
        if (min < 0 || max <= 0 || min > max) {
            throw new IllegalArgumentException("threadPoolMin=" + min + ", threadPoolMax=" + max
                    + " (expected 0 <= threadPoolMin <= threadPoolMax and threadPoolMax >= 1)");
        }
        synchronized (this) {
            threadPoolMin = min;
            threadPoolMax = max;
            ThreadPool p = threadPool;
            if (p != null) {
                p.updateParams(min, max);
            }
        }
    }

    int threadPoolMin() {
        return threadPoolMin;
    }

    int threadPoolMax() {
        return threadPoolMax;
    }

    /** The context's thread pool, made now if it is the first call. Home thread, open context. */
    ThreadPool threadPool() {
        ThreadPool p = threadPool;
        if (p == null) {
            synchronized (this) { // orders creation against setThreadPoolParams
                p = new ThreadPool(ctx);
                threadPool = p;
            }
        }
        return p;
    }

    /** close(): closes the thread pool, if one was made, naming what it leaked. Home thread. */
    void closeThreadPool(List<String> leaks) {
        ThreadPool p = threadPool;
        if (p != null) {
            p.close(leaks);
        }
    }
}
