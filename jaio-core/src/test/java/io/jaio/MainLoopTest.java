// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.OuterLoopTesting.DRAIN_BOUND;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The main loop: the iohandler context only runs from {@link MainLoop#mainLoopWait}, both
 * contexts are driven by it, the current-context rules, and {@link AioWait}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a lost wake-up fails, it does not hang
class MainLoopTest {
    private static final int ROUNDS = 100;

    interface Body {
        void run(MainLoop ml) throws Exception;
    }

    private static void withMainLoop(FdMonitorKind kind, Body body) throws Exception {
        MainLoop ml = MainLoop.create(kind);
        try {
            if (kind == FdMonitorKind.IO_URING && !ml.context().hasIoUring()) {
                String why = ml.context().ioUringUnavailableReason();
                System.out.println("skipped on IO_URING: " + why);
                assumeTrue(false, "io_uring unavailable: " + why);
            }
            body.run(ml);
        } finally {
            ml.close();
        }
        assertNull(MainLoop.get());
    }

    private static void waitUntil(MainLoop ml, BooleanSupplier done) {
        for (int i = 0; i < DRAIN_BOUND; i++) {
            if (done.getAsBoolean()) {
                return;
            }
            ml.mainLoopWait(false); // blocking
        }
        fail("condition still false after " + DRAIN_BOUND + " blocking main-loop iterations");
    }

    private static int drain(MainLoop ml) {
        return OuterLoopTesting.drain(() -> ml.mainLoopWait(true)); // non-blocking
    }

