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

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.function.Consumer;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;
import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.testing.UringTestSupport;

/**
 * The {@link FileIoEngine} contract, run on the four engines ({@code io_uring},
 * {@code linux-aio}, {@code threads} and {@code write-threads}, the last with two writer threads)
 * with real files: whole-buffer transfers, zero-fill past
 * the end of file, durability calls, hole punching and zeroing (with the write fallback), exactly
 * one completion per operation and never inside the call, bad arguments. Then io_uring-only
 * cases: short transfers continued on pipes, and the request pool staying flat in steady state.
 *
 * <p>Linux AIO takes O_DIRECT files only, so every file these cases read or write through an
 * engine is opened with O_DIRECT for {@code linux-aio} (under the test's temporary directory, or
 * /var/tmp when that refuses O_DIRECT), and buffers, lengths and offsets are multiples of 4096
 * for every engine. The io_uring variant is skipped, with the reason printed, where the kernel
 * refuses io_uring; the linux-aio variant where it refuses io_setup or no directory takes
 * O_DIRECT.
 */
class FileIoEngineTest {
    @TempDir
    Path dir;

    /** Records one operation's completions; flags a completion that ran inside the starting call. */
    static final class Result implements FileIoEngine.Completion {
        boolean starting;
        boolean synchronous;
        int calls;
        long result = Long.MIN_VALUE;

        @Override
        public void complete(long r) {
            synchronous |= starting;
            calls++;
            result = r;
        }
    }

    private static AioContext context() throws ErrnoException {
        return AioContext.builder().name("file-io-test").fdMonitor(FdMonitorKind.IO_URING).build();
    }

    private static FileIoEngine engine(AioContext ctx, String kind) {
        if (kind.equals("linux-aio")) {
            try {
                return FileIoEngines.linuxAio(ctx);
            } catch (ErrnoException e) {
                System.out.println("SKIPPED: Linux AIO unavailable: " + e.getMessage());
                Assumptions.assumeTrue(false, "Linux AIO unavailable: " + e.getMessage());
            }
        }
        if (kind.equals("io_uring")) {
            if (!ctx.hasIoUring()) {
                System.out.println("SKIPPED: io_uring unavailable: " + ctx.ioUringUnavailableReason());
                Assumptions.assumeTrue(false, "io_uring unavailable: " + ctx.ioUringUnavailableReason());
            }
            return FileIoEngines.ioUring(ctx);
        }
        if (kind.equals("write-threads")) {
            return FileIoEngines.writeThreads(ctx, 2); // two writers: the queue has more than one consumer
        }
        return FileIoEngines.threadPool(ctx);
    }

    private static void skipIfStub(FileIoEngine e, UnsupportedOperationException stub) {
        String why = "engine '" + e.name() + "' is not implemented yet (" + stub.getMessage() + ")";
        System.out.println("SKIPPED: " + why);
        Assumptions.assumeTrue(false, why);
    }

    /**
     * Starts {@code op}, checks it did not complete inside the call, polls until it completes and
     * checks that it completed exactly once. Returns the result.
     */
    private static long run(AioContext ctx, FileIoEngine e, String what, Consumer<FileIoEngine.Completion> op) {
        Result r = new Result();
        r.starting = true;
        try {
            op.accept(r);
        } catch (UnsupportedOperationException stub) {
            skipIfStub(e, stub);
        } finally {
            r.starting = false;
        }
        assertFalse(r.synchronous, what + " completed inside the call that started it");
        pollUntil(ctx, what, () -> r.calls > 0);
        for (int i = 0; i < 3; i++) {
            ctx.poll(false);
        }
        assertEquals(1, r.calls, what + " completions");
        return r.result;
    }

    private static void assertRefused(FileIoEngine e, String mustName, Executable call) {
        IllegalArgumentException iae = null;
        try {
            iae = assertThrows(IllegalArgumentException.class, call);
        } catch (org.opentest4j.AssertionFailedError f) {
            if (f.getCause() instanceof UnsupportedOperationException stub) {
                skipIfStub(e, stub);
            }
            throw f;
        }
        assertTrue(iae.getMessage().contains(mustName), "message '" + iae.getMessage() + "' does not name " + mustName);
    }

    /** A 4096-aligned native copy of {@code data} (O_DIRECT takes aligned buffers). */
    private static MemorySegment copyOf(Arena a, byte[] data) {
        MemorySegment m = a.allocate(Math.max(1, data.length), 4096).asSlice(0, data.length);
        MemorySegment.copy(data, 0, m, JAVA_BYTE, 0, data.length);
        return m;
    }

