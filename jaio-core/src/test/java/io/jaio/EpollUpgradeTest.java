// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.drain;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The POLL monitor's one-way upgrade to epoll at 64 watched fds (QEMU fdmon-epoll.c,
 * EPOLL_ENABLE_THRESHOLD; the historical test-fdmon-epoll.c, spec 2.6): delivery survives the
 * switch, only the ready handler runs, and everything unregisters and closes cleanly.
 */
class EpollUpgradeTest {

    /** Notifiers with a read handler each, counting runs per index. */
    private static final class Notifiers implements AutoCloseable {
        final EventNotifier[] n;
        final int[] runs;

        Notifiers(AioContext ctx, int count) throws ErrnoException {
            n = new EventNotifier[count];
            runs = new int[count];
            for (int i = 0; i < count; i++) {
                int k = i;
                n[i] = EventNotifier.create(false);
                ctx.setEventNotifier(n[i], () -> {
                    runs[k]++;
                    n[k].testAndClear();
                }, null, null);
            }
        }

        int total() {
            int t = 0;
            for (int r : runs) {
                t += r;
            }
            return t;
        }

        void unregister(AioContext ctx) {
            for (EventNotifier e : n) {
                ctx.removeEventNotifier(e);
            }
        }

        @Override
        public void close() {
            for (EventNotifier e : n) {
                e.close();
            }
        }
    }

    private static void assertOnlyRan(Notifiers ns, int index, int times) {
        assertEquals(times, ns.runs[index]);
        assertEquals(times, ns.total(), "a handler whose notifier was not set ran");
    }

    @Test
    void pollMonitorUpgradesToEpollAtSixtyFourFdsAndStillDelivers() throws Exception {
        try (AioContext ctx = AioContext.builder().name("upgrade").fdMonitor(FdMonitorKind.POLL).build();
                Notifiers ns = new Notifiers(ctx, 100)) {
            assertEquals("poll", ctx.fdMonitorName());
            ns.n[37].set();
            assertTrue(ctx.poll(true));
            assertEquals("epoll", ctx.fdMonitorName());
            assertOnlyRan(ns, 37, 1);
            assertFalse(ctx.poll(false));

            ns.n[99].set();
            assertTrue(ctx.poll(true));
            assertEquals(1, ns.runs[99]);
            assertEquals(2, ns.total());

            ns.unregister(ctx);
            ns.n[3].set();
            assertFalse(ctx.poll(false), "an unregistered notifier is no longer watched");
            assertEquals(2, ns.total());
            assertEquals("epoll", ctx.fdMonitorName(), "the upgrade is one-way");

            int[] bhRuns = new int[1];
            ctx.scheduleOneShot("after-upgrade", () -> bhRuns[0]++);
            assertTrue(ctx.poll(true));
            assertEquals(1, bhRuns[0]);
        }
    }

    @Test
    void upgradeHappensWhenTheContextsOwnNotifierMakesSixtyFour() throws Exception {
        try (AioContext ctx = AioContext.builder().name("threshold").fdMonitor(FdMonitorKind.POLL).build();
                Notifiers below = new Notifiers(ctx, 62)) {
            drain(ctx);
            below.n[0].set();
            assertTrue(ctx.poll(true));
            assertEquals("poll", ctx.fdMonitorName(), "62 user fds + the context's notifier = 63: no upgrade");
            try (Notifiers one = new Notifiers(ctx, 1)) {
                one.n[0].set();
                assertTrue(ctx.poll(true));
                assertEquals("epoll", ctx.fdMonitorName());
                assertOnlyRan(one, 0, 1);
                one.unregister(ctx);
            }
            assertOnlyRan(below, 0, 1);
            below.unregister(ctx);
        }
    }

    @Test
    void upgradeCanBeTurnedOff() throws Exception {
        try (AioContext ctx = AioContext.builder().name("no-upgrade").fdMonitor(FdMonitorKind.POLL).epollUpgrade(false).build();
                Notifiers ns = new Notifiers(ctx, 100)) {
            ns.n[64].set();
            assertTrue(ctx.poll(true));
            assertEquals("poll", ctx.fdMonitorName());
            assertOnlyRan(ns, 64, 1);
            ns.unregister(ctx);
        }
    }

    @Test
    void epollContextUsesEpollFromTheStart() throws Exception {
        try (AioContext ctx = AioContext.builder().name("epoll").fdMonitor(FdMonitorKind.EPOLL).build();
                Notifiers ns = new Notifiers(ctx, 3)) {
            assertEquals("epoll", ctx.fdMonitorName());
            ns.n[1].set();
            assertTrue(ctx.poll(true));
            assertOnlyRan(ns, 1, 1);
            ns.unregister(ctx);
        }
    }
}
