// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.util.Objects;
import java.util.function.LongSupplier;

import io.jaio.block.ThreadPool;
import io.jaio.block.ThreadPoolTask;

/**
 * The thread pool from a coroutine (QEMU thread_pool_submit_co): {@link #submit} runs work on a
 * worker while the calling coroutine yields, and returns its result. Formerly
 * {@code ThreadPool.submitCo}; it lives here so that the block layer does not depend on
 * coroutines.
 *
 * <p>Threading: inside a coroutine running on the home thread of the pool's context.
 */
public final class CoThreadPool {
    private CoThreadPool() {
    }

    /**
     * Runs {@code work} on a worker of {@code pool} while the calling coroutine yields, and
     * returns its result (QEMU thread_pool_submit_co). The coroutine is resumed from the
     * completion bottom half, so the yield always comes first. The task object is owned by the
     * coroutine and reused: steady-state calls allocate nothing beyond what {@code work}
     * captures. Inside a coroutine on the home thread.
     *
     * @param pool the thread pool of the current context
     * @param work runs on a worker thread; returns a result {@code >= 0} or {@code -errno}
     * @return what {@code work} returned, or {@code -EIO} if it threw (the exception goes to
     *     the context's error handler)
     * @throws IllegalStateException outside a coroutine, off the home thread, or when closed
     */
    public static long submit(ThreadPool pool, LongSupplier work) {
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(work, "work");
        CoWaiter w = CoWaiter.arm("CoThreadPool.submit()");
        Coroutine self = Coroutine.self();
        CoTask t = self.poolTask;
        if (t == null || t.waiter != w) {
            t = new CoTask(w);
            self.poolTask = t;
        }
        t.work = work;
        try {
            pool.submit(t);
        } catch (RuntimeException e) {
            t.work = null;
            throw e;
        }
        long ret = w.await();
        t.work = null;
        return ret;
    }

    /** The reusable task of one coroutine's submit calls. */
    static final class CoTask extends ThreadPoolTask {
        final CoWaiter waiter;
        /** Set on the home thread before submit; the pool's lock hands it to the worker. */
        LongSupplier work;

        CoTask(CoWaiter waiter) {
            this.waiter = waiter;
        }

        @Override
        protected long run() {
            return work.getAsLong();
        }

        @Override
        protected void complete(long ret) {
            waiter.complete(ret);
        }
    }
}
