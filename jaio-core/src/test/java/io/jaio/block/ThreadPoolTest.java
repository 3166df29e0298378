// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.jaio.AioContext;
import io.jaio.testing.TestSupport;

/**
 * The thread pool's completion bottom half: a task that finishes while the completions of
 * others are running must still complete, without another task coming along to flush it out.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ThreadPoolTest {
    @Test
    void taskFinishingWhileACompletionRunsIsNotStranded() throws Exception {
        try (AioContext ctx = AioContext.builder().name("pool-test").build()) {
            ThreadPool pool = ThreadPool.of(ctx);
            AtomicReference<Thread> bWorker = new AtomicReference<>();
            Object gate = new Object();
            boolean[] release = {false};
            long[] bResult = {Long.MIN_VALUE};
            ThreadPoolTask b = new ThreadPoolTask() {
                @Override
                protected long run() {
                    bWorker.set(Thread.currentThread());
                    synchronized (gate) {
                        while (!release[0]) {
                            try {
                                gate.wait();
                            } catch (InterruptedException e) {
                                return -1;
                            }
                        }
                    }
                    return 2;
                }

                @Override
                protected void complete(long ret) {
                    bResult[0] = ret;
                }
            };
            long[] aResult = {Long.MIN_VALUE};
            ThreadPoolTask a = new ThreadPoolTask() {
                @Override
                protected long run() {
                    return 1;
                }

                @Override
                protected void complete(long ret) {
                    aResult[0] = ret;
                    // Let B finish now, inside A's completion, and wait until its worker has pushed
                    // it and scheduled the completion bottom half (the worker is back waiting for work).
                    synchronized (gate) {
                        release[0] = true;
                        gate.notifyAll();
                    }
                    TestSupport.awaitCondition("B's worker to finish B", () -> b.state() == ThreadPoolTask.DONE
                            && bWorker.get().getState() == Thread.State.TIMED_WAITING);
                }
            };
            // Workers are started from the home thread: poll while waiting.
            pool.submit(b);
            TestSupport.awaitCondition("B to start", () -> {
                ctx.poll(false);
                return bWorker.get() != null;
            });
            pool.submit(a);
            TestSupport.awaitCondition("A's completion to run", () -> {
                ctx.poll(false);
                return aResult[0] != Long.MIN_VALUE;
            });
            for (int i = 0; i < 1000 && bResult[0] == Long.MIN_VALUE; i++) {
                ctx.poll(false);
            }
            assertEquals(1, aResult[0], "A completed");
            if (bResult[0] == Long.MIN_VALUE) {
                fail("B finished while A's completion ran, and its completion was never run (pool in flight: "
                        + pool.inFlight() + ")");
            }
            assertEquals(2, bResult[0]);
            assertTrue(!b.isPending() && !a.isPending());
        }
    }
}
