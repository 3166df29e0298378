// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitBlockedInWait;
import static io.jaio.testing.TestSupport.awaitCondition;
import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.joinOrDump;
import static io.jaio.testing.TestSupport.pollUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.junit.jupiter.api.Test;

import io.jaio.block.ThreadPool;
import io.jaio.block.ThreadPoolTask;
import io.jaio.testing.UringTestSupport;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;

/**
 * {@link AioContext#stats()}: every counter moves as the work it counts is done, on real
 * eventfds, pipes, io_uring and pool threads, and the MBean shows the same figures.
 */
class AioStatsTest {
    private static AioContext newContext(String name) throws ErrnoException {
        return AioContext.builder().name(name).fdMonitor(FdMonitorKind.POLL).build();
    }

    @Test
    void iterationsAndBottomHalvesCountEachPollAndEachCallback() throws Exception {
        try (AioContext ctx = newContext("stats-bh")) {
            drain(ctx);
            int[] runs = new int[1];
            BottomHalf a = ctx.newBottomHalf("a", () -> runs[0]++);
            BottomHalf b = ctx.newBottomHalf("b", () -> runs[0]++);
            AioStats s0 = ctx.stats();
            a.schedule();
            b.schedule();
            ctx.scheduleOneShot("c", () -> runs[0]++);
            assertTrue(ctx.poll(false));
            AioStats s1 = ctx.stats();
            assertEquals(3, runs[0]);
            assertEquals(s0.iterations() + 1, s1.iterations(), "one poll() call");
            assertEquals(s0.bottomHalvesRun() + 3, s1.bottomHalvesRun(), "two bottom halves and a one-shot");
            assertEquals(s0.blockingWaits(), s1.blockingWaits(), "poll(false) never waits with a timeout");
            assertFalse(ctx.poll(false));
            assertEquals(s1.iterations() + 1, ctx.stats().iterations(), "an idle poll() counts too");
            assertEquals(s1.bottomHalvesRun(), ctx.stats().bottomHalvesRun(), "nothing ran");
            a.delete();
            b.delete();
        }
    }

