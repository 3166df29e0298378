// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static io.jaio.testing.TestSupport.pattern;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Faults;

/**
 * What the Linux AIO engine adds to the shared {@link FileIoEngineTest} contract, on real
 * O_DIRECT files and the real kernel AIO context: requests queued in one callback go to the
 * kernel in one io_submit; more requests than the queue depth wait and all complete; a buffered
 * fd is refused; io_setup's refusals (the aio-max-nr limit for real, ENOSYS injected) name the
 * cause; IOCB_CMD_FDSYNC falls back to the thread pool where the file has no fsync; close with
 * requests in flight waits for them and reports them; a nested poll() from a completion
 * completes the rest of the batch.
 *
 * <p>Skipped, with the reason printed, where io_setup is refused or no directory takes O_DIRECT.
 */
class LinuxAioFileIoEngineTest {
    private static final int BLOCK = 4096;
    private Path file;
    private int fd = -1;

    @AfterEach
    void closeFile() throws Exception {
        Faults.clear();
        if (fd >= 0) {
            Fds.close(fd);
        }
        if (file != null) {
            Files.deleteIfExists(file);
        }
    }

    /** An O_DIRECT file of {@code data} on a disk file system, or the test is skipped. */
    private void openDirect(byte[] data) throws Exception {
        for (String base : new String[] {"/var/tmp", System.getProperty("java.io.tmpdir")}) {
            Path f = Files.createTempFile(Path.of(base), "jaio-laio", ".img");
            Files.write(f, data);
            try {
                fd = Fds.open(f.toString(), Fds.O_RDWR | Fds.O_DIRECT, 0);
                file = f;
                return;
            } catch (ErrnoException e) {
                Files.deleteIfExists(f);
                System.out.println("O_DIRECT refused under " + base + ": " + e.getMessage());
            }
        }
        System.out.println("SKIPPED: no directory here takes O_DIRECT");
        Assumptions.assumeTrue(false, "no directory here takes O_DIRECT");
    }

    private static LinuxAioFileIoEngine engine(AioContext ctx, int depth) {
        try {
            return FileIoEngines.linuxAio(ctx, depth);
        } catch (ErrnoException e) {
            System.out.println("SKIPPED: Linux AIO unavailable: " + e.getMessage());
            Assumptions.assumeTrue(false, "Linux AIO unavailable: " + e.getMessage());
            return null;
        }
    }

    private static AioContext context() throws ErrnoException {
        return AioContext.builder().name("linux-aio-test").build();
    }

