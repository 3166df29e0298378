// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.testing.CoTestSupport;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.IOThread;
import io.jaio.block.ThreadPool;

/**
 * Coroutines and the event loop: QEMU test-aio.c's coroutine cases (#13 queue-chaining, #14
 * worker-thread-co-enter) and the aio_co_schedule / aio_co_wake / reschedule / sleep rules of
 * spec 1.12. Tests that wake a blocked loop from another thread run on every fd monitor.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CoroutineContextTest {
    private static AioContext newContext(FdMonitorKind kind, CoTestSupport.Failures failures) throws ErrnoException {
        AioContext ctx = AioContext.builder().name("co-" + kind).fdMonitor(kind).errorHandler(failures.handler()).build();
        ctx.makeCurrent();
        return ctx;
    }

    private static final class ChainData {
        int i;
        Coroutine other;
    }

    /** test-aio #13: 25000 same-context aio_co_enter ping-pongs are queued, not nested. */
    @Test
    void queueChainingOf25000WakeUpsDoesNotGrowTheStack() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(FdMonitorKind.POLL, failures)) {
            ChainData a = new ChainData();
            ChainData b = new ChainData();
            b.other = Coroutine.create(() -> chain(ctx, a));
            a.other = Coroutine.create(() -> chain(ctx, b));
            Coroutine.enter(b.other);
            assertEquals(25000, a.i);
            assertEquals(24999, b.i);
            Coroutine.enter(a.other); // lets the second one finish
            assertEquals(25000, b.i);
            assertTrue(a.other.isDone() && b.other.isDone());
            failures.check();
        }
    }

    private static void chain(AioContext ctx, ChainData d) {
        for (d.i = 0; d.i < 25000; d.i++) {
            d.other.enterIn(ctx);
            Coroutine.yield();
        }
    }

    /** test-aio #14: a thread without a context schedules; the home thread's blocking poll runs it. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void workerThreadCoEnterSchedulesIntoTheHomeThread(FdMonitorKind kind) throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(kind, failures)) {
            Thread home = Thread.currentThread();
            AtomicReference<Thread> ranOn = new AtomicReference<>();
            Coroutine co = Coroutine.create(() -> ranOn.set(Coroutine.hostThread()));
            Thread worker = Thread.ofPlatform().name("co-enter-worker").start(failures.guard(() -> {
                assertEquals(null, AioContext.current());
                co.enterIn(ctx);
            }));
            CoTestSupport.joinOrDump(worker);
            assertTrue(ctx.poll(true));
            assertSame(home, ranOn.get());
            assertFalse(ctx.poll(false));
            failures.check();
        }
    }

    /** A coroutine blocked in poll(true) is woken from another thread while the loop sleeps. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void wakeFromAnotherThreadResumesInTheContextWhereItLastRan(FdMonitorKind kind) throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(kind, failures)) {
            List<Thread> ranOn = new ArrayList<>();
            Coroutine co = Coroutine.create(() -> {
                ranOn.add(Coroutine.hostThread());
                Coroutine.yield();
                ranOn.add(Coroutine.hostThread());
            });
            Coroutine.enter(co);
            Thread waker = Thread.ofPlatform().name("waker").start(failures.guard(() -> Coroutine.wake(co)));
            CoTestSupport.pollUntil(ctx, "the woken coroutine", co::isDone);
            CoTestSupport.joinOrDump(waker);
            assertEquals(List.of(Thread.currentThread(), Thread.currentThread()), ranOn);
            failures.check();
        }
    }

    /** co_schedule_bh: coroutines scheduled together run in one poll, in the order scheduled. */
    @Test
    void scheduledCoroutinesRunFifoInOnePoll() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(FdMonitorKind.POLL, failures)) {
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                int id = i;
                Coroutine.create(() -> order.add(id)).scheduleIn(ctx);
            }
            assertEquals(List.of(), order); // never inside coSchedule
            assertTrue(ctx.poll(false));
            assertEquals(List.of(0, 1, 2, 3, 4), order);
            assertFalse(ctx.poll(false));
            failures.check();
        }
    }

    @Test
    void doubleSchedulingFailsNamingWhoScheduledFirst() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(FdMonitorKind.POLL, failures)) {
            int[] runs = {0};
            Coroutine co = Coroutine.create(() -> runs[0]++);
            co.scheduleIn(ctx);
            assertTrue(co.isScheduled());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> co.scheduleIn(ctx));
            assertTrue(e.getMessage().contains("already scheduled in 'Coroutine.scheduleIn' for context '" + ctx.name() + "'"), e.getMessage());
            IllegalStateException e2 = assertThrows(IllegalStateException.class, () -> Coroutine.enter(co));
            assertTrue(e2.getMessage().contains("already scheduled"), e2.getMessage());
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            assertFalse(co.isScheduled());
            failures.check();
        }
    }

    /** Same-context coEnter from outside coroutines enters at once; from inside, after the yield. */
    @Test
    void coEnterEntersNowOutsideAndQueuesInsideACoroutine() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(FdMonitorKind.POLL, failures)) {
            List<String> trace = new ArrayList<>();
            Coroutine b = Coroutine.create(() -> trace.add("b"));
            Coroutine a = Coroutine.create(() -> {
                b.enterIn(ctx);
                trace.add("a-after-coEnter");
                Coroutine.yield();
                trace.add("a-resumed");
            });
            a.enterIn(ctx);
            assertEquals(List.of("a-after-coEnter", "b"), trace);
            a.enterIn(ctx);
            assertEquals(List.of("a-after-coEnter", "b", "a-resumed"), trace);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.enterIn(ctx));
            assertTrue(e.getMessage().contains("has returned"), e.getMessage());
            failures.check();
        }
    }

    /** aio_co_reschedule_self: the coroutine moves to an IOThread and back. */
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void rescheduleSelfMovesTheCoroutineToAnotherContextAndBack(FdMonitorKind kind) throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(kind, failures);
                IOThread io = IOThread.start("co-io-" + kind, AioContext.builder().name("co-io").fdMonitor(kind).errorHandler(failures.handler()))) {
            List<Thread> ranOn = new ArrayList<>();
            Coroutine co = Coroutine.create(() -> {
                ranOn.add(Coroutine.hostThread());
                Coroutine.rescheduleSelf(io.context());
                ranOn.add(Coroutine.hostThread());
                assertSame(io.context(), AioContext.current());
                Coroutine.rescheduleSelf(ctx);
                ranOn.add(Coroutine.hostThread());
            });
            Coroutine.enter(co);
            CoTestSupport.pollUntil(ctx, "the coroutine's return", co::isDone);
            assertEquals(List.of(Thread.currentThread(), io.thread(), Thread.currentThread()), ranOn);
            failures.check();
        }
    }

    /** qemu_co_sleep_ns on a virtual clock: wakes exactly when the deadline passes; asleep = scheduled. */
    @Test
    void sleepNsWakesWhenTheClockReachesTheDeadline() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = newContext(FdMonitorKind.POLL, failures)) {
            ctx.setClockEnabled(ClockType.VIRTUAL, true);
            Coroutine co = Coroutine.create(() -> Coroutine.sleepNs(ClockType.VIRTUAL, 1000));
            Coroutine.enter(co);
            assertTrue(co.isScheduled());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Coroutine.enter(co));
            assertTrue(e.getMessage().contains("'Coroutine.sleepNs'"), e.getMessage());
            assertFalse(ctx.poll(false));
            ctx.advanceVirtualClockNs(999);
            assertFalse(ctx.poll(false));
            assertFalse(co.isDone());
            ctx.advanceVirtualClockNs(1);
            assertTrue(ctx.poll(false));
            assertTrue(co.isDone());
            failures.check();
        }
    }

    @Test
    void sleepAndRescheduleOutsideACoroutineFail() throws Exception {
        try (AioContext ctx = AioContext.builder().name("co-misuse").fdMonitor(FdMonitorKind.POLL).build()) {
            String m1 = assertThrows(IllegalStateException.class, () -> Coroutine.sleepNs(ClockType.REALTIME, 1)).getMessage();
            String m2 = assertThrows(IllegalStateException.class, () -> Coroutine.rescheduleSelf(ctx)).getMessage();
            assertTrue(m1.contains("outside a coroutine") && m2.contains("outside a coroutine"), m1 + " / " + m2);
            int[] ran = {0};
            Coroutine.enter(Coroutine.create(() -> { // no current context on this thread
                String m3 = assertThrows(IllegalStateException.class, () -> Coroutine.sleepNs(ClockType.REALTIME, 1)).getMessage();
                assertTrue(m3.contains("runs no context"), m3);
                assertThrows(IllegalArgumentException.class, () -> Coroutine.sleepNs(ClockType.REALTIME, -1));
                ran[0]++;
            }));
            assertEquals(1, ran[0]);
        }
    }

    /** An exception escaping a coroutine goes to the context's error handler; the loop goes on. */
    @Test
    void exceptionEscapingACoroutineGoesToTheErrorHandler() throws Exception {
        List<String> reported = new ArrayList<>();
        try (AioContext ctx = AioContext.builder().name("co-err").fdMonitor(FdMonitorKind.POLL)
                .errorHandler((c, source, e) -> reported.add(source + ": " + e.getMessage())).build()) {
            ctx.makeCurrent();
            int[] ran = {0};
            Coroutine.create(() -> {
                throw new IllegalStateException("boom");
            }).scheduleIn(ctx);
            Coroutine.create(() -> ran[0]++).scheduleIn(ctx);
            assertTrue(ctx.poll(false));
            assertEquals(1, ran[0]);
            assertEquals(1, reported.size());
            assertTrue(reported.get(0).startsWith("coroutine Coroutine@") && reported.get(0).endsWith("boom"), reported.get(0));
        }
    }

    /** close() names coroutines scheduled but never entered (QEMU asserts the list is empty). */
    @Test
    void closeReportsScheduledCoroutinesThatNeverRan() throws Exception {
        AioContext ctx = AioContext.builder().name("co-leak").fdMonitor(FdMonitorKind.POLL).build();
        Coroutine co = Coroutine.create(() -> { });
        co.scheduleIn(ctx);
        IllegalStateException e = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(e.getMessage().contains(co + " was scheduled (coSchedule) but never entered"), e.getMessage());
        assertFalse(e.getMessage().contains("co-schedule"), e.getMessage()); // the context's own bottom half is not a leak
        assertThrows(IllegalStateException.class, () -> Coroutine.create(() -> { }).scheduleIn(ctx));
    }

    /** The README's coroutine example, as written there. */
    @Test
    void readmeCoroutineExampleRuns() throws Exception {
        List<String> out = new ArrayList<>();
        try (AioContext ctx = AioContext.builder().name("co").build()) {
            ctx.makeCurrent();
            Coroutine co = Coroutine.create(() -> {
                long sum = CoThreadPool.submit(ThreadPool.of(ctx), () -> 40 + 2);
                out.add("worker said " + sum);
                Coroutine.sleepNs(ClockType.REALTIME, 1_000_000);
                out.add("slept");
            });
            Coroutine.enter(co);
            assertEquals(List.of(), out);
            CoTestSupport.pollUntil(ctx, "the example coroutine", co::isDone);
        }
        assertEquals(List.of("worker said 42", "slept"), out);
    }
}
