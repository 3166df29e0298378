// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.OuterLoopTesting.drain;
import static io.jaio.OuterLoopTesting.newContext;
import static io.jaio.OuterLoopTesting.readable;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.jaio.OuterLoopTesting.BhData;
import io.jaio.OuterLoopTesting.EventData;

/**
 * The aio-gsource group of QEMU's test-aio.c (#15-#27), on every fd monitor, with
 * {@link AioSource#iterate(boolean)} in place of {@code g_main_context_iteration(NULL, may_block)}.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a lost wake-up fails, it does not hang
class AioSourceTest {
    private AioContext ctx;
    private AioSource src;

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} with a fresh, drained context on {@code kind}, then closes it (same thread). */
    private void withContext(FdMonitorKind kind, Body body) throws Exception {
        ctx = newContext(kind, "gsource");
        Throwable failure = null;
        try {
            src = ctx.source();
            drain(src);
            body.run();
        } catch (Throwable t) {
            failure = t;
            throw t;
        } finally {
            try {
                ctx.close();
            } catch (RuntimeException leak) {
                if (failure == null) {
                    throw leak;
                }
                failure.addSuppressed(leak); // report the assertion, not the leak it caused
            }
        }
    }

    private static BhData bh(AioContext ctx, int max, boolean deleting) {
        BhData d = new BhData();
        d.max = max;
        d.bh = ctx.newBottomHalf("test", deleting ? d::deleteCb : d::testCb);
        return d;
    }

    // #15 /aio-gsource/flush
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void notifyAloneLeavesNothingToDispatch(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            assertFalse(src.iterate(false));
            ctx.aioNotify();
            drain(src);
            assertFalse(src.iterate(false));
        });
    }

    // #16 /aio-gsource/bh/schedule and #22 /aio-gsource/bh/flush (the same test in QEMU)
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void scheduledBottomHalfRunsInOneBlockingIteration(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 1, false);
            d.bh.schedule();
            assertEquals(0, d.n);
            assertTrue(src.iterate(true));
            assertEquals(1, d.n);
            assertFalse(src.iterate(false));
            assertEquals(1, d.n);
            d.bh.delete();
        });
    }

    // #17 /aio-gsource/bh/schedule10
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void selfReschedulingBottomHalfRunsOncePerIteration(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 10, false);
            d.bh.schedule();
            assertEquals(0, d.n);
            assertTrue(src.iterate(false));
            assertEquals(1, d.n);
            assertTrue(src.iterate(true));
            assertEquals(2, d.n);
            drain(src);
            assertEquals(10, d.n);
            assertFalse(src.iterate(false));
            assertEquals(10, d.n);
            d.bh.delete();
        });
    }

    // #18 /aio-gsource/bh/cancel
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void cancelledBottomHalfDoesNotRun(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 1, false);
            d.bh.schedule();
            d.bh.cancel();
            drain(src);
            assertEquals(0, d.n);
            d.bh.delete();
        });
    }

    // #19 /aio-gsource/bh/delete
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void deletedBottomHalfDoesNotRun(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 1, false);
            d.bh.schedule();
            d.bh.delete();
            drain(src);
            assertEquals(0, d.n);
        });
    }

    // #20 /aio-gsource/bh/callback-delete/one
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void bottomHalfDeletingItselfRunsOnce(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 1, true);
            d.bh.schedule();
            assertEquals(0, d.n);
            src.iterate(true);
            assertEquals(d.max, d.n);
            assertNull(d.bh);
            src.iterate(false); // QEMU allows one more iteration here
            assertFalse(src.iterate(false));
            assertEquals(d.max, d.n);
        });
    }

    // #21 /aio-gsource/bh/callback-delete/many
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void manySelfDeletingBottomHalvesEachRunOncePerIteration(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d1 = bh(ctx, 1, true);
            BhData d2 = bh(ctx, 3, true);
            BhData d3 = bh(ctx, 2, true);
            BhData d4 = bh(ctx, 4, true);
            for (BhData d : new BhData[] {d1, d2, d3, d4}) {
                d.bh.schedule();
                assertEquals(0, d.n);
            }
            assertTrue(src.iterate(false));
            for (BhData d : new BhData[] {d1, d2, d3, d4}) {
                assertEquals(1, d.n);
            }
            assertNull(d1.bh);
            drain(src);
            for (BhData d : new BhData[] {d1, d2, d3, d4}) {
                assertEquals(d.max, d.n);
                assertNull(d.bh);
            }
        });
    }

    // #23 /aio-gsource/event/add-remove
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void registeringAnUnsetNotifierRunsNothing(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            try (EventData d = new EventData(0, false)) {
                d.register(ctx);
                drain(src);
                assertEquals(0, d.n);
                ctx.removeEventNotifier(d.e);
                drain(src);
                assertEquals(0, d.n);
            }
        });
    }

    // #24 /aio-gsource/event/wait
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void setNotifierRunsItsHandlerOnce(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            try (EventData d = new EventData(1, false)) {
                d.register(ctx);
                drain(src);
                assertEquals(0, d.n);
                assertEquals(1, d.active);
                d.e.set();
                assertTrue(src.iterate(false));
                assertEquals(1, d.n);
                assertEquals(0, d.active);
                drain(src);
                assertEquals(1, d.n);
                assertEquals(0, d.active);
                ctx.removeEventNotifier(d.e);
                drain(src);
                assertEquals(1, d.n);
            }
        });
    }

    // #25 /aio-gsource/event/flush
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void selfSettingNotifierRunsUntilInactive(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            try (EventData d = new EventData(10, true)) {
                d.register(ctx);
                drain(src);
                assertEquals(0, d.n);
                assertEquals(10, d.active);
                d.e.set();
                assertTrue(src.iterate(false));
                assertEquals(1, d.n);
                assertEquals(9, d.active);
                assertTrue(src.iterate(false));
                for (int i = 0; d.active > 0 && i < OuterLoopTesting.DRAIN_BOUND; i++) {
                    src.iterate(true);
                }
                assertEquals(10, d.n);
                assertEquals(0, d.active);
                assertFalse(src.iterate(false));
                ctx.removeEventNotifier(d.e);
                drain(src);
            }
        });
    }

    // #26 /aio-gsource/event/wait/no-flush-cb
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void setNotifierNeverLetsABlockingIterationSleep(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            try (EventData d = new EventData(0, false); EventData dummy = new EventData(1, false)) {
                d.register(ctx);
                drain(src);
                assertEquals(0, d.n);
                d.e.set();
                src.iterate(true); // must not block
                d.n = 0;

                dummy.register(ctx);
                d.e.set();
                assertTrue(src.iterate(false));
                assertEquals(1, d.n);
                assertFalse(src.iterate(false));
                assertEquals(1, d.n);

                d.e.set();
                assertTrue(src.iterate(false));
                assertEquals(2, d.n);
                assertFalse(src.iterate(false));
                assertEquals(2, d.n);

                dummy.e.set();
                drain(src);
                assertEquals(2, d.n);
                assertEquals(1, dummy.n);
                assertEquals(0, dummy.active);

                ctx.removeEventNotifier(dummy.e);
                ctx.removeEventNotifier(d.e);
                drain(src);
                assertEquals(2, d.n);
            }
        });
    }

    // #27 /aio-gsource/timer/schedule, first half: virtual time instead of a 1 s sleep
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void timerRunsOnlyInsideAnIterationOnceDue(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            try (EventData dummy = new EventData(0, false)) {
                dummy.register(ctx); // QEMU: "aio_poll will not block ... unless it has an fd to wait on"
                drain(src);
                int[] n = {0};
                long stepNs = 750_000_000L;
                Timer[] t = new Timer[1];
                t[0] = ctx.newTimer(ClockType.VIRTUAL_RT, TimerScale.NS, () -> {
                    if (++n[0] < 2) {
                        t[0].modNs(ctx.clockNs(ClockType.VIRTUAL_RT) + stepNs);
                    }
                });
                t[0].modNs(ctx.clockNs(ClockType.VIRTUAL_RT) + stepNs);
                assertFalse(src.iterate(false));
                assertEquals(0, n[0]);
                ctx.advanceVirtualClockNs(1_000_000_000L);
                assertEquals(0, n[0]); // timers run only inside an iteration
                assertTrue(src.iterate(true));
                assertEquals(1, n[0]);
                assertFalse(src.iterate(false));
                ctx.advanceVirtualClockNs(stepNs);
                assertTrue(src.iterate(true));
                assertEquals(2, n[0]);
                assertFalse(t[0].isPending());
                ctx.removeEventNotifier(dummy.e);
            }
        });
    }

    // #27, second half: a blocking iteration really waits for a realtime timer, and its
    // millisecond timeout is rounded up, so the one wait ends with the timer due.
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void blockingIterationSleepsUntilTheTimerIsDue(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            long[] firedAt = {-1};
            Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> firedAt[0] = ctx.clockNs(ClockType.REALTIME));
            long expiry = ctx.clockNs(ClockType.REALTIME) + 20_000_500L; // not a whole number of ms
            t.modNs(expiry);
            assertFalse(src.iterate(false)); // accepts any notification the arming made
            int timeoutMs = src.prepare();
            assertTrue(timeoutMs >= 1 && timeoutMs <= 21, "timeoutMs=" + timeoutMs);
            src.check();
            assertTrue(src.iterate(true), "one blocking iteration must end with the timer due");
            assertTrue(firedAt[0] >= expiry, "fired at " + firedAt[0] + " before its expiry " + expiry);
            assertFalse(src.iterate(false));
        });
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void readyOrNotifiedPrepareReturnsZero(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            assertEquals(-1, src.prepare());
            src.check();
            ctx.aioNotify();
            assertEquals(0, src.prepare());
            assertFalse(src.check(), "a notification alone is nothing to dispatch");
            BhData d = bh(ctx, 1, false);
            d.bh.schedule();
            assertEquals(0, src.prepare());
            assertTrue(src.check());
            assertTrue(src.dispatch());
            assertEquals(1, d.n);
            d.bh.delete();
        });
    }

    // The wake-up protocol: bit 0 of notifyMe, set by prepare and cleared by check.
    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void betweenPrepareAndCheckEveryChangeMakesTheFdReadable(FdMonitorKind kind) throws Exception {
        withContext(kind, () -> {
            BhData d = bh(ctx, 1, false);
            long writes = ctx.notifierWriteCount();
            d.bh.schedule(); // home thread, no outer wait: no system call
            assertEquals(writes, ctx.notifierWriteCount());
            assertTrue(src.iterate(false));

            assertEquals(-1, src.prepare());
            assertFalse(readable(src.fd()));
            d.bh.schedule(); // home thread, but an outer loop may be waiting: write the eventfd
            assertTrue(readable(src.fd()));
            assertTrue(src.check());
            assertTrue(src.dispatch());
            assertEquals(2, d.n);
            assertFalse(readable(src.fd()));

            assertEquals(-1, src.prepare());
            Thread t = Thread.ofPlatform().start(d.bh::schedule); // another thread
            t.join();
            assertTrue(readable(src.fd()));
            src.check();
            src.dispatch();
            assertEquals(3, d.n);

            assertEquals(-1, src.prepare());
            Timer timer = ctx.newTimer(ClockType.VIRTUAL_RT, TimerScale.NS, () -> d.n += 10);
            timer.modNs(ctx.clockNs(ClockType.VIRTUAL_RT) + 1);
            assertTrue(readable(src.fd()), "a timer armed after prepare must wake the outer loop");
            src.check();
            src.dispatch();
            timer.delete();

            writes = ctx.notifierWriteCount();
            Thread t2 = Thread.ofPlatform().start(ctx::aioNotify); // after check: nobody waits outside
            t2.join();
            assertEquals(writes, ctx.notifierWriteCount());
            d.bh.delete();
        });
    }

    @org.junit.jupiter.api.Test
    void timeoutIsRoundedUpToWholeMilliseconds() {
        assertEquals(-1, AioSource.timeoutNsToMs(-1));
        assertEquals(0, AioSource.timeoutNsToMs(0));
        assertEquals(1, AioSource.timeoutNsToMs(1));
        assertEquals(1, AioSource.timeoutNsToMs(1_000_000));
        assertEquals(2, AioSource.timeoutNsToMs(1_000_001));
        assertEquals(Integer.MAX_VALUE, AioSource.timeoutNsToMs(Long.MAX_VALUE));
    }
}
