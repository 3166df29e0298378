// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.drainPipe;
import static io.jaio.testing.TestSupport.joinOrDump;
import static io.jaio.testing.TestSupport.openFdCount;
import static io.jaio.testing.TestSupport.writeByte;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Failures and misuse, on every fd monitor: fds closed under the loop, invalid fds and
 * parameters, the wrong thread, throwing callbacks, closed contexts and leak reports. After
 * each fault the context must still run a bottom half.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class FaultTest {
    private static final int EBADF = 9;

    @Parameter
    FdMonitorKind kind;

    /** Records what the context's error handler receives. */
    private static final class Errors implements CallbackErrorHandler {
        final List<String> sources = new ArrayList<>();
        final List<Throwable> errors = new ArrayList<>();

        @Override
        public void onCallbackError(AioContext context, String source, Throwable error) {
            sources.add(source);
            errors.add(error);
        }
    }

    private final Errors errors = new Errors();

    private AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("fault-" + kind).fdMonitor(kind).errorHandler(errors).build();
    }

    private static void assertStillRunsBottomHalves(AioContext ctx) {
        int[] runs = new int[1];
        ctx.scheduleOneShot("still-alive", () -> runs[0]++);
        assertTrue(ctx.poll(true));
        assertEquals(1, runs[0]);
    }

    private static <T extends Throwable> T assertThrowsNaming(Class<T> type, Executable call, String... parts) {
        T e = assertThrows(type, call);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' does not name " + p);
        }
        return e;
    }

    @Test
    void fdClosedWhileRegisteredIsReportedOrDroppedAndTheContextStaysUsable() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] p = Fds.pipe();
            int[] runs = new int[1];
            ctx.setFdHandler(p[0], () -> runs[0]++, null, null, null);
            drain(ctx);
            Fds.close(p[0]);
            assertFalse(ctx.poll(false));
            if (kind == FdMonitorKind.POLL) {
                // poll(2) says POLLNVAL: the handler is reported and removed.
                assertEquals(List.of("fd handler of fd " + p[0]), errors.sources);
                ErrnoException e = assertInstanceOf(ErrnoException.class, errors.errors.get(0));
                assertEquals(EBADF, e.errno());
                assertEquals("EBADF", e.errnoName());
                assertTrue(e.getMessage().contains("fd=" + p[0]), e.getMessage());
                assertEquals(-1, ctx.fdHandlerPollNs(p[0]), "the handler of the closed fd was removed");
            } else {
                assertEquals(List.of(), errors.sources, "epoll: closing the fd removed it from the interest list");
            }
            assertEquals(0, runs[0]);
            ctx.removeFdHandler(p[0]); // tolerated either way
            assertFalse(ctx.poll(false));
            assertStillRunsBottomHalves(ctx);
            Fds.close(p[1]);
        }
    }

    @Test
    void invalidFdsAreRefusedNamingTheFd() throws Exception {
        try (AioContext ctx = newContext()) {
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setFdHandler(-1, () -> { }, null, null, null), "fd=-1");
            int neverOpened = 987_654;
            assertFalse(Fds.isOpen(neverOpened));
            ErrnoException e = assertThrowsNaming(ErrnoException.class,
                    () -> ctx.setFdHandler(neverOpened, () -> { }, null, null, null), String.valueOf(neverOpened));
            assertEquals(EBADF, e.errno());
            assertEquals("EBADF", e.errnoName());
            int[] p = Fds.pipe();
            Fds.close(p[0]);
            e = assertThrows(ErrnoException.class, () -> ctx.setFdHandler(p[0], () -> { }, null, null, null));
            assertEquals(EBADF, e.errno());
            Fds.close(p[1]);
            assertFalse(ctx.poll(false));
            assertStillRunsBottomHalves(ctx);
        }
    }

    @Test
    void homeThreadOnlyCallsFromAnotherThreadFailNamingBothThreads() throws Exception {
        try (AioContext ctx = newContext()) {
            String home = Thread.currentThread().getName();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Throwable> refused = new ArrayList<>();
            Thread foreign = Thread.ofPlatform().name("foreign-poller").start(() -> {
                try {
                    refused.add(assertThrows(IllegalStateException.class, () -> ctx.poll(false)));
                    refused.add(assertThrows(IllegalStateException.class, () -> ctx.poll(true)));
                    refused.add(assertThrows(IllegalStateException.class, ctx::close));
                    refused.add(assertThrows(IllegalStateException.class, ctx::makeCurrent));
                    refused.add(assertThrows(IllegalStateException.class, () -> ctx.fdHandlerPollNs(0)));
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            joinOrDump(foreign);
            assertNull(failure.get());
            assertEquals(5, refused.size());
            for (Throwable t : refused) {
                assertTrue(t.getMessage().contains("'foreign-poller'") && t.getMessage().contains("'" + home + "'"), t.getMessage());
            }
            assertFalse(ctx.isClosed());
            assertStillRunsBottomHalves(ctx);
        }
    }

    @Test
    void throwingBottomHalfIsReportedAndTheOthersStillRun() throws Exception {
        try (AioContext ctx = newContext()) {
            RuntimeException boom = new IllegalStateException("boom");
            int[] runs = new int[5];
            for (int i = 0; i < runs.length; i++) {
                int k = i;
                ctx.scheduleOneShot(i == 2 ? "thrower" : "bh-" + i, () -> {
                    runs[k]++;
                    if (k == 2) {
                        throw boom;
                    }
                });
            }
            assertTrue(ctx.poll(false));
            for (int r : runs) {
                assertEquals(1, r, "a bottom half was lost after another one threw");
            }
            assertEquals(List.of("bottom half 'thrower'"), errors.sources);
            assertSame(boom, errors.errors.get(0));
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void throwingTimerIsReportedAndLaterTimersStillFire() throws Exception {
        try (AioContext ctx = newContext()) {
            ctx.setClockEnabled(ClockType.VIRTUAL, true);
            int[] runs = new int[1];
            Timer thrower = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> {
                throw new IllegalArgumentException("timer boom");
            });
            Timer later = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> runs[0]++);
            long now = ctx.clockNs(ClockType.VIRTUAL);
            thrower.modNs(now);
            later.modNs(now);
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            assertEquals(List.of("timer on VIRTUAL"), errors.sources);
            assertEquals("timer boom", errors.errors.get(0).getMessage());
            assertStillRunsBottomHalves(ctx);
        }
    }

    @Test
    void throwingFdHandlerIsReportedAndTheLoopGoesOn() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] p = Fds.pipe();
            int[] runs = new int[1];
            ctx.setFdHandler(p[0], () -> {
                runs[0]++;
                drainPipe(p[0]);
                throw new UnsupportedOperationException("fd boom");
            }, null, null, null);
            writeByte(p[1]);
            assertTrue(ctx.poll(true));
            assertEquals(List.of("io_read of fd " + p[0]), errors.sources);
            writeByte(p[1]);
            assertTrue(ctx.poll(true), "the handler stays registered after throwing");
            assertEquals(2, runs[0]);
            ctx.removeFdHandler(p[0]);
            Fds.close(p[0]);
            Fds.close(p[1]);
            assertStillRunsBottomHalves(ctx);
        }
    }

    @Test
    void throwingErrorHandlerDoesNotStopTheLoop() throws Exception {
        try (AioContext ctx = newContext()) {
            ctx.setErrorHandler((c, source, error) -> {
                throw new IllegalStateException("error handler boom");
            });
            int[] runs = new int[1];
            ctx.scheduleOneShot("thrower", () -> {
                throw new IllegalStateException("bh boom");
            });
            ctx.scheduleOneShot("other", () -> runs[0]++);
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
        }
    }

    @Test
    void errorFromACallbackPropagatesOutOfPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            final class Fatal extends Error {
                private static final long serialVersionUID = 1L;
            }
            ctx.scheduleOneShot("fatal", () -> {
                throw new Fatal();
            });
            assertThrows(Fatal.class, () -> ctx.poll(false));
            assertEquals(List.of(), errors.sources, "an Error is not an ordinary callback failure");
        }
    }

    @Test
    void invalidParametersAreRefusedNamingParameterAndValue() throws Exception {
        try (AioContext ctx = newContext()) {
            ctx.setPollParams(100, 2, 3);
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setPollParams(-1, 0, 0), "pollMaxNs=-1");
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setPollParams(0, -2, 0), "pollGrow=-2");
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setPollParams(0, 0, -3), "pollShrink=-3");
            assertEquals(100, ctx.pollMaxNs(), "a refused call changes nothing");
            assertEquals(2, ctx.pollGrow());
            assertEquals(3, ctx.pollShrink());
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setAioMaxBatch(-1), "aioMaxBatch=-1");
            assertEquals(0, ctx.aioMaxBatch());

            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setThreadPoolParams(5, 4), "threadPoolMin=5", "threadPoolMax=4");
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setThreadPoolParams(0, 0), "threadPoolMax=0");
            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.setThreadPoolParams(-1, 4), "threadPoolMin=-1");
            assertEquals(0, ctx.threadPoolMin());
            assertEquals(64, ctx.threadPoolMax());
            ctx.setThreadPoolParams(2, 2);
            assertEquals(2, ctx.threadPoolMin());

            assertThrowsNaming(IllegalArgumentException.class, () -> ctx.advanceVirtualClockNs(-1), "deltaNs=-1");
            assertThrowsNaming(IllegalArgumentException.class, () -> AioContext.builder().pollParams(-7, 0, 0), "pollMaxNs=-7");
            ctx.setPollParams(0, 0, 0);
            assertStillRunsBottomHalves(ctx);
        }
    }

    @Test
    void closedContextRefusesNewWork() throws Exception {
        AioContext ctx = newContext();
        BottomHalf bh = ctx.newBottomHalf("before-close", () -> { });
        bh.delete();
        Timer timer = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
        ctx.close();
        assertTrue(ctx.isClosed());
        ctx.close(); // idempotent
        assertThrowsNaming(IllegalStateException.class, bh::schedule, "closed");
        assertThrowsNaming(IllegalStateException.class, () -> ctx.scheduleOneShot("late", () -> { }), "closed");
        assertThrowsNaming(IllegalStateException.class, () -> ctx.newBottomHalf("late", () -> { }), "closed");
        assertThrowsNaming(IllegalStateException.class, () -> ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { }), "closed");
        assertThrowsNaming(IllegalStateException.class, () -> timer.modNs(0), "closed");
        assertFalse(timer.isPending());
        assertThrowsNaming(IllegalStateException.class, () -> ctx.poll(false), "closed");
        int[] p = Fds.pipe();
        assertThrowsNaming(IllegalStateException.class, () -> ctx.setFdHandler(p[0], () -> { }, null, null, null), "closed");
        Fds.close(p[0]);
        Fds.close(p[1]);
        ctx.aioNotify(); // harmless after close
    }

    @Test
    void closeNamesEveryLeakAndStillReleasesTheContextsFds() throws Exception {
        newContext().close(); // warm up: classes loaded, lazily opened files open
        int[] p = Fds.pipe();
        long before = openFdCount();
        AioContext ctx = newContext();
        ctx.setClockEnabled(ClockType.VIRTUAL, true);
        ctx.setFdHandler(p[0], () -> { }, null, null, null);
        ctx.newBottomHalf("leaky", () -> { });
        Timer timer = ctx.newTimer(ClockType.VIRTUAL, TimerScale.NS, () -> { });
        timer.modNs(ctx.clockNs(ClockType.VIRTUAL) + 1_000);
        ctx.scheduleOneShot("never-ran", () -> { });
        assertThrowsNaming(IllegalStateException.class, ctx::close, "'leaky'", "timer on VIRTUAL", "'never-ran'");
        assertTrue(ctx.isClosed());
        assertFalse(timer.isPending(), "close() disarmed the timer it reported");
        assertEquals(before, openFdCount(), "the context's own fds were not all closed");
        assertTrue(Fds.isOpen(p[0]), "a registered fd belongs to the caller and stays open");
        ctx.close(); // already closed: no second report
        Fds.close(p[0]);
        Fds.close(p[1]);
    }

    @Test
    void ioThreadStopIsIdempotentAndReportsLeaksOnce() throws Exception {
        IOThread io = IOThread.start("fault-io", AioContext.builder().name("fault-io").fdMonitor(kind));
        AtomicReference<Throwable> selfStop = new AtomicReference<>();
        io.context().newBottomHalf("iothread-leak", () -> { });
        int[] ran = new int[1];
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        io.context().scheduleOneShot("stop-self", () -> {
            ran[0]++;
            try {
                io.stop();
            } catch (Throwable t) {
                selfStop.set(t);
            }
            done.countDown();
        });
        done.await();
        assertEquals(1, ran[0]);
        assertInstanceOf(IllegalStateException.class, selfStop.get(), "an IOThread cannot stop itself");
        IllegalStateException e = assertThrows(IllegalStateException.class, io::stop);
        assertTrue(String.valueOf(e.getCause()).contains("'iothread-leak'"), "stop() reports the context's leak: " + e.getCause());
        assertFalse(io.thread().isAlive());
        assertTrue(io.context().isClosed());
        assertThrows(IllegalStateException.class, io::stop, "a second stop reports the same end again");

        IOThread clean = IOThread.start("fault-io-clean", AioContext.builder().name("clean").fdMonitor(kind));
        clean.stop();
        clean.stop();
        clean.close();
        assertFalse(clean.thread().isAlive());
    }
}