    @Test
    void aBlockingWaitOnATimerCountsOnceAndTimersArmedFollowsModAndDelete() throws Exception {
        try (AioContext ctx = newContext("stats-timer")) {
            drain(ctx);
            int[] fired = new int[1];
            Timer t1 = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> fired[0]++);
            Timer t2 = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
            assertEquals(0, ctx.stats().timersArmed());
            t1.modNs(ctx.clockNs(ClockType.REALTIME) + 1_000_000);
            t2.modNs(ctx.clockNs(ClockType.REALTIME) + 3_600_000_000_000L);
            assertEquals(2, ctx.stats().timersArmed());
            AioStats s0 = ctx.stats();
            while (fired[0] == 0) { // each poll(true) waits for t1 (1 ms); bounded by t1 firing
                ctx.poll(true);
            }
            AioStats s1 = ctx.stats();
            assertTrue(s1.blockingWaits() > s0.blockingWaits(), "waited for the timer: " + s0 + " -> " + s1);
            assertTrue(s1.blockingWaits() - s0.blockingWaits() <= s1.iterations() - s0.iterations(),
                    "at most one wait per iteration: " + s0 + " -> " + s1);
            assertEquals(1, s1.timersArmed(), "t1 fired, t2 still armed");
            t2.delete();
            assertEquals(0, ctx.stats().timersArmed());
        }
    }

    @Test
    void aNotifyWhileAwakeIsSkippedAndOneWhileBlockedWritesTheEventfd() throws Exception {
        AtomicReference<AioContext> box = new AtomicReference<>();
        CountDownLatch built = new CountDownLatch(1);
        CountDownLatch goBlock = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread home = new Thread(() -> {
            try (AioContext ctx = newContext("stats-notify")) {
                drain(ctx);
                box.set(ctx);
                built.countDown();
                goBlock.await();
                ctx.poll(true); // blocks until the test thread's notify
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "stats-notify-home");
        home.start();
        assertTrue(built.await(20, TimeUnit.SECONDS));
        AioContext ctx = box.get();
        AioStats s0 = ctx.stats();
        ctx.aioNotify(); // the loop is awake (waiting on the latch): the flag is raised, no write
        AioStats s1 = ctx.stats();
        assertEquals(s0.notifySkipped() + 1, s1.notifySkipped());
        assertEquals(s0.eventfdWrites(), s1.eventfdWrites());
        ctx.aioNotify(); // the flag is already raised: coalesced, counted nowhere
        assertEquals(s1.notifySkipped(), ctx.stats().notifySkipped());
        goBlock.countDown();
        awaitCondition("the pending notification to be accepted", () -> ctx.stats().iterations() > s1.iterations());
        // The first poll(true) saw the raised flag and returned: block again and notify for real.
        joinOrDump(home);
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        blockedNotifyWritesTheEventfd();
    }

    private static void blockedNotifyWritesTheEventfd() throws Exception {
        IOThread io = IOThread.start("stats-io", AioContext.builder().name("stats-io").fdMonitor(FdMonitorKind.POLL));
        try {
            AioContext ctx = io.context();
            awaitBlockedInWait(io.thread());
            AioStats s0 = ctx.stats();
            ctx.aioNotify();
            awaitCondition("the eventfd write", () -> ctx.stats().eventfdWrites() == s0.eventfdWrites() + 1);
            assertEquals(s0.notifySkipped(), ctx.stats().notifySkipped(), "the loop was blocked: nothing skipped");
        } finally {
            io.stop();
        }
    }

    @Test
    void fdHandlersAreCountedOnTheirMonitorWithoutTheContextsOwnEventfd() throws Exception {
        try (AioContext ctx = newContext("stats-fds")) {
            assertEquals("poll", ctx.stats().fdMonitor());
            assertEquals(0, ctx.stats().fdHandlers());
            int[] p1 = Fds.pipe();
            int[] p2 = Fds.pipe();
            ctx.setFdHandler(p1[0], () -> { }, null, null, null);
            ctx.setFdHandler(p2[0], () -> { }, null, null, null);
            assertEquals(2, ctx.stats().fdHandlers());
            ctx.removeFdHandler(p1[0]);
            assertEquals(1, ctx.stats().fdHandlers());
            ctx.removeFdHandler(p2[0]);
            drain(ctx);
            assertEquals(0, ctx.stats().fdHandlers());
            for (int fd : new int[] {p1[0], p1[1], p2[0], p2[1]}) {
                Fds.close(fd);
            }
        }
    }

    @Test
    void pollNsIsTheLargestPollTimeOfThePollSet() throws Exception {
        try (AioContext ctx = AioContext.builder().name("stats-pollns").fdMonitor(FdMonitorKind.POLL)
                .pollParams(10_000_000_000L, 0, 0).build()) {
            assertEquals(0, ctx.stats().pollNs(), "nothing polls yet");
            PollIdleRemovalTest.IdleReader r = new PollIdleRemovalTest.IdleReader(ctx);
            r.joinPollSet(ctx);
            long handlerNs = ctx.fdHandlerPollNs(r.pipe[0]);
            ctx.aioNotify();
            ctx.poll(true); // one round of userspace polling reads the poll set's largest time
            assertEquals(handlerNs, ctx.stats().pollNs());
            r.close(ctx);
        }
    }

    @Test
    void ioUringCountsSubmittedSqesAndReapedCqes() throws Exception {
        try (AioContext ctx = UringTestSupport.uringContext()) {
            assertEquals("io_uring", ctx.stats().fdMonitor());
            IoUring ring = IoUring.of(ctx);
            int[] done = new int[1];
            CqeHandler[] hs = new CqeHandler[16];
            for (int i = 0; i < hs.length; i++) {
                hs[i] = CqeHandler.of((res, flags) -> done[0]++);
            }
            drain(ctx);
            AioStats s0 = ctx.stats();
            for (CqeHandler h : hs) {
                ring.nop(h);
            }
            pollUntil(ctx, "16 NOPs", () -> done[0] == 16);
            AioStats s1 = ctx.stats();
            assertTrue(s1.uringSqesSubmitted() - s0.uringSqesSubmitted() >= 16, s0 + " -> " + s1);
            assertTrue(s1.uringCqesReaped() - s0.uringCqesReaped() >= 16, s0 + " -> " + s1);
            assertEquals(0, s1.uringCqOverflows(), "a 512-entry CQ does not overflow on 16 NOPs");
        }
    }

    @Test
    void aCompletionQueueTooSmallForTheBatchOverflowsAndTheReaperCountsTheFlush() throws Exception {
        try (AioContext ctx = UringTestSupport.uringContext(2)) { // CQ of 4 entries
            IoUring ring = IoUring.of(ctx);
            int[] done = new int[1];
            drain(ctx);
            AioStats s0 = ctx.stats();
            // Each SQE past the SQ's 2 submits the ones before it, and NOPs complete at once: the
            // kernel posts more CQEs than the CQ holds before anyone reaps, and keeps the rest on
            // its overflow list (IORING_FEAT_NODROP), flagged SQ_CQ_OVERFLOW.
            for (int i = 0; i < 32; i++) {
                ring.nop(CqeHandler.of((res, flags) -> done[0]++));
            }
            pollUntil(ctx, "32 NOPs", () -> done[0] == 32);
            AioStats s1 = ctx.stats();
            assertTrue(s1.uringCqOverflows() > s0.uringCqOverflows(), "no overflow flush counted: " + s0 + " -> " + s1);
            assertTrue(s1.uringCqesReaped() - s0.uringCqesReaped() >= 32, s0 + " -> " + s1);
        }
    }

    @Test
    void withoutIoUringTheRingFiguresStayZero() throws Exception {
        try (AioContext ctx = newContext("stats-no-uring")) {
            drain(ctx);
            AioStats s = ctx.stats();
            assertEquals(0, s.uringSqesSubmitted());
            assertEquals(0, s.uringCqesReaped());
            assertEquals(0, s.uringCqOverflows());
        }
    }

    @Test
    void threadPoolThreadsAndQueueFollowTheWork() throws Exception {
        try (AioContext ctx = newContext("stats-pool")) {
            assertEquals(0, ctx.stats().threadPoolThreads(), "no pool before first use");
            ctx.setThreadPoolParams(0, 1);
            CountDownLatch release = new CountDownLatch(1);
            int[] completed = new int[1];
            ThreadPoolTask[] tasks = new ThreadPoolTask[3];
            for (int i = 0; i < tasks.length; i++) {
                tasks[i] = new ThreadPoolTask() {
                    @Override
                    protected long run() {
                        try {
                            return release.await(20, TimeUnit.SECONDS) ? 0 : -1;
                        } catch (InterruptedException e) {
                            return -1;
                        }
                    }

                    @Override
                    protected void complete(long ret) {
                        completed[0]++;
                    }
                };
                ThreadPool.of(ctx).submit(tasks[i]);
            }
            assertEquals(1, ctx.stats().threadPoolThreads(), "max 1: one worker for three tasks");
            assertEquals(3, ctx.stats().threadPoolQueued(), "the worker is started by a bottom half, not yet run");
            drain(ctx); // runs that bottom half: the worker starts and takes the first task
            awaitCondition("the worker to take a task", () -> ctx.stats().threadPoolQueued() == 2);
            assertEquals(1, ctx.stats().threadPoolThreads());
            release.countDown();
            pollUntil(ctx, "the three completions", () -> completed[0] == 3);
            assertEquals(0, ctx.stats().threadPoolQueued());
        }
    }

    @Test
    void theMBeanShowsTheStatsAndCloseUnregistersIt() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName on;
        try (AioContext ctx = newContext("stats-mbean"); AioContext twin = newContext("stats-mbean")) {
            on = new ObjectName(ctx.registerMBean());
            assertEquals(on.toString(), ctx.registerMBean(), "idempotent");
            assertEquals("AioContext", on.getKeyProperty("type"));
            assertEquals("io.jaio", on.getDomain());
            ObjectName twinName = new ObjectName(twin.registerMBean());
            assertFalse(twinName.equals(on), "two contexts of one name get two MBeans: " + twinName);
            drain(ctx);
            long before = (Long) server.getAttribute(on, "iterations");
            ctx.poll(false);
            ctx.poll(false);
            assertEquals(before + 2, (Long) server.getAttribute(on, "iterations"));
            assertEquals("poll", server.getAttribute(on, "fdMonitor"));
            assertEquals("stats-mbean", server.getAttribute(on, "context"));
            assertTrue(server.isRegistered(twinName));
        }
        assertFalse(server.isRegistered(on), "close() unregisters");
    }
}
