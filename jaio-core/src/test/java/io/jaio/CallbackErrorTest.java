// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.coroutine.Coroutine;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import io.jaio.testing.TestSupport;
import io.jaio.block.ThreadPool;
import io.jaio.testing.UringTestSupport;

/**
 * An {@link Error} thrown by a callback propagates out of {@code poll()}, and no other work is
 * lost: what was due behind the thrower runs in the next poll (or stays schedulable), the loop
 * keeps working, and {@code close()} still reports leaks. Each case throws a custom Error and an
 * AssertionError. On every fd monitor.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class CallbackErrorTest {
    /** Bounds a poll(true) that should not sleep at all (see blockingPoll). */
    private static final long WATCHDOG_NS = 2_000_000_000L;

    @Parameter
    FdMonitorKind kind;

    /** A custom Error, so a test can tell it from an assertion failure of its own. */
    static final class Boom extends Error {
        private static final long serialVersionUID = 1L;

        Boom(String what) {
            super(what);
        }
    }

    /** The Errors every case throws, one run each. */
    private static List<Supplier<Error>> errors() {
        return List.of(() -> new Boom("boom"), () -> new AssertionError("assertion in a callback"));
    }

    private AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("cb-error-" + kind).fdMonitor(kind).build();
    }

    /** poll(false), expecting {@code expected} to escape it. */
    private static void pollExpecting(AioContext ctx, Error expected) {
        Error e = assertThrows(Error.class, () -> ctx.poll(false));
        assertSame(expected, e, "the callback's Error itself propagates out of poll()");
    }

    /**
     * poll(true) with a watchdog timer, so a poll that wrongly sleeps fails the assertions that
     * follow instead of hanging the test. Returns poll()'s result.
     */
    private static boolean blockingPoll(AioContext ctx) {
        Timer watchdog = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
        watchdog.modNs(ctx.clockNs(ClockType.REALTIME) + WATCHDOG_NS);
        try {
            return ctx.poll(true);
        } finally {
            watchdog.delete();
        }
    }

    // ---- bottom halves ----

    /** Five bottom halves in one slice, the middle one throws: the two behind it run next poll. */
    @Test
    void errorFromABottomHalfLeavesTheRestOfItsSliceForTheNextPoll() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] runs = new int[5];
                List<BottomHalf> bhs = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    int k = i;
                    bhs.add(ctx.newBottomHalf("bh" + i, () -> {
                        runs[k]++;
                        if (k == 2 && runs[k] == 1) {
                            throw error;
                        }
                    }));
                }
                for (int i = 4; i >= 0; i--) { // the queue is LIFO: bh0 runs first
                    bhs.get(i).schedule();
                }
                pollExpecting(ctx, error);
                assertArrayEquals(new int[] {1, 1, 1, 0, 0}, runs, "up to the thrower");
                assertTrue(bhs.get(3).isScheduled(), "the bottom halves behind the thrower are still scheduled");
                assertTrue(blockingPoll(ctx), "the leftover slice is pending work: a blocking poll runs it at once");
                assertArrayEquals(new int[] {1, 1, 1, 1, 1}, runs, "every bottom half ran exactly once");
                assertFalse(ctx.poll(false));
                for (BottomHalf bh : bhs) {
                    bh.schedule(); // every one is schedulable again
                }
                assertTrue(ctx.poll(false));
                assertArrayEquals(new int[] {2, 2, 2, 2, 2}, runs);
                bhs.forEach(BottomHalf::delete);
            }
        }
    }

    /** A bottom half stranded behind a thrower merges with a new schedule instead of being lost. */
    @Test
    void bottomHalfBehindAThrowerCanBeScheduledAgainBeforeTheNextPoll() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] runs = new int[1];
                BottomHalf behind = ctx.newBottomHalf("behind", () -> runs[0]++);
                BottomHalf thrower = ctx.newBottomHalf("thrower", () -> {
                    throw error;
                });
                behind.schedule();
                thrower.schedule();
                pollExpecting(ctx, error);
                assertEquals(0, runs[0]);
                behind.schedule();
                behind.schedule();
                assertTrue(ctx.poll(false));
                assertEquals(1, runs[0], "the stranded and the new schedules merged into one run");
                assertFalse(ctx.poll(false));
                assertEquals(1, runs[0]);
                behind.delete();
                thrower.delete();
            }
        }
    }

    /** A one-shot behind a thrower that never gets another poll is still named by close(). */
    @Test
    void oneShotBehindAThrowerIsReportedByClose() throws Exception {
        for (Supplier<Error> err : errors()) {
            AioContext ctx = newContext();
            Error error = err.get();
            boolean[] ran = new boolean[1];
            ctx.scheduleOneShot("thrower", () -> { // one-shots run in the order scheduled (the one-shot ring is FIFO)
                throw error;
            });
            ctx.scheduleOneShot("stranded-one-shot", () -> ran[0] = true);
            pollExpecting(ctx, error);
            IllegalStateException leak = assertThrows(IllegalStateException.class, ctx::close);
            assertTrue(leak.getMessage().contains("'stranded-one-shot' was scheduled but never ran"), leak.getMessage());
            assertFalse(ran[0]);
        }
    }

    /**
     * A nested poll inside bottom half A continues the outer slice and meets the thrower there;
     * A catches the Error. The nested poll's own slice (X, scheduled by A) must not be lost, and
     * the outer poll goes on with the rest of its slice (B).
     */
    @Test
    void errorCaughtAroundANestedPollLosesNeitherSlice() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] x = new int[1];
                int[] b = new int[1];
                Error[] caught = new Error[1];
                BottomHalf bhX = ctx.newBottomHalf("x", () -> x[0]++);
                BottomHalf bhT = ctx.newBottomHalf("thrower", () -> {
                    throw error;
                });
                BottomHalf bhB = ctx.newBottomHalf("b", () -> b[0]++);
                BottomHalf bhA = ctx.newBottomHalf("a", () -> {
                    bhX.schedule();
                    try {
                        ctx.poll(false);
                    } catch (Error e) {
                        caught[0] = e;
                    }
                });
                bhB.schedule();
                bhT.schedule();
                bhA.schedule(); // runs first: A, then (nested) the thrower, then B
                assertTrue(ctx.poll(false));
                assertSame(error, caught[0]);
                assertEquals(1, b[0], "the outer poll went on with its slice");
                assertTrue(bhX.isScheduled(), "the nested poll's slice is still queued");
                assertTrue(ctx.poll(false));
                assertEquals(1, x[0], "and runs in the next poll");
                assertFalse(ctx.poll(false));
                for (BottomHalf bh : List.of(bhX, bhT, bhB, bhA)) {
                    bh.delete();
                }
            }
        }
    }

    /** The Error escapes a nested poll and the outer one: both levels' leftovers run next poll. */
    @Test
    void errorThroughNestedPollsKeepsEveryLevelsLeftovers() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] x = new int[1];
                int[] b = new int[1];
                BottomHalf bhX = ctx.newBottomHalf("x", () -> x[0]++);
                BottomHalf bhT = ctx.newBottomHalf("thrower", () -> {
                    throw error;
                });
                BottomHalf bhB = ctx.newBottomHalf("b", () -> b[0]++);
                BottomHalf bhA = ctx.newBottomHalf("a", () -> {
                    bhX.schedule();
                    ctx.poll(false);
                });
                bhB.schedule();
                bhT.schedule();
                bhA.schedule();
                pollExpecting(ctx, error);
                assertEquals(0, b[0]);
                assertEquals(0, x[0]);
                assertTrue(ctx.poll(false));
                assertEquals(1, b[0], "the outer slice's leftover ran");
                assertEquals(1, x[0], "the nested slice's leftover ran");
                assertFalse(ctx.poll(false));
                for (BottomHalf bh : List.of(bhX, bhT, bhB, bhA)) {
                    bh.delete();
                }
            }
        }
    }
    // ---- coroutines ----

    /**
     * Coroutine A wakes B and C (queued on A's wake-up list, entered when A returns) and then
     * throws: the Error propagates out of the enter, after B and C ran.
     */
    @Test
    void errorEscapingACoroutineStillEntersItsQueuedWakeUps() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                ctx.makeCurrent();
                Error error = err.get();
                boolean[] done = new boolean[2];
                Coroutine b = Coroutine.create(() -> {
                    Coroutine.yield();
                    done[0] = true;
                });
                Coroutine c = Coroutine.create(() -> {
                    Coroutine.yield();
                    done[1] = true;
                });
                b.enterIn(ctx);
                c.enterIn(ctx);
                Coroutine a = Coroutine.create(() -> {
                    Coroutine.wake(b);
                    Coroutine.wake(c);
                    throw error;
                });
                Error e = assertThrows(Error.class, () -> a.enterIn(ctx));
                assertSame(error, e, "the coroutine's Error itself propagates out of the enter");
                assertTrue(done[0] && done[1], "the wake-ups queued by the thrower ran: b=" + done[0] + ", c=" + done[1]);
                assertTrue(a.isDone());
                assertFalse(Coroutine.inCoroutine(), "the home thread is back outside coroutines");
                Coroutine d = Coroutine.create(() -> { }); // the trampoline still works
                d.enterIn(ctx);
                assertTrue(d.isDone());
            }
        }
    }

    /** Three coroutines scheduled into the context, the first throws: the other two run next poll. */
    @Test
    void errorFromAScheduledCoroutineLeavesTheOthersForTheNextPoll() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] runs = new int[2];
                Coroutine.create(() -> {
                    throw error;
                }).scheduleIn(ctx);
                Coroutine b = Coroutine.create(() -> runs[0]++);
                Coroutine c = Coroutine.create(() -> runs[1]++);
                b.scheduleIn(ctx);
                c.scheduleIn(ctx);
                pollExpecting(ctx, error);
                assertArrayEquals(new int[] {0, 0}, runs);
                assertTrue(b.isScheduled(), "still claimed by the context's schedule, not lost");
                assertTrue(blockingPoll(ctx), "the co-schedule bottom half is pending again");
                assertArrayEquals(new int[] {1, 1}, runs, "both ran, once");
                assertFalse(b.isScheduled());
                assertFalse(ctx.poll(false));
                Coroutine d = Coroutine.create(() -> runs[0]++);
                d.scheduleIn(ctx); // scheduling still works
                assertTrue(ctx.poll(false));
                assertEquals(2, runs[0]);
            }
        }
    }

    /** A coroutine left scheduled behind a thrower is named by close() when no poll follows. */
    @Test
    void scheduledCoroutineBehindAThrowerIsReportedByClose() throws Exception {
        for (Supplier<Error> err : errors()) {
            AioContext ctx = newContext();
            Error error = err.get();
            Coroutine.create(() -> {
                throw error;
            }).scheduleIn(ctx);
            Coroutine behind = Coroutine.create(() -> { });
            behind.scheduleIn(ctx);
            pollExpecting(ctx, error);
            IllegalStateException leak = assertThrows(IllegalStateException.class, ctx::close);
            assertTrue(leak.getMessage().contains(behind + " was scheduled (coSchedule) but never entered"), leak.getMessage());
        }
    }
    // ---- timers (regression: already correct) ----

    /** Three timers due at once, the middle one throws: the third fires in the next poll. */
    @Test
    void errorFromATimerLeavesTheTimersBehindItArmedForTheNextPoll() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] runs = new int[3];
                List<Timer> timers = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    int k = i;
                    timers.add(ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                        runs[k]++;
                        if (k == 1) {
                            throw error;
                        }
                    }));
                }
                for (Timer t : timers) {
                    t.modNs(0); // all due; equal deadlines fire in arming order
                }
                pollExpecting(ctx, error);
                assertArrayEquals(new int[] {1, 1, 0}, runs);
                assertFalse(timers.get(1).isPending(), "the thrower was disarmed before its callback, as always");
                assertTrue(timers.get(2).isPending());
                assertTrue(blockingPoll(ctx), "a due timer makes the blocking poll return at once");
                assertArrayEquals(new int[] {1, 1, 1}, runs);
                timers.get(0).modNs(0); // the list keeps working
                assertTrue(ctx.poll(false));
                assertEquals(2, runs[0]);
            }
        }
    }

    /** A timer left armed behind a thrower is named by close(). */
    @Test
    void timerBehindAThrowerIsReportedByClose() throws Exception {
        for (Supplier<Error> err : errors()) {
            AioContext ctx = newContext();
            Error error = err.get();
            Timer thrower = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                throw error;
            });
            Timer behind = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
            thrower.modNs(0);
            behind.modNs(1);
            pollExpecting(ctx, error);
            IllegalStateException leak = assertThrows(IllegalStateException.class, ctx::close);
            assertTrue(leak.getMessage().contains("timer on REALTIME still armed"), leak.getMessage());
        }
    }

    // ---- fd handlers ----

    /**
     * Three ready event notifiers, the first io_read to run throws: the other two stay on the
     * ready list and run in the next poll (regression: already correct).
     */
    @Test
    void errorFromAnFdHandlerLeavesTheOtherReadyHandlersForTheNextPoll() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                int[] runs = new int[3];
                boolean[] thrown = new boolean[1];
                List<EventNotifier> ns = new ArrayList<>();
                try {
                    for (int i = 0; i < 3; i++) {
                        EventNotifier n = EventNotifier.create(false);
                        ns.add(n);
                        int k = i;
                        ctx.setEventNotifier(n, () -> {
                            runs[k]++;
                            n.testAndClear();
                            if (!thrown[0]) {
                                thrown[0] = true;
                                throw error;
                            }
                        }, null, null);
                    }
                    for (EventNotifier n : ns) {
                        n.set();
                    }
                    Error e = assertThrows(Error.class, () -> TestSupport.pollUntil(ctx, "an fd handler", () -> thrown[0]));
                    assertSame(error, e);
                    assertEquals(1, runs[0] + runs[1] + runs[2], "only the thrower ran");
                    TestSupport.pollUntil(ctx, "the other fd handlers", () -> runs[0] + runs[1] + runs[2] == 3);
                    assertArrayEquals(new int[] {1, 1, 1}, runs, "each handler ran once");
                    ns.get(0).set(); // the loop keeps working
                    TestSupport.pollUntil(ctx, "the first fd handler again", () -> runs[0] == 2);
                } finally {
                    for (EventNotifier n : ns) {
                        ctx.removeEventNotifier(n);
                        n.close();
                    }
                }
            }
        }
    }

    /**
     * Userspace polling finds a handler ready and its io_poll_ready throws: the handler must
     * stay in the poll set (it was taken out for the callback), so the next io_poll success
     * dispatches it again; the fd itself never becomes readable here.
     */
    @Test
    void errorFromIoPollReadyKeepsTheHandlerInThePollSet() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = AioContext.builder().name("cb-error-poll-" + kind).fdMonitor(kind)
                    .pollParams(1_000_000_000L, 0, 0).build();
                    EventNotifier n = EventNotifier.create(false)) {
                Error error = err.get();
                boolean[] ready = new boolean[1];
                int[] pollReadyRuns = new int[1];
                int[] reads = new int[1];
                ctx.setEventNotifier(n, () -> {
                    reads[0]++;
                    n.testAndClear();
                }, () -> ready[0], () -> {
                    pollReadyRuns[0]++;
                    ready[0] = false;
                    if (pollReadyRuns[0] == 1) {
                        throw error;
                    }
                });
                try {
                    n.set();
                    TestSupport.pollUntil(ctx, "the first io_read", () -> reads[0] == 1); // joins the poll set
                    ctx.poll(false); // io_uring: submits the re-armed POLL_ADD, so poll mode may start
                    ready[0] = true;
                    Error e = assertThrows(Error.class, () -> blockingPoll(ctx));
                    assertSame(error, e);
                    assertEquals(1, pollReadyRuns[0]);
                    ready[0] = true;
                    blockingPoll(ctx);
                    assertEquals(2, pollReadyRuns[0], "userspace polling still sees the handler");
                    assertEquals(1, reads[0]);
                } finally {
                    ctx.removeEventNotifier(n);
                }
            }
        }
    }

    /**
     * Two handlers in poll mode; the first io_poll_end to run throws as the loop leaves poll
     * mode to block: the other handler still gets its io_poll_end, and the wake-up state
     * (notify_me, the wait window) is restored, so aio_notify() on an awake loop costs no
     * eventfd write.
     */
    @Test
    void errorFromIoPollEndStillEndsPollModeAndRestoresTheWakeUpState() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = AioContext.builder().name("cb-error-end-" + kind).fdMonitor(kind)
                    .pollParams(1_000_000_000L, 0, 0).build();
                    EventNotifier n0 = EventNotifier.create(false);
                    EventNotifier n1 = EventNotifier.create(false)) {
                Error error = err.get();
                int[] begins = new int[2];
                int[] ends = new int[2];
                int[] reads = new int[2];
                boolean[] thrown = new boolean[1];
                EventNotifier[] ns = {n0, n1};
                for (int i = 0; i < 2; i++) {
                    int k = i;
                    ctx.setEventNotifier(ns[k], () -> {
                        reads[k]++;
                        ns[k].testAndClear();
                    }, () -> false, () -> { });
                    ctx.setFdPollBeginEnd(ns[k].fd(), () -> begins[k]++, () -> {
                        ends[k]++;
                        if (!thrown[0]) {
                            thrown[0] = true;
                            throw error;
                        }
                    });
                }
                try {
                    n0.set();
                    n1.set();
                    TestSupport.pollUntil(ctx, "both io_reads", () -> reads[0] == 1 && reads[1] == 1); // both join
                    ctx.poll(false); // io_uring: submits the re-armed POLL_ADDs, so poll mode may start
                    Error e = assertThrows(Error.class, () -> TestSupport.pollUntil(ctx, "an io_poll_end", () -> thrown[0]));
                    assertSame(error, e);
                    assertArrayEquals(begins, ends, "every io_poll_begin got its io_poll_end");
                    assertFalse(ctx.poll(false));
                    long writes = ctx.notifierWriteCount();
                    ctx.aioNotify();
                    BottomHalf bh = ctx.newBottomHalf("after", () -> { });
                    bh.schedule();
                    assertEquals(writes, ctx.notifierWriteCount(), "the loop is awake: no eventfd write");
                    assertTrue(ctx.poll(false));
                    bh.delete();
                } finally {
                    ctx.removeEventNotifier(n0);
                    ctx.removeEventNotifier(n1);
                }
            }
        }
    }

    // ---- io_uring CQE handlers (regression: already correct) ----

    /** Three NOP completions, the first handler to run throws: the other two run in the next poll. */
    @Test
    void errorFromACqeHandlerLeavesTheReapedCompletionsForTheNextPoll() throws Exception {
        // One run is enough (CQEs exist only on the io_uring monitor); UringTestSupport skips it
        // where the kernel refuses io_uring.
        Assumptions.assumeTrue(kind == FdMonitorKind.IO_URING, "CQE handlers run on the io_uring monitor only");
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = UringTestSupport.uringContext()) {
                Error error = err.get();
                boolean[] thrown = new boolean[1];
                int[] calls = new int[1];
                List<CqeHandler> hs = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    hs.add(new CqeHandler() {
                        @Override
                        protected void onCompletion(int res, int flags) {
                            calls[0]++;
                            if (!thrown[0]) {
                                thrown[0] = true;
                                throw error;
                            }
                        }
                    });
                }
                for (CqeHandler h : hs) {
                    IoUring.of(ctx).nop(h);
                }
                Error e = assertThrows(Error.class, () -> TestSupport.pollUntil(ctx, "a completion", () -> thrown[0]));
                assertSame(error, e);
                int seen = calls[0];
                assertTrue(seen >= 1 && seen <= 3);
                TestSupport.pollUntil(ctx, "the other completions", () -> calls[0] == 3);
                for (CqeHandler h : hs) {
                    assertFalse(h.isInFlight(), "no handler stays in flight");
                }
                IoUring.of(ctx).nop(hs.get(0)); // a handler is reusable, the ring keeps working
                TestSupport.pollUntil(ctx, "a new completion", () -> calls[0] == 4);
            }
        }
    }

    // ---- thread pool completions (regression: already correct) ----

    /** Three pool tasks, the first completion to run throws: the others complete in later polls. */
    @Test
    void errorFromAThreadPoolCompletionLeavesTheOtherCompletions() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext ctx = newContext()) {
                Error error = err.get();
                boolean[] thrown = new boolean[1];
                long[] results = new long[3];
                ThreadPool pool = ThreadPool.of(ctx);
                for (int i = 0; i < 3; i++) {
                    int k = i;
                    pool.submitCallable(() -> 10 + k, ret -> {
                        results[k] = ret;
                        if (!thrown[0]) {
                            thrown[0] = true;
                            throw error;
                        }
                    });
                }
                Error e = assertThrows(Error.class, () -> TestSupport.pollUntil(ctx, "a completion", () -> thrown[0]));
                assertSame(error, e);
                TestSupport.pollUntil(ctx, "every completion", () -> pool.inFlight() == 0);
                assertArrayEquals(new long[] {10, 11, 12}, results);
                pool.submitCallable(() -> 7, ret -> results[0] = ret); // the pool keeps working
                TestSupport.pollUntil(ctx, "a new completion", () -> pool.inFlight() == 0);
                assertEquals(7, results[0]);
            }
        }
    }

    // ---- outer loops ----

    /**
     * A child context attached to a parent's loop: two child timers are due, the first throws
     * inside the parent's poll (after the child's eventfd was drained, so nothing else makes the
     * source's fd readable). The attachment must re-arm itself, so the second timer fires in the
     * parent's next polls.
     */
    @Test
    void errorInsideAnAttachedSourceKeepsTheAttachmentRunning() throws Exception {
        for (Supplier<Error> err : errors()) {
            try (AioContext parent = newContext();
                    AioContext child = AioContext.builder().name("child-" + kind).fdMonitor(kind).build()) {
                Error error = err.get();
                int[] runs = new int[1];
                Timer thrower = child.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                    throw error;
                });
                Timer behind = child.newTimer(ClockType.REALTIME, TimerScale.NS, () -> runs[0]++);
                AioSource.Attachment a = child.source().attachTo(parent);
                try {
                    thrower.modNs(0);
                    behind.modNs(0);
                    Error e = assertThrows(Error.class, () -> TestSupport.pollUntil(parent, "the child's thrower", () -> false));
                    assertSame(error, e);
                    assertEquals(0, runs[0]);
                    TestSupport.pollUntil(parent, "the child's timer behind the thrower", () -> runs[0] == 1);
                    behind.modNs(0); // and the attachment keeps working
                    TestSupport.pollUntil(parent, "the child's timer again", () -> runs[0] == 2);
                } finally {
                    a.close();
                }
            }
        }
    }
}
