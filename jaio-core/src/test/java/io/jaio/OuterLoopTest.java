// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.OuterLoopTesting.DRAIN_BOUND;
import static io.jaio.OuterLoopTesting.drain;
import static io.jaio.OuterLoopTesting.newContext;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import io.jaio.OuterLoopTesting.EventData;

/**
 * A context driven from outside: as an fd handler of another context, from a plain Java loop
 * with its own poll(2), with poll mode on (QEMU latent issue L1), and across monitor changes.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a lost wake-up fails, it does not hang
class OuterLoopTest {
    private static final int ROUNDS = 200;

    static Stream<Arguments> kindPairs() {
        List<Arguments> out = new ArrayList<>();
        for (FdMonitorKind parent : FdMonitorKind.values()) {
            for (FdMonitorKind child : FdMonitorKind.values()) {
                out.add(Arguments.of(parent, child));
            }
        }
        return out.stream();
    }

    /** Polls {@code parent} (blocking) until {@code done}; fails after a bound of iterations. */
    private static void pollUntil(AioContext parent, java.util.function.BooleanSupplier done) {
        for (int i = 0; i < DRAIN_BOUND; i++) {
            if (done.getAsBoolean()) {
                return;
            }
            parent.poll(true);
        }
        fail("condition still false after " + DRAIN_BOUND + " blocking polls of " + parent);
    }

    @ParameterizedTest
    @MethodSource("kindPairs")
    void contextRunsAsAnFdHandlerOfAnotherContext(FdMonitorKind parentKind, FdMonitorKind childKind) throws Exception {
        AioContext parent = newContext(parentKind, "parent");
        AioContext child;
        try {
            child = newContext(childKind, "child");
        } catch (org.opentest4j.TestAbortedException e) {
            parent.close();
            throw e;
        }
        int[] bhRuns = {0};
        BottomHalf bh = child.newBottomHalf("child-bh", () -> bhRuns[0]++);
        Timer timer = child.newTimer(ClockType.REALTIME, TimerScale.NS, () -> bhRuns[0] += 100);
        AioSource.Attachment attachment = child.source().attachTo(parent);
        try (EventData ev = new EventData(0, false)) {
            ev.register(child);
            // From the home thread, while the child waits in the parent: no aioNotify is needed
            // off an outer loop, so this proves bit 0 of notifyMe makes the home thread write.
            bh.schedule();
            pollUntil(parent, () -> bhRuns[0] == 1);

            ev.e.set(); // an fd of the child
            pollUntil(parent, () -> ev.n == 1);

            timer.modNs(child.clockNs(ClockType.REALTIME) + 2_000_000L); // a timer of the child
            pollUntil(parent, () -> bhRuns[0] == 101);

            // From another thread while the parent blocks.
            AtomicInteger remote = new AtomicInteger();
            Thread t = Thread.ofPlatform().name("child-scheduler").start(() -> {
                for (int i = 0; i < ROUNDS; i++) {
                    int want = i;
                    while (remote.get() != want) {
                        Thread.onSpinWait();
                    }
                    child.scheduleOneShot("remote", remote::incrementAndGet);
                }
            });
            for (int i = 0; i < ROUNDS * 4 && remote.get() < ROUNDS; i++) {
                parent.poll(true);
            }
            t.join(10_000);
            assertEquals(ROUNDS, remote.get());

            // The child's own (nested) poll still works while attached.
            bh.schedule();
            assertTrue(child.poll(false));
            assertEquals(102, bhRuns[0]);
            child.removeEventNotifier(ev.e);
        } finally {
            attachment.close();
            bh.delete();
            timer.delete();
            child.close();
            parent.close();
        }
    }

    // ---- a plain Java loop with its own poll(2) ----

    private static final Linker LINKER = Linker.nativeLinker();
    @SuppressWarnings("restricted") // the test plays an application that binds poll(2) itself
    private static final MethodHandle POLL = LINKER.downcallHandle(LINKER.defaultLookup().find("poll").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));

    private static int poll(MemorySegment fds, int n, int timeoutMs) {
        try {
            return (int) POLL.invokeExact(fds, (long) n, timeoutMs);
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void plainJavaLoopWaitsOnTheSourceFdAndItsOwnFds(FdMonitorKind kind) throws Exception {
        AioContext ctx = newContext(kind, "embedded");
        int[] appPipe = Fds.pipe(); // the application's own fd, not the context's
        int[] ctxPipe = Fds.pipe(); // an fd handler of the context
        AtomicInteger bhRuns = new AtomicInteger();
        AtomicInteger fdRuns = new AtomicInteger();
        int appRuns = 0;
        AtomicReference<Throwable> failure = new AtomicReference<>();
        try (Arena arena = Arena.ofConfined()) {
            AioSource src = ctx.source();
            ctx.setFdHandler(ctxPipe[0], () -> {
                byte[] b = readOrFail(ctxPipe[0]);
                fdRuns.addAndGet(b.length);
            }, null, null, null);
            MemorySegment fds = arena.allocate(16, 4);
            // The other thread drives all three kinds of event in turn, each only after the
            // loop handled the previous one, so the loop must block and be woken every time.
            Thread t = Thread.ofPlatform().name("remote").start(() -> {
                try {
                    for (int i = 0; i < ROUNDS; i++) {
                        int want = i;
                        waitFor(() -> bhRuns.get() == want);
                        ctx.scheduleOneShot("remote", bhRuns::incrementAndGet);
                        waitFor(() -> bhRuns.get() == want + 1);
                        assertEquals(1, Fds.write(ctxPipe[1], new byte[] {1}));
                        waitFor(() -> fdRuns.get() == want + 1);
                        assertEquals(1, Fds.write(appPipe[1], new byte[] {1}));
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            for (int iter = 0; iter < ROUNDS * 20 && appRuns < ROUNDS && failure.get() == null; iter++) {
                int timeoutMs = src.prepare();
                fds.set(JAVA_INT, 0, src.fd());
                fds.set(JAVA_SHORT, 4, (short) 1); // POLLIN
                fds.set(JAVA_SHORT, 6, (short) 0);
                fds.set(JAVA_INT, 8, appPipe[0]);
                fds.set(JAVA_SHORT, 12, (short) 1);
                fds.set(JAVA_SHORT, 14, (short) 0);
                poll(fds, 2, timeoutMs < 0 ? 10_000 : timeoutMs); // 10 s: a lost wake-up fails, it does not hang
                if (fds.get(JAVA_SHORT, 14) != 0) {
                    appRuns += readOrFail(appPipe[0]).length;
                }
                if (src.check()) {
                    src.dispatch();
                }
            }
            t.join(10_000);
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
            assertEquals(ROUNDS, appRuns);
            assertEquals(ROUNDS, bhRuns.get());
            assertEquals(ROUNDS, fdRuns.get());
            ctx.removeFdHandler(ctxPipe[0]);
        } finally {
            for (int fd : new int[] {appPipe[0], appPipe[1], ctxPipe[0], ctxPipe[1]}) {
                Fds.close(fd);
            }
            ctx.close();
        }
    }

    private static byte[] readOrFail(int fd) {
        try {
            return Fds.read(fd, 64);
        } catch (ErrnoException e) {
            throw new AssertionError(e);
        }
    }

    private static void waitFor(java.util.function.BooleanSupplier c) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the loop did not make progress in 20 s");
            }
            Thread.onSpinWait();
        }
    }

    // ---- poll mode under an outer loop (QEMU latent issue L1) ----

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"}) // io_uring polls CQEs, not io_poll, here
    void handlerFoundByTheFinalUserspacePollIsDispatched(FdMonitorKind kind) throws Exception {
        AioContext ctx = AioContext.builder().name("l1-" + kind).fdMonitor(kind).pollParams(10_000_000_000L, 0, 0).build();
        try (EventNotifier e = EventNotifier.create(false)) {
            boolean[] flag = {false};
            int[] pollReady = {0};
            ctx.setEventNotifier(e, e::testAndClear, () -> flag[0], () -> {
                pollReady[0]++;
                flag[0] = false;
            });
            e.set();
            assertTrue(ctx.poll(true)); // dispatched once: joins the poll set, poll time grows
            assertTrue(ctx.fdHandlerPollNs(e.fd()) > 0, "poll time did not grow");
            flag[0] = true;
            assertTrue(ctx.poll(true)); // poll mode starts and finds it: no kernel event involved
            assertEquals(1, pollReady[0]);

            flag[0] = true; // ready again; poll mode is still on
            AioSource src = ctx.source();
            assertEquals(0, src.prepare(), "the final io_poll found a handler: do not wait");
            assertTrue(src.check());
            assertTrue(src.dispatch());
            assertEquals(2, pollReady[0], "the handler found by the final io_poll was dropped (QEMU L1)");
            assertFalse(src.iterate(false));
            ctx.removeEventNotifier(e);
        } finally {
            ctx.close();
        }
    }

    // ---- the fd stays valid while the monitor changes ----

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void regularFileKeepsTheOuterLoopFromBlockingAndTheFdSurvivesTheMonitorChange(FdMonitorKind kind,
            @TempDir Path dir) throws Exception {
        AioContext ctx = newContext(kind, "regular-file");
        Path file = Files.writeString(dir.resolve("f"), "x");
        int fileFd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
        int[] pipe = Fds.pipe();
        try {
            AioSource src = ctx.source();
            int fd = src.fd();
            drain(src);
            int[] fileReads = {0};
            ctx.setFdHandler(fileFd, () -> fileReads[0]++, null, null, null); // epoll refuses it: poll(2) from now on
            assertEquals("poll", ctx.fdMonitorName());
            assertEquals(0, src.prepare(), "a regular file is always ready for poll(2): the outer loop must not wait");
            assertTrue(src.check());
            src.dispatch();
            assertEquals(1, fileReads[0]);
            assertTrue(src.iterate(true)); // does not block
            assertEquals(2, fileReads[0]);
            ctx.removeFdHandler(fileFd);
            drain(src);

            int[] pipeReads = {0};
            ctx.setFdHandler(pipe[0], () -> pipeReads[0] += readOrFail(pipe[0]).length, null, null, null);
            assertEquals(-1, src.prepare());
            src.check();
            Fds.write(pipe[1], new byte[] {7});
            assertTrue(src.iterate(true)); // the mirror of the poll(2) registrations woke it
            assertEquals(1, pipeReads[0]);
            assertEquals(fd, src.fd());
            ctx.removeFdHandler(pipe[0]);
        } finally {
            Fds.close(fileFd);
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            ctx.close();
        }
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL"})
    void outerLoopFollowsTheUpgradeToEpoll(FdMonitorKind kind) throws Exception {
        AioContext ctx = newContext(kind, "upgrade");
        List<int[]> pipes = new ArrayList<>();
        try {
            AioSource src = ctx.source();
            int[] reads = new int[70];
            for (int i = 0; i < reads.length; i++) {
                int[] p = Fds.pipe();
                pipes.add(p);
                int k = i;
                ctx.setFdHandler(p[0], () -> reads[k] += readOrFail(p[0]).length, null, null, null);
            }
            assertEquals("poll", ctx.fdMonitorName());
            drain(src); // the check's poll(2) at depth 1 upgrades
            assertEquals("epoll", ctx.fdMonitorName());
            Fds.write(pipes.get(37)[1], new byte[] {1, 2});
            assertTrue(src.iterate(true)); // woken through the epoll fd now in the outer set
            assertEquals(2, reads[37]);
        } finally {
            for (int[] p : pipes) {
                ctx.removeFdHandler(p[0]);
                Fds.close(p[0]);
                Fds.close(p[1]);
            }
            ctx.close();
        }
    }

    @ParameterizedTest
    @EnumSource(FdMonitorKind.class)
    void sourceFdIsReleasedWithTheContext(FdMonitorKind kind) throws ErrnoException {
        AioContext ctx = newContext(kind, "close");
        int fd = ctx.source().fd();
        assertTrue(Fds.isOpen(fd));
        assertEquals(ctx.source(), ctx.source());
        ctx.close();
        assertFalse(Fds.isOpen(fd), "fd " + fd + " still open after close()");
    }
}