    private int openFile(String name, byte[] content) throws Exception {
        Path f = dir.resolve(name);
        Files.write(f, content);
        return Fds.open(f.toString(), Fds.O_RDWR, 0);
    }

    /**
     * A file of {@code content} for engine {@code kind}, opened read-write (with O_DIRECT for
     * linux-aio, where the directory takes it: the test's directory, else /var/tmp, else the test
     * is skipped with the reason printed). Returns its path; the fd is {@link #fd}.
     */
    private Path openFile(String kind, String name, byte[] content) throws Exception {
        if (!kind.equals("linux-aio")) {
            fd = openFile(name, content);
            return dir.resolve(name);
        }
        for (Path d : new Path[] {dir, Path.of("/var/tmp")}) {
            Path f = d == dir ? d.resolve(name) : Files.createTempFile(d, "jaio-aio-" + name, ".img");
            Files.write(f, content);
            try {
                fd = Fds.open(f.toString(), Fds.O_RDWR | Fds.O_DIRECT, 0);
                if (d != dir) {
                    f.toFile().deleteOnExit();
                }
                return f;
            } catch (ErrnoException e) {
                Files.deleteIfExists(f);
                System.out.println("O_DIRECT refused under " + d + ": " + e.getMessage());
            }
        }
        System.out.println("SKIPPED: no directory here takes O_DIRECT, which linux-aio needs");
        Assumptions.assumeTrue(false, "no directory here takes O_DIRECT");
        return null;
    }

