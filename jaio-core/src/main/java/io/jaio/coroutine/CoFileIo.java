// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import io.jaio.block.FileIoEngine;

import java.lang.foreign.MemorySegment;

/**
 * {@link FileIoEngine} operations from a coroutine: each starts the operation and yields until
 * its completion, returning the result ({@code >= 0}, or {@code -errno}) instead of calling back.
 * Argument checks and the engine's contract are those of {@link FileIoEngine}.
 *
 * <p>Threading: inside a coroutine running on the engine context's home thread.
 */
public final class CoFileIo {
    private CoFileIo() {
    }

    /**
     * {@link FileIoEngine#read}, waited for: bytes read (the whole buffer) or {@code -errno}.
     *
     * @param engine the engine of the current context that performs the operation
     * @param fd the open file
     * @param offset the file offset in bytes, {@code >= 0}
     * @param buf native memory, alive until this returns
     * @return bytes read or {@code -errno}
     */
    public static long read(FileIoEngine engine, int fd, long offset, MemorySegment buf) {
        CoWaiter w = CoWaiter.arm("CoFileIo.read()");
        engine.read(fd, offset, buf, w);
        return w.await();
    }

    /**
     * {@link FileIoEngine#write}, waited for: bytes written or {@code -errno}.
     *
     * @param engine the engine of the current context that performs the operation
     * @param fd the open file
     * @param offset the file offset in bytes, {@code >= 0}
     * @param buf native memory, alive until this returns
     * @param fua whether the data must be durable when this returns
     * @return bytes written or {@code -errno}
     */
    public static long write(FileIoEngine engine, int fd, long offset, MemorySegment buf, boolean fua) {
        CoWaiter w = CoWaiter.arm("CoFileIo.write()");
        engine.write(fd, offset, buf, fua, w);
        return w.await();
    }

    /**
     * {@link FileIoEngine#flush}, waited for: 0 or {@code -errno}.
     *
     * @param engine the engine of the current context that performs the operation
     * @param fd the open file
     * @return 0 or {@code -errno}
     */
    public static long flush(FileIoEngine engine, int fd) {
        CoWaiter w = CoWaiter.arm("CoFileIo.flush()");
        engine.flush(fd, w);
        return w.await();
    }

    /**
     * {@link FileIoEngine#discard}, waited for: 0 or {@code -errno}.
     *
     * @param engine the engine of the current context that performs the operation
     * @param fd the open file
     * @param offset the file offset in bytes, {@code >= 0}
     * @param length the number of bytes, {@code >= 0}
     * @return 0 or {@code -errno}
     */
    public static long discard(FileIoEngine engine, int fd, long offset, long length) {
        CoWaiter w = CoWaiter.arm("CoFileIo.discard()");
        engine.discard(fd, offset, length, w);
        return w.await();
    }

    /**
     * {@link FileIoEngine#writeZeroes}, waited for: 0 or {@code -errno}.
     *
     * @param engine the engine of the current context that performs the operation
     * @param fd the open file
     * @param offset the file offset in bytes, {@code >= 0}
     * @param length the number of bytes, {@code >= 0}
     * @param mayUnmap whether the range may become a hole instead of allocated zeroes
     * @return 0 or {@code -errno}
     */
    public static long writeZeroes(FileIoEngine engine, int fd, long offset, long length, boolean mayUnmap) {
        CoWaiter w = CoWaiter.arm("CoFileIo.writeZeroes()");
        engine.writeZeroes(fd, offset, length, mayUnmap, w);
        return w.await();
    }
}
