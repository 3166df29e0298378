// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.UringTestSupport.Recorder;
import static io.jaio.testing.UringTestSupport.closeQuietly;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.uringContext;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.uring.Uring;
import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.block.FileIoEngines;
import io.jaio.Timer;
import io.jaio.TimerScale;
import io.jaio.testing.UringTestSupport;

/**
 * Misuse and failures around the submission API: a closed context, buffers refused before
 * anything is submitted, a handler submitted twice, errors the kernel finds (a closed fd, a
 * misaligned O_DIRECT buffer), a preparer that throws, and an fd closed under its own handler.
 * Skipped, with the reason printed, without io_uring.
 */
class IoUringFaultTest {
    private static final int AT_FDCWD = -100;

    @Test
    void submissionOnAClosedContextThrows() throws Exception {
        AioContext ctx = uringContext();
        IoUring ring = IoUring.of(ctx);
        ctx.close();
        Recorder h = new Recorder();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ring.nop(h));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> IoUring.of(ctx));
        assertThrows(IllegalStateException.class, () -> IoUring.of(ctx).addSqe(sqe -> sqe.opcode(Uring.OP_NOP), h));
        assertThrows(IllegalStateException.class, () -> FileIoEngines.ioUring(ctx));
        assertFalse(h.isInFlight());
    }


    @Test
    void badBuffersAreRefusedBeforeAnythingIsSubmitted() throws Exception {
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            Recorder h = new Recorder();
            MemorySegment path = a.allocateFrom("/");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ring.readv(0, a.allocate(IoUring.IOVEC_SIZE * 2, 8), 4, 0, h));
            assertTrue(e.getMessage().contains("iovec"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ring.statx(AT_FDCWD, path, 0, 0x7ff, a.allocate(128), h));
            assertTrue(e.getMessage().contains("128"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ring.read(0, MemorySegment.ofArray(new byte[16]), 0, h));
            assertTrue(e.getMessage().contains("heap"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ring.read(0, a.allocate(16), -5, h));
            assertTrue(e.getMessage().contains("-5"), e.getMessage());
            assertFalse(h.isInFlight());
            // Nothing half-submitted: the ring still round-trips, and only this one completion arrives.
            ring.nop(h);
            pollUntil(ctx, "NOP after refused submissions", () -> h.calls > 0);
            assertEquals(1, h.calls);
            assertEquals(0, h.res);
        }
    }


    @Test
    void handlerSubmittedTwiceWhileInFlightThrows() throws Exception {
        try (AioContext ctx = uringContext()) {
            Recorder h = new Recorder();
            IoUring.of(ctx).nop(h);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> IoUring.of(ctx).nop(h));
            assertTrue(e.getMessage().contains("in flight"), e.getMessage());
            pollUntil(ctx, "the first NOP", () -> h.calls > 0);
            assertFalse(ctx.poll(false));
            assertEquals(1, h.calls, "the refused second submission completed too");
        }
    }


    @Test
    void readOfAnFdThatIsNotOpenCompletesWithEbadf() throws Exception {
        int fd = 999_999;
        assertFalse(Fds.isOpen(fd));
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            Recorder h = new Recorder();
            IoUring.of(ctx).read(fd, a.allocate(16), 0, h);
            pollUntil(ctx, "read of a closed fd", () -> h.calls > 0);
            assertEquals(-Errno.EBADF, h.res);
        }
    }


    @Test
    void misalignedODirectBufferCompletesWithEinval() throws Exception {
        int fd = UringTestSupport.ODirect.openOrSkip("uring");
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment block = a.allocate(8192, 4096);
            Recorder ok = new Recorder();
            IoUring.of(ctx).read(fd, block.asSlice(0, 4096), 0, ok);
            pollUntil(ctx, "aligned O_DIRECT read", () -> ok.calls > 0);
            assertEquals(4096, ok.res, () -> "aligned O_DIRECT read: " + Errno.describe(-ok.res));
            Recorder bad = new Recorder();
            IoUring.of(ctx).read(fd, block.asSlice(1, 4096), 0, bad);
            pollUntil(ctx, "misaligned O_DIRECT read", () -> bad.calls > 0);
            assertEquals(-Errno.EINVAL, bad.res);
        } finally {
            UringTestSupport.ODirect.closeAndDelete(fd);
        }
    }


    @Test
    void fdClosedByItsOwnHandlerIsReportedAndDroppedInsteadOfRearmedForever() throws Exception {
        java.util.List<Throwable> errors = new java.util.ArrayList<>();
        int[] p = Fds.pipe();
        try (AioContext ctx = AioContext.builder().name("closed-fd").fdMonitor(FdMonitorKind.IO_URING)
                .errorHandler((c, source, e) -> errors.add(e)).build()) {
            org.junit.jupiter.api.Assumptions.assumeTrue(ctx.hasIoUring(), () -> "io_uring unavailable: " + ctx.ioUringUnavailableReason());
            int[] reads = {0};
            ctx.setFdHandler(p[0], () -> {
                reads[0]++;
                closeQuietly(p[0]); // closed without removing the handler: its poll is re-armed on a dead fd
            }, null, null, null);
            assertEquals(1, Fds.write(p[1], new byte[] {1}));
            pollUntil(ctx, "the read handler", () -> reads[0] > 0);
            // A timer ends the wait below. Each blocking poll must sleep until it fires; a poll
            // re-armed forever on the closed fd (-EBADF at once) would make every poll return at once.
            boolean[] fired = {false};
            Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.MS, () -> fired[0] = true);
            t.modNs(ctx.clockNs(ClockType.REALTIME) + 20_000_000L);
            int polls = 0;
            while (!fired[0] && polls < 1000) {
                ctx.poll(true);
                polls++;
            }
            t.delete();
            assertTrue(polls < 10, polls + " blocking polls returned before a 20 ms timer fired");
            assertEquals(1, reads[0]);
            assertEquals(1, errors.size(), "errors reported: " + errors);
            assertTrue(errors.get(0) instanceof ErrnoException e && e.errno() == Errno.EBADF, errors.toString());
            assertEquals(-1, ctx.fdHandlerPollNs(p[0]), "the handler of the closed fd is still registered");
        } finally {
            Fds.close(p[1]);
        }
    }


    @Test
    void aPreparerThatThrowsSubmitsNothingOfWhatItFilled() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment five = a.allocate(5).fill((byte) 7);
            Recorder h = new Recorder();
            for (Throwable failure : new Throwable[] {new IllegalStateException("boom"), new AssertionError("boom")}) {
                Throwable thrown = assertThrows(Throwable.class, () -> IoUring.of(ctx).addSqe(sqe -> {
                    sqe.opcode(Uring.OP_WRITE).fd(p[1]).addr(five).len(5); // a complete write, then a failure
                    if (failure instanceof Error err) {
                        throw err;
                    }
                    throw (RuntimeException) failure;
                }, h));
                assertEquals(failure, thrown);
                assertFalse(h.isInFlight());
            }
            Recorder nop = new Recorder();
            IoUring.of(ctx).nop(nop);
            pollUntil(ctx, "NOP after failed preparers", () -> nop.calls > 0);
            assertEquals(0, h.calls);
            assertEquals(null, Fds.read(p[0], 64), "an abandoned entry wrote to the pipe");
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }
}
