// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.UringTestSupport.closeQuietly;
import static io.jaio.testing.UringTestSupport.openFdCount;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.uringContext;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.jaio.internal.sys.Errno;
import io.jaio.AioContext;
import io.jaio.EventNotifier;
import io.jaio.Fds;
import io.jaio.Sockets;
import io.jaio.testing.UringTestSupport;

/**
 * Multishot requests through {@link CqeHandler}: a multishot POLL_ADD on an eventfd and a
 * multishot accept on a loopback listener. The handler runs once per CQE, stays in flight (and
 * cannot be resubmitted) while CQEs carry IORING_CQE_F_MORE, and is released by the final CQE:
 * after a cancel, or dropped without a call when the context closes. Skipped, with the reason
 * printed, without io_uring.
 */
class IoUringMultishotTest {
    private static final int POLLIN = 1;
    private static final int SOCK_CLOEXEC = 0x80000;

    /** Records every CQE: res and flags, and whether the handler was in flight while it ran. */
    static class Log extends CqeHandler {
        final List<int[]> cqes = new ArrayList<>();
        boolean inFlightWhileMore = true;

        @Override
        protected void onCompletion(int res, int flags) {
            cqes.add(new int[] {res, flags});
            if ((flags & CQE_F_MORE) != 0) {
                inFlightWhileMore &= isInFlight();
            }
        }

        int count() {
            return cqes.size();
        }

        int res(int i) {
            return cqes.get(i)[0];
        }

        boolean more(int i) {
            return (cqes.get(i)[1] & CQE_F_MORE) != 0;
        }
    }

    @Test
    void multishotPollCallsTheHandlerForEveryEventUntilCancelled() throws Exception {
        try (AioContext ctx = uringContext(); EventNotifier n = EventNotifier.create(false)) {
            Log h = new Log();
            IoUring.of(ctx).pollAddMultishot(n.fd(), POLLIN, h);
            ctx.poll(false);
            assertEquals(0, h.count(), "a CQE before the eventfd was set");
            for (int k = 1; k <= 5; k++) {
                n.set();
                int want = k;
                pollUntil(ctx, "poll event " + k, () -> h.count() >= want);
                assertEquals(k, h.count(), "one CQE per event");
                assertTrue((h.res(k - 1) & POLLIN) != 0, "res=" + h.res(k - 1));
                assertTrue(h.more(k - 1), "CQE " + k + " lacks IORING_CQE_F_MORE");
                assertTrue(h.isInFlight(), "handler released while the multishot poll goes on");
                assertTrue(n.testAndClear());
            }
            assertTrue(h.inFlightWhileMore, "isInFlight() was false inside a CQE with F_MORE");
            assertThrows(IllegalStateException.class, () -> IoUring.of(ctx).nop(h), "resubmitted while still in flight");

            UringTestSupport.Recorder rm = new UringTestSupport.Recorder();
            IoUring.of(ctx).pollRemove(h, rm);
            pollUntil(ctx, "POLL_REMOVE of the multishot poll", () -> rm.calls > 0 && !h.isInFlight());
            assertEquals(0, rm.res);
            int last = h.count() - 1;
            assertEquals(-Errno.ECANCELED, h.res(last));
            assertFalse(h.more(last), "the final CQE carries F_MORE");
            assertEquals(6, h.count());

            n.set(); // no request any more: nothing arrives
            for (int i = 0; i < 3; i++) {
                ctx.poll(false);
            }
            assertEquals(6, h.count());
            IoUring.of(ctx).nop(h); // released: reusable
            pollUntil(ctx, "NOP on the reused handler", () -> h.count() == 7);
            assertEquals(0, h.res(6));
            assertFalse(h.more(6));
        }
    }

