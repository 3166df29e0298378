// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.jaio.internal.sys.Syscalls;

/**
 * Small helpers to make and use raw fds in examples and tests: non-blocking pipes and plain
 * reads and writes. Not for hot paths (each call makes a small native buffer). Any thread.
 */
public final class Fds {
    private Fds() {
    }

    /**
     * A non-blocking, close-on-exec pipe: {@code {readFd, writeFd}}.
     *
     * @return {@code {readFd, writeFd}}, both non-blocking and close-on-exec
     * @throws ErrnoException if the system call fails; the message names the call and its errno
     */
    public static int[] pipe() throws ErrnoException {
        return Syscalls.pipe2(Syscalls.O_NONBLOCK | Syscalls.O_CLOEXEC);
    }

    /**
     * Closes {@code fd}; EBADF and other errors are reported as an exception.
     *
     * @param fd the descriptor to close; it is closed even when an error is reported
     * @throws ErrnoException if the system call fails; the message names the call and its errno
     */
    public static void close(int fd) throws ErrnoException {
        int r = Syscalls.close(fd);
        if (r < 0) {
            throw new ErrnoException("close(" + fd + ")", -r);
        }
    }

    /**
     * Writes {@code data}; returns bytes written, or {@code -errno} (for example -EAGAIN).
     *
     * @param fd a descriptor open for writing
     * @param data the bytes to write (all of them, or a prefix)
     * @return the number of bytes written, or {@code -errno}
     */
    public static long write(int fd, byte[] data) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
            return Syscalls.write(Syscalls.threadErrnoSegment(), fd, buf, data.length);
        }
    }

    /**
     * read(2) into {@code buf}, for non-blocking fds on the data path (no allocation).
     *
     * @param fd a descriptor open for reading
     * @param buf native memory to fill (up to its size)
     * @return bytes read, 0 at end of file, or {@code -errno} ({@code -EAGAIN}: nothing to read now)
     */
    public static long read(int fd, MemorySegment buf) {
        return Syscalls.read(Syscalls.threadErrnoSegment(), fd, buf, buf.byteSize());
    }

    /**
     * Reads up to {@code max} bytes; returns them, or null with nothing to read (EAGAIN or EOF).
     * A convenience for tests and small programs: it allocates and throws; the data path uses
     * {@link #read(int, MemorySegment)}, which returns {@code -errno} as the package's error
     * rule asks.
     *
     * @param fd a descriptor open for reading
     * @param max the most bytes to read
     * @return the bytes read, or null when none are available now or at end of file
     * @throws ErrnoException if the system call fails; the message names the call and its errno
     */
    public static byte[] read(int fd, int max) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, max));
            long r = Syscalls.read(Syscalls.threadErrnoSegment(), fd, buf, max);
            if (r == -io.jaio.internal.sys.Errno.EAGAIN || r == 0) {
                return null;
            }
            if (r < 0) {
                throw new ErrnoException("read(" + fd + ")", (int) -r);
            }
            return buf.asSlice(0, r).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** open(2) flags, for {@link #open}. */
    public static final int O_RDONLY = Syscalls.O_RDONLY;
    /** open(2) O_WRONLY. */
    public static final int O_WRONLY = Syscalls.O_WRONLY;
    /** open(2) O_RDWR. */
    public static final int O_RDWR = Syscalls.O_RDWR;
    /** open(2) O_CREAT: create the file if it does not exist. */
    public static final int O_CREAT = Syscalls.O_CREAT;
    /** open(2) O_EXCL: with O_CREAT, fail with EEXIST if the file exists. */
    public static final int O_EXCL = Syscalls.O_EXCL;
    /** open(2) O_TRUNC: truncate to 0 bytes. */
    public static final int O_TRUNC = Syscalls.O_TRUNC;
    /** open(2) O_DIRECT: bypass the page cache (buffers, offsets and lengths must be aligned). */
    public static final int O_DIRECT = Syscalls.O_DIRECT;

    /**
     * Opens {@code path} (always close-on-exec) and returns the fd.
     *
     * @param path the file to open
     * @param flags O_* flags ({@link #O_RDWR}, {@link #O_CREAT}, ...)
     * @param mode the permission bits for a file O_CREAT makes, for example {@code 0644}
     * @return the new file descriptor
     * @throws ErrnoException if open(2) fails, for example ENOENT or EACCES
     */
    public static int open(String path, int flags, int mode) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            int r = Syscalls.open(Syscalls.threadErrnoSegment(), a.allocateFrom(path), flags, mode);
            if (r < 0) {
                throw new ErrnoException("open(" + path + ", 0x" + Integer.toHexString(flags) + ")", -r);
            }
            return r;
        }
    }

    /**
     * The size of the open file {@code fd} (lseek to the end).
     *
     * @param fd an open regular file or block device
     * @return the size in bytes
     * @throws ErrnoException if lseek fails (EBADF, ESPIPE on a pipe)
     */
    public static long size(int fd) throws ErrnoException {
        long r = Syscalls.lseek(Syscalls.threadErrnoSegment(), fd, 0, Syscalls.SEEK_END);
        if (r < 0) {
            throw new ErrnoException("lseek(" + fd + ", 0, SEEK_END)", (int) -r);
        }
        return r;
    }

    /**
     * Sets the size of the open file {@code fd}.
     *
     * @param fd a file open for writing
     * @param length the new size in bytes
     * @throws ErrnoException if ftruncate fails
     */
    public static void truncate(int fd, long length) throws ErrnoException {
        int r = Syscalls.ftruncate(Syscalls.threadErrnoSegment(), fd, length);
        if (r < 0) {
            throw new ErrnoException("ftruncate(" + fd + ", " + length + ")", -r);
        }
    }

    /**
     * pread into {@code buf}: bytes, 0 at end of file, or {@code -errno}. Blocks on storage.
     *
     * @param fd an open file
     * @param buf native memory to fill (up to its size)
     * @param offset the file offset in bytes
     * @return bytes read, 0 at end of file, or {@code -errno}
     */
    public static long pread(int fd, MemorySegment buf, long offset) {
        return Syscalls.pread(Syscalls.threadErrnoSegment(), fd, buf, buf.byteSize(), offset);
    }

    /**
     * pwrite of {@code buf}: bytes, or {@code -errno}. Blocks on storage.
     *
     * @param fd a file open for writing
     * @param buf native memory to write
     * @param offset the file offset in bytes
     * @return bytes written, or {@code -errno}
     */
    public static long pwrite(int fd, MemorySegment buf, long offset) {
        return Syscalls.pwrite(Syscalls.threadErrnoSegment(), fd, buf, buf.byteSize(), offset);
    }

    /**
     * fdatasync: 0 or {@code -errno}.
     *
     * @param fd an open file
     * @return 0, or {@code -errno}
     */
    public static int fdatasync(int fd) {
        return Syscalls.fdatasync(Syscalls.threadErrnoSegment(), fd);
    }

    /**
     * lseek with SEEK_DATA ({@code data}) or SEEK_HOLE: the offset found, or {@code -errno}
     * ({@code -ENXIO} when no data follows {@code offset}).
     *
     * @param fd an open file
     * @param offset where the search starts
     * @param data true for SEEK_DATA, false for SEEK_HOLE
     * @return the offset found, or {@code -errno}
     */
    public static long seekDataOrHole(int fd, long offset, boolean data) {
        return Syscalls.lseek(Syscalls.threadErrnoSegment(), fd, offset, data ? Syscalls.SEEK_DATA : Syscalls.SEEK_HOLE);
    }

    /**
     * posix_fadvise(POSIX_FADV_WILLNEED): start reading a range into the page cache; 0 or an errno.
     *
     * @param fd an open file
     * @param offset the start of the range
     * @param length the range length in bytes (0 = to the end of the file)
     * @return 0, or an errno
     */
    public static int adviseWillNeed(int fd, long offset, long length) {
        return Syscalls.fadvise(fd, offset, length, 3);
    }

    /**
     * {@return whether {@code fd} is an open descriptor of this process}
     *
     * @param fd the descriptor to check
     */
    public static boolean isOpen(int fd) {
        return Syscalls.fcntlGetFd(fd) >= 0;
    }
}
