// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.UringTestSupport.pollUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import io.jaio.internal.uring.Uring;
import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.EventNotifier;
import io.jaio.FdMonitorKind;
import io.jaio.block.FileIoEngines;
import io.jaio.testing.UringTestSupport;

/**
 * A context asked for io_uring that may not use it (Builder.allowIoUring(false), the same path as
 * a kernel that refuses io_uring_setup) runs on poll, says why, and refuses every io_uring entry
 * point with an IllegalStateException that names the context and the reason.
 */
class IoUringFallbackTest {
    private static AioContext fallbackContext() throws ErrnoException {
        return AioContext.builder().name("no-uring").allowIoUring(false).fdMonitor(FdMonitorKind.IO_URING).build();
    }

    private static void assertRefused(String what, Executable call) {
        IllegalStateException e = assertThrows(IllegalStateException.class, call, what);
        String m = e.getMessage();
        assertTrue(m.contains("does not run on io_uring"), what + ": " + m);
        assertTrue(m.contains("no-uring"), what + " does not name the context: " + m);
        assertTrue(m.contains("allowIoUring(false)"), what + " does not say why: " + m);
    }

    @Test
    void disallowedIoUringGivesAPollContextWithAReason() throws Exception {
        try (AioContext ctx = fallbackContext()) {
            assertFalse(ctx.hasIoUring());
            assertNotNull(ctx.ioUringUnavailableReason());
            assertTrue(ctx.ioUringUnavailableReason().contains("allowIoUring(false)"), ctx.ioUringUnavailableReason());
            assertEquals("poll", ctx.fdMonitorName());
        }
    }

    @Test
    void everyIoUringEntryPointThrowsIllegalStateWithTheReason() throws Exception {
        try (AioContext ctx = fallbackContext()) {
            UringTestSupport.Recorder h = new UringTestSupport.Recorder();
            assertRefused("addSqe", () -> IoUring.of(ctx).addSqe(sqe -> sqe.opcode(Uring.OP_NOP), h));
            assertRefused("ioUring", () -> IoUring.of(ctx));
            assertRefused("FileIoEngines.ioUring", () -> FileIoEngines.ioUring(ctx));
            assertFalse(h.isInFlight());
            assertEquals(0, h.calls);
            assertEquals("threads", FileIoEngines.best(ctx).name());
        }
    }

    @Test
    void theFallbackContextStillRunsBottomHalvesAndEventNotifiers() throws Exception {
        try (AioContext ctx = fallbackContext(); EventNotifier n = EventNotifier.create(false)) {
            int[] bh = {0};
            int[] reads = {0};
            ctx.scheduleOneShot("fallback-bh", () -> bh[0]++);
            ctx.setEventNotifier(n, () -> {
                if (n.testAndClear()) {
                    reads[0]++;
                }
            }, null, null);
            try {
                n.set();
                pollUntil(ctx, "bottom half and notifier", () -> bh[0] == 1 && reads[0] == 1);
            } finally {
                ctx.removeEventNotifier(n);
            }
            assertEquals(1, bh[0]);
            assertEquals(1, reads[0]);
        }
    }

    @Test
    void anIoUringContextHasNoReason() throws Exception {
        try (AioContext ctx = UringTestSupport.uringContext()) {
            assertTrue(ctx.hasIoUring());
            assertNull(ctx.ioUringUnavailableReason());
            assertEquals("io_uring", ctx.fdMonitorName());
            assertEquals("io_uring", FileIoEngines.best(ctx).name());
        }
    }

    @Test
    void pollAndEpollContextsDoNotOfferIoUring() throws Exception {
        for (FdMonitorKind kind : new FdMonitorKind[] {FdMonitorKind.POLL, FdMonitorKind.EPOLL}) {
            try (AioContext ctx = AioContext.builder().name("no-uring").fdMonitor(kind).build()) {
                assertFalse(ctx.hasIoUring(), kind.toString());
                String why = ctx.ioUringUnavailableReason();
                assertNotNull(why, kind + ": no reason given");
                assertTrue(why.contains(kind.toString()), kind + ": " + why);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> IoUring.of(ctx), kind.toString());
                assertTrue(e.getMessage().contains(why), kind + ": " + e.getMessage());
            }
        }
    }
}
