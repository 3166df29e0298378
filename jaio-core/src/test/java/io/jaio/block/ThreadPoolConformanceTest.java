// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.jaio.internal.sys.Errno;
import io.jaio.AioContext;
import io.jaio.testing.CoTestSupport;
import io.jaio.coroutine.CoThreadPool;
import io.jaio.coroutine.Coroutine;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;

/**
 * QEMU tests/unit/test-thread-pool.c (spec 2.3) on a context made current on the test thread.
 * {@code long_cb}'s 2 s sleep becomes a gate the test opens, and "sleep 1 s so the workers pick
 * up their jobs" becomes a wait until every worker has started one, so the cancel tests know
 * exactly which jobs are still queued.
 */
// SAME_THREAD: setUp builds the context, so it, the test and tearDown must share a thread
// (the context's home thread); waits are bounded by watchdog timers in CoTestSupport.pollUntil.
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SAME_THREAD)
class ThreadPoolConformanceTest {
    private static final int EINPROGRESS = 115;

    private AioContext ctx;
    private final CoTestSupport.Failures failures = new CoTestSupport.Failures();
    private int active;

    /** QEMU WorkerTestData. */
    private final class Data {
        final AtomicInteger n = new AtomicInteger();
        long ret = -EINPROGRESS;
        ThreadPoolTask aiocb;

        /** QEMU done_cb. */
        void done(long r) {
            if (ret != -EINPROGRESS && ret != -Errno.ECANCELED) {
                failures.add(new AssertionError("done_cb with ret=" + ret + " already stored"));
            }
            ret = r;
            aiocb = null;
            active--;
        }
    }

