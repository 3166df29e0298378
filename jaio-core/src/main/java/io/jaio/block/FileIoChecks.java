// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;

/** Argument checks shared by the {@link FileIoEngine}s. Stateless; any thread. */
final class FileIoChecks {
    private FileIoChecks() {
    }

    /** Checks that {@code buf} is native and returns its length. */
    static long buffer(MemorySegment buf) {
        if (buf == null) {
            throw new IllegalArgumentException("buf=null (expected a native memory segment)");
        }
        if (!buf.isNative()) {
            throw new IllegalArgumentException("buffer " + buf + " is on the heap (expected native memory)");
        }
        return buf.byteSize();
    }

    /** Checks {@code 0 <= offset}, {@code 0 <= length} and that {@code offset + length} does not overflow. */
    static void range(long offset, long length) {
        if (offset < 0) {
            throw new IllegalArgumentException("offset=" + offset + " (expected >= 0)");
        }
        if (length < 0) {
            throw new IllegalArgumentException("length=" + length + " (expected >= 0)");
        }
        if (length > Long.MAX_VALUE - offset) {
            throw new IllegalArgumentException("offset=" + offset + " + length=" + length + " overflows (expected a sum <= "
                    + Long.MAX_VALUE + ")");
        }
    }
}
