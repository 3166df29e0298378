// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitBlockedInWait;
import static io.jaio.testing.TestSupport.drain;
import static io.jaio.testing.TestSupport.drainPipe;
import static io.jaio.testing.TestSupport.joinOrDump;
import static io.jaio.testing.TestSupport.writeByte;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.testing.TestSupport;

/**
 * fd handlers on real pipes (spec 1.7), on every fd monitor: registration changes made from
 * inside handlers and from other threads, and the rule that a removed handler is never called
 * again, even when its fd was found ready in the same poll.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class FdHandlerTest {
    @Parameter
    FdMonitorKind kind;

    private int[] a;
    private int[] b;

    @BeforeEach
    void openPipes() throws ErrnoException {
        a = Fds.pipe();
        b = Fds.pipe();
    }

    @AfterEach
    void closePipes() throws ErrnoException {
        for (int fd : new int[] {a[0], a[1], b[0], b[1]}) {
            Fds.close(fd);
        }
    }

    private AioContext newContext() throws ErrnoException {
        return AioContext.builder().name("fd-" + kind).fdMonitor(kind).build();
    }

    private static void setReader(AioContext ctx, int fd, Runnable r) {
        try {
            ctx.setFdHandler(fd, r, null, null, null);
        } catch (ErrnoException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void readHandlerRunsOncePerReadiness() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            setReader(ctx, a[0], () -> {
                runs[0]++;
                drainPipe(a[0]);
            });
            assertFalse(ctx.poll(false));
            writeByte(a[1]);
            assertTrue(ctx.poll(true));
            assertEquals(1, runs[0]);
            assertFalse(ctx.poll(false), "the handler drained the pipe");
            ctx.removeFdHandler(a[0]);
        }
    }

    @Test
    void handlerAddedFromInsideAHandlerRunsFromTheNextPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[2];
            writeByte(b[1]); // b is ready before it is even watched
            setReader(ctx, a[0], () -> {
                runs[0]++;
                drainPipe(a[0]);
                setReader(ctx, b[0], () -> {
                    runs[1]++;
                    drainPipe(b[0]);
                });
            });
            drain(ctx);
            writeByte(a[1]);
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0]);
            assertEquals(0, runs[1], "not watched when this poll waited");
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[1]);
            assertFalse(ctx.poll(false));
            ctx.removeFdHandler(a[0]);
            ctx.removeFdHandler(b[0]);
        }
    }

    @Test
    void handlerReplacedFromItsOwnCallbackHandsOverToTheNewCallback() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[2];
            setReader(ctx, a[0], () -> {
                runs[0]++;
                drainPipe(a[0]);
                setReader(ctx, a[0], () -> {
                    runs[1]++;
                    drainPipe(a[0]);
                });
            });
            writeByte(a[1]);
            assertTrue(ctx.poll(true));
            assertEquals(1, runs[0]);
            writeByte(a[1]);
            assertTrue(ctx.poll(true));
            writeByte(a[1]);
            assertTrue(ctx.poll(true));
            assertEquals(1, runs[0], "the replaced callback is never called again");
            assertEquals(2, runs[1]);
            ctx.removeFdHandler(a[0]);
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void handlerRemovedByAnotherHandlerOfTheSamePollIsNotCalled() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[2];
            // Whichever handler runs first removes the other; both fds are ready in the same poll.
            setReader(ctx, a[0], () -> {
                runs[0]++;
                drainPipe(a[0]);
                ctx.removeFdHandler(b[0]);
            });
            setReader(ctx, b[0], () -> {
                runs[1]++;
                drainPipe(b[0]);
                ctx.removeFdHandler(a[0]);
            });
            drain(ctx);
            writeByte(a[1]);
            writeByte(b[1]);
            assertTrue(ctx.poll(false));
            assertEquals(1, runs[0] + runs[1], "the removed handler was called although its fd was ready");
            assertFalse(ctx.poll(false), "the removed handler's fd is still readable but no longer watched");
            assertEquals(1, runs[0] + runs[1]);
            ctx.removeFdHandler(a[0]);
            ctx.removeFdHandler(b[0]);
        }
    }

    @Test
    void handlerRemovingItselfIsNeverCalledAgain() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            setReader(ctx, a[0], () -> {
                runs[0]++;
                ctx.removeFdHandler(a[0]); // leaves the byte in the pipe: the fd stays readable
            });
            writeByte(a[1]);
            assertTrue(ctx.poll(true));
            assertFalse(ctx.poll(false));
            assertEquals(1, runs[0]);
        }
    }

    @Test
    void writeHandlerRunsWhileTheFdIsWritableAndCountsAsProgress() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            ctx.setFdHandler(a[1], null, () -> {
                runs[0]++;
                if (runs[0] == 2) {
                    ctx.removeFdHandler(a[1]);
                }
            }, null, null);
            assertTrue(ctx.poll(true));
            assertTrue(ctx.poll(false), "an empty pipe stays writable (level-triggered)");
            assertFalse(ctx.poll(false));
            assertEquals(2, runs[0]);
        }
    }

    @Test
    void handlerThatReadsOnlyPartOfItsDataIsCalledAgainUntilTheFdIsDrained() throws Exception {
        // Level-triggered, as poll(2): the io_uring monitor keeps this by re-arming a one-shot
        // POLL_ADD after each event (a multishot poll is edge-triggered and would stop here).
        try (AioContext ctx = newContext()) {
            int[] runs = new int[1];
            setReader(ctx, a[0], () -> {
                runs[0]++;
                try {
                    assertEquals(1, Fds.read(a[0], 1).length);
                } catch (ErrnoException e) {
                    throw new AssertionError(e);
                }
            });
            for (int i = 0; i < 3; i++) {
                writeByte(a[1]);
            }
            for (int i = 1; i <= 3; i++) {
                assertTrue(ctx.poll(true), (4 - i) + " bytes still unread, handler not called");
                assertEquals(i, runs[0]);
            }
            assertFalse(ctx.poll(false), "the pipe is drained");
            assertEquals(3, runs[0]);
            ctx.removeFdHandler(a[0]);
        }
    }

    @Test
    void hangUpRunsTheReadHandler() throws Exception {
        try (AioContext ctx = newContext()) {
            int[] pipe = Fds.pipe();
            int[] runs = new int[1];
            boolean[] eof = new boolean[1];
            setReader(ctx, pipe[0], () -> {
                runs[0]++;
                try {
                    eof[0] = Fds.read(pipe[0], 16) == null;
                } catch (ErrnoException e) {
                    throw new AssertionError(e);
                }
                ctx.removeFdHandler(pipe[0]);
            });
            drain(ctx);
            Fds.close(pipe[1]);
            assertTrue(ctx.poll(true));
            assertEquals(1, runs[0]);
            assertTrue(eof[0]);
            Fds.close(pipe[0]);
        }
    }

    @Test
    void removingAnUnregisteredFdChangesNothing() throws Exception {
        try (AioContext ctx = newContext()) {
            drain(ctx);
            ctx.removeFdHandler(a[0]);
            ctx.removeFdHandler(987_654);
            assertFalse(ctx.poll(false));
            assertEquals(-1, ctx.fdHandlerPollNs(a[0]));
        }
    }

    @Test
    void fdRegisteredFromAnotherThreadWakesABlockedPoll() throws Exception {
        try (AioContext ctx = newContext()) {
            drain(ctx);
            writeByte(a[1]);
            int[] runs = new int[1];
            Thread home = Thread.currentThread();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread registrar = Thread.ofPlatform().name("fd-registrar").start(() -> {
                try {
                    awaitBlockedInWait(home);
                    setReader(ctx, a[0], () -> {
                        runs[0]++;
                        drainPipe(a[0]);
                    });
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            // The registration kicks the loop. Each blocking poll must return (no hang); how many
            // it takes is not fixed: epoll may report the fd between the registrar's epoll_ctl and
            // its publishing the handler, and that wake-up finds no handler yet.
            long deadline = System.nanoTime() + TestSupport.HANG_NS;
            while (runs[0] == 0) {
                if (System.nanoTime() - deadline > 0) {
                    fail("the fd registered from another thread was never dispatched");
                }
                ctx.poll(true);
            }
            joinOrDump(registrar);
            assertNull(failure.get());
            assertEquals(1, runs[0]);
            ctx.removeFdHandler(a[0]);
        }
    }
}
