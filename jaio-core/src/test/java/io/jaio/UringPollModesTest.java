// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.uringContext;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.uring.Uring;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import io.jaio.testing.UringTestSupport;

/**
 * The experiment behind the io_uring fd monitor's one-shot POLL_ADD (see UringFdMonitor's
 * javadoc): what the kernel does with the alternatives when a handler reads only part of what is
 * readable. A pipe gets 3 bytes and the CQE handler reads 1 byte per CQE, as a level-triggered fd
 * handler that drains partially would. "No further CQE" is established with a barrier, not a
 * timeout: NOP round trips through the same ring, each an io_uring_enter that runs the ring's
 * pending task work (where a multishot poll would post its next CQE).
 *
 * <p>Findings on Linux 6.18: IORING_POLL_ADD_LEVEL is refused with -EINVAL, alone or with
 * IORING_POLL_ADD_MULTI (the kernel disabled it at prep time for 6.0 and never re-enabled it);
 * a multishot poll is edge-triggered and posts one CQE for the 3 bytes, so a partial reader
 * would wait forever with 2 bytes readable; the one-shot POLL_ADD re-armed after each CQE
 * delivers one CQE per byte. If a later kernel accepts IORING_POLL_ADD_LEVEL, the first test
 * fails on purpose: re-run the evaluation before relying on it. Skipped, with the reason
 * printed, without io_uring.
 */
class UringPollModesTest {
    private static final int POLLIN = 1;
    /** NOP round trips that make up the "nothing more is coming" barrier. */
    private static final int BARRIER_ROUND_TRIPS = 5;

    /** Records CQEs; reads 1 byte from {@code fd} per readiness CQE; optionally re-arms a one-shot poll. */
    static final class PartialReader extends CqeHandler {
        final AioContext ctx;
        final int fd;
        final int pollFlags;
        final boolean rearm;
        int cqes;
        int lastRes = Integer.MIN_VALUE;
        int lastFlags;

        PartialReader(AioContext ctx, int fd, int pollFlags, boolean rearm) {
            this.ctx = ctx;
            this.fd = fd;
            this.pollFlags = pollFlags;
            this.rearm = rearm;
        }

        void arm() {
            IoUring.of(ctx).addSqe(sqe -> sqe.opcode(Uring.OP_POLL_ADD).fd(fd).opFlags(POLLIN).len(pollFlags), this);
        }

        @Override
        protected void onCompletion(int res, int flags) {
            cqes++;
            lastRes = res;
            lastFlags = flags;
            if (res > 0) {
                try {
                    assertNotNull(Fds.read(fd, 1), "a readiness CQE for an fd with nothing to read");
                } catch (ErrnoException e) {
                    throw new AssertionError(e);
                }
                if (rearm && (flags & CQE_F_MORE) == 0) {
                    arm();
                }
            }
        }
    }

    private static void barrier(AioContext ctx) {
        for (int k = 0; k < BARRIER_ROUND_TRIPS; k++) {
            UringTestSupport.Recorder nop = new UringTestSupport.Recorder();
            IoUring.of(ctx).nop(nop);
            pollUntil(ctx, "NOP barrier " + k, () -> nop.calls > 0);
        }
    }

    private static void cancelIfLive(AioContext ctx, CqeHandler h) {
        if (h.isInFlight()) {
            UringTestSupport.Recorder c = new UringTestSupport.Recorder();
            IoUring.of(ctx).cancel(h, c);
            pollUntil(ctx, "cancel", () -> c.calls > 0 && !h.isInFlight());
        }
    }

    @Test
    void levelTriggeredPollAddIsRefusedByTheKernelAloneAndWithMultishot() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext()) {
            for (int flags : new int[] {Uring.POLL_ADD_LEVEL, Uring.POLL_ADD_LEVEL | Uring.POLL_ADD_MULTI}) {
                PartialReader h = new PartialReader(ctx, p[0], flags, false);
                h.arm();
                pollUntil(ctx, "POLL_ADD with flags " + flags, () -> h.cqes > 0);
                cancelIfLive(ctx, h);
                assertEquals(-Errno.EINVAL, h.lastRes, "IORING_POLL_ADD_LEVEL (flags=" + flags + ") is accepted by this kernel: "
                        + "re-evaluate level-triggered multishot poll for UringFdMonitor before relying on it");
            }
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void multishotPollIsEdgeTriggeredAndLeavesAPartialReaderWaiting() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext()) {
            PartialReader h = new PartialReader(ctx, p[0], Uring.POLL_ADD_MULTI, false);
            h.arm();
            barrier(ctx);
            assertEquals(0, h.cqes);
            assertEquals(3, Fds.write(p[1], new byte[] {1, 2, 3}));
            pollUntil(ctx, "first multishot CQE", () -> h.cqes > 0);
            barrier(ctx);
            assertEquals(1, h.cqes, "a multishot poll delivered again while the pipe stayed readable");
            assertTrue((h.lastFlags & CqeHandler.CQE_F_MORE) != 0, "the multishot poll ended: flags=" + h.lastFlags);
            byte[] left = Fds.read(p[0], 8);
            assertEquals(2, left == null ? 0 : left.length, "bytes left readable without a CQE");
            cancelIfLive(ctx, h);
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void oneShotPollReArmedAfterEachCqeDeliversUntilThePipeIsDrained() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext()) {
            PartialReader h = new PartialReader(ctx, p[0], 0, true);
            h.arm();
            assertEquals(3, Fds.write(p[1], new byte[] {1, 2, 3}));
            pollUntil(ctx, "3 one-shot CQEs", () -> h.cqes == 3);
            barrier(ctx);
            assertEquals(3, h.cqes, "a CQE after the pipe was drained");
            assertTrue(h.isInFlight(), "the re-armed poll is waiting");
            cancelIfLive(ctx, h);
            assertEquals(-Errno.ECANCELED, h.lastRes);
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }
}
