// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.drainPipe;
import static io.jaio.testing.TestSupport.pollUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.jaio.block.ThreadPool;
import io.jaio.coroutine.Coroutine;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The io.jaio.* Flight Recorder events: a {@link Recording} made in-process with every jaio event
 * enabled at threshold 0 sees each kind of work as an event with the fields that describe it.
 */
class JfrEventsTest {
    @TempDir
    Path dir;

    private static final String[] EVENTS = {"io.jaio.LoopIteration", "io.jaio.BottomHalfRun", "io.jaio.PollTime",
        "io.jaio.UringSubmit", "io.jaio.UringCompletions", "io.jaio.ThreadPoolWorker", "io.jaio.ThreadPoolRequest",
        "io.jaio.Coroutine"};

    private List<RecordedEvent> record(ThrowingRunnable work) throws Exception {
        Path file = dir.resolve("jaio.jfr");
        try (Recording r = new Recording()) {
            for (String e : EVENTS) {
                r.enable(e).withThreshold(Duration.ZERO);
            }
            r.start();
            work.run();
            r.stop();
            r.dump(file);
        }
        return RecordingFile.readAllEvents(file);
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static RecordedEvent find(List<RecordedEvent> events, String type, Predicate<RecordedEvent> p) {
        for (RecordedEvent e : events) {
            if (e.getEventType().getName().equals(type) && p.test(e)) {
                return e;
            }
        }
        StringBuilder seen = new StringBuilder();
        for (RecordedEvent e : events) {
            if (e.getEventType().getName().equals(type)) {
                seen.append("\n").append(e);
            }
        }
        throw new AssertionError("no matching " + type + " among " + events.size() + " events; of that type:" + seen);
    }

    @Test
    void loopBottomHalfPoolAndCoroutineWorkShowAsEvents() throws Exception {
        List<RecordedEvent> events = record(() -> {
            try (AioContext ctx = AioContext.builder().name("jfr-loop").fdMonitor(FdMonitorKind.POLL).build()) {
                ctx.makeCurrent();
                drain(ctx);
                BottomHalf bh = ctx.newBottomHalf("jfr-bh", () -> { });
                bh.schedule();
                ctx.poll(false);
                bh.delete();
                int[] fired = new int[1];
                Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> fired[0]++);
                t.modNs(ctx.clockNs(ClockType.REALTIME) + 2_000_000);
                while (fired[0] == 0) { // bounded by the timer firing
                    ctx.poll(true);
                }
                long[] result = new long[1];
                ThreadPool.of(ctx).submitCallable(() -> 7, ret -> result[0] = ret);
                pollUntil(ctx, "the pool task", () -> result[0] == 7);
                Coroutine co = Coroutine.create(Coroutine::yield);
                Coroutine.enter(co);
                Coroutine.enter(co);
                assertTrue(co.isDone());
            }
        });
        RecordedEvent it = find(events, "io.jaio.LoopIteration", e -> e.getBoolean("blocking")
                && e.getLong("blockedNs") > 0 && "jfr-loop".equals(e.getString("context")));
        assertEquals(1, it.getInt("depth"));
        assertTrue(it.getDuration().toNanos() >= it.getLong("blockedNs"), "blocked longer than the iteration: " + it);
        find(events, "io.jaio.LoopIteration", e -> !e.getBoolean("blocking") && e.getBoolean("progress"));
        RecordedEvent bh = find(events, "io.jaio.BottomHalfRun", e -> "jfr-bh".equals(e.getString("name")));
        assertEquals("jfr-loop", bh.getString("context"));
        assertFalse(bh.getBoolean("oneShot"));
        find(events, "io.jaio.ThreadPoolWorker", e -> "spawn".equals(e.getString("action")) && e.getInt("threads") == 1);
        RecordedEvent task = find(events, "io.jaio.ThreadPoolRequest", e -> e.getLong("result") == 7);
        assertTrue(task.getLong("queueDelayNs") >= 0);
        assertEquals("jfr-loop", task.getString("context"));
        RecordedEvent co = find(events, "io.jaio.Coroutine", e -> e.getInt("enters") == 2);
        assertEquals(1, co.getInt("yields"));
        assertEquals("jfr-loop", co.getString("context"));
        assertTrue(co.getLong("lifetimeNs") > 0);
    }

    @Test
    void adaptivePollingGrowthAndIdleRemovalAndIoUringBatchesShowAsEvents() throws Exception {
        List<RecordedEvent> events = record(() -> {
            try (AioContext ctx = AioContext.builder().name("jfr-uring").fdMonitor(FdMonitorKind.IO_URING)
                    .pollParams(10_000_000_000L, 0, 0).build()) {
                Assumptions.assumeTrue(ctx.hasIoUring(), () -> "io_uring unavailable: " + ctx.ioUringUnavailableReason());
                int[] noPoll = Fds.pipe(); // keeps userspace polling going on io_uring, as in PollIdleRemovalTest
                ctx.setFdHandler(noPoll[0], () -> drainPipe(noPoll[0]), null, null, null);
                PollIdleRemovalTest.IdleReader r = new PollIdleRemovalTest.IdleReader(ctx);
                r.joinPollSet(ctx); // grows its poll time from 0 to 4 us
                ctx.aioNotify();
                ctx.poll(true); // arms the idle deadline
                ctx.advancePollClockForTest(7_100_000_000L);
                ctx.aioNotify();
                ctx.poll(true); // idle removal
                assertEquals(1, r.pollEnds);
                int[] done = new int[1];
                IoUring ring = IoUring.of(ctx);
                for (int i = 0; i < 8; i++) {
                    ring.nop(CqeHandler.of((res, flags) -> done[0]++));
                }
                pollUntil(ctx, "8 NOPs", () -> done[0] == 8);
                r.close(ctx);
                ctx.removeFdHandler(noPoll[0]);
                Fds.close(noPoll[0]);
                Fds.close(noPoll[1]);
            }
        });
        RecordedEvent grow = find(events, "io.jaio.PollTime", e -> "grow".equals(e.getString("change")));
        assertEquals("jfr-uring", grow.getString("context"));
        assertEquals(0, grow.getLong("oldPollNs"));
        assertEquals(4000, grow.getLong("pollNs"));
        RecordedEvent idle = find(events, "io.jaio.PollTime", e -> "idle-removal".equals(e.getString("change")));
        assertEquals(grow.getInt("fd"), idle.getInt("fd"));
        assertEquals(0, idle.getLong("pollNs"));
        find(events, "io.jaio.UringSubmit", e -> e.getInt("submitted") >= 8 && "jfr-uring".equals(e.getString("context")));
        int cqes = 0;
        for (RecordedEvent e : events) {
            if (e.getEventType().getName().equals("io.jaio.UringCompletions")) {
                cqes += e.getInt("cqes");
            }
        }
        assertTrue(cqes >= 8, "CQEs reaped in io.jaio.UringCompletions events: " + cqes);
    }
}
