// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * The blocking system-call loops the engines that run file I/O on their own threads share (the
 * thread-pool engine's workers, the write-threads engine's writers): a whole write, with FUA as
 * {@code pwritev2(RWF_DSYNC)}, and write-zeroes or discard through {@code fallocate} with a
 * fallback of written zeroes. Each returns what the {@link FileIoEngine} completion takes.
 *
 * <p>Threading: any thread; each call uses only its arguments and the shared zero buffer, which
 * is never written after it is allocated.
 */
final class BlockingFileOps {
    /** The largest write of the zero buffer, and its size. */
    static final int ZERO_CHUNK = 1 << 20;

    private BlockingFileOps() {
    }

    /** One zeroed buffer for every engine: allocated zeroed, then only ever read by the kernel. */
    static MemorySegment zeroBuffer() {
        return ZeroBuffer.SEGMENT;
    }

    private static final class ZeroBuffer {
        static final MemorySegment SEGMENT = Arena.global().allocate(ZERO_CHUNK, 4096);
    }

    /**
     * Writes {@code length} bytes at {@code address} to {@code fd} at {@code offset}, retrying
     * short writes, EINTR and EAGAIN; with {@code dsync} each piece is {@code pwritev2(RWF_DSYNC)}
     * through {@code iov} (16 bytes of native memory the caller owns; unused without dsync).
     *
     * @return {@code length}, or a negative errno ({@code -ENOSPC} when a write makes no progress)
     */
    static long writeFully(MemorySegment ccs, MemorySegment iov, int fd, long address, long length, long offset,
            boolean dsync) {
        long done = 0;
        while (done < length) { // each pass makes progress or returns; EINTR/EAGAIN retry
            long r;
            if (dsync) {
                iov.set(ValueLayout.JAVA_LONG, 0, address + done);
                iov.set(ValueLayout.JAVA_LONG, 8, length - done);
                r = Syscalls.pwritev2At(ccs, fd, iov.address(), 1, offset + done, Syscalls.RWF_DSYNC);
            } else {
                r = Syscalls.pwriteAt(ccs, fd, address + done, length - done, offset + done);
            }
            if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                continue;
            }
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                return -Errno.ENOSPC; // no progress: as the other engines' short write
            }
            done += r;
        }
        return length;
    }

    /**
     * Zeroes {@code length} bytes of {@code fd} at {@code offset}: {@code fallocate} with
     * PUNCH_HOLE|KEEP_SIZE when {@code punch} (unmapping allowed), else ZERO_RANGE; where the file
     * system supports neither (EOPNOTSUPP, EINVAL), writes the zero buffer over the range.
     *
     * @return 0, or a negative errno
     */
    static long writeZeroes(MemorySegment ccs, int fd, long offset, long length, boolean punch) {
        int mode = punch ? Syscalls.FALLOC_FL_PUNCH_HOLE | Syscalls.FALLOC_FL_KEEP_SIZE : Syscalls.FALLOC_FL_ZERO_RANGE;
        int r = Syscalls.fallocate(ccs, fd, mode, offset, length);
        if (r != -Errno.EOPNOTSUPP && r != -Errno.EINVAL) {
            return r;
        }
        long done = 0;
        long zeroes = zeroBuffer().address();
        while (done < length) { // the file system zeroes nothing itself: write zeroes
            long chunk = Math.min(ZERO_CHUNK, length - done);
            long n = Syscalls.pwriteAt(ccs, fd, zeroes, chunk, offset + done);
            if (n == -Errno.EINTR || n == -Errno.EAGAIN) {
                continue;
            }
            if (n <= 0) {
                return n == 0 ? -Errno.ENOSPC : n;
            }
            done += n;
        }
        return 0;
    }
}
