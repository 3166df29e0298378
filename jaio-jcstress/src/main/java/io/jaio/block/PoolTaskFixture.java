// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

import io.jaio.internal.loop.JcsSupport;

/**
 * A thread-pool task for the jcstress tests: taken by a worker (ACTIVE, as ThreadPool.submit and
 * the worker loop leave it), returns {@code result} from run(), and counts its completions.
 */
final class PoolTaskFixture extends ThreadPoolTask {
    private static final MethodHandle RUN_TASK;

    static {
        try {
            MethodHandles.Lookup pool = MethodHandles.privateLookupIn(ThreadPool.class, MethodHandles.lookup());
            RUN_TASK = pool.findVirtual(ThreadPool.class, "runTask", MethodType.methodType(void.class, ThreadPoolTask.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** ThreadPool.runTask: what a worker does after run(): ret, DONE (release), push, schedule. */
    static void runTask(ThreadPool pool, ThreadPoolTask task) {
        try {
            RUN_TASK.invokeExact(pool, task);
        } catch (Throwable t) {
            throw JcsSupport.rethrow(t);
        }
    }

    private final long result;
    int completions;
    long completedRet = Long.MIN_VALUE;

    PoolTaskFixture(ThreadPool pool, long result) {
        this.result = result;
        this.pool = pool;
        ref(); // the pool's reference, as submit() takes it
        setState(ACTIVE);
    }

    @Override
    protected long run() {
        return result;
    }

    @Override
    protected void complete(long ret) {
        completions++;
        completedRet = ret;
    }
}