    private static byte[] read(int fd) {
        try {
            return Fds.read(fd, 64);
        } catch (ErrnoException e) {
            throw new AssertionError(e);
        }
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void nestedPollOfTheMainContextNeverRunsIohandlers(FdMonitorKind kind) throws Exception {
        withMainLoop(kind, ml -> {
            int[] pipe = Fds.pipe();
            int[] reads = {0};
            try {
                ml.setFdHandler(pipe[0], () -> reads[0] += read(pipe[0]).length, null);
                drain(ml);
                Fds.write(pipe[1], new byte[] {1});
                boolean[] nestedProgress = {true};
                int[] readsSeenInside = {-1};
                ml.context().scheduleOneShot("drain-like", () -> {
                    // what a block-layer drain does: poll the main context synchronously
                    nestedProgress[0] = ml.context().poll(false);
                    readsSeenInside[0] = reads[0];
                });
                assertTrue(ml.context().poll(false)); // runs the bottom half only
                assertEquals(0, reads[0], "a poll of the main context ran an iohandler");
                assertEquals(0, readsSeenInside[0]);
                assertFalse(nestedProgress[0]);
                assertTrue(ml.mainLoopWait(false));
                assertEquals(1, reads[0]);
                ml.removeFdHandler(pipe[0]);
            } finally {
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
            }
        });
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void mainLoopWaitDrivesBothContexts(FdMonitorKind kind) throws Exception {
        withMainLoop(kind, ml -> {
            int[] pipe = Fds.pipe();
            int[] runs = new int[4];
            BottomHalf mainBh = ml.context().newBottomHalf("main-bh", () -> runs[0]++);
            BottomHalf iohBh = ml.iohandlerContext().newBottomHalf("ioh-bh", () -> runs[1]++);
            Timer mainTimer = ml.context().newTimer(ClockType.VIRTUAL_RT, TimerScale.NS, () -> runs[2]++);
            Timer iohTimer = ml.iohandlerContext().newTimer(ClockType.VIRTUAL_RT, TimerScale.NS, () -> runs[3]++);
            int[] reads = {0};
            try {
                ml.setFdHandler(pipe[0], () -> reads[0] += read(pipe[0]).length, null);
                drain(ml);
                mainBh.schedule();
                iohBh.schedule();
                Fds.write(pipe[1], new byte[] {1, 2, 3});
                assertTrue(ml.mainLoopWait(true));
                assertEquals(1, runs[0]);
                assertEquals(1, runs[1]);
                assertEquals(3, reads[0]);

                mainTimer.modNs(ml.context().clockNs(ClockType.VIRTUAL_RT) + 1000);
                iohTimer.modNs(ml.iohandlerContext().clockNs(ClockType.VIRTUAL_RT) + 1000);
                assertFalse(ml.mainLoopWait(true));
                ml.context().advanceVirtualClockNs(1000);
                ml.iohandlerContext().advanceVirtualClockNs(1000);
                assertTrue(ml.mainLoopWait(false));
                assertEquals(1, runs[2]);
                assertEquals(1, runs[3]);
                assertEquals(0, drain(ml));
                ml.removeFdHandler(pipe[0]);
            } finally {
                mainBh.delete();
                iohBh.delete();
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
            }
        });
    }

    /** Thrown by a callback in the Error test: an Error propagates, but no other work is lost. */
    private static final class Boom extends Error {
        private static final long serialVersionUID = 1L;

        Boom() {
            super("boom from a main-loop callback");
        }
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void errorFromTheMainContextLosesNeitherItsOtherWorkNorTheIohandlers(FdMonitorKind kind) throws Exception {
        withMainLoop(kind, ml -> {
            int[] pipe = Fds.pipe();
            int[] runs = new int[3];
            boolean[] thrown = new boolean[1];
            BottomHalf thrower = ml.context().newBottomHalf("thrower", () -> {
                if (!thrown[0]) {
                    thrown[0] = true;
                    throw new Boom();
                }
            });
            BottomHalf mainBh = ml.context().newBottomHalf("main-bh", () -> runs[0]++);
            BottomHalf iohBh = ml.iohandlerContext().newBottomHalf("ioh-bh", () -> runs[1]++);
            try {
                ml.setFdHandler(pipe[0], () -> runs[2] += read(pipe[0]).length, null);
                drain(ml);
                // LIFO queue: scheduled first, run last, so the thrower runs before main-bh.
                mainBh.schedule();
                thrower.schedule();
                iohBh.schedule();
                Fds.write(pipe[1], new byte[] {1, 2});
                assertThrows(Boom.class, () -> ml.mainLoopWait(true));
                assertEquals(0, runs[1], "the iohandler context is dispatched after the main one");
                waitUntil(ml, () -> runs[0] == 1 && runs[1] == 1 && runs[2] == 2);
                assertFalse(thrower.isScheduled());
                // The main loop goes on as before.
                mainBh.schedule();
                iohBh.schedule();
                assertTrue(ml.mainLoopWait(true));
                assertEquals(2, runs[0]);
                assertEquals(2, runs[1]);
            } finally {
                ml.removeFdHandler(pipe[0]);
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
                thrower.delete();
                mainBh.delete();
                iohBh.delete();
                drain(ml);
            }
        });
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void blockingMainLoopWaitIsWokenFromOtherThreads(FdMonitorKind kind) throws Exception {
        withMainLoop(kind, ml -> {
            int[] pipe = Fds.pipe();
            AtomicInteger step = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            try {
                Runnable onRead = () -> step.addAndGet(read(pipe[0]).length);
                // Each event is sent only once the main loop handled the previous one, so every
                // one of them must wake a blocked mainLoopWait(false).
                Thread t = Thread.ofPlatform().name("waker").start(() -> {
                    try {
                        for (int i = 0; i < ROUNDS; i++) {
                            int base = i * 4;
                            spinUntil(() -> step.get() == base);
                            ml.context().scheduleOneShot("remote", step::incrementAndGet); // main context
                            spinUntil(() -> step.get() == base + 1);
                            ml.setFdHandler(pipe[0], onRead, null); // registration from another thread
                            Fds.write(pipe[1], new byte[] {1}); // iohandler fd
                            spinUntil(() -> step.get() == base + 2);
                            ml.iohandlerContext().scheduleOneShot("remote", step::incrementAndGet);
                            spinUntil(() -> step.get() == base + 3);
                            ml.removeFdHandler(pipe[0]);
                            step.incrementAndGet();
                            ml.notifyEvent();
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                        ml.notifyEvent();
                    }
                });
                for (int i = 0; i < ROUNDS * 20 && step.get() < ROUNDS * 4 && failure.get() == null; i++) {
                    ml.mainLoopWait(false);
                }
                t.join(10_000);
                if (failure.get() != null) {
                    throw new AssertionError(failure.get());
                }
                assertEquals(ROUNDS * 4, step.get());
            } finally {
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
            }
        });
    }

    private static void spinUntil(BooleanSupplier c) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the main loop did not make progress in 20 s");
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void currentContextIsTheMainContextOnTheMainThreadOwnOnAnIOThreadNullElsewhere() throws Exception {
        withMainLoop(FdMonitorKind.POLL, ml -> {
            assertSame(ml.context(), AioContext.current());
            AtomicReference<Object> worker = new AtomicReference<>("unset");
            Thread w = Thread.ofPlatform().start(() -> worker.set(AioContext.current()));
            w.join();
            assertNull(worker.get(), "a worker thread without a context must see none, so coroutine entry schedules");

            IOThread io = IOThread.start("io-current");
            try {
                AtomicReference<AioContext> seen = new AtomicReference<>();
                AioWait.runInContextAndWait(io.context(), () -> seen.set(AioContext.current()));
                assertSame(io.context(), seen.get());
            } finally {
                io.stop();
            }
            AtomicReference<AioContext> inIohandler = new AtomicReference<>();
            ml.iohandlerContext().scheduleOneShot("current", () -> inIohandler.set(AioContext.current()));
            waitUntil(ml, () -> inIohandler.get() != null);
            assertSame(ml.context(), inIohandler.get(), "the iohandler context is never current");
        });
    }

    @Test
    void onlyOneMainLoopAtATime() throws Exception {
        withMainLoop(FdMonitorKind.POLL, ml -> {
            assertSame(ml, MainLoop.get());
            AtomicReference<Throwable> other = new AtomicReference<>();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    MainLoop.create(FdMonitorKind.POLL).close();
                } catch (Throwable e) {
                    other.set(e);
                }
            });
            t.join();
            assertTrue(other.get() instanceof IllegalStateException, String.valueOf(other.get()));
            assertEquals("only one main-loop instance allowed", other.get().getMessage());
            IllegalStateException same = assertThrows(IllegalStateException.class, () -> MainLoop.create(FdMonitorKind.POLL));
            assertEquals("only one main-loop instance allowed", same.getMessage());
            AtomicReference<Throwable> wrongThread = new AtomicReference<>();
            Thread w = Thread.ofPlatform().start(() -> {
                try {
                    ml.mainLoopWait(true);
                } catch (Throwable e) {
                    wrongThread.set(e);
                }
            });
            w.join();
            assertTrue(wrongThread.get() instanceof IllegalStateException, String.valueOf(wrongThread.get()));
        });
    }

    @Test
    void waitWhilePollsTheMainContextUntilKicked() throws Exception {
        withMainLoop(FdMonitorKind.POLL, ml -> {
            int[] pipe = Fds.pipe();
            int[] iohReads = {0};
            try {
                ml.setFdHandler(pipe[0], () -> iohReads[0]++, null);
                Fds.write(pipe[1], new byte[] {1}); // stays readable: only mainLoopWait may read it
                AtomicInteger flag = new AtomicInteger();
                Thread t = Thread.ofPlatform().name("kicker").start(() -> {
                    flag.set(1);
                    AioWait.kick();
                });
                AioWait.waitWhile(null, () -> flag.get() == 0);
                t.join();
                assertEquals(1, flag.get());
                assertEquals(0, iohReads[0], "AioWait.waitWhile ran an iohandler");
                // waitWhile may have seen the flag before the kick's bottom half ran: run it now,
                // or closing the main loop reports it as a one-shot that never ran
                ml.context().poll(false);

                IOThread io = IOThread.start("io-wait");
                try {
                    AtomicInteger done = new AtomicInteger();
                    io.context().scheduleOneShot("work", () -> {
                        done.set(1);
                        AioWait.kick();
                    });
                    AioWait.waitWhile(io.context(), () -> done.get() == 0); // not its home thread: polls main
                    assertEquals(1, done.get());
                } finally {
                    io.stop();
                }
                ml.context().poll(false); // the second kick's bottom half, as above
                ml.removeFdHandler(pipe[0]);
            } finally {
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
            }
        });
    }
}
