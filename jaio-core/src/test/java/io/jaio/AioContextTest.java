// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitBlockedInWait;
import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.joinOrDump;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The AioContext cases of QEMU's {@code tests/unit/test-aio.c} (spec 2.1, #1 to #12), single
 * stepped with {@code poll(false)} / {@code poll(true)} and counters, on every fd monitor.
 * Each test builds its context on the thread that runs it (its home thread) and closes it.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class AioContextTest {
    @Parameter
    FdMonitorKind kind;

    private AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("test-aio-" + kind).fdMonitor(kind).build();
    }

    /** QEMU BHTestData with bh_test_cb and bh_delete_cb. */
    private static final class BhData {
        BottomHalf bh;
        int n;
        final int max;

        BhData(int max) {
            this.max = max;
        }

        /** bh_test_cb: count, and reschedule while below max. */
        void testCb() {
            if (++n < max) {
                bh.schedule();
            }
        }

        /** bh_delete_cb: like testCb, but the last run deletes the bottom half from its own callback. */
        void deleteCb() {
            if (++n < max) {
                bh.schedule();
            } else {
                bh.delete();
                bh = null;
            }
        }
    }

    /** QEMU EventNotifierTestData with event_ready_cb. */
    private static final class EventData {
        final EventNotifier e;
        int n;
        int active;
        final boolean autoSet;

        EventData(int active, boolean autoSet) throws ErrnoException {
            this.e = EventNotifier.create(false);
            this.active = active;
            this.autoSet = autoSet;
        }

        void readyCb() {
            assertTrue(e.testAndClear(), "the handler ran but the notifier was not set");
            n++;
            if (active > 0) {
                active--;
            }
            if (autoSet && active > 0) {
                e.set();
            }
        }
    }

    /** QEMU wait_until_inactive: blocking polls until the notifier's handler has used up its count. */
    private static void waitUntilInactive(AioContext ctx, EventData data) {
        for (int i = 0; data.active > 0; i++) {
            if (i == 1000) {
                fail("notifier still active after 1000 blocking polls: active=" + data.active);
            }
            ctx.poll(true);
        }
    }

    /** QEMU set_event_notifier: a read handler only, no userspace polling. */
    private static void setEventNotifier(AioContext ctx, EventData data) throws ErrnoException {
        ctx.setEventNotifier(data.e, data::readyCb, null, null);
    }

    // ---- bottom halves (#1 to #7) ----

    @Test
    void scheduledBottomHalfRunsInNextPollAndOnlyOnce() throws Exception { // /aio/bh/schedule
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(1);
            data.bh = ctx.newBottomHalf("bh-schedule", data::testCb);
            data.bh.schedule();
            assertEquals(0, data.n, "scheduling must not run the callback");
            assertTrue(ctx.poll(true));
            assertEquals(1, data.n);
            assertFalse(ctx.poll(false));
            assertEquals(1, data.n);
            data.bh.delete();
        }
    }

    @Test
    void selfReschedulingBottomHalfRunsOncePerPoll() throws Exception { // /aio/bh/schedule10
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(10);
            data.bh = ctx.newBottomHalf("bh-schedule10", data::testCb);
            data.bh.schedule();
            assertEquals(0, data.n);
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);
            assertTrue(ctx.poll(true));
            assertEquals(2, data.n);
            for (int expected = 3; expected <= 10; expected++) {
                assertTrue(ctx.poll(false));
                assertEquals(expected, data.n, "a rescheduled bottom half runs in the next poll, not this one");
            }
            assertFalse(ctx.poll(false));
            assertEquals(10, data.n);
            data.bh.delete();
        }
    }

    @Test
    void cancelledBottomHalfNeitherRunsNorCountsAsProgress() throws Exception { // /aio/bh/cancel
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(1);
            data.bh = ctx.newBottomHalf("bh-cancel", data::testCb);
            data.bh.schedule();
            assertTrue(data.bh.isScheduled());
            data.bh.cancel();
            assertFalse(data.bh.isScheduled());
            assertFalse(ctx.poll(false));
            assertEquals(0, data.n);
            data.bh.delete();
        }
    }

    @Test
    void deletingAScheduledBottomHalfSuppressesItsCallback() throws Exception { // /aio/bh/delete
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(1);
            data.bh = ctx.newBottomHalf("bh-delete", data::testCb);
            data.bh.schedule();
            data.bh.delete();
            assertFalse(ctx.poll(false), "freeing a deleted bottom half is not progress");
            assertEquals(0, data.n);
        }
    }

    @Test
    void bottomHalfDeletingItselfFromItsCallbackRunsOnce() throws Exception { // /aio/bh/callback-delete/one
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(1);
            data.bh = ctx.newBottomHalf("bh-delete-self", data::deleteCb);
            data.bh.schedule();
            assertEquals(0, data.n);
            assertTrue(ctx.poll(true));
            assertEquals(1, data.n);
            assertNull(data.bh);
            assertFalse(ctx.poll(false));
            assertEquals(1, data.n);
        }
    }

    @Test
    void severalSelfDeletingBottomHalvesAllRunInOnePollUntilTheirMax() throws Exception { // callback-delete/many
        try (AioContext ctx = newContext()) {
            BhData[] data = {new BhData(1), new BhData(3), new BhData(2), new BhData(4)};
            for (int i = 0; i < data.length; i++) {
                BhData d = data[i];
                d.bh = ctx.newBottomHalf("bh-many-" + i, d::deleteCb);
            }
            for (BhData d : data) {
                d.bh.schedule();
            }
            assertTrue(ctx.poll(false));
            for (BhData d : data) {
                assertEquals(1, d.n, "every scheduled bottom half runs in the first poll");
            }
            assertNull(data[0].bh);
            for (int polls = 0; data[1].n < 3 || data[2].n < 2 || data[3].n < 4; polls++) {
                if (polls == 100) {
                    fail("self-deleting bottom halves stopped before their max");
                }
                ctx.poll(false);
            }
            for (BhData d : data) {
                assertEquals(d.max, d.n);
                assertNull(d.bh);
            }
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void drainingTheLoopRunsAScheduledBottomHalfOnce() throws Exception { // /aio/bh/flush
        try (AioContext ctx = newContext()) {
            BhData data = new BhData(1);
            data.bh = ctx.newBottomHalf("bh-flush", data::testCb);
            data.bh.schedule();
            assertEquals(0, data.n);
            assertEquals(1, drain(ctx), "exactly one poll makes progress");
            assertEquals(1, data.n);
            assertFalse(ctx.poll(false));
            data.bh.delete();
        }
    }

    // ---- event notifiers (#8 to #11) ----

    @Test
    void registeringAnUnsetNotifierIsNotProgress() throws Exception { // /aio/event/add-remove
        try (AioContext ctx = newContext()) {
            EventData data = new EventData(0, false);
            setEventNotifier(ctx, data);
            assertFalse(ctx.poll(false));
            assertEquals(0, data.n);
            ctx.removeEventNotifier(data.e);
            assertFalse(ctx.poll(false));
            assertEquals(0, data.n);
            data.e.close();
        }
    }

    @Test
    void setNotifierRunsItsHandlerOnce() throws Exception { // /aio/event/wait
        try (AioContext ctx = newContext()) {
            EventData data = new EventData(1, false);
            setEventNotifier(ctx, data);
            drain(ctx);
            assertEquals(0, data.n);
            assertEquals(1, data.active);

            data.e.set();
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);
            assertEquals(0, data.active);
            assertFalse(ctx.poll(false), "the handler cleared the notifier");
            assertEquals(1, data.n);

            ctx.removeEventNotifier(data.e);
            assertFalse(ctx.poll(false));
            assertEquals(1, data.n);
            data.e.close();
        }
    }

    @Test
    void setNotifierMakesBlockingPollReturnAndOtherNotifiersStayQuiet() throws Exception { // wait/no-flush-cb
        try (AioContext ctx = newContext()) {
            EventData data = new EventData(0, false);
            EventData dummy = new EventData(1, false);
            setEventNotifier(ctx, data);
            assertFalse(ctx.poll(false));
            assertEquals(0, data.n);

            // A set notifier must make a blocking poll return (and its handler run) instead of blocking.
            data.e.set();
            assertTrue(ctx.poll(true));
            data.n = 0;

            setEventNotifier(ctx, dummy);
            data.e.set();
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);
            assertFalse(ctx.poll(false));
            assertEquals(1, data.n);

            data.e.set();
            assertTrue(ctx.poll(false));
            assertEquals(2, data.n);
            assertFalse(ctx.poll(false));
            assertEquals(2, data.n);

            dummy.e.set();
            waitUntilInactive(ctx, dummy);
            assertEquals(2, data.n, "only the set notifier's handler runs");
            assertEquals(1, dummy.n);
            assertEquals(0, dummy.active);

            ctx.removeEventNotifier(dummy.e);
            dummy.e.close();
            ctx.removeEventNotifier(data.e);
            assertFalse(ctx.poll(false));
            assertEquals(2, data.n);
            data.e.close();
        }
    }

    @Test
    void notifierThatResetsItselfRunsOncePerPollUntilInactive() throws Exception { // /aio/event/flush
        try (AioContext ctx = newContext()) {
            EventData data = new EventData(10, true);
            setEventNotifier(ctx, data);
            drain(ctx);
            assertEquals(0, data.n);
            assertEquals(10, data.active);

            data.e.set();
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);
            assertEquals(9, data.active);
            assertTrue(ctx.poll(false));

            waitUntilInactive(ctx, data);
            assertEquals(10, data.n);
            assertEquals(0, data.active);
            assertFalse(ctx.poll(false));

            ctx.removeEventNotifier(data.e);
            assertFalse(ctx.poll(false));
            data.e.close();
        }
    }

    // ---- timers (#12) ----

    /** QEMU TimerTestData with timer_test_cb: count, and re-arm {@code ns} ahead while below max. */
    private static final class TimerData {
        final AioContext ctx;
        final ClockType clock;
        final long ns;
        final int max;
        Timer timer;
        int n;

        TimerData(AioContext ctx, ClockType clock, long ns, int max) {
            this.ctx = ctx;
            this.clock = clock;
            this.ns = ns;
            this.max = max;
        }

        void cb() {
            if (++n < max) {
                timer.modNs(ctx.clockNs(clock) + ns);
            }
        }
    }

    @Test
    void virtualTimerFiresOnlyInsidePollAndBlockingPollWaitsForIt() throws Exception { // /aio/timer/schedule
        try (AioContext ctx = newContext()) {
            ctx.setClockEnabled(ClockType.VIRTUAL, true);
            EventNotifier e = EventNotifier.create(false);
            ctx.setEventNotifier(e, e::testAndClear, null, null); // QEMU: "aio_poll will not block ... unless it has an fd"
            ctx.poll(false);

            TimerData data = new TimerData(ctx, ClockType.VIRTUAL, TimeUnit.MILLISECONDS.toNanos(750), 2);
            data.timer = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, data::cb);
            data.timer.modNs(ctx.clockNs(ClockType.VIRTUAL) + data.ns);
            assertEquals(0, data.n);
            drain(ctx); // arming the earliest timer notified the context
            assertFalse(ctx.poll(false));
            assertEquals(0, data.n);

            ctx.advanceVirtualClockNs(TimeUnit.SECONDS.toNanos(1)); // QEMU sleeps 1 s here
            assertEquals(0, data.n, "timers run only inside poll()");
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);

            drain(ctx); // the callback re-armed the timer
            assertFalse(ctx.poll(false));
            assertEquals(1, data.n);

            // The blocking poll must wait until the re-armed timer is due; another thread makes it due.
            Thread home = Thread.currentThread();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread advancer = Thread.ofPlatform().name("virtual-clock-advancer").start(() -> {
                try {
                    awaitBlockedInWait(home);
                    ctx.advanceVirtualClockNs(data.ns);
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            assertTrue(ctx.poll(true));
            joinOrDump(advancer);
            assertNull(failure.get());
            assertEquals(2, data.n);
            assertFalse(ctx.poll(false), "max reached: nothing re-armed, nothing pending");
            assertEquals(2, data.n);
            assertFalse(data.timer.isPending());

            ctx.removeEventNotifier(e);
            e.close();
            data.timer.delete();
        }
    }

    @Test
    void realtimeTimerMakesBlockingPollWaitUntilItsDeadline() throws Exception { // /aio/timer/schedule, real clock
        try (AioContext ctx = newContext()) {
            EventNotifier e = EventNotifier.create(false);
            ctx.setEventNotifier(e, e::testAndClear, null, null);
            drain(ctx);

            TimerData data = new TimerData(ctx, ClockType.REALTIME, TimeUnit.MILLISECONDS.toNanos(20), 1);
            data.timer = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, data::cb);
            long start = ctx.clockNs(ClockType.REALTIME);
            data.timer.modNs(start + data.ns);
            // Arming the earliest timer notified the context, so the first blocking poll may return
            // false at once; the next one must block until the deadline and then run the timer.
            boolean progress = ctx.poll(true);
            if (!progress) {
                assertEquals(0, data.n);
                progress = ctx.poll(true);
            }
            long elapsedNs = ctx.clockNs(ClockType.REALTIME) - start;
            assertTrue(progress, "a blocking poll returns false only after a bare notification");
            assertEquals(1, data.n);
            assertTrue(elapsedNs >= data.ns, "timer fired " + elapsedNs + " ns after arming, before its deadline");
            assertFalse(ctx.poll(false));

            ctx.removeEventNotifier(e);
            e.close();
        }
    }
}
