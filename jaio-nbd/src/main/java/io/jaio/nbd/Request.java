// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.block.FileIoEngine;

/**
 * One NBD request of a connection, reused for request after request: the parsed header, a
 * payload buffer, the reply header, and the completion the file engine calls. Buffers up to
 * {@link #RETAINED_MAX} bytes stay with the slot (grown by powers of two); larger ones come from
 * an automatic arena per request, so a client that once sent 32 MiB does not pin that much.
 *
 * <p>Threading: the connection's home thread (the engine completes on it too).
 */
final class Request implements FileIoEngine.Completion {
    static final long RETAINED_MAX = 1 << 20;
    /** Room for a structured error reply with its message. */
    static final int HEADER_CAPACITY = 256;

    final NbdConnection conn;
    final MemorySegment header;
    int headerLen;
    private MemorySegment buffer;
    private MemorySegment slice;
    /** The data that follows the header in the reply (a read's result), or null. */
    MemorySegment data;

    int type;
    int flags;
    long cookie;
    long offset;
    int length;
    /** System.nanoTime() when the header was parsed: the start of the request's latency. */
    long startNs;
    /** The NBD error of the reply queued (0: success), for the statistics. */
    int error;
    /** Second step pending after the first completed (a flush after TRIM/WRITE_ZEROES with FUA). */
    boolean flushAfter;
    Request next;

    Request(NbdConnection conn, Arena arena) {
        this.conn = conn;
        this.header = arena.allocate(HEADER_CAPACITY, 8);
    }

    /** A native segment of exactly {@code len} bytes owned by this request until it is freed. */
    MemorySegment payload(int len, Arena arena) {
        if (len > RETAINED_MAX) {
            return Arena.ofAuto().allocate(len, 4096);
        }
        if (buffer == null || buffer.byteSize() < len) {
            long cap = 4096;
            while (cap < len) {
                cap <<= 1;
            }
            buffer = arena.allocate(cap, 4096);
            slice = null;
        }
        if (slice == null || slice.byteSize() != len) {
            slice = buffer.asSlice(0, len); // cached: a stream of same-size requests allocates nothing
        }
        return slice;
    }

    @Override
    public void complete(long result) {
        conn.onEngineDone(this, result);
    }
}