    @Test
    void multishotAcceptDeliversEveryPendingConnectionThenEndsOnCancel() throws Exception {
        int listener = Sockets.listenTcp("127.0.0.1", 0, 16);
        List<Integer> clients = new ArrayList<>();
        List<Integer> accepted = new ArrayList<>();
        try (AioContext ctx = uringContext()) {
            int port = Sockets.localPort(listener);
            for (int i = 0; i < 3; i++) { // complete in the backlog, before anything accepts
                clients.add(Sockets.connectTcp("127.0.0.1", port));
            }
            Log h = new Log() {
                @Override
                protected void onCompletion(int res, int flags) {
                    super.onCompletion(res, flags);
                    if (res >= 0) {
                        accepted.add(res);
                    }
                }
            };
            IoUring.of(ctx).acceptMultishot(listener, SOCK_CLOEXEC, h);
            // The kernel's accept loop posts a CQE per pending connection during the submitting
            // io_uring_enter, so one poll() reaps three CQEs of one handler and queues it three times.
            assertTrue(ctx.poll(true));
            assertEquals(3, h.count(), "CQEs of the 3 pending connections delivered by one poll()");
            for (int i = 0; i < 3; i++) {
                assertTrue(h.res(i) >= 0, "accept " + i + ": " + h.res(i));
                assertTrue(h.more(i), "accept CQE " + i + " lacks F_MORE");
            }
            assertTrue(h.isInFlight());

            clients.add(Sockets.connectTcp("127.0.0.1", port)); // a connection after the request started
            pollUntil(ctx, "4th connection accepted", () -> h.count() >= 4);
            assertTrue(h.res(3) >= 0 && h.more(3), "res=" + h.res(3));
            assertEquals(4, new HashSet<>(accepted).size(), "accepted fds not distinct: " + accepted);
            for (int fd : accepted) {
                assertTrue(Fds.isOpen(fd));
            }

            UringTestSupport.Recorder c = new UringTestSupport.Recorder();
            IoUring.of(ctx).cancel(h, c);
            pollUntil(ctx, "cancel of the multishot accept", () -> c.calls > 0 && !h.isInFlight());
            assertEquals(0, c.res);
            assertEquals(5, h.count());
            assertEquals(-Errno.ECANCELED, h.res(4));
            assertFalse(h.more(4));
            assertTrue(h.inFlightWhileMore);
        } finally {
            for (int fd : accepted) {
                closeQuietly(fd);
            }
            for (int fd : clients) {
                closeQuietly(fd);
            }
            closeQuietly(listener);
        }
    }

    @Test
    void cqesOfAMultishotRequestKeepFifoOrderWithOtherCompletions() throws Exception {
        try (AioContext ctx = uringContext(); EventNotifier n = EventNotifier.create(false)) {
            List<String> order = new ArrayList<>();
            CqeHandler poll = CqeHandler.of((res, flags) -> order.add(res < 0 ? "poll-end" : "poll"));
            CqeHandler nop1 = CqeHandler.of((res, flags) -> order.add("nop1"));
            CqeHandler nop2 = CqeHandler.of((res, flags) -> order.add("nop2"));
            IoUring.of(ctx).pollAddMultishot(n.fd(), POLLIN, poll);
            ctx.poll(false);
            n.set();
            pollUntil(ctx, "first poll CQE", () -> order.size() == 1);
            n.testAndClear();
            IoUring.of(ctx).nop(nop1);
            pollUntil(ctx, "nop1", () -> order.size() == 2);
            n.set();
            pollUntil(ctx, "second poll CQE", () -> order.size() == 3);
            IoUring.of(ctx).nop(nop2);
            IoUring.of(ctx).cancel(poll, CqeHandler.of((res, flags) -> order.add("cancel")));
            pollUntil(ctx, "nop2, cancel and the final poll CQE", () -> order.size() == 6);
            assertEquals(List.of("poll", "nop1", "poll"), order.subList(0, 3));
            assertEquals(new HashSet<>(List.of("nop2", "cancel", "poll-end")), new HashSet<>(order.subList(3, 6)));
            assertEquals("nop2", order.get(3), "order: " + order); // submitted first, completed inline
            assertFalse(poll.isInFlight());
        }
    }

    @Test
    void closeDropsLiveMultishotRequestsWithoutCallingThemOrLeakingFds() throws Exception {
        closeWithMultishotsInFlight(); // warm-up
        long before = openFdCount();
        for (int round = 0; round < 5; round++) {
            closeWithMultishotsInFlight();
        }
        assertEquals(before, openFdCount(), "open fds after 5 contexts closed with multishot requests in flight");
    }

    private static void closeWithMultishotsInFlight() throws Exception {
        int listener = Sockets.listenTcp("127.0.0.1", 0, 4);
        try (EventNotifier n = EventNotifier.create(false)) {
            AioContext ctx = uringContext();
            Log poll = new Log();
            Log accept = new Log();
            IoUring.of(ctx).pollAddMultishot(n.fd(), POLLIN, poll);
            IoUring.of(ctx).acceptMultishot(listener, SOCK_CLOEXEC, accept);
            n.set();
            pollUntil(ctx, "a first poll CQE", () -> poll.count() > 0);
            assertTrue(poll.more(0));
            n.set(); // another event, reaped or not when close() runs: either way never delivered
            int calls = poll.count();
            ctx.close();
            assertEquals(calls, poll.count(), "poll handler called by close()");
            assertEquals(0, accept.count(), "accept handler called by close()");
            assertFalse(poll.isInFlight());
            assertFalse(accept.isInFlight());
        } finally {
            closeQuietly(listener);
        }
    }
}
