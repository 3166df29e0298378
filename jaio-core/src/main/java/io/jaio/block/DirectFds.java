// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;

import io.jaio.internal.sys.Syscalls;

/**
 * The Linux AIO engine's refusal rule (QEMU refuses {@code aio=native} without
 * {@code cache.direct=on}): a read or write on an fd opened without O_DIRECT is refused, since
 * Linux AIO does buffered I/O inside io_submit and would block the loop. The flags come from
 * {@code fcntl(F_GETFL)}; a positive answer is cached per fd number (a bit each, for fds below
 * {@link #CACHED_FDS}), so the check costs a system call once per fd.
 *
 * <p>What the cache misses: an fd closed and reopened without O_DIRECT under the same number
 * passes. Such a request then blocks the loop in io_submit; its data stays right.
 *
 * <p>Threading: home thread of the engine's context only.
 */
final class DirectFds {
    /** fd numbers below this have their answer cached. */
    static final int CACHED_FDS = 1 << 16;
    /** A bit per fd number known to be open with O_DIRECT. */
    private final long[] direct = new long[CACHED_FDS / 64];
    private final MemorySegment ccs = Syscalls.newErrnoSegment();

    /**
     * Checks that {@code fd} is open with O_DIRECT. An fd that is not open passes (the kernel
     * answers the request with EBADF).
     *
     * @throws IllegalArgumentException if the file is open without O_DIRECT
     */
    void check(int fd) {
        boolean cacheable = fd >= 0 && fd < CACHED_FDS;
        if (cacheable && (direct[fd >>> 6] & (1L << fd)) != 0) {
            return;
        }
        int flags = Syscalls.fcntlGetFl(ccs, fd);
        if (flags < 0) {
            return;
        }
        if ((flags & Syscalls.O_DIRECT) == 0) {
            throw new IllegalArgumentException("fd " + fd + " lacks O_DIRECT (fcntl F_GETFL flags 0x" + Integer.toHexString(flags)
                    + "): Linux AIO blocks on buffered files (expected an fd opened with O_DIRECT, or the io_uring or "
                    + "thread-pool engine)");
        }
        if (cacheable) {
            direct[fd >>> 6] |= 1L << fd;
        }
    }
}
