// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import io.jaio.AioContext;
import io.jaio.internal.fdmon.PollSet;

/**
 * The run-time parameters of one context (QEMU's iothread / event-loop-base properties):
 * adaptive polling (kept in the {@link PollSet}), the I/O engines' batch limit, and the size
 * limits of the thread pool, which {@code io.jaio.block} keeps in the context's
 * {@link ContextCore.Slot#THREAD_POOL} slot and makes on first use (QEMU aio_get_thread_pool).
 * Checks every value the setters and the {@link AioContext.Builder} receive.
 *
 * <p>Threading: the setters and getters from any thread. The {@link ContextCore}'s lock orders a
 * change of the pool limits against the pool's creation (which runs under it), so the pool starts
 * with the latest limits or receives them.
 */
public final class ContextParams {
    private final AioContext ctx;
    private final PollSet pollSet;
    private volatile long aioMaxBatch;
    private volatile int threadPoolMin;
    private volatile int threadPoolMax = 64;
    /** Its lock orders pool creation against setThreadPoolParams. */
    private final ContextCore core;

    public ContextParams(AioContext ctx, PollSet pollSet, ContextCore core) {
        this.ctx = ctx;
        this.pollSet = pollSet;
        this.core = core;
    }

    public static void requireNonNegative(String param, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(param + "=" + value + " (expected 0.." + Long.MAX_VALUE + ")");
        }
    }

    public static void requirePollParams(long pollMaxNs, long pollGrow, long pollShrink) {
        requireNonNegative("pollMaxNs", pollMaxNs);
        requireNonNegative("pollGrow", pollGrow);
        requireNonNegative("pollShrink", pollShrink);
    }

    /** See {@link AioContext#setPollParams}. */
    public void setPollParams(long pollMaxNs, long pollGrow, long pollShrink) {
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
    public void setAioMaxBatch(long aioMaxBatch) {
        requireNonNegative("aioMaxBatch", aioMaxBatch);
        this.aioMaxBatch = aioMaxBatch;
        ctx.aioNotify();
    }

    public long aioMaxBatch() {
        return aioMaxBatch;
    }

    /** See {@link AioContext#setThreadPoolParams}. */
    public void setThreadPoolParams(int min, int max) {
        if (min < 0 || max <= 0 || min > max) {
            throw new IllegalArgumentException("threadPoolMin=" + min + ", threadPoolMax=" + max
                    + " (expected 0 <= threadPoolMin <= threadPoolMax and threadPoolMax >= 1)");
        }
        synchronized (core) { // the lock the pool is made under
            threadPoolMin = min;
            threadPoolMax = max;
            ContextCore.Extension pool = core.extensionIfPresent(ContextCore.Slot.THREAD_POOL);
            if (pool != null) {
                pool.onThreadPoolParams(min, max);
            }
        }
    }

    public int threadPoolMin() {
        return threadPoolMin;
    }

    public int threadPoolMax() {
        return threadPoolMax;
    }
}
