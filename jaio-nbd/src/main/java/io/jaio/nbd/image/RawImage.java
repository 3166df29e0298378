// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;

import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.coroutine.CoFileIo;

/**
 * A raw image: guest offset = file offset, every operation one file-engine call on the shared
 * fd (today's jaio-nbd data path, unchanged). Also the raw backing file of a qcow2 image, where
 * reads past its end read zeroes. Immutable; see {@link BlockDriver} for the threading rule.
 */
public final class RawImage implements BlockDriver {
    private static final int ENXIO = 6;
    private final int fd;
    private final long size;
    private final boolean readOnly;

    public RawImage(int fd, long size, boolean readOnly) {
        this.fd = fd;
        this.size = size;
        this.readOnly = readOnly;
    }

    @Override
    public String format() {
        return "raw";
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public int rawFd() {
        return fd;
    }

    @Override
    public void read(FileIoEngine engine, long offset, MemorySegment buf, FileIoEngine.Completion done) {
        engine.read(fd, offset, buf, done);
    }

    @Override
    public void write(FileIoEngine engine, long offset, MemorySegment buf, boolean fua, FileIoEngine.Completion done) {
        engine.write(fd, offset, buf, fua, done);
    }

    @Override
    public void flush(FileIoEngine engine, FileIoEngine.Completion done) {
        engine.flush(fd, done);
    }

    @Override
    public void discard(FileIoEngine engine, long offset, long length, FileIoEngine.Completion done) {
        engine.discard(fd, offset, length, done);
    }

    @Override
    public void writeZeroes(FileIoEngine engine, long offset, long length, boolean mayUnmap, FileIoEngine.Completion done) {
        engine.writeZeroes(fd, offset, length, mayUnmap, done);
    }

    @Override
    public long coRead(FileIoEngine engine, long offset, MemorySegment buf) {
        long len = buf.byteSize();
        if (offset >= size) {
            buf.fill((byte) 0);
            return len;
        }
        if (len > size - offset) { // a backing file shorter than its overlay: the rest reads as zeroes
            long in = size - offset;
            buf.asSlice(in).fill((byte) 0);
            long r = CoFileIo.read(engine, fd, offset, buf.asSlice(0, in));
            return r < 0 ? r : len;
        }
        return CoFileIo.read(engine, fd, offset, buf);
    }

    /** Data and holes by SEEK_DATA / SEEK_HOLE; every byte of a raw file is allocated at depth 1. */
    @Override
    public long coStatus(FileIoEngine engine, long offset, long length, long[] out) {
        statusOf(fd, offset, length, out);
        return 0;
    }

    /** {@link #coStatus} without a coroutine: lseek needs none. */
    public static void statusOf(int fd, long offset, long length, long[] out) {
        long end = offset + length;
        long next;
        int flags;
        long data = Fds.seekDataOrHole(fd, offset, true);
        if (data == -ENXIO) {
            next = end; // no data after offset: a hole to the end
            flags = STATUS_HOLE | STATUS_ZERO;
        } else if (data < 0) {
            next = end; // SEEK_DATA unsupported here: report data
            flags = 0;
        } else if (data > offset) {
            next = Math.min(data, end);
            flags = STATUS_HOLE | STATUS_ZERO;
        } else {
            long hole = Fds.seekDataOrHole(fd, offset, false);
            next = hole <= offset ? end : Math.min(hole, end);
            flags = 0;
        }
        out[0] = next - offset;
        out[1] = flags;
        out[2] = 1;
    }

    @Override
    public int syncNow() {
        return io.jaio.Fds.fdatasync(fd);
    }

    @Override
    public void close() {
        try {
            Fds.close(fd);
        } catch (ErrnoException ignored) {
            // closing at exit: nothing left to report it to
        }
    }
}
