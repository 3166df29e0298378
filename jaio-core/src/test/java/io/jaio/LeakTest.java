// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.openFdCount;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;

/**
 * Creating and closing contexts and IOThreads many times returns the process's open-fd count
 * (entries of /proc/self/fd) to where it was: every eventfd and epoll fd is closed, on both
 * monitors, after an epoll upgrade, and when fds were still registered at close. A leak of one
 * fd per context shows up as thousands here. Also QEMU's /aio/multi/lifecycle (spec 2.2).
 */
class LeakTest {
    private static final FdMonitorKind[] KINDS = FdMonitorKind.values();

    /** Builds and closes a context of each kind so lazily opened files are open before counting. */
    private static void warmUp() throws ErrnoException {
        for (FdMonitorKind k : KINDS) {
            AioContext.builder().fdMonitor(k).build().close();
        }
    }

    @Test
    void thousandsOfContextsLeaveNoFdBehind() throws Exception {
        warmUp();
        long before = openFdCount();
        int[] runs = new int[1];
        for (int i = 0; i < 3000; i++) {
            try (AioContext ctx = AioContext.builder().name("leak-" + i).fdMonitor(KINDS[i % KINDS.length]).build()) {
                ctx.scheduleOneShot("work", () -> runs[0]++);
                assertTrue(ctx.poll(true));
            }
        }
        assertEquals(3000, runs[0]);
        assertEquals(before, openFdCount());
    }

    @Test
    void contextsClosedWithFdsStillRegisteredReleaseOnlyTheirOwnFds() throws Exception {
        warmUp();
        int[] p = Fds.pipe();
        long before = openFdCount();
        for (int i = 0; i < 500; i++) {
            AioContext ctx = AioContext.builder().name("registered-" + i).fdMonitor(KINDS[i % KINDS.length]).build();
            ctx.setFdHandler(p[0], () -> { }, null, null, null);
            ctx.setFdHandler(p[1], null, () -> { }, null, null);
            ctx.poll(false);
            ctx.close(); // the registrations are released; the pipe is the caller's
        }
        assertEquals(before, openFdCount());
        assertTrue(Fds.isOpen(p[0]) && Fds.isOpen(p[1]));
        Fds.close(p[0]);
        Fds.close(p[1]);
    }

    @Test
    void contextsThatUpgradedToEpollLeaveNoFdBehind() throws Exception {
        warmUp();
        List<EventNotifier> notifiers = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            notifiers.add(EventNotifier.create(false));
        }
        long before = openFdCount();
        for (int i = 0; i < 100; i++) {
            try (AioContext ctx = AioContext.builder().name("upgraded-" + i).fdMonitor(FdMonitorKind.POLL).build()) {
                for (EventNotifier n : notifiers) {
                    ctx.setEventNotifier(n, n::testAndClear, null, null);
                }
                notifiers.get(i % 64).set();
                assertTrue(ctx.poll(true));
                assertEquals("epoll", ctx.fdMonitorName());
                if (i % 2 == 0) { // half unregister first, half leave it to close()
                    for (EventNotifier n : notifiers) {
                        ctx.removeEventNotifier(n);
                    }
                }
            }
        }
        assertEquals(before, openFdCount());
        for (EventNotifier n : notifiers) {
            n.close();
        }
    }

    @Test
    void hundredsOfIoThreadsLeaveNoFdOrThreadBehind() throws Exception {
        IOThread.start("warm-up").stop();
        long before = openFdCount();
        for (int i = 0; i < 300; i++) {
            IOThread io = IOThread.start("leak-io-" + i, AioContext.builder().name("leak-io-" + i).fdMonitor(KINDS[i % KINDS.length]));
            if (i % 3 == 0) {
                CountDownLatch ran = new CountDownLatch(1);
                io.context().scheduleOneShot("work", ran::countDown);
                ran.await();
            }
            io.stop();
            assertFalse(io.thread().isAlive());
            assertTrue(io.context().isClosed());
        }
        assertEquals(before, openFdCount());
    }

    /** QEMU /aio/multi/lifecycle: five IOThreads, each running its own current context, joined cleanly. */
    @Test
    void ioThreadsEachRunTheirOwnCurrentContextAndStopCleanly() throws Exception {
        ThreadLocal<Integer> id = new ThreadLocal<>();
        IOThread[] threads = new IOThread[5];
        AioContext[] seenCurrent = new AioContext[threads.length];
        Thread[] seenThread = new Thread[threads.length];
        Integer[] seenId = new Integer[threads.length];
        try {
            for (int i = 0; i < threads.length; i++) {
                threads[i] = IOThread.start("lifecycle-" + i);
            }
            CountDownLatch done = new CountDownLatch(threads.length);
            for (int i = 0; i < threads.length; i++) {
                int k = i;
                threads[i].context().scheduleOneShot("set-id", () -> {
                    id.set(k);
                    seenId[k] = id.get();
                    seenCurrent[k] = AioContext.current();
                    seenThread[k] = Thread.currentThread();
                    done.countDown();
                });
            }
            done.await();
        } finally {
            for (IOThread t : threads) {
                if (t != null) {
                    t.stop();
                }
            }
        }
        assertNull(id.get(), "the ids were set on the IOThreads, not here");
        for (int i = 0; i < threads.length; i++) {
            assertSame(threads[i].context(), seenCurrent[i]);
            assertSame(threads[i].thread(), seenThread[i]);
            assertSame(threads[i].thread(), threads[i].context().homeThread());
            assertEquals(i, seenId[i]);
            assertEquals(IOThread.DEFAULT_POLL_MAX_NS, threads[i].context().pollMaxNs());
            assertTrue(threads[i].context().isClosed());
        }
    }
}
