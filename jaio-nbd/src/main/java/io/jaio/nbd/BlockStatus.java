// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.MemorySegment;

import io.jaio.Fds;

import static io.jaio.nbd.Wire.BE_INT;

/**
 * NBD_CMD_BLOCK_STATUS for the {@code base:allocation} context: holes and data found with
 * SEEK_HOLE / SEEK_DATA, reported as (length, flags) extents. Home thread of the connection.
 */
final class BlockStatus {
    /** Extents per reply (the client asks again for the rest). */
    static final int MAX_EXTENTS = 512;
    /** Largest extent length: fits the u32 field and keeps 4 KiB alignment. */
    private static final long MAX_EXTENT = 0xFFFF_F000L;
    private static final int ENXIO = 6;

    private BlockStatus() {
    }

    static void reply(NbdConnection c, Request r) {
        long len = Integer.toUnsignedLong(r.length);
        Export e = c.export;
        if (!c.structured || !c.metaBaseAllocation) {
            c.replyError(r, Nbd.EINVAL, "block status without structured replies and base:allocation negotiated");
            return;
        }
        if ((r.flags & ~Nbd.CMD_FLAG_REQ_ONE) != 0) {
            c.replyError(r, Nbd.EINVAL, "unknown block status flags 0x" + Integer.toHexString(r.flags));
            return;
        }
        if (len == 0 || r.offset < 0 || r.offset > e.size || len > e.size - r.offset) {
            c.replyError(r, Nbd.EINVAL, "block status of " + r.offset + "+" + len + " outside the export (" + e.size + ")");
            return;
        }
        int max = (r.flags & Nbd.CMD_FLAG_REQ_ONE) != 0 ? 1 : MAX_EXTENTS;
        MemorySegment out = r.payload(8 * max, c.arena());
        long pos = r.offset;
        long end = r.offset + len;
        int n = 0;
        while (pos < end && n < max) {
            long next;
            int flags;
            long data = Fds.seekDataOrHole(e.fd, pos, true);
            if (data == -ENXIO) {
                next = end; // no data after pos: a hole to the end
                flags = Nbd.STATE_HOLE | Nbd.STATE_ZERO;
            } else if (data < 0) {
                next = end; // SEEK_DATA unsupported here: report data
                flags = 0;
            } else if (data > pos) {
                next = Math.min(data, end);
                flags = Nbd.STATE_HOLE | Nbd.STATE_ZERO;
            } else {
                long hole = Fds.seekDataOrHole(e.fd, pos, false);
                next = hole <= pos ? end : Math.min(hole, end);
                flags = 0;
            }
            long extent = Math.min(next - pos, MAX_EXTENT);
            out.set(BE_INT, 8L * n, (int) extent);
            out.set(BE_INT, 8L * n + 4, flags);
            n++;
            pos += extent;
        }
        r.data = n == max ? out : out.asSlice(0, 8L * n);
        NbdConnection.structuredHeader(r, Nbd.REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n);
        r.header.set(BE_INT, 20, Nbd.META_ID_BASE_ALLOCATION);
        r.headerLen = 24;
        c.queue(r);
    }
}
