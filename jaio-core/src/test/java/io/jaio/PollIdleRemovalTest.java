// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.drainPipe;
import static io.jaio.testing.TestSupport.pollUntil;
import static io.jaio.testing.TestSupport.writeByte;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * QEMU spec 1.5: under the io_uring monitor, adaptive polling runs even when some handlers lack
 * io_poll (the CQ can be checked from userspace), and a poll handler whose io_poll has found
 * nothing for 7 s (POLL_IDLE_INTERVAL_NS) leaves the poll set, with io_poll_end and a final
 * io_poll, while its fd stays watched by the ring; with poll(2) it stays, since dropping it would
 * starve its fd. The 7 s pass on the poll clock's test seam
 * ({@link AioContext#advancePollClockForTest}), not in real time.
 *
 * <p>Each step is {@code aioNotify(); poll(true)}: the notification makes the blocking poll
 * return after one round of userspace polling (the poll handlers run once, then idle removal),
 * without sleeping.
 */
class PollIdleRemovalTest {
    /** Large enough that the handler's poll time grows on its first event, whatever the machine's load. */
    private static final long POLL_MAX_NS = 10_000_000_000L;

    /** A pipe reader with io_poll (never ready by itself) and io_poll_end, counting calls. Home thread. */
    static final class IdleReader {
        final int[] pipe;
        int reads;
        int polls;
        int pollEnds;

        IdleReader(AioContext ctx) throws ErrnoException {
            pipe = Fds.pipe();
            ctx.setFdHandler(pipe[0], () -> {
                reads++;
                drainPipe(pipe[0]);
            }, null, () -> {
                polls++;
                return false;
            }, () -> { });
            ctx.setFdPollBeginEnd(pipe[0], null, () -> pollEnds++);
        }

        /** Makes the handler ready through its fd, so it joins the poll set with a non-zero poll time. */
        void joinPollSet(AioContext ctx) {
            int before = reads;
            writeByte(pipe[1]);
            pollUntil(ctx, "the fd handler's read", () -> reads > before);
            // io_uring: the handler's POLL_ADD was re-armed and waits in the SQ, and pending SQEs
            // skip userspace polling (QEMU's need_wait); a non-blocking poll submits it.
            ctx.poll(false);
            assertTrue(ctx.fdHandlerPollNs(pipe[0]) > 0, "poll time did not grow: " + ctx.fdHandlerPollNs(pipe[0]));
        }

        void close(AioContext ctx) throws ErrnoException {
            ctx.removeFdHandler(pipe[0]);
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
        }
    }

    private static void pollOnceWithUserspacePolling(AioContext ctx) {
        ctx.aioNotify();
        ctx.poll(true);
    }

    @Test
    void idlePollHandlerLeavesThePollSetAfter7sUnderIoUringAndItsFdStaysWatched() throws Exception {
        try (AioContext ctx = AioContext.builder().name("idle-uring").fdMonitor(FdMonitorKind.IO_URING)
                .pollParams(POLL_MAX_NS, 0, 0).build()) {
            if (!ctx.hasIoUring()) {
                System.out.println("SKIPPED: io_uring unavailable: " + ctx.ioUringUnavailableReason());
                Assumptions.assumeTrue(false, "io_uring unavailable: " + ctx.ioUringUnavailableReason());
            }
            int[] noPoll = Fds.pipe(); // a handler without io_poll does not stop userspace polling on io_uring
            ctx.setFdHandler(noPoll[0], () -> drainPipe(noPoll[0]), null, null, null);
            IdleReader a = new IdleReader(ctx);
            try {
                a.joinPollSet(ctx);
                pollOnceWithUserspacePolling(ctx); // polls a; removal arms a's idle deadline at now + 7 s
                assertTrue(a.polls > 0, "no userspace polling with a handler lacking io_poll registered");

                ctx.advancePollClockForTest(6_900_000_000L);
                int polls = a.polls;
                pollOnceWithUserspacePolling(ctx);
                assertTrue(a.polls > polls, "left the poll set before 7 s");
                assertEquals(0, a.pollEnds);

                ctx.advancePollClockForTest(200_000_000L); // 7.1 s after the deadline was armed
                polls = a.polls;
                pollOnceWithUserspacePolling(ctx);
                assertEquals(1, a.pollEnds, "io_poll_end when the idle handler left the poll set");
                assertTrue(a.polls > polls, "no final io_poll after io_poll_end");

                polls = a.polls;
                for (int i = 0; i < 3; i++) {
                    pollOnceWithUserspacePolling(ctx);
                }
                assertEquals(polls, a.polls, "an idle handler removed from the poll set was still polled");

                a.joinPollSet(ctx); // its POLL_ADD still watches the fd: an event brings it back
                assertEquals(2, a.reads);
                polls = a.polls;
                pollOnceWithUserspacePolling(ctx);
                assertTrue(a.polls > polls, "the handler did not rejoin the poll set after an event");
            } finally {
                a.close(ctx);
                ctx.removeFdHandler(noPoll[0]);
                Fds.close(noPoll[0]);
                Fds.close(noPoll[1]);
            }
        }
    }

    @Test
    void idlePollHandlerStaysInThePollSetUnderPoll() throws Exception {
        try (AioContext ctx = AioContext.builder().name("idle-poll").fdMonitor(FdMonitorKind.POLL)
                .pollParams(POLL_MAX_NS, 0, 0).build()) {
            IdleReader a = new IdleReader(ctx);
            try {
                a.joinPollSet(ctx);
                pollOnceWithUserspacePolling(ctx);
                ctx.advancePollClockForTest(60_000_000_000L);
                for (int i = 0; i < 3; i++) {
                    int polls = a.polls;
                    pollOnceWithUserspacePolling(ctx);
                    assertTrue(a.polls > polls, "a poll handler was dropped under poll(2), which would starve its fd");
                }
                assertEquals(0, a.pollEnds);
            } finally {
                a.close(ctx);
            }
        }
    }
}