    @BeforeEach
    @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SAME_THREAD)
    void setUp() throws ErrnoException {
        ctx = AioContext.builder().name("thread-pool-test").fdMonitor(FdMonitorKind.POLL).errorHandler(failures.handler()).build();
        ctx.makeCurrent();
    }

    @AfterEach
    @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SAME_THREAD)
    void tearDown() {
        ctx.close();
        failures.check();
    }

    /** /thread-pool/submit-no-complete: a null callback is allowed. */
    @Test
    void submitWithoutCompletionRunsTheWork() {
        Data d = new Data();
        ThreadPool.of(ctx).submitCallable(() -> d.n.getAndIncrement(), null);
        CoTestSupport.pollUntil(ctx, "the worker", () -> d.n.get() != 0 && ThreadPool.of(ctx).inFlight() == 0);
        assertEquals(1, d.n.get());
    }

    /** /thread-pool/submit-aio: the callback never runs inside submit, only in poll(). */
    @Test
    void submitAioCompletesOnlyInPoll() {
        Data d = new Data();
        active = 1;
        d.aiocb = ThreadPool.of(ctx).submitCallable(() -> d.n.getAndIncrement(), d::done);
        assertEquals(-EINPROGRESS, d.ret);
        CoTestSupport.pollUntil(ctx, "the completion", () -> active == 0);
        assertEquals(1, d.n.get());
        assertEquals(0, d.ret);
        assertNull(d.aiocb);
    }

    /** /thread-pool/submit-co: the coroutine yields in submitCo and is resumed by poll(). */
    @Test
    void submitCoYieldsUntilTheWorkIsDone() {
        Data d = new Data();
        active = 1;
        Coroutine co = Coroutine.create(() -> {
            long r = CoThreadPool.submit(ThreadPool.of(ctx), () -> d.n.getAndIncrement());
            assertEquals(1, d.n.get());
            d.ret = r;
            active--;
        });
        Coroutine.enter(co);
        assertEquals(1, active); // the coroutine yielded
        assertEquals(-EINPROGRESS, d.ret);
        CoTestSupport.pollUntil(ctx, "the coroutine", () -> active == 0);
        assertEquals(0, d.ret);
        assertTrue(co.isDone());
    }

    /** submitCo outside a coroutine, and sizes the pool refuses. */
    @Test
    void submitCoOutsideACoroutineAndInvalidPoolSizesFail() {
        String m = assertThrows(IllegalStateException.class, () -> CoThreadPool.submit(ThreadPool.of(ctx), () -> 0)).getMessage();
        assertTrue(m.contains("outside a coroutine"), m);
        for (int[] bad : new int[][] {{-1, 4}, {0, 0}, {5, 4}, {0, -1}, {Integer.MIN_VALUE, Integer.MAX_VALUE}}) {
            String e = assertThrows(IllegalArgumentException.class, () -> ctx.setThreadPoolParams(bad[0], bad[1])).getMessage();
            assertTrue(e.contains("threadPoolMin=" + bad[0]) && e.contains("expected"), e);
        }
        assertEquals(0, ctx.threadPoolMin());
        assertEquals(64, ctx.threadPoolMax());
    }

    /** /thread-pool/submit-many: 100 submissions, more than the 64 threads, one coroutine each too. */
    @Test
    void submitManyCompletesEverything() {
        submitMany();
    }

    private void submitMany() {
        Data[] data = new Data[100];
        for (int i = 0; i < data.length; i++) {
            Data d = data[i] = new Data();
            d.aiocb = ThreadPool.of(ctx).submitCallable(() -> d.n.getAndIncrement(), d::done);
        }
        active = 100;
        int[] coDone = {0};
        for (int i = 0; i < 10; i++) {
            Coroutine.enter(Coroutine.create(() -> {
                for (int k = 0; k < 10; k++) {
                    CoThreadPool.submit(ThreadPool.of(ctx), () -> 0);
                }
                coDone[0]++;
            }));
        }
        CoTestSupport.pollUntil(ctx, "100 completions", () -> active == 0 && coDone[0] == 10);
        for (Data d : data) {
            assertEquals(1, d.n.get());
            assertEquals(0, d.ret);
            assertNull(d.aiocb);
        }
    }

    /** /thread-pool/cancel: synchronous cancel. */
    @Test
    void cancelTakesEffectOnlyOnQueuedJobs() {
        doTestCancel(true);
    }

    /** /thread-pool/cancel-async. */
    @Test
    void cancelAsyncTakesEffectOnlyOnQueuedJobs() {
        doTestCancel(false);
    }

    private void doTestCancel(boolean sync) {
        submitMany(); // warm the pool
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        Data[] data = new Data[100];
        for (int i = 0; i < data.length; i++) {
            Data d = data[i] = new Data();
            d.aiocb = ThreadPool.of(ctx).submitCallable(() -> longCb(d, gate, started), d::done);
        }
        active = 100;
        ctx.aioNotify();
        ctx.poll(false); // runs the spawn bottom half; the workers then start each other
        assertEquals(100, active);
        int workers = ctx.threadPoolMax();
        CoTestSupport.awaitCondition(workers + " workers busy", () -> started.get() == workers);
        assertEquals(100, active);

        int canceled = 0;
        for (Data d : data) {
            if (d.n.compareAndSet(0, 4)) { // not started: still queued, since every worker is busy
                d.ret = -Errno.ECANCELED;
                if (sync) {
                    d.aiocb.cancel();
                } else {
                    d.aiocb.cancelAsync();
                }
                canceled++;
            }
        }
        assertTrue(active > 0);
        assertTrue(canceled < 100, "canceled " + canceled);
        assertEquals(100 - workers, canceled);

        gate.countDown(); // the 2 s sleep of long_cb ends
        for (Data d : data) {
            if (d.aiocb != null && d.n.get() < 4) {
                if (sync) {
                    d.aiocb.cancel(); // running: waits for it to finish
                } else {
                    d.aiocb.cancelAsync();
                }
            }
        }
        CoTestSupport.pollUntil(ctx, "every callback", () -> active == 0);
        for (int i = 0; i < data.length; i++) {
            Data d = data[i];
            assertNull(d.aiocb, "callback of job " + i + " not called");
            switch (d.n.get()) {
                case 3 -> assertEquals(0, d.ret, "job " + i);
                case 4 -> assertEquals(-Errno.ECANCELED, d.ret, "job " + i);
                default -> fail("job " + i + " ended with n=" + d.n.get());
            }
        }
    }

    /** QEMU long_cb with the sleep replaced by a gate. */
    private static long longCb(Data d, CountDownLatch gate, AtomicInteger started) {
        if (d.n.compareAndSet(0, 1)) {
            started.incrementAndGet();
            try {
                if (!gate.await(CoTestSupport.HANG_MS, TimeUnit.MILLISECONDS)) {
                    throw new IllegalStateException("gate never opened");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            d.n.getAndUpdate(v -> v | 2);
        }
        return 0;
    }

    /** Cancelling a finished job is a documented no-op: nothing waits, no second callback. */
    @Test
    void cancelAfterCompletionIsANoOp() {
        Data d = new Data();
        active = 1;
        ThreadPoolTask t = ThreadPool.of(ctx).submitCallable(() -> d.n.getAndIncrement(), d::done);
        CoTestSupport.pollUntil(ctx, "the completion", () -> active == 0);
        t.cancel();
        t.cancelAsync();
        assertFalse(ctx.poll(false));
        assertEquals(0, active);
        assertEquals(0, d.ret);
    }
}
