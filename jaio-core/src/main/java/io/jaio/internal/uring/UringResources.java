// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.internal.sys.Errno;
import io.jaio.ErrnoException;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The registered (fixed) files and buffers of one context's ring (IORING_REGISTER_FILES,
 * IORING_REGISTER_BUFFERS and their updates), and the checks the typed fixed operations of
 * {@code io.jaio.uring.IoUring} make before an entry is filled.
 *
 * <p>Implementation notes. Java keeps a copy of what the kernel holds: the fd of each file slot
 * (-1 for an empty slot) and, for each buffer, the segment with its address range. The checks on
 * the submission path read only these arrays (an index compare, two address compares and the
 * segment's liveness), so they allocate nothing; the register calls allocate their argument
 * arrays in a confined arena, which is fine off the hot path. The kernel is the authority: a
 * register call that fails leaves the copy as it was, and a partial file update records the
 * entries the kernel took before it reports the error.
 *
 * <p>Threading: home thread only (the ring is SINGLE_ISSUER).
 */
public final class UringResources {
    /** {@code struct iovec} (linux/uio.h): 16 bytes. */
    private static final long IOVEC_SIZE = 16;

    private static final int[] NO_FILES = new int[0];

    private final Ring ring;
    private final String ctxName;
    /** The fd registered in each file slot (-1: empty); null when no file table is registered. */
    private int[] files;
    /** The registered buffers, by buf_index; null when none are registered. */
    private MemorySegment[] buffers;
    private long[] bufferStart;
    private long[] bufferEnd;

    public UringResources(Ring ring, String ctxName) {
        this.ring = ring;
        this.ctxName = ctxName;
    }

    // ---- files ----

    public int fileCount() {
        return files == null ? 0 : files.length;
    }

    /** The slot holding {@code fd}, or -1. Linear in the table size. */
    public int fileIndexOf(int fd) {
        if (files == null || fd < 0) {
            return -1;
        }
        for (int i = 0; i < files.length; i++) {
            if (files[i] == fd) {
                return i;
            }
        }
        return -1;
    }

    public void registerFiles(int[] fds) throws ErrnoException {
        requireNoFiles();
        if (fds.length == 0) {
            throw new IllegalArgumentException("fds of length 0 (expected at least one fd, or -1 for an empty slot)");
        }
        for (int i = 0; i < fds.length; i++) {
            if (fds[i] < -1) {
                throw new IllegalArgumentException("fds[" + i + "]=" + fds[i] + " (expected an fd >= 0, or -1 for an empty slot)");
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocateFrom(JAVA_INT, fds);
            int r = ring.register(Uring.REGISTER_FILES, arr.address(), fds.length);
            if (r < 0) {
                throw new ErrnoException("io_uring_register(REGISTER_FILES, " + fds.length + " fds)", -r);
            }
        }
        files = fds.clone();
    }

    public void registerFilesSparse(int count) throws ErrnoException {
        requireNoFiles();
        if (count <= 0) {
            throw new IllegalArgumentException("count=" + count + " (expected at least 1 file slot)");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment rr = a.allocate(Uring.RSRC_REGISTER_SIZE, 8);
            rr.set(JAVA_INT, Uring.RSRC_REGISTER_NR, count);
            rr.set(JAVA_INT, Uring.RSRC_REGISTER_FLAGS, Uring.RSRC_REGISTER_SPARSE);
            int r = ring.register(Uring.REGISTER_FILES2, rr.address(), (int) Uring.RSRC_REGISTER_SIZE);
            if (r == -Errno.EINVAL) {
                // Before 5.19 there is no SPARSE flag: a table of -1 entries is the same thing.
                MemorySegment arr = a.allocate(JAVA_INT, count);
                arr.fill((byte) 0xff);
                r = ring.register(Uring.REGISTER_FILES, arr.address(), count);
            }
            if (r < 0) {
                throw new ErrnoException("io_uring_register(REGISTER_FILES2 sparse, " + count + " slots)", -r);
            }
        }
        int[] table = new int[count];
        java.util.Arrays.fill(table, -1);
        files = table;
    }

    public void updateFiles(int first, int[] fds) throws ErrnoException {
        requireFiles("updateFiles()");
        if (first < 0 || fds.length > files.length - first) {
            throw new IllegalArgumentException("updateFiles(first=" + first + ", " + fds.length + " fds) (expected slots within 0.."
                    + (files.length - 1) + ": " + files.length + " file slots registered)");
        }
        for (int i = 0; i < fds.length; i++) {
            if (fds[i] < -1) {
                throw new IllegalArgumentException("fds[" + i + "]=" + fds[i] + " (expected an fd >= 0, or -1 to empty the slot)");
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocateFrom(JAVA_INT, fds.length == 0 ? NO_FILES : fds);
            MemorySegment up = a.allocate(Uring.RSRC_UPDATE_SIZE, 8);
            int done = 0;
            while (done < fds.length) { // bounded: every pass takes at least one entry or throws
                up.set(JAVA_INT, Uring.RSRC_UPDATE_OFFSET, first + done);
                up.set(JAVA_LONG, Uring.RSRC_UPDATE_DATA, arr.address() + 4L * done);
                int r = ring.register(Uring.REGISTER_FILES_UPDATE, up.address(), fds.length - done);
                if (r <= 0) {
                    // The kernel reports the failing entry's errno only when it is the first of the call.
                    throw new ErrnoException("io_uring_register(REGISTER_FILES_UPDATE, slot " + (first + done) + ", fd="
                            + fds[done] + ")", r == 0 ? Errno.EINVAL : -r);
                }
                System.arraycopy(fds, done, files, first + done, r);
                done += r;
            }
        }
    }

    public void unregisterFiles() throws ErrnoException {
        requireFiles("unregisterFiles()");
        int r = ring.register(Uring.UNREGISTER_FILES, 0, 0);
        if (r < 0) {
            throw new ErrnoException("io_uring_register(UNREGISTER_FILES)", -r);
        }
        files = null;
    }

    private void requireNoFiles() {
        if (files != null) {
            throw new IllegalStateException("context '" + ctxName + "' already has " + files.length
                    + " registered file slots (expected none: call unregisterFiles() first, or updateFiles())");
        }
    }

    private void requireFiles(String what) {
        if (files == null) {
            throw noFiles(what);
        }
    }

    private IllegalStateException noFiles(String what) {
        return new IllegalStateException(what + " on context '" + ctxName
                + "', which has no registered files (expected registerFiles() or registerFilesSparse() first)");
    }

    /** Throws unless {@code index} names a slot of the registered file table. Allocation-free. */
    public void checkFileIndex(int index) {
        int[] f = files;
        if (f == null) {
            throw noFiles("a fixed-file operation");
        }
        if (index < 0 || index >= f.length) {
            throw new IllegalArgumentException("fileIndex=" + index + " (expected 0.." + (f.length - 1) + ": " + f.length
                    + " file slots registered)");
        }
    }

    // ---- buffers ----

    public int bufferCount() {
        return buffers == null ? 0 : buffers.length;
    }

    /** The buf_index of the registered buffer that holds all of {@code seg}, or -1. Linear in the count. */
    public int bufferIndexOf(MemorySegment seg) {
        if (buffers == null || !seg.isNative()) {
            return -1;
        }
        long a = seg.address();
        long n = seg.byteSize();
        for (int i = 0; i < buffers.length; i++) {
            if (a >= bufferStart[i] && n <= bufferEnd[i] - a) {
                return i;
            }
        }
        return -1;
    }

    /**
     * As {@link #bufferIndexOf}, but -1 also when that buffer's memory has been freed.
     * Allocation-free; returns at once when no buffers are registered.
     */
    public int liveBufferIndexOf(MemorySegment seg) {
        if (buffers == null) {
            return -1;
        }
        int i = bufferIndexOf(seg);
        return i >= 0 && buffers[i].scope().isAlive() ? i : -1;
    }

    public void registerBuffers(MemorySegment[] segs) throws ErrnoException {
        if (buffers != null) {
            throw new IllegalStateException("context '" + ctxName + "' already has " + buffers.length
                    + " registered buffers (expected none: call unregisterBuffers() first)");
        }
        if (segs.length == 0 || segs.length > Uring.MAX_REG_BUFFERS) {
            throw new IllegalArgumentException(segs.length + " buffers (expected 1.." + Uring.MAX_REG_BUFFERS + ")");
        }
        long[] start = new long[segs.length];
        long[] end = new long[segs.length];
        for (int i = 0; i < segs.length; i++) {
            MemorySegment s = java.util.Objects.requireNonNull(segs[i], "buffers[" + i + "]");
            if (!s.isNative()) {
                throw new IllegalArgumentException("buffers[" + i + "]=" + s + " is on the heap (expected native memory: "
                        + "the kernel pins its pages)");
            }
            if (s.byteSize() == 0 || s.byteSize() > Uring.MAX_REG_BUFFER_BYTES) {
                throw new IllegalArgumentException("buffers[" + i + "] of " + s.byteSize() + " bytes (expected 1.."
                        + Uring.MAX_REG_BUFFER_BYTES + ")");
            }
            if (s.isReadOnly()) {
                throw new IllegalArgumentException("buffers[" + i + "] is read-only (expected writable memory: the kernel "
                        + "pins registered buffers for writing)");
            }
            start[i] = s.address();
            end[i] = s.address() + s.byteSize();
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(IOVEC_SIZE * segs.length, 8);
            for (int i = 0; i < segs.length; i++) {
                iov.set(JAVA_LONG, IOVEC_SIZE * i, start[i]);
                iov.set(JAVA_LONG, IOVEC_SIZE * i + 8, end[i] - start[i]);
            }
            int r = ring.register(Uring.REGISTER_BUFFERS, iov.address(), segs.length);
            if (r < 0) {
                throw new ErrnoException("io_uring_register(REGISTER_BUFFERS, " + segs.length + " buffers)", -r);
            }
        }
        buffers = segs.clone();
        bufferStart = start;
        bufferEnd = end;
    }

    public void unregisterBuffers() throws ErrnoException {
        requireBuffers("unregisterBuffers()");
        int r = ring.register(Uring.UNREGISTER_BUFFERS, 0, 0);
        if (r < 0) {
            throw new ErrnoException("io_uring_register(UNREGISTER_BUFFERS)", -r);
        }
        buffers = null;
        bufferStart = null;
        bufferEnd = null;
    }

    private void requireBuffers(String what) {
        if (buffers == null) {
            throw noBuffers(what);
        }
    }

    private IllegalStateException noBuffers(String what) {
        return new IllegalStateException(what + " on context '" + ctxName
                + "', which has no registered buffers (expected registerBuffers() first)");
    }

    private IllegalArgumentException badBufIndex(int index) {
        return new IllegalArgumentException("bufIndex=" + index + " (expected 0.." + (buffers.length - 1) + ": "
                + buffers.length + " buffers registered)");
    }

    /**
     * Throws unless {@code seg} lies inside registered buffer {@code index}, whose memory is still
     * alive. Allocation-free.
     */
    public void checkBuffer(int index, MemorySegment seg) {
        MemorySegment[] b = buffers;
        if (b == null) {
            throw noBuffers("a fixed-buffer operation");
        }
        if (index < 0 || index >= b.length) {
            throw badBufIndex(index);
        }
        long a = seg.address();
        long n = seg.byteSize();
        if (!seg.isNative() || a < bufferStart[index] || n > bufferEnd[index] - a) {
            throw new IllegalArgumentException("buffer [0x" + Long.toHexString(a) + ", +" + n + ") is not inside registered buffer "
                    + index + " [0x" + Long.toHexString(bufferStart[index]) + ", +" + (bufferEnd[index] - bufferStart[index])
                    + ") (expected a slice of it)");
        }
        if (!b[index].scope().isAlive()) {
            throw new IllegalStateException("registered buffer " + index + " of context '" + ctxName
                    + "' was freed (its arena is closed; expected it to stay alive until unregisterBuffers() or close())");
        }
    }
}