    @Test
    void requestsQueuedInOneCallbackGoToTheKernelInOneIoSubmit() throws Exception {
        int n = 20;
        byte[] data = pattern(n * BLOCK, 21);
        openDirect(data);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            LinuxAioFileIoEngine e = engine(ctx, LinuxAio.DEFAULT_DEPTH);
            LinuxAio s = e.state();
            MemorySegment dst = a.allocate((long) n * BLOCK, BLOCK);
            long[] results = new long[n];
            int[] done = {0};
            long[] callsBefore = {-1};
            long[] callsAfterQueueing = {-1};
            ctx.scheduleOneShot("issue", () -> {
                callsBefore[0] = s.submitCalls;
                for (int i = n - 1; i >= 0; i--) {
                    int k = i;
                    e.read(fd, (long) k * BLOCK, dst.asSlice((long) k * BLOCK, BLOCK), r -> {
                        results[k] = r;
                        done[0]++;
                    });
                }
                callsAfterQueueing[0] = s.submitCalls;
            });
            pollUntil(ctx, n + " reads", () -> done[0] == n);
            assertEquals(callsBefore[0], callsAfterQueueing[0], "io_submit ran inside the callback that queued");
            assertEquals(1, s.submitCalls - callsBefore[0], "io_submit calls for " + n + " reads queued in one callback");
            assertEquals(n, s.submittedIocbs);
            for (long r : results) {
                assertEquals(BLOCK, r);
            }
            assertArrayEquals(data, dst.toArray(JAVA_BYTE));
        }
    }

    @Test
    void moreRequestsThanTheQueueDepthWaitAndAllComplete() throws Exception {
        int depth = 4;
        int n = 50;
        openDirect(new byte[0]);
        byte[] data = pattern(n * BLOCK, 22);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            LinuxAioFileIoEngine e = engine(ctx, depth);
            LinuxAio s = e.state();
            MemorySegment src = a.allocate((long) n * BLOCK, BLOCK);
            MemorySegment.copy(data, 0, src, JAVA_BYTE, 0, data.length);
            int[] done = {0};
            long[] firstError = {0};
            FileIoEngine.Completion count = r -> {
                if (r != BLOCK && firstError[0] == 0) {
                    firstError[0] = r == 0 ? Long.MIN_VALUE : r;
                }
                done[0]++;
            };
            for (int i = 0; i < n; i++) {
                e.write(fd, (long) i * BLOCK, src.asSlice((long) i * BLOCK, BLOCK), false, count);
            }
            pollUntil(ctx, n + " writes through a queue of " + depth, () -> done[0] == n);
            assertEquals(0, firstError[0], "first failed write's result");
            assertEquals(n, s.submittedIocbs);
            assertTrue(s.maxInFlight <= depth, "in flight at most " + s.maxInFlight + " (expected <= " + depth + ")");
            assertTrue(s.submitCalls >= n / depth, "io_submit calls " + s.submitCalls + " (expected >= " + n / depth + ")");

            MemorySegment dst = a.allocate((long) n * BLOCK, BLOCK);
            done[0] = 0;
            for (int i = 0; i < n; i++) {
                e.read(fd, (long) i * BLOCK, dst.asSlice((long) i * BLOCK, BLOCK), count);
            }
            pollUntil(ctx, n + " reads through a queue of " + depth, () -> done[0] == n);
            assertEquals(0, firstError[0]);
            assertArrayEquals(data, dst.toArray(JAVA_BYTE));
        }
        assertArrayEquals(data, Files.readAllBytes(file));
    }

    @Test
    void aBufferedFileIsRefusedNamingTheMissingODirect() throws Exception {
        Path f = Files.createTempFile("jaio-laio-buffered", ".img");
        Files.write(f, new byte[8192]);
        int buffered = Fds.open(f.toString(), Fds.O_RDWR, 0);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            LinuxAioFileIoEngine e = engine(ctx, LinuxAio.DEFAULT_DEPTH);
            MemorySegment buf = a.allocate(BLOCK, BLOCK);
            FileIoEngineTest.Result r = new FileIoEngineTest.Result();
            IllegalArgumentException read = assertThrows(IllegalArgumentException.class, () -> e.read(buffered, 0, buf, r));
            assertTrue(read.getMessage().contains("fd " + buffered + " lacks O_DIRECT"), read.getMessage());
            assertTrue(read.getMessage().contains("Linux AIO blocks on buffered files"), read.getMessage());
            assertThrows(IllegalArgumentException.class, () -> e.write(buffered, 0, buf, true, r));
            for (int i = 0; i < 3; i++) {
                ctx.poll(false);
            }
            assertEquals(0, r.calls, "a refused operation completed");
            assertEquals(0, e.state().submitCalls, "a refused operation reached io_submit");
        } finally {
            Fds.close(buffered);
            Files.deleteIfExists(f);
        }
    }

    @Test
    void ioSetupOverTheSystemWideLimitIsRefusedWithEagainNamingTheLimit() throws Exception {
        long max = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/fs/aio-max-nr")).get(0).strip()); // procfs: no readString
        if (max + 1 > LinuxAio.MAX_DEPTH) {
            System.out.println("SKIPPED: /proc/sys/fs/aio-max-nr=" + max + " is above the largest depth the engine takes");
        }
        Assumptions.assumeTrue(max + 1 <= LinuxAio.MAX_DEPTH, "aio-max-nr too large to provoke EAGAIN");
        int depth = (int) max + 1; // fs/aio.c ioctx_alloc: nr_events > aio_max_nr is EAGAIN
        try (AioContext ctx = context()) {
            ErrnoException e = assertThrows(ErrnoException.class, () -> FileIoEngines.linuxAio(ctx, depth));
            assertEquals(Errno.EAGAIN, e.errno());
            assertTrue(e.getMessage().startsWith("Linux AIO unavailable: io_setup(nr_events=" + depth), e.getMessage());
            assertTrue(e.getMessage().contains("aio-max-nr=" + max), e.getMessage());
            FileIoEngine ok = engine(ctx, LinuxAio.DEFAULT_DEPTH); // a refused setup leaves the slot empty
            assertEquals("linux-aio", ok.name());
        }
    }

    @Test
    void aKernelWithoutLinuxAioIsRefusedWithEnosys() throws Exception {
        try (AioContext ctx = context()) {
            Faults.install((call, len) -> call == Faults.Call.IO_SETUP ? -Errno.ENOSYS : 0);
            ErrnoException e = assertThrows(ErrnoException.class, () -> FileIoEngines.linuxAio(ctx));
            Faults.clear();
            assertEquals(Errno.ENOSYS, e.errno());
            assertTrue(e.getMessage().contains("CONFIG_AIO"), e.getMessage());
        }
    }

    @Test
    void flushOnAFileWithoutFsyncFallsBackToTheThreadPool() throws Exception {
        openDirect(new byte[BLOCK]);
        int[] p = Fds.pipe();
        try (AioContext ctx = context()) {
            LinuxAioFileIoEngine e = engine(ctx, LinuxAio.DEFAULT_DEPTH);
            FileIoEngineTest.Result first = new FileIoEngineTest.Result();
            e.flush(fd, first);
            pollUntil(ctx, "IOCB_CMD_FDSYNC", () -> first.calls > 0);
            assertEquals(0L, first.result);
            assertFalse(e.state().fdsyncRefused, "the kernel refused IOCB_CMD_FDSYNC on a regular file");
            assertEquals(1, e.state().submittedIocbs);

            FileIoEngineTest.Result pipe = new FileIoEngineTest.Result();
            e.flush(p[1], pipe); // a pipe has no fsync: io_submit says EINVAL, fdatasync on the pool says it too
            pollUntil(ctx, "flush of a pipe", () -> pipe.calls > 0);
            assertEquals(-Errno.EINVAL, pipe.result);
            assertTrue(e.state().fdsyncRefused, "EINVAL from io_submit did not turn flushes to the thread pool");

            FileIoEngineTest.Result later = new FileIoEngineTest.Result();
            e.flush(fd, later);
            pollUntil(ctx, "flush on the thread pool", () -> later.calls > 0);
            assertEquals(0L, later.result);
            assertEquals(1, e.state().submittedIocbs, "a flush after the fallback went to io_submit");
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void closeWithRequestsInFlightWaitsForThemAndReportsThem() throws Exception {
        openDirect(pattern(8 * BLOCK, 23));
        AioContext ctx = context();
        Arena a = Arena.ofConfined();
        int[] done = {0};
        int[] eventFd = {-1};
        try {
            LinuxAioFileIoEngine e = engine(ctx, 4);
            eventFd[0] = e.state().eventFd;
            MemorySegment dst = a.allocate(8L * BLOCK, BLOCK);
            for (int i = 0; i < 8; i++) {
                e.read(fd, (long) i * BLOCK, dst.asSlice((long) i * BLOCK, BLOCK), r -> done[0]++);
            }
            ctx.poll(false); // the submit bottom half: 4 go to the kernel, 4 wait
            assertEquals(4, e.state().submittedIocbs);
            assertEquals(0, done[0]);
        } catch (RuntimeException | Error t) {
            ctx.close();
            throw t;
        }
        IllegalStateException leak = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(leak.getMessage().contains("Linux AIO had 4 request(s) in flight (io_cancel took 0; waited for; their completions"
                + " were not called)"), leak.getMessage()); // file reads cannot be cancelled: close waits for them
        assertFalse(Fds.isOpen(eventFd[0]), "the engine's eventfd " + eventFd[0] + " is still open after close");
        assertTrue(leak.getMessage().contains("Linux AIO had 4 request(s) queued, never submitted"), leak.getMessage());
        assertEquals(0, done[0], "a completion ran during close");
        a.close(); // safe: io_destroy has waited for every request
    }

    @Test
    void aNestedPollFromACompletionCompletesTheRestOfTheBatch() throws Exception {
        int n = 8;
        openDirect(pattern(n * BLOCK, 24));
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            LinuxAioFileIoEngine e = engine(ctx, LinuxAio.DEFAULT_DEPTH);
            MemorySegment dst = a.allocate((long) n * BLOCK, BLOCK);
            int[] done = {0};
            int[] seenByNested = {-1};
            boolean[] nested = {false};
            FileIoEngine.Completion c = r -> {
                done[0]++;
                if (!nested[0]) {
                    nested[0] = true;
                    for (int i = 0; i < 100_000 && done[0] < n; i++) { // bounded: a nested loop waits for the others
                        ctx.poll(false);
                    }
                    seenByNested[0] = done[0];
                }
            };
            for (int i = 0; i < n; i++) {
                e.read(fd, (long) i * BLOCK, dst.asSlice((long) i * BLOCK, BLOCK), c);
            }
            ctx.poll(false); // submit all 8 at once
            pollUntil(ctx, n + " reads", () -> done[0] == n);
            assertEquals(n, seenByNested[0], "the nested poll() did not complete the rest of the batch");
            for (int i = 0; i < 3; i++) {
                ctx.poll(false);
            }
            assertEquals(n, done[0], "a request completed twice");
        }
    }

    @Test
    void requestObjectsAreReusedOnceThePoolHasGrown() throws Exception {
        int n = 40;
        openDirect(pattern(n * BLOCK, 25));
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            LinuxAioFileIoEngine e = engine(ctx, LinuxAio.DEFAULT_DEPTH);
            MemorySegment dst = a.allocate((long) n * BLOCK, BLOCK);
            int[] done = {0};
            FileIoEngine.Completion count = r -> done[0]++;
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < n; i++) {
                    e.read(fd, (long) i * BLOCK, dst.asSlice((long) i * BLOCK, BLOCK), count);
                }
                int want = round * n;
                pollUntil(ctx, "round " + round, () -> done[0] == want);
                assertEquals(n, e.state().requestsCreated(), "requests made after round " + round);
            }
            assertTrue(Arrays.equals(pattern(n * BLOCK, 25), dst.toArray(JAVA_BYTE)));
        }
    }
}
