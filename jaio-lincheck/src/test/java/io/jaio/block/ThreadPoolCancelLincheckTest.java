// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.concurrent.locks.ReentrantLock;

import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

import io.jaio.internal.loop.BhNode;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.LincheckSupport;
import io.jaio.internal.sys.Errno;

/**
 * Thread-pool cancel racing completion on the real {@link ThreadPool} (QEMU thread_pool_cancel_aio
 * against worker_thread and thread_pool_completion_bh): two tasks are submitted (the real
 * {@code submit()}, on the home thread); two worker threads take them as {@code workerLoop()} does
 * (under the pool's lock: pollFirst, ACTIVE, unlock, then the real {@code runTask}), while the home
 * thread cancels either task ({@code cancelAsync}) and polls the completion bottom half.
 *
 * <p>Specification: {@link Spec}, the FIFO queue of QEMU's pool: a worker takes the oldest task
 * not cancelled while queued (its result says which, or -1). After every interleaving
 * {@link #eachTaskCompletesOnce()} checks, once the home thread has polled: every task completed
 * exactly once, with its own result if a worker ran it and with -ECANCELED only if it was
 * cancelled and never ran.
 */
@Param(name = "task", gen = IntGen.class, conf = "0:1")
public class ThreadPoolCancelLincheckTest {
    private static final MethodHandle RUN_TASK;
    private static final VarHandle LOCK;
    private static final VarHandle REQUESTS;
    private static final VarHandle NEW_THREAD_BH;

    static {
        try {
            MethodHandles.Lookup pool = MethodHandles.privateLookupIn(ThreadPool.class, MethodHandles.lookup());
            RUN_TASK = pool.findVirtual(ThreadPool.class, "runTask", MethodType.methodType(void.class, ThreadPoolTask.class));
            LOCK = pool.findVarHandle(ThreadPool.class, "lock", ReentrantLock.class);
            REQUESTS = pool.findVarHandle(ThreadPool.class, "requests", ArrayDeque.class);
            NEW_THREAD_BH = pool.findVarHandle(ThreadPool.class, "newThreadBh", BhNode.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A task that returns 100 + its index and records how often it ran and completed. */
    static final class CountingTask extends ThreadPoolTask {
        final int index;
        int runs;
        int completions;
        long ret = Long.MIN_VALUE;

        CountingTask(int index) {
            this.index = index;
        }

        @Override
        protected long run() {
            runs++;
            return 100 + index;
        }

        @Override
        protected void complete(long result) {
            completions++;
            ret = result;
        }
    }

    final BhQueue queue = LincheckSupport.newQueue();
    final ThreadPool pool = new ThreadPool(LincheckSupport.CTX, queue);
    final CountingTask[] tasks = {new CountingTask(0), new CountingTask(1)};
    final boolean[] cancelCalled = new boolean[2];

    public ThreadPoolCancelLincheckTest() {
        if (LincheckSupport.CTX.inHomeThread()) { // JUnit's own instance is made elsewhere: no tasks
            for (CountingTask t : tasks) {
                pool.submit(t);
            }
        }
        // No real worker thread: the spawn bottom half would start one; the operations play the workers.
        ((BhNode) NEW_THREAD_BH.get(pool)).delete();
    }

    /** A pool worker's turn: the take of workerLoop(), then the real runTask(). Returns the task's index, or -1. */
    @Operation
    public int worker() {
        ReentrantLock lock = (ReentrantLock) LOCK.get(pool);
        ThreadPoolTask task;
        lock.lock();
        try {
            @SuppressWarnings("unchecked")
            ArrayDeque<ThreadPoolTask> requests = (ArrayDeque<ThreadPoolTask>) REQUESTS.get(pool);
            task = requests.pollFirst();
            if (task != null) {
                task.setState(ThreadPoolTask.ACTIVE);
            }
        } finally {
            lock.unlock();
        }
        if (task == null) {
            return -1;
        }
        try {
            RUN_TASK.invokeExact(pool, task);
        } catch (Throwable t) {
            throw LincheckSupport.rethrow(t);
        }
        return ((CountingTask) task).index;
    }

    /** Home thread: ThreadPool.cancelAsync. */
    @Operation(nonParallelGroup = "home")
    public void cancel(@Param(name = "task") int i) {
        cancelCalled[i] = true;
        pool.cancelAsync(tasks[i]);
    }

    /** Home thread: a poll, which runs the completion bottom half. */
    @Operation(nonParallelGroup = "home")
    public void poll() {
        queue.poll();
    }

    @Validate
    public void eachTaskCompletesOnce() {
        LincheckSupport.interleavings("ThreadPoolCancelLincheckTest").incrementAndGet();
        while (worker() >= 0) {
            // the tasks no worker took run now, as the pool's threads would take them
        }
        queue.poll();
        queue.poll();
        for (CountingTask t : tasks) {
            if (t.completions != 1) {
                throw new IllegalStateException("task " + t.index + " completed " + t.completions + " times (expected once)");
            }
            if (t.runs > 1) {
                throw new IllegalStateException("task " + t.index + " ran " + t.runs + " times");
            }
            long want = t.runs == 1 ? 100 + t.index : -Errno.ECANCELED;
            if (t.ret != want) {
                throw new IllegalStateException("task " + t.index + " completed with " + t.ret + " (expected " + want
                        + "; ran " + t.runs + " times)");
            }
            if (t.runs == 0 && !cancelCalled[t.index]) {
                throw new IllegalStateException("task " + t.index + " cancelled without a cancel");
            }
        }
    }

    /** The sequential specification: FIFO tasks, a cancel removes a task still queued. */
    public static final class Spec {
        private final ArrayDeque<Integer> queued = new ArrayDeque<>(java.util.List.of(0, 1));

        public int worker() {
            Integer t = queued.pollFirst();
            return t == null ? -1 : t;
        }

        public void cancel(int i) {
            queued.remove(i);
        }

        public void poll() {
        }
    }

    @Test
    void cancelRacingTwoWorkersCompletesEachTaskOnce() {
        LincheckSupport.checkAndReport(LincheckSupport.options(3, 2).sequentialSpecification(Spec.class),
                ThreadPoolCancelLincheckTest.class);
    }
}
