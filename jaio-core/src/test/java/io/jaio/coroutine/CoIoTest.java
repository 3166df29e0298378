// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.uring.Uring;
import io.jaio.AioContext;
import io.jaio.testing.CoTestSupport;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;

/**
 * I/O from coroutines: {@link CoUring#submit} (QEMU luring_co_submit) and {@link CoFileIo} on
 * both file engines, with real files. io_uring cases are skipped, with the kernel's reason, where
 * io_uring is refused.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CoIoTest {
    @TempDir
    Path dir;

    private static AioContext uringContext(CoTestSupport.Failures f) throws ErrnoException {
        AioContext ctx = AioContext.builder().name("co-io").fdMonitor(FdMonitorKind.IO_URING).errorHandler(f.handler()).build();
        ctx.makeCurrent();
        return ctx;
    }

    @Test
    void coUringSubmitYieldsUntilTheCompletion() throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        try (AioContext ctx = uringContext(failures)) {
            assumeTrue(ctx.hasIoUring(), () -> "io_uring unavailable: " + ctx.ioUringUnavailableReason());
            int[] results = new int[3];
            int[] stage = {0};
            Coroutine co = Coroutine.create(() -> {
                for (int i = 0; i < results.length; i++) { // the handler is reused: one request at a time
                    results[i] = CoUring.submit(sqe -> sqe.opcode(Uring.OP_NOP));
                    stage[0]++;
                }
                results[2] = CoUring.submit(sqe -> sqe.opcode(Uring.OP_READ).fd(-1)); // EBADF from the kernel
            });
            Coroutine.enter(co);
            assertEquals(0, stage[0]); // yielded: completions never arrive inside the submission
            CoTestSupport.pollUntil(ctx, "the coroutine", co::isDone);
            assertEquals(0, results[0]);
            assertEquals(0, results[1]);
            assertEquals(-Errno.EBADF, results[2]);
            failures.check();
        }
    }

    /** CoFileIo write, flush, read back, zeroes and discard on both engines. */
    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "threads"})
    void coFileIoRoundTripsThroughAFile(String engineName) throws Exception {
        CoTestSupport.Failures failures = new CoTestSupport.Failures();
        Path file = Files.createFile(dir.resolve("data-" + engineName));
        try (AioContext ctx = uringContext(failures); Arena arena = Arena.ofShared()) {
            if (engineName.equals("io_uring")) {
                assumeTrue(ctx.hasIoUring(), () -> "io_uring unavailable: " + ctx.ioUringUnavailableReason());
            }
            FileIoEngine engine = engineName.equals("io_uring") ? FileIoEngines.ioUring(ctx) : FileIoEngines.threadPool(ctx);
            int fd = Fds.open(file.toString(), Fds.O_RDWR, 0);
            try {
                boolean[] probed = {false};
                try {
                    engine.flush(fd, res -> probed[0] = true);
                } catch (UnsupportedOperationException e) {
                    assumeTrue(false, () -> "engine '" + engineName + "' not implemented in this build: " + e.getMessage());
                }
                CoTestSupport.pollUntil(ctx, "the probe flush", () -> probed[0]);
                MemorySegment out = arena.allocate(8192, 4096);
                for (int i = 0; i < 8192; i++) {
                    out.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 1));
                }
                MemorySegment in = arena.allocate(8192, 4096);
                MemorySegment in2 = arena.allocate(8192, 4096);
                long[] r = new long[6];
                Coroutine co = Coroutine.create(() -> {
                    r[0] = CoFileIo.write(engine, fd, 0, out, false);
                    r[1] = CoFileIo.flush(engine, fd);
                    r[2] = CoFileIo.read(engine, fd, 0, in);
                    r[3] = CoFileIo.writeZeroes(engine, fd, 0, 4096, false);
                    r[4] = CoFileIo.discard(engine, fd, 4096, 4096);
                    r[5] = CoFileIo.read(engine, fd, 0, in2);
                });
                Coroutine.enter(co);
                CoTestSupport.pollUntil(ctx, "the coroutine", co::isDone);
                assertEquals(8192, r[0]);
                assertEquals(0, r[1]);
                assertEquals(8192, r[2]);
                assertEquals(0, r[3]);
                assertTrue(r[4] == 0 || r[4] == -Errno.EOPNOTSUPP, "discard: " + r[4]);
                assertEquals(8192, r[5]);
                assertEquals(-1, in.mismatch(out), "read back what was written");
                for (int i = 0; i < 8192; i++) {
                    byte expected = i < 4096 || r[4] == 0 ? 0 : (byte) (i * 7 + 1);
                    assertEquals(expected, in2.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " after writeZeroes and discard");
                }
            } finally {
                Fds.close(fd);
            }
            failures.check();
        }
    }
}
