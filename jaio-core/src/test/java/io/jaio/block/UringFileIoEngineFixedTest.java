// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static io.jaio.testing.TestSupport.pattern;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.uringContext;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.jaio.AioContext;
import io.jaio.Fds;
import io.jaio.uring.IoUring;

/**
 * The io_uring file engine on buffers registered with {@link IoUring#registerBuffers}: slices of
 * them go as READ_FIXED / WRITE_FIXED, other buffers the plain way (moved out of
 * IoUringRegisteredTest with the engine's package). Skipped, with the reason printed, without
 * io_uring.
 */
class UringFileIoEngineFixedTest {
    @TempDir
    Path dir;

    private Path fileOf(String name, byte[] data) throws Exception {
        Path f = dir.resolve(name);
        Files.write(f, data);
        return f;
    }

    @Test
    void fileEngineUsesReadFixedAndWriteFixedForSlicesOfRegisteredBuffers() throws Exception {
        byte[] data = pattern(3 * 4096, 10);
        Path f = fileOf("engine", new byte[4 * 4096]);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            UringFileIoEngine e = (UringFileIoEngine) FileIoEngines.ioUring(ctx);
            MemorySegment reg = a.allocate(8 * 4096, 4096);
            IoUring.of(ctx).registerBuffers(reg);
            int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
            try {
                MemorySegment src = reg.asSlice(0, data.length);
                MemorySegment.copy(data, 0, src, JAVA_BYTE, 0, data.length);
                long[] result = {Long.MIN_VALUE};
                e.write(fd, 4096, src, false, r -> result[0] = r);
                pollUntil(ctx, "engine write", () -> result[0] != Long.MIN_VALUE);
                assertEquals(data.length, result[0]);
                assertEquals(1, e.fixedBufferSteps(), "the write did not use WRITE_FIXED");

                MemorySegment dst = reg.asSlice(4 * 4096, data.length);
                result[0] = Long.MIN_VALUE;
                e.read(fd, 4096, dst, r -> result[0] = r);
                pollUntil(ctx, "engine read", () -> result[0] != Long.MIN_VALUE);
                assertEquals(data.length, result[0]);
                assertArrayEquals(data, dst.toArray(JAVA_BYTE));
                assertEquals(2, e.fixedBufferSteps(), "the read did not use READ_FIXED");

                MemorySegment plain = a.allocate(4096); // not registered: the plain path
                result[0] = Long.MIN_VALUE;
                e.read(fd, 4096, plain, r -> result[0] = r);
                pollUntil(ctx, "engine read into a plain buffer", () -> result[0] != Long.MIN_VALUE);
                assertEquals(4096, result[0]);
                assertArrayEquals(Arrays.copyOf(data, 4096), plain.toArray(JAVA_BYTE));
                assertEquals(2, e.fixedBufferSteps());
            } finally {
                Fds.close(fd);
            }
            assertArrayEquals(data, Arrays.copyOfRange(Files.readAllBytes(f), 4096, 4096 + data.length));
        }
    }
}
