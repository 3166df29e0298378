// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;

/**
 * Asynchronous file I/O at an offset, completed on a context's home thread: the small interface
 * block servers (jaio-nbd) are written against. Four engines implement it:
 * {@link FileIoEngines#ioUring} (requests on the context's ring),
 * {@link FileIoEngines#linuxAio} (Linux AIO iocbs, for O_DIRECT files; QEMU's aio=native),
 * {@link FileIoEngines#threadPool} (positional system calls on the context's thread pool, for
 * kernels without io_uring) and {@link FileIoEngines#writeThreads} (reads on io_uring, writes
 * on dedicated writer threads, for page-cache writes).
 *
 * <p>Contract for every operation:
 * <ul>
 * <li>{@code done.complete(result)} is called exactly once, on the home thread, never inside the
 *     call that started the operation; {@code result} is {@code >= 0} on success (bytes for read
 *     and write, 0 otherwise) or {@code -errno}.</li>
 * <li>Reads and writes transfer the whole buffer: short transfers are continued internally; a
 *     read past the end of the file fills the rest of the buffer with zeroes and succeeds.</li>
 * <li>Buffers are native memory that stays alive until the completion. With O_DIRECT, buffer
 *     address, length and offset must be aligned to the device's logical block size (usually 512
 *     or 4096); a misaligned request completes with {@code -EINVAL}.</li>
 * <li>Bad arguments (heap buffer, negative offset or length, offset + length overflowing) throw
 *     {@link IllegalArgumentException} before anything starts.</li>
 * </ul>
 *
 * <p>Threading: home thread of the engine's context only.
 */
public interface FileIoEngine {
    /** Receives the result of one operation. Reusable: the engine keeps no reference after calling it. */
    @FunctionalInterface
    interface Completion {
        /**
         * Called once on the home thread with the operation's result.
         *
         * @param result bytes transferred, 0, or {@code -errno}
         */
        void complete(long result);
    }

    /**
     * "io_uring", "linux-aio", "threads" or "write-threads".
     *
     * @return {@code "io_uring"}, {@code "linux-aio"}, {@code "threads"} or {@code "write-threads"}
     */
    String name();

    /**
     * Reads {@code buf.byteSize()} bytes at {@code offset} into {@code buf}.
     *
     * @param fd the open file; with the Linux AIO engine it must be opened with O_DIRECT
     * @param offset the file offset in bytes, {@code >= 0}
     * @param buf native memory, alive until {@code done} runs
     * @param done receives the result on the home thread: as the system call returns, or {@code -errno}
     */
    void read(int fd, long offset, MemorySegment buf, Completion done);

    /**
     * Writes {@code buf} at {@code offset}; with {@code fua} the data is durable (RWF_DSYNC) before completion.
     *
     * @param fd the open file; with the Linux AIO engine it must be opened with O_DIRECT
     * @param offset the file offset in bytes, {@code >= 0}
     * @param buf native memory, alive until {@code done} runs
     * @param fua whether the data must be durable when {@code done} runs
     * @param done receives the result on the home thread: as the system call returns, or {@code -errno}
     */
    void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done);

    /**
     * Makes written data durable (fdatasync).
     *
     * @param fd the open file; with the Linux AIO engine it must be opened with O_DIRECT
     * @param done receives 0 or {@code -errno} on the home thread
     */
    void flush(int fd, Completion done);

    /**
     * Deallocates a range (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): it then reads as zeroes.
     *
     * @param fd the open file; with the Linux AIO engine it must be opened with O_DIRECT
     * @param offset the file offset in bytes, {@code >= 0}
     * @param length the number of bytes, {@code >= 0}
     * @param done receives 0 or {@code -errno} on the home thread
     */
    void discard(int fd, long offset, long length, Completion done);

    /**
     * Makes a range read as zeroes: FALLOC_FL_ZERO_RANGE, or, with {@code mayUnmap}, a hole punch;
     * falls back to writing zeroes where the file system supports neither.
     *
     * @param fd the open file; with the Linux AIO engine it must be opened with O_DIRECT
     * @param offset the file offset in bytes, {@code >= 0}
     * @param length the number of bytes, {@code >= 0}
     * @param mayUnmap whether the range may become a hole instead of allocated zeroes
     * @param done receives 0 or {@code -errno} on the home thread
     */
    void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done);
}
