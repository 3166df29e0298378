// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.MemorySegment;

import io.jaio.coroutine.Coroutine;
import io.jaio.nbd.image.BlockDriver;

import static io.jaio.nbd.Wire.BE_INT;
import static io.jaio.nbd.Wire.BE_LONG;
import static io.jaio.nbd.Wire.BE_SHORT;

/**
 * NBD_CMD_BLOCK_STATUS for the {@code base:allocation} and {@code qemu:allocation-depth}
 * contexts, reported as (length, flags) extents, one reply chunk per negotiated context. A raw
 * image's {@code base:allocation} alone is answered at once from SEEK_HOLE / SEEK_DATA (the path
 * jaio-nbd always had); anything else asks the export's {@link BlockDriver#coStatus} in a
 * coroutine, since a qcow2 image may have to read L2 tables. Home thread of the connection.
 */
final class BlockStatus {
    /** Extents per reply chunk (the client asks again for the rest). */
    static final int MAX_EXTENTS = 512;
    /** Largest extent length: fits the u32 field and keeps 4 KiB alignment. */
    private static final long MAX_EXTENT = 0xFFFF_F000L;
    /** A second chunk's header inside the data: structured header + context id. */
    private static final int CHUNK_HEADER = Nbd.STRUCTURED_HEADER_SIZE + 4;

    private BlockStatus() {
    }

    static void reply(NbdConnection c, Request r) {
        long len = Integer.toUnsignedLong(r.length);
        Export e = c.export;
        if (!c.structured || !(c.metaBaseAllocation || c.metaAllocationDepth)) {
            c.replyError(r, Nbd.EINVAL, "block status without structured replies and a meta context negotiated");
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
        if (e.fd >= 0 && !c.metaAllocationDepth) {
            rawAllocation(c, r, max);
            return;
        }
        int contexts = (c.metaBaseAllocation ? 1 : 0) + (c.metaAllocationDepth ? 1 : 0);
        MemorySegment out = r.payload(contexts * 8 * max + CHUNK_HEADER, c.arena());
        Coroutine.create(() -> fromDriver(c, r, max, out)).scheduleIn(c.ctx);
    }

    /** The raw image's base:allocation, answered now. */
    private static void rawAllocation(NbdConnection c, Request r, int max) {
        MemorySegment out = r.payload(8 * max, c.arena());
        long pos = r.offset;
        long end = r.offset + Integer.toUnsignedLong(r.length);
        long[] st = new long[3];
        int n = 0;
        while (pos < end && n < max) {
            io.jaio.nbd.image.RawImage.statusOf(c.export.fd, pos, end - pos, st);
            long extent = Math.min(st[0], MAX_EXTENT);
            out.set(BE_INT, 8L * n, (int) extent);
            out.set(BE_INT, 8L * n + 4, (int) st[1]);
            n++;
            pos += extent;
        }
        r.data = n == max ? out : out.asSlice(0, 8L * n);
        NbdConnection.structuredHeader(r, Nbd.REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n);
        r.header.set(BE_INT, 20, Nbd.META_ID_BASE_ALLOCATION);
        r.headerLen = 24;
        c.queue(r);
    }

    /**
     * In a coroutine: the extents of each negotiated context from the driver. The first chunk's
     * header is the request's header; a second chunk (header and extents) follows the first
     * chunk's extents in the data, so one sendmsg sends both and only the last has DONE.
     */
    private static void fromDriver(NbdConnection c, Request r, int max, MemorySegment out) {
        long end = r.offset + Integer.toUnsignedLong(r.length);
        int n1;
        int n2 = -1;
        try {
            if (c.metaBaseAllocation) {
                n1 = extents(c, r.offset, end, max, false, out, 0);
                if (c.metaAllocationDepth) {
                    n2 = extents(c, r.offset, end, max, true, out, 8L * n1 + CHUNK_HEADER);
                }
            } else {
                n1 = extents(c, r.offset, end, max, true, out, 0);
            }
        } catch (RuntimeException ex) {
            c.replyError(r, Nbd.EIO, "block status of " + r.offset + ": " + ex.getMessage());
            return;
        }
        if (n1 < 0 || n2 < -1) {
            c.replyError(r, Nbd.EIO, "block status of " + r.offset + ": errno " + -Math.min(n1, n2) + " from the image");
            return;
        }
        boolean two = n2 >= 0;
        NbdConnection.structuredHeader(r, Nbd.REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n1);
        r.header.set(BE_INT, 20, c.metaBaseAllocation ? Nbd.META_ID_BASE_ALLOCATION : Nbd.META_ID_ALLOCATION_DEPTH);
        r.headerLen = 24;
        long dataLen = 8L * n1;
        if (two) {
            r.header.set(BE_SHORT, 4, (short) 0); // not the last chunk
            long h = 8L * n1;
            out.set(BE_INT, h, Nbd.STRUCTURED_REPLY_MAGIC);
            out.set(BE_SHORT, h + 4, (short) Nbd.REPLY_FLAG_DONE);
            out.set(BE_SHORT, h + 6, (short) Nbd.REPLY_TYPE_BLOCK_STATUS);
            out.set(BE_LONG, h + 8, r.cookie);
            out.set(BE_INT, h + 16, 4 + 8 * n2);
            out.set(BE_INT, h + 20, Nbd.META_ID_ALLOCATION_DEPTH);
            dataLen += CHUNK_HEADER + 8L * n2;
        }
        r.data = out.asSlice(0, dataLen);
        c.queue(r);
    }

    /** Writes up to {@code max} extents at {@code at}; returns their count or {@code -errno}. Adjacent equal ones merge. */
    private static int extents(NbdConnection c, long offset, long end, int max, boolean depth, MemorySegment out, long at) {
        BlockDriver d = c.export.driver;
        long[] st = new long[3];
        long pos = offset;
        int n = 0;
        while (pos < end) { // bounded: each round advances pos by at least one byte or stops
            long rc = d.coStatus(c.engine, pos, Math.min(end - pos, MAX_EXTENT), st);
            if (rc < 0) {
                return (int) rc;
            }
            int flags = (int) (depth ? st[2] : st[1]);
            long len = Math.max(1, Math.min(st[0], end - pos));
            long prev = n > 0 && out.get(BE_INT, at + 8L * (n - 1) + 4) == flags
                    ? Integer.toUnsignedLong(out.get(BE_INT, at + 8L * (n - 1))) : -1;
            if (prev >= 0 && prev + len <= MAX_EXTENT) {
                out.set(BE_INT, at + 8L * (n - 1), (int) (prev + len));
            } else {
                if (n == max) {
                    break;
                }
                len = Math.min(len, MAX_EXTENT);
                out.set(BE_INT, at + 8L * n, (int) len);
                out.set(BE_INT, at + 8L * n + 4, flags);
                n++;
            }
            pos += len;
        }
        return n;
    }
}
