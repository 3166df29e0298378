// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.coroutine.CoMutex;
import io.jaio.testing.CoTestSupport;
import io.jaio.coroutine.Coroutine;

/**
 * QEMU tests/unit/test-aio-multithread.c (spec 2.2) on five IOThreads, on every fd monitor.
 * QEMU runs each stress for a fixed time (1 s in quick mode); here each runs until a fixed
 * amount of work is done (so the test never waits for time to pass), bounded by a deadline that
 * dumps all threads.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AioMultithreadStressTest {
    private static final int NUM_CONTEXTS = 5;
    /** The thread-local "id" of QEMU's test: which IOThread this is. */
    private static final ThreadLocal<Integer> ID = new ThreadLocal<>();

    private final CoTestSupport.Failures failures = new CoTestSupport.Failures();
    private IOThread[] threads;

    private AioContext ctx(int i) {
        return threads[i].context();
    }

    private void createContexts(FdMonitorKind kind) throws Exception {
        threads = new IOThread[NUM_CONTEXTS];
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            threads[i] = IOThread.start("multi-" + i, AioContext.builder().name("multi-" + i).fdMonitor(kind)
                    .pollParams(IOThread.DEFAULT_POLL_MAX_NS, 0, 0).errorHandler(failures.handler()));
            int id = i;
            CoTestSupport.runOn(threads[i], () -> ID.set(id), failures);
        }
    }

    private void joinContexts() {
        for (IOThread t : threads) {
            t.stop(); // closes the context: reports leaked bottom halves and coroutines never entered
        }
        failures.check();
    }

    /** /aio/multi/lifecycle. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void lifecycleOfFiveIoThreads(FdMonitorKind kind) throws Exception {
        createContexts(kind);
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            int id = i;
            CoTestSupport.runOn(threads[i], () -> assertEquals(id, ID.get()), failures);
        }
        joinContexts();
    }

    // ---- /aio/multi/schedule ----

    private final AtomicReferenceArray<Coroutine> toSchedule = new AtomicReferenceArray<>(NUM_CONTEXTS);
    private final AtomicBoolean nowStopping = new AtomicBoolean();
    private final AtomicLong countHere = new AtomicLong();
    private final AtomicLong countOther = new AtomicLong();
    private final AtomicLong countRetry = new AtomicLong();
    private final AtomicInteger running = new AtomicInteger();

    /**
     * The index of the calling thread's context, or null on the test's own thread. Inside a
     * coroutine thread-locals belong to the coroutine (its own virtual thread), so per-thread
     * identity comes from the current context.
     */
    private Integer id() {
        AioContext c = AioContext.current();
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            if (ctx(i) == c) {
                return i;
            }
        }
        return null;
    }

    private void scheduleNext(int n) {
        Coroutine co = toSchedule.getAndSet(n, null);
        if (co == null) {
            countRetry.incrementAndGet();
            return;
        }
        Integer me = id(); // null on the test's own thread
        if (me != null && n == me) {
            countHere.incrementAndGet();
        } else {
            countOther.incrementAndGet();
        }
        co.scheduleIn(ctx(n));
    }

    private void scheduleEntry() {
        int id = id();
        assertEquals(null, toSchedule.get(id));
        while (!nowStopping.get()) {
            scheduleNext(ThreadLocalRandom.current().nextInt(NUM_CONTEXTS));
            toSchedule.set(id, Coroutine.self()); // volatile: QEMU's qatomic_set_mb
            Coroutine.yield(); // finishCb may run before this coroutine is resumed
            assertEquals(null, toSchedule.get(id));
            assertEquals(id, id()); // resumed in its own context
        }
        running.decrementAndGet();
    }

    /** /aio/multi/schedule: coroutines bounce between contexts through coSchedule from any thread. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void coroutinesScheduledAcrossContextsFromAnyThread(FdMonitorKind kind) throws Exception {
        createContexts(kind);
        running.set(NUM_CONTEXTS);
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            Coroutine.create(failures.guard(this::scheduleEntry)).scheduleIn(ctx(i));
        }
        // Each resumed coroutine wakes at most one parked coroutine before parking itself, so the
        // number in flight only shrinks (QEMU's run just idles once all are parked). The test's
        // own thread, which has no context, also takes parked coroutines and schedules them, which
        // keeps the bouncing going until the target amount of work is done.
        long target = 20_000;
        CoTestSupport.awaitCondition(target + " schedules", () -> {
            scheduleNext(ThreadLocalRandom.current().nextInt(NUM_CONTEXTS));
            return countHere.get() + countOther.get() >= target;
        });
        nowStopping.set(true);
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            CoTestSupport.runOn(threads[i], () -> scheduleNext(ID.get()), failures); // QEMU finish_cb
        }
        CoTestSupport.awaitCondition("every coroutine to return", () -> running.get() == 0);
        joinContexts();
        assertTrue(countOther.get() > 0, "no cross-context schedule");
    }

    // ---- /aio/multi/mutex ----

    private static final class Shared {
        int counter; // guarded by the CoMutex
    }

    private void mutexEntry(CoMutex m, Shared s, AtomicLong atomicCounter) {
        while (!nowStopping.get()) {
            m.lock();
            s.counter++;
            m.unlock();
            atomicCounter.incrementAndGet(); // after the unlock, as in QEMU
        }
        running.decrementAndGet();
    }

    private void testMultiCoMutex(FdMonitorKind kind, int nThreads, long iterations) throws Exception {
        createContexts(kind);
        CoMutex m = new CoMutex();
        Shared s = new Shared();
        AtomicLong atomicCounter = new AtomicLong();
        running.set(nThreads);
        for (int i = 0; i < nThreads; i++) {
            Coroutine.create(failures.guard(() -> mutexEntry(m, s, atomicCounter))).scheduleIn(ctx(i));
        }
        CoTestSupport.awaitCondition(iterations + " iterations", () -> atomicCounter.get() >= iterations);
        nowStopping.set(true);
        CoTestSupport.awaitCondition("every coroutine to return", () -> running.get() == 0);
        joinContexts(); // joining the IOThreads orders their writes of s.counter before this read
        assertEquals(atomicCounter.get(), s.counter);
        assertTrue(!m.isLocked(), "mutex left locked");
    }

    /** /aio/multi/mutex/contended: 5 contexts. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void coMutexContendedByFiveContextsExcludesMutually(FdMonitorKind kind) throws Exception {
        testMultiCoMutex(kind, NUM_CONTEXTS, 1_000_000);
    }

    /** /aio/multi/mutex/handoff: 2 contexts. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void coMutexHandedOffBetweenTwoContextsExcludesMutually(FdMonitorKind kind) throws Exception {
        testMultiCoMutex(kind, 2, 1_000_000);
    }
}
