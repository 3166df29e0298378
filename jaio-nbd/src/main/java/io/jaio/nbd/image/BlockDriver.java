// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;

import io.jaio.block.FileIoEngine;

/**
 * The seam between the NBD connection and an image format: the export's guest view (size,
 * read, write, flush, discard, write-zeroes, allocation status), whatever the file behind it
 * holds. {@link RawImage} passes every operation to the file engine unchanged (the NBD read's
 * buffer is the engine's buffer: no copy); {@code Qcow2Image} maps guest offsets through its
 * tables in coroutines.
 *
 * <p>Every operation takes the caller's {@link FileIoEngine}: each connection (I/O thread) has its
 * own engine, and all data and metadata I/O of the image goes through it. The asynchronous
 * operations follow the engine's contract: {@code done} is called once, on the engine's home
 * thread, with {@code >= 0} or {@code -errno}. The {@code co} operations run inside a
 * coroutine on the engine's home thread and return the result; a qcow2 image calls them on its
 * backing file.
 *
 * <p>Ranges are checked by the caller ({@code offset + length <= size()}, no overflow).
 *
 * <p>Threading: the home thread of the engine passed in (several I/O threads may share one
 * driver, each with its own engine); {@link #size()} and the other queries any thread.
 */
public interface BlockDriver {
    /** Status flag of {@link #coStatus}: the extent reads as zeroes (NBD_STATE_ZERO). */
    int STATUS_ZERO = 2;
    /** Status flag of {@link #coStatus}: no data is stored there (NBD_STATE_HOLE). */
    int STATUS_HOLE = 1;

    /** "raw" or "qcow2". */
    String format();

    /** Guest size in bytes. */
    long size();

    /** Whether writes are refused. */
    boolean readOnly();

    /** The file descriptor of a raw image (for SEEK_DATA and readahead), or -1. */
    int rawFd();

    void read(FileIoEngine engine, long offset, MemorySegment buf, FileIoEngine.Completion done);

    void write(FileIoEngine engine, long offset, MemorySegment buf, boolean fua, FileIoEngine.Completion done);

    void flush(FileIoEngine engine, FileIoEngine.Completion done);

    void discard(FileIoEngine engine, long offset, long length, FileIoEngine.Completion done);

    void writeZeroes(FileIoEngine engine, long offset, long length, boolean mayUnmap, FileIoEngine.Completion done);

    /**
     * Allocation status from {@code offset}: fills {@code out[0]} with the byte count of the
     * first extent (1..{@code length}) that has one status, {@code out[1]} with its
     * {@link #STATUS_HOLE}/{@link #STATUS_ZERO} flags and {@code out[2]} with its allocation
     * depth (0: nowhere in the chain, 1: this image, 2: its backing file, ...). Returns 0 or
     * {@code -errno}. Inside a coroutine.
     */
    long coStatus(FileIoEngine engine, long offset, long length, long[] out);

    /** Reads as {@link #read} does, waited for. Inside a coroutine. */
    long coRead(FileIoEngine engine, long offset, MemorySegment buf);

    /** fdatasync of the image file, blocking: at exit, after the last request. Returns 0 or {@code -errno}. */
    int syncNow();

    /** Closes the file (and the backing chain). Once, after the last request. */
    void close();
}
