// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.TestSupport.pattern;
import static io.jaio.testing.UringTestSupport.Recorder;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.uringContext;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.uring.Uring;
import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.testing.UringTestSupport;
import io.jaio.uring.IoUring;

/**
 * Registered (fixed) files and buffers ({@link IoUring#registerFiles},
 * {@link IoUring#registerBuffers} and the fixed operations) on real files in a temp dir, checked
 * through another path; and the misuse each must refuse before anything is submitted. Skipped,
 * with the reason printed, without io_uring. The io_uring file engine's use of registered buffers
 * is tested in {@code io.jaio.block.UringFileIoEngineFixedTest}.
 */
class IoUringRegisteredTest {
    private static final int ETIME = 62;

    @TempDir
    Path dir;

    private Path fileOf(String name, byte[] data) throws Exception {
        Path f = dir.resolve(name);
        Files.write(f, data);
        return f;
    }

    private static Recorder await(AioContext ctx, String what, Recorder r) {
        pollUntil(ctx, what, () -> r.calls > 0);
        return r;
    }

    @Test
    void registeredFileIsReadAndWrittenBySlotEvenAfterItsFdIsClosed() throws Exception {
        byte[] data = pattern(3 * 4096, 1);
        Path f = fileOf("files", data);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
            ring.registerFiles(-1, fd);
            assertEquals(2, ring.registeredFileCount());
            assertEquals(1, ring.registeredFileIndexOf(fd));
            assertEquals(-1, ring.registeredFileIndexOf(fd + 1000));

            MemorySegment buf = a.allocate(4096);
            Recorder r = await(ctx, "fixed-file read", readFixedFile(ring, 1, buf, 4096));
            assertEquals(4096, r.res);
            assertArrayEquals(Arrays.copyOfRange(data, 4096, 8192), buf.toArray(JAVA_BYTE));

            Fds.close(fd); // the slot holds its own reference to the file
            byte[] out = pattern(100, 2);
            MemorySegment src = a.allocate(out.length);
            MemorySegment.copy(out, 0, src, JAVA_BYTE, 0, out.length);
            Recorder w = new Recorder();
            ring.writeFixedFile(1, src, 10, w);
            assertEquals(out.length, await(ctx, "fixed-file write after close(fd)", w).res);
            assertArrayEquals(out, Arrays.copyOfRange(Files.readAllBytes(f), 10, 10 + out.length));

            Recorder empty = await(ctx, "read of an empty slot", readFixedFile(ring, 0, buf, 0));
            assertEquals(-Errno.EBADF, empty.res);

            ring.updateFiles(1, -1); // empties the slot: the file is released
            Recorder gone = await(ctx, "read of the emptied slot", readFixedFile(ring, 1, buf, 0));
            assertEquals(-Errno.EBADF, gone.res);

            ring.unregisterFiles();
            assertEquals(0, ring.registeredFileCount());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ring.readFixedFile(1, buf, 0, new Recorder()));
            assertTrue(e.getMessage().contains("no registered files"), e.getMessage());
            ring.registerFiles(-1); // unregistered: a new table may be registered
            ring.unregisterFiles();
        }
    }

    private static Recorder readFixedFile(IoUring ring, int slot, MemorySegment buf, long offset) {
        Recorder r = new Recorder();
        ring.readFixedFile(slot, buf, offset, r);
        return r;
    }

    @Test
    void sparseFileTableIsFilledAndEmptiedWithUpdateFiles() throws Exception {
        byte[] a1 = pattern(4096, 3);
        byte[] b1 = pattern(4096, 4);
        Path fa = fileOf("a", a1);
        Path fb = fileOf("b", b1);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            ring.registerFilesSparse(64);
            assertEquals(64, ring.registeredFileCount());
            MemorySegment buf = a.allocate(4096);
            assertEquals(-Errno.EBADF, await(ctx, "read of a sparse slot", readFixedFile(ring, 40, buf, 0)).res);

            int fda = Fds.open(fa.toString(), Fds.O_RDONLY, 0);
            int fdb = Fds.open(fb.toString(), Fds.O_RDONLY, 0);
            try {
                ring.updateFiles(40, fda, fdb);
                assertEquals(40, ring.registeredFileIndexOf(fda));
                assertEquals(41, ring.registeredFileIndexOf(fdb));
                assertEquals(4096, await(ctx, "slot 40", readFixedFile(ring, 40, buf, 0)).res);
                assertArrayEquals(a1, buf.toArray(JAVA_BYTE));
                assertEquals(4096, await(ctx, "slot 41", readFixedFile(ring, 41, buf, 0)).res);
                assertArrayEquals(b1, buf.toArray(JAVA_BYTE));

                ring.updateFiles(40, fdb); // replace: slot 40 now reads b
                assertEquals(4096, await(ctx, "slot 40 replaced", readFixedFile(ring, 40, buf, 0)).res);
                assertArrayEquals(b1, buf.toArray(JAVA_BYTE));
            } finally {
                Fds.close(fda);
                Fds.close(fdb);
            }
            ErrnoException e = assertThrows(ErrnoException.class, () -> ring.updateFiles(0, fda)); // now closed
            assertEquals(Errno.EBADF, e.errno());
            assertEquals(-1, ring.registeredFileIndexOf(fda));
            assertEquals(-Errno.EBADF, await(ctx, "slot 0 after a refused update", readFixedFile(ring, 0, buf, 0)).res);
        }
    }

    @Test
    void fixedBuffersReadAndWriteSlicesWithPlainAndFixedFiles() throws Exception {
        byte[] data = pattern(8 * 4096, 5);
        Path f = fileOf("bufs", data);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            MemorySegment big = a.allocate(64 * 1024, 4096);
            MemorySegment small = a.allocate(512, 64);
            ring.registerBuffers(big, small);
            assertEquals(2, ring.registeredBufferCount());
            assertEquals(0, ring.registeredBufferIndexOf(big.asSlice(60 * 1024)));
            assertEquals(1, ring.registeredBufferIndexOf(small));
            assertEquals(-1, ring.registeredBufferIndexOf(a.allocate(16)));
            int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
            try {
                MemorySegment slice = big.asSlice(8192, 4096);
                Recorder r = new Recorder();
                ring.readFixed(fd, slice, 0, 3 * 4096, r);
                assertEquals(4096, await(ctx, "READ_FIXED", r).res);
                assertArrayEquals(Arrays.copyOfRange(data, 3 * 4096, 4 * 4096), slice.toArray(JAVA_BYTE));
                assertEquals(0L, big.get(JAVA_LONG, 0), "bytes outside the slice were written");

                byte[] out = pattern(512, 6);
                MemorySegment.copy(out, 0, small, JAVA_BYTE, 0, out.length);
                Recorder w = new Recorder();
                ring.writeFixed(fd, small, 1, 100, w);
                assertEquals(512, await(ctx, "WRITE_FIXED", w).res);
                assertArrayEquals(out, Arrays.copyOfRange(Files.readAllBytes(f), 100, 612));

                ring.registerFiles(fd);
                MemorySegment both = big.asSlice(0, 2 * 4096);
                Recorder rb = new Recorder();
                ring.readFixedFileAndBuffer(0, both, 0, 5 * 4096, rb);
                assertEquals(8192, await(ctx, "READ_FIXED on a fixed file", rb).res);
                assertArrayEquals(Arrays.copyOfRange(data, 5 * 4096, 7 * 4096), both.toArray(JAVA_BYTE));
                Recorder wb = new Recorder();
                ring.writeFixedFileAndBuffer(0, small.asSlice(0, 16), 1, 0, wb);
                assertEquals(16, await(ctx, "WRITE_FIXED on a fixed file", wb).res);
                assertArrayEquals(Arrays.copyOf(out, 16), Arrays.copyOf(Files.readAllBytes(f), 16));
            } finally {
                Fds.close(fd);
            }
            ring.unregisterBuffers();
            assertEquals(0, ring.registeredBufferCount());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> ring.readFixed(0, small, 1, 0, new Recorder()));
            assertTrue(e.getMessage().contains("no registered buffers"), e.getMessage());
        }
    }

    @Test
    void fixedBufferReadsWithODirect() throws Exception {
        int fd = UringTestSupport.ODirect.openOrSkip("fixed");
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            MemorySegment buf = a.allocate(16 * 4096, 4096);
            ring.registerBuffers(buf);
            ring.registerFiles(fd);
            MemorySegment slice = buf.asSlice(4096, 4096);
            Recorder r = new Recorder();
            ring.readFixedFileAndBuffer(0, slice, 0, 4096, r);
            assertEquals(4096, await(ctx, "O_DIRECT READ_FIXED", r).res, () -> Errno.describe(-r.res));
            for (int i = 0; i < 4096; i++) {
                assertEquals((byte) 0x11, slice.get(JAVA_BYTE, i), "byte " + i);
            }
            Recorder mis = new Recorder();
            ring.readFixed(fd, buf.asSlice(1, 4096), 0, 0, mis); // misaligned for O_DIRECT: the kernel says so
            assertEquals(-Errno.EINVAL, await(ctx, "misaligned O_DIRECT READ_FIXED", mis).res);
        } finally {
            UringTestSupport.ODirect.closeAndDelete(fd);
        }
    }

    @Test
    void linkNextKeepsTheFixedFileFlagOfTheLinkedRequest() throws Exception {
        byte[] data = pattern(4096, 7);
        Path f = fileOf("link", data);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            int fd = Fds.open(f.toString(), Fds.O_RDONLY, 0);
            try {
                ring.registerFilesSparse(1000);
                ring.updateFiles(999, fd); // fd 999 is not open: losing the flag would give -EBADF
            } finally {
                Fds.close(fd);
            }
            MemorySegment buf = a.allocate(4096);
            MemorySegment ts = a.allocate(IoUring.TIMESPEC_SIZE, 8);
            ts.set(JAVA_LONG, 0, 10L); // 10 s: the read completes first
            Recorder read = new Recorder();
            Recorder lt = new Recorder();
            ring.linkNext(sqe -> sqe.opcode(Uring.OP_READ).flags(Uring.IOSQE_FIXED_FILE).fd(999).addr(buf).len(4096), read);
            ring.linkTimeout(ts, 0, lt);
            pollUntil(ctx, "linked fixed-file read", () -> read.calls > 0 && lt.calls > 0);
            assertEquals(4096, read.res, () -> Errno.describe(-read.res));
            assertArrayEquals(data, buf.toArray(JAVA_BYTE));
            assertEquals(-Errno.ECANCELED, lt.res, "the timeout should be cancelled by the read's completion, not " + lt.res);
            assertFalse(lt.res == -ETIME);
        }
    }

    @Test
    void misuseIsRefusedBeforeAnythingIsSubmitted() throws Exception {
        Path f = fileOf("misuse", pattern(4096, 8));
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            IoUring ring = IoUring.of(ctx);
            ctx.poll(false);
            int space = ring.sqSpaceLeft();
            Recorder h = new Recorder();
            MemorySegment plain = a.allocate(4096, 4096);
            int fd = Fds.open(f.toString(), Fds.O_RDONLY, 0);
            try {
                refused(IllegalStateException.class, "no registered files", () -> ring.readFixedFile(0, plain, 0, h));
                refused(IllegalStateException.class, "no registered buffers", () -> ring.readFixed(fd, plain, 0, 0, h));
                refused(IllegalStateException.class, "no registered files", () -> ring.updateFiles(0, fd));
                refused(IllegalStateException.class, "no registered files", ring::unregisterFiles);
                refused(IllegalStateException.class, "no registered buffers", ring::unregisterBuffers);
                refused(IllegalArgumentException.class, "fds[1]=-7", () -> ring.registerFiles(fd, -7));
                refused(IllegalArgumentException.class, "count=0", () -> ring.registerFilesSparse(0));

                ring.registerFiles(fd, -1, -1);
                refused(IllegalStateException.class, "already has 3 registered file slots", () -> ring.registerFiles(fd));
                refused(IllegalStateException.class, "already has 3", () -> ring.registerFilesSparse(8));
                refused(IllegalArgumentException.class, "fileIndex=3 (expected 0..2", () -> ring.readFixedFile(3, plain, 0, h));
                refused(IllegalArgumentException.class, "fileIndex=-1", () -> ring.writeFixedFile(-1, plain, 0, h));
                refused(IllegalArgumentException.class, "first=2, 2 fds", () -> ring.updateFiles(2, fd, fd));
                refused(IllegalArgumentException.class, "offset=-1", () -> ring.readFixedFile(0, plain, -1, h));

                MemorySegment backing = a.allocate(16384, 4096);
                MemorySegment reg = backing.asSlice(0, 8192);
                refused(IllegalArgumentException.class, "on the heap", () -> ring.registerBuffers(MemorySegment.ofArray(new byte[64])));
                refused(IllegalArgumentException.class, "read-only", () -> ring.registerBuffers(reg.asReadOnly()));
                refused(IllegalArgumentException.class, "0 buffers", () -> ring.registerBuffers());
                ring.registerBuffers(reg);
                refused(IllegalStateException.class, "already has 1 registered buffers", () -> ring.registerBuffers(plain));
                refused(IllegalArgumentException.class, "bufIndex=1 (expected 0..0", () -> ring.readFixed(fd, reg, 1, 0, h));
                refused(IllegalArgumentException.class, "not inside registered buffer 0", () -> ring.readFixed(fd, plain, 0, 0, h));
                MemorySegment straddling = backing.asSlice(4096, 8192); // half in, half past the end
                refused(IllegalArgumentException.class, "not inside registered buffer 0",
                        () -> ring.readFixedFileAndBuffer(0, straddling, 0, 0, h));
                refused(IllegalArgumentException.class, "read-only", () -> ring.readFixed(fd, reg.asReadOnly(), 0, 0, h));
                refused(IllegalArgumentException.class, "fileIndex=9", () -> ring.writeFixedFileAndBuffer(9, reg, 0, 0, h));

                assertEquals(space, ring.sqSpaceLeft(), "a refused call took an SQE");
                assertFalse(h.isInFlight());
                assertFalse(ctx.poll(false));
                assertEquals(0, h.calls);
            } finally {
                Fds.close(fd);
            }
        }
    }

    @Test
    void aRegisteredBufferFreedBeforeUnregisterIsRefused() throws Exception {
        Path f = fileOf("freed", pattern(4096, 9));
        try (AioContext ctx = uringContext()) {
            IoUring ring = IoUring.of(ctx);
            Arena mem = Arena.ofConfined();
            MemorySegment buf = mem.allocate(4096, 4096);
            ring.registerBuffers(buf);
            mem.close();
            int fd = Fds.open(f.toString(), Fds.O_RDONLY, 0);
            try {
                refused(IllegalStateException.class, "registered buffer 0 of context", () -> ring.readFixed(fd, buf, 0, 0, new Recorder()));
            } finally {
                Fds.close(fd);
            }
            ring.unregisterBuffers();
        }
    }

    private static void refused(Class<? extends RuntimeException> type, String fragment, Executable call) {
        RuntimeException e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(fragment), () -> "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }
}
