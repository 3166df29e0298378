// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Work queued by the home thread itself between the moment poll() computed its timeout and the
 * moment it blocks (io_poll and io_poll_end callbacks run there) must still wake it. A
 * home-thread schedule normally skips the wake-up, since the thread is about to recompute its
 * timeout; in that window it cannot. Without the fix this test blocks forever (the JUnit
 * timeout fails it).
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class WakeWindowTest {
    @Parameter
    FdMonitorKind kind;

    @Test
    void bottomHalfScheduledFromIoPollEndWakesTheBlockingPoll() throws Exception {
        try (AioContext ctx = AioContext.builder().name("window-" + kind).fdMonitor(kind)
                .pollParams(1_000_000_000L, 0, 0).build();
                EventNotifier n = EventNotifier.create(false)) {
            int[] ran = new int[1];
            BottomHalf bh = ctx.newBottomHalf("from-io_poll_end", () -> ran[0]++);
            boolean[] armed = new boolean[1];
            ctx.setEventNotifier(n, n::testAndClear, () -> false, () -> { });
            ctx.setFdPollBeginEnd(n.fd(), () -> { }, () -> {
                if (armed[0]) {
                    armed[0] = false;
                    bh.schedule(); // from the home thread, after the timeout was computed
                }
            });
            n.set();
            for (int i = 0; i < 10 && ctx.fdHandlerPollNs(n.fd()) == 0; i++) {
                ctx.poll(true); // dispatches the handler: it joins the poll set and its poll time grows
            }
            assertTrue(ctx.fdHandlerPollNs(n.fd()) > 0, "the handler should poll now");
            ctx.poll(false); // io_uring: submit the re-armed POLL_ADD, so the next poll may spin first
            armed[0] = true;
            // Polls (finding nothing), then leaves poll mode to block: io_poll_end schedules the BH.
            boolean progress = false;
            for (int i = 0; i < 3 && ran[0] == 0; i++) {
                progress |= ctx.poll(true);
            }
            assertEquals(1, ran[0], "the BH scheduled from io_poll_end ran");
            assertTrue(progress);
            ctx.removeEventNotifier(n);
            bh.delete();
        }
    }
}
