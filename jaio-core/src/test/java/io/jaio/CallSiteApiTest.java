// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.drain;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The call-site forms of the API: Duration and Instant deadlines on timers and clocks, and fd
 * handlers given as an {@link FdHandler} record. Deadlines are checked on the VIRTUAL clock
 * (which moves only when the test moves it) and through the deadline the timer stores, never
 * through how long a wait took.
 */
class CallSiteApiTest {
    private static AioContext newContext() throws ErrnoException {
        AioContext ctx = AioContext.builder().name("call-site").timerSlack(Duration.ofNanos(1)).build();
        ctx.setClockEnabled(ClockType.VIRTUAL, true);
        return ctx;
    }

    @Test
    void modInArmsTheTimerThatFarFromNowOnItsClock() throws Exception {
        try (AioContext ctx = newContext()) {
            List<String> fired = new ArrayList<>();
            Timer t = ctx.newTimer(ClockType.VIRTUAL, () -> fired.add("t"));
            assertNull(t.remaining(), "not armed");
            long now = ctx.clockNs(ClockType.VIRTUAL);
            t.modIn(Duration.ofMillis(10));
            assertEquals(now + 10_000_000, t.expireTimeNs());
            assertEquals(Duration.ofMillis(10), t.remaining());
            ctx.advanceVirtualClock(Duration.ofMillis(9));
            drain(ctx);
            assertTrue(fired.isEmpty(), "not due after 9 ms");
            assertEquals(Duration.ofMillis(1), t.remaining());
            ctx.advanceVirtualClock(Duration.ofMillis(1));
            assertTrue(ctx.poll(false));
            assertEquals(List.of("t"), fired);
            assertFalse(t.isPending());
        }
    }

    @Test
    void modInIgnoresTheTimersScale() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer ms = ctx.newTimer(ClockType.VIRTUAL, TimerScale.MS, () -> { });
            long now = ctx.clockNs(ClockType.VIRTUAL);
            ms.modIn(Duration.ofNanos(1500));
            assertEquals(now + 1500, ms.expireTimeNs(), "a Duration is exact whatever the scale");
            ms.delete();
        }
    }

    @Test
    void modAnticipateInOnlyMovesTheDeadlineEarlier() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer t = ctx.newTimer(ClockType.VIRTUAL, () -> { });
            long now = ctx.clockNs(ClockType.VIRTUAL);
            t.modAnticipateIn(Duration.ofSeconds(2));
            t.modAnticipateIn(Duration.ofSeconds(3));
            assertEquals(now + 2_000_000_000L, t.expireTimeNs());
            t.modAnticipateIn(Duration.ofSeconds(1));
            assertEquals(now + 1_000_000_000L, t.expireTimeNs());
            t.delete();
        }
    }

    @Test
    void aRealtimeTimerInTenMillisecondsFires() throws Exception {
        try (AioContext ctx = newContext()) {
            List<String> fired = new ArrayList<>();
            Timer t = ctx.newTimer(ClockType.REALTIME, () -> fired.add("due"));
            t.modIn(Duration.ofMillis(10));
            while (fired.isEmpty()) {
                ctx.poll(true); // blocks until the deadline
            }
            assertFalse(t.isPending(), "disarmed before its callback ran");
        }
    }

    @Test
    void modAtTakesAWallClockInstantOnHostTimersOnly() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer host = ctx.newTimer(ClockType.HOST, () -> { });
            Instant at = Instant.ofEpochSecond(4_000_000_000L, 123);
            host.modAt(at);
            assertEquals(4_000_000_000L * 1_000_000_000L + 123, host.expireTimeNs());
            host.delete();
            Timer rt = ctx.newTimer(ClockType.REALTIME, () -> { });
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rt.modAt(at));
            assertTrue(e.getMessage().contains("REALTIME") && e.getMessage().contains("expected a HOST timer"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> host.modAt(Instant.ofEpochSecond(-1)));
        }
    }

    @Test
    void negativeDurationsAreRefusedWithTheValueInTheMessage() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer t = ctx.newTimer(ClockType.VIRTUAL, () -> { });
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.modIn(Duration.ofMillis(-5)));
            assertEquals("delay=PT-0.005S (expected >= 0)", e.getMessage());
            assertFalse(t.isPending());
            assertThrows(IllegalArgumentException.class, () -> ctx.advanceVirtualClock(Duration.ofNanos(-1)));
            assertThrows(IllegalArgumentException.class, () -> AioContext.builder().timerSlack(Duration.ofNanos(-1)));
        }
    }

    @Test
    void hugeDurationsSaturateInsteadOfWrapping() throws Exception {
        try (AioContext ctx = newContext()) {
            Timer t = ctx.newTimer(ClockType.VIRTUAL, () -> { });
            t.modIn(Duration.ofSeconds(Long.MAX_VALUE));
            assertEquals(Long.MAX_VALUE, t.expireTimeNs());
            t.delete();
        }
    }

    @Test
    void fdHandlerRecordRegistersReadAndWriteCallbacks() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] p = Fds.pipe();
            try {
                List<String> seen = new ArrayList<>();
                MemorySegment buf = Arena.ofAuto().allocate(16);
                ctx.setFdHandler(p[0], FdHandler.read(() -> {
                    seen.add("read");
                    assertEquals(1, Fds.read(p[0], buf), "read(fd, buf) returns the count");
                }));
                assertFalse(ctx.poll(false), "nothing written yet");
                Fds.write(p[1], new byte[] {7});
                assertTrue(ctx.poll(false));
                assertEquals(List.of("read"), seen);

                ctx.setFdHandler(p[1], FdHandler.write(() -> seen.add("write")));
                assertTrue(ctx.poll(false), "an empty pipe is writable");
                assertEquals(List.of("read", "write"), seen);

                ctx.setFdHandler(p[1], FdHandler.NONE);
                seen.clear();
                drain(ctx);
                assertEquals(List.of(), seen, "NONE removed the write handler");
                ctx.removeFdHandler(p[0]);
            } finally {
                Fds.close(p[0]);
                Fds.close(p[1]);
            }
        }
    }

    @Test
    void fdHandlerWithersReplaceOneComponent() {
        Runnable r = () -> { };
        Runnable w = () -> { };
        FdHandler h = FdHandler.read(r).withWrite(w);
        assertEquals(new FdHandler(r, w, null, null), h);
        assertEquals(FdHandler.write(w), h.withRead(null));
        assertTrue(h.withRead(null).withWrite(null).isEmpty());
        assertEquals(h, h.withPoll(() -> true, r).withoutPoll());
        assertThrows(NullPointerException.class, () -> FdHandler.read(null));
        assertThrows(NullPointerException.class, () -> h.withPoll(null, r));
    }

    @Test
    void aClosedFdIsACheckedErrnoException() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] p = Fds.pipe();
            Fds.close(p[0]);
            Fds.close(p[1]);
            ErrnoException e = assertThrows(ErrnoException.class, () -> ctx.setFdHandler(p[0], FdHandler.read(() -> { })));
            assertEquals("EBADF", e.errnoName());
        }
    }
}