    /** The fd opened by the last {@link #openFile(String, String, byte[])}. */
    private int fd = -1;

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void readFillsTheWholeBuffer(String kind) throws Exception {
        byte[] data = pattern(40_960, 1);
        openFile(kind, "r", data);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment buf = a.allocate(20_480, 4096);
            assertEquals(20_480L, run(ctx, e, "read", c -> e.read(fd, 4096, buf, c)));
            assertArrayEquals(Arrays.copyOfRange(data, 4096, 24_576), buf.toArray(JAVA_BYTE));
        } finally {
            Fds.close(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void readPastEndOfFileZeroFillsTheRestAndSucceeds(String kind) throws Exception {
        byte[] data = pattern(6000, 2);
        openFile(kind, "eof", data);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment buf = a.allocate(8192, 4096).fill((byte) 0xFF);
            assertEquals(8192L, run(ctx, e, "read across EOF", c -> e.read(fd, 4096, buf, c)));
            byte[] want = new byte[8192];
            System.arraycopy(data, 4096, want, 0, 6000 - 4096);
            assertArrayEquals(want, buf.toArray(JAVA_BYTE));

            buf.fill((byte) 0xFF);
            assertEquals(8192L, run(ctx, e, "read beyond EOF", c -> e.read(fd, 1 << 20, buf, c)));
            assertArrayEquals(new byte[8192], buf.toArray(JAVA_BYTE));
        } finally {
            Fds.close(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void writesAndFuaWritesReadBackThroughFileChannel(String kind) throws Exception {
        byte[] d1 = pattern(4096, 3);
        byte[] d2 = pattern(8192, 4);
        Path f = openFile(kind, "w", new byte[0]);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            assertEquals(4096L, run(ctx, e, "write", c -> e.write(fd, 0, copyOf(a, d1), false, c)));
            assertEquals(8192L, run(ctx, e, "FUA write", c -> e.write(fd, 12_288, copyOf(a, d2), true, c)));
            assertEquals(0L, run(ctx, e, "flush", c -> e.flush(fd, c)));
        } finally {
            Fds.close(fd);
        }
        byte[] all = Files.readAllBytes(f);
        assertEquals(12_288 + 8192, all.length);
        assertArrayEquals(d1, Arrays.copyOfRange(all, 0, 4096));
        assertArrayEquals(new byte[12_288 - 4096], Arrays.copyOfRange(all, 4096, 12_288));
        assertArrayEquals(d2, Arrays.copyOfRange(all, 12_288, all.length));
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void discardAndWriteZeroesMakeRangesReadAsZeroesAndKeepTheSize(String kind) throws Exception {
        byte[] data = new byte[256 * 1024];
        Arrays.fill(data, (byte) 0xCD);
        Path f = openFile(kind, "z", data);
        try (AioContext ctx = context()) {
            FileIoEngine e = engine(ctx, kind);
            assertEquals(0L, run(ctx, e, "discard", c -> e.discard(fd, 4096, 8192, c)));
            assertEquals(0L, run(ctx, e, "writeZeroes", c -> e.writeZeroes(fd, 65536, 4096 * 3, false, c)));
            assertEquals(0L, run(ctx, e, "writeZeroes(mayUnmap)", c -> e.writeZeroes(fd, 131072, 40_000, true, c)));
        } finally {
            Fds.close(fd);
        }
        byte[] all = Files.readAllBytes(f);
        assertEquals(data.length, all.length);
        for (int i = 0; i < all.length; i++) {
            boolean zero = (i >= 4096 && i < 4096 + 8192) || (i >= 65536 && i < 65536 + 4096 * 3)
                    || (i >= 131072 && i < 131072 + 40_000);
            assertEquals(zero ? 0 : (byte) 0xCD, all[i], "byte " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void writeZeroesWritesZeroesWhereTheFileSystemCannotZeroARange(String kind) throws Exception {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "no writable /dev/shm");
        Path f = Files.createTempFile(shm, "jaio-zero", ".img");
        int size = 4 << 20;
        byte[] data = new byte[size];
        Arrays.fill(data, (byte) 0xCD);
        Files.write(f, data);
        int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            int probe = Syscalls.fallocate(a.allocate(64), fd, Syscalls.FALLOC_FL_ZERO_RANGE, 0, 4096);
            if (probe != -Errno.EOPNOTSUPP) {
                System.out.println("SKIPPED: /dev/shm answers FALLOC_FL_ZERO_RANGE with " + probe + ", not EOPNOTSUPP");
            }
            Assumptions.assumeTrue(probe == -Errno.EOPNOTSUPP, "/dev/shm supports ZERO_RANGE: no fallback to test");
            FileIoEngine e = engine(ctx, kind);
            long off = 1000;
            long len = (5L << 19) + 123; // 2.5 MiB + 123: several chunks of the zero buffer, the last one short
            assertEquals(0L, run(ctx, e, "writeZeroes fallback", c -> e.writeZeroes(fd, off, len, false, c)));
            byte[] all = Files.readAllBytes(f);
            assertEquals(size, all.length);
            for (int i = 0; i < size; i++) {
                assertEquals(i >= off && i < off + len ? 0 : (byte) 0xCD, all[i], "byte " + i);
            }
        } finally {
            Fds.close(fd);
            Files.deleteIfExists(f);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void emptyOperationsStillCompleteLaterAndOnce(String kind) throws Exception {
        openFile(kind, "empty", new byte[100]);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment none = a.allocate(8).asSlice(0, 0);
            assertEquals(0L, run(ctx, e, "empty read", c -> e.read(fd, 0, none, c)));
            assertEquals(0L, run(ctx, e, "empty write", c -> e.write(fd, 0, none, false, c)));
            assertEquals(0L, run(ctx, e, "empty discard", c -> e.discard(fd, 0, 0, c)));
            assertEquals(0L, run(ctx, e, "empty writeZeroes", c -> e.writeZeroes(fd, 0, 0, false, c)));
            assertEquals(100L, Fds.size(fd));
        } finally {
            Fds.close(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void badArgumentsThrowNamingTheValueAndStartNothing(String kind) throws Exception {
        openFile(kind, "bad", new byte[100]);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            Result r = new Result();
            MemorySegment buf = a.allocate(16);
            assertRefused(e, "heap", () -> e.read(fd, 0, MemorySegment.ofArray(new byte[16]), r));
            assertRefused(e, "heap", () -> e.write(fd, 0, MemorySegment.ofArray(new byte[16]), false, r));
            assertRefused(e, "-7", () -> e.read(fd, -7, buf, r));
            assertRefused(e, "-8", () -> e.write(fd, -8, buf, true, r));
            assertRefused(e, "-9", () -> e.discard(fd, 0, -9, r));
            assertRefused(e, "-10", () -> e.writeZeroes(fd, -10, 5, false, r));
            long nearMax = Long.MAX_VALUE - 10;
            assertRefused(e, String.valueOf(nearMax), () -> e.read(fd, nearMax, buf, r));
            assertRefused(e, String.valueOf(nearMax), () -> e.discard(fd, nearMax, 11, r));
            assertRefused(e, String.valueOf(nearMax), () -> e.writeZeroes(fd, nearMax, 100, true, r));
            assertEquals(0L, run(ctx, e, "flush after refused calls", c -> e.flush(fd, c)));
            assertEquals(0, r.calls, "a refused operation completed");
        } finally {
            Fds.close(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void operationsOnAnFdThatIsNotOpenCompleteWithEbadf(String kind) throws Exception {
        int fd = 999_998;
        assertFalse(Fds.isOpen(fd));
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment buf = a.allocate(512);
            assertEquals(-Errno.EBADF, run(ctx, e, "read", c -> e.read(fd, 0, buf, c)));
            assertEquals(-Errno.EBADF, run(ctx, e, "write", c -> e.write(fd, 0, buf, false, c)));
            assertEquals(-Errno.EBADF, run(ctx, e, "flush", c -> e.flush(fd, c)));
            assertEquals(-Errno.EBADF, run(ctx, e, "discard", c -> e.discard(fd, 0, 512, c)));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void misalignedODirectBufferCompletesWithEinval(String kind) throws Exception {
        int fd = UringTestSupport.ODirect.openOrSkip("engine-" + kind);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment block = a.allocate(8192, 4096);
            assertEquals(4096L, run(ctx, e, "aligned O_DIRECT read", c -> e.read(fd, 0, block.asSlice(0, 4096), c)));
            assertEquals(0x11, block.get(JAVA_BYTE, 0));
            assertEquals(-Errno.EINVAL, run(ctx, e, "misaligned O_DIRECT read", c -> e.read(fd, 0, block.asSlice(1, 4096), c)));
        } finally {
            UringTestSupport.ODirect.closeAndDelete(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void manyConcurrentOperationsEachCompleteOnce(String kind) throws Exception {
        int n = 200;
        int block = 4096;
        byte[] data = pattern(n * block, 5);
        openFile(kind, "many", new byte[0]);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment src = copyOf(a, data);
            MemorySegment dst = a.allocate(data.length, 4096);
            Result[] rs = new Result[n];
            try {
                for (int i = 0; i < n; i++) {
                    rs[i] = new Result();
                    e.write(fd, (long) i * block, src.asSlice((long) i * block, block), false, rs[i]);
                }
            } catch (UnsupportedOperationException stub) {
                skipIfStub(e, stub);
            }
            pollUntil(ctx, n + " writes", () -> Arrays.stream(rs).allMatch(r -> r.calls > 0));
            for (int i = n - 1; i >= 0; i--) {
                assertEquals(block, rs[i].result);
                rs[i] = new Result();
                e.read(fd, (long) i * block, dst.asSlice((long) i * block, block), rs[i]);
            }
            pollUntil(ctx, n + " reads", () -> Arrays.stream(rs).allMatch(r -> r.calls > 0));
            ctx.poll(false);
            for (Result r : rs) {
                assertEquals(1, r.calls);
                assertEquals(block, r.result);
            }
            assertArrayEquals(data, dst.toArray(JAVA_BYTE));
        } finally {
            Fds.close(fd);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "linux-aio", "threads", "write-threads"})
    void aCompletionMayStartTheNextOperation(String kind) throws Exception {
        openFile(kind, "chain", pattern(64 * 4096, 6));
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = engine(ctx, kind);
            MemorySegment buf = a.allocate(4096, 4096);
            int[] done = {0};
            long[] firstError = {0};
            FileIoEngine.Completion next = new FileIoEngine.Completion() {
                @Override
                public void complete(long result) {
                    if (result != 4096 && firstError[0] == 0) {
                        firstError[0] = result == 0 ? Long.MIN_VALUE : result;
                    }
                    if (++done[0] < 64) {
                        e.read(fd, done[0] * 4096L, buf, this);
                    }
                }
            };
            try {
                e.read(fd, 0, buf, next);
            } catch (UnsupportedOperationException stub) {
                skipIfStub(e, stub);
            }
            pollUntil(ctx, "64 chained reads", () -> done[0] == 64);
            assertEquals(0, firstError[0]);
            if (e instanceof UringFileIoEngine u) {
                assertEquals(16, u.requestsCreated(), "sequential operations grew the request pool");
            }
            if (e instanceof LinuxAioFileIoEngine l) {
                assertEquals(16, l.state().requestsCreated(), "sequential operations grew the request pool");
            }
        } finally {
            Fds.close(fd);
        }
    }

    // ---- io_uring only: short transfers on pipes, the request pool ----

    private static FileIoEngine uringEngine(AioContext ctx) {
        return engine(ctx, "io_uring");
    }

    @Test
    void uringEngineContinuesAShortReadAndZeroFillsAtEndOfFile() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = uringEngine(ctx);
            byte[] first = pattern(100, 7);
            byte[] second = pattern(200, 8);
            assertEquals(100, Fds.write(p[1], first));
            MemorySegment buf = a.allocate(300);
            Result r = new Result();
            e.read(p[0], 0, buf, r);
            for (int i = 0; i < 3; i++) {
                ctx.poll(false); // the first 100 bytes arrive; the rest of the read waits in the kernel
            }
            assertEquals(0, r.calls, "a short read completed the operation: " + r.result);
            assertEquals(200, Fds.write(p[1], second));
            pollUntil(ctx, "continued read", () -> r.calls > 0);
            assertEquals(300L, r.result);
            byte[] want = new byte[300];
            System.arraycopy(first, 0, want, 0, 100);
            System.arraycopy(second, 0, want, 100, 200);
            assertArrayEquals(want, buf.toArray(JAVA_BYTE));

            // End of file in the middle: the rest of the buffer reads as zeroes and the read succeeds.
            assertEquals(50, Fds.write(p[1], Arrays.copyOf(first, 50)));
            Fds.close(p[1]);
            p[1] = -1;
            MemorySegment big = a.allocate(8192).fill((byte) 0xFF);
            assertEquals(8192L, run(ctx, e, "read to EOF", c -> e.read(p[0], 0, big, c)));
            byte[] wantBig = new byte[8192];
            System.arraycopy(first, 0, wantBig, 0, 50);
            assertArrayEquals(wantBig, big.toArray(JAVA_BYTE));
        } finally {
            UringTestSupport.closeQuietly(p[0]);
            UringTestSupport.closeQuietly(p[1]);
        }
    }

    @Test
    void uringEngineContinuesShortWritesIntoAFullPipe() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine e = uringEngine(ctx);
            byte[] data = pattern(512 * 1024, 9); // 8x a default pipe's capacity
            Result r = new Result();
            e.write(p[1], 0, copyOf(a, data), false, r);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            pollUntil(ctx, "write through a pipe", () -> {
                for (int i = 0; i < 64; i++) { // drain what is there; EAGAIN (null) ends it
                    byte[] chunk;
                    try {
                        chunk = Fds.read(p[0], 65536);
                    } catch (ErrnoException ex) {
                        throw new AssertionError(ex);
                    }
                    if (chunk == null) {
                        break;
                    }
                    got.writeBytes(chunk);
                }
                return r.calls > 0 && got.size() == data.length;
            });
            assertEquals(1, r.calls);
            assertEquals(data.length, r.result);
            assertArrayEquals(data, got.toByteArray());
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void uringEngineReusesItsRequestsOnceThePoolHasGrown() throws Exception {
        int n = 100;
        int fd = openFile("pool", pattern(n * 512, 10));
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            UringFileIoEngine e = (UringFileIoEngine) uringEngine(ctx);
            MemorySegment buf = a.allocate(n * 512L);
            int[] done = {0};
            FileIoEngine.Completion count = result -> done[0]++;
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < n; i++) {
                    e.read(fd, i * 512L, buf.asSlice(i * 512L, 512), count);
                }
                int want = round * n;
                pollUntil(ctx, "round " + round, () -> done[0] == want);
                assertEquals(n, e.requestsCreated(), "requests made after round " + round);
            }
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void dataWrittenByOneEngineIsReadByTheOther() throws Exception {
        Path f = dir.resolve("both");
        byte[] data = pattern(9000, 11);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[1]), 0);
        }
        int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
        try (AioContext ctx = context(); Arena a = Arena.ofConfined()) {
            FileIoEngine u = uringEngine(ctx);
            FileIoEngine t = FileIoEngines.threadPool(ctx);
            assertEquals(9000L, run(ctx, u, "io_uring write", c -> u.write(fd, 0, copyOf(a, data), false, c)));
            MemorySegment buf = a.allocate(9000);
            assertEquals(9000L, run(ctx, t, "thread-pool read", c -> t.read(fd, 0, buf, c)));
            assertArrayEquals(data, buf.toArray(JAVA_BYTE));
        } finally {
            Fds.close(fd);
        }
    }
}
