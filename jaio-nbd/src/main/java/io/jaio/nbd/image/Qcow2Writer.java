// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;

import io.jaio.block.FileIoEngine;
import io.jaio.coroutine.CoFileIo;

import static io.jaio.nbd.image.Qcow2Tables.COPIED;
import static io.jaio.nbd.image.Qcow2Tables.ZERO;

/**
 * The write side of a qcow2 image: writes (allocation on write with copy-on-write of the rest
 * of a partly written cluster, from the backing file, zeroes or a compressed cluster),
 * write-zeroes (the v3 zero flag) and discard.
 *
 * <p>Ordering, so that a crash leaves at worst leaked clusters: (1) a new cluster's refcount is
 * written and flushed before anything points to it; (2) a new L2 table is written and flushed
 * before the L1 entry that points to it; (3) guest data (with the copied rest of the cluster) is
 * written and flushed before the L2 entry that maps it, as QEMU's perform_cow makes its L2
 * cache depend on a flush: else a power loss can keep the entry without the data, and the
 * cluster reads what the host cluster held before (a freed cluster's stale data, or zeroes
 * where the backing file's data was); one flush serves (1) and (3) of an allocating write;
 * (4) a cluster is released (refcount decremented) only after the L2 entry that stopped using
 * it is written and flushed. FUA flushes at the end of the request.
 *
 * <p>Threading: inside the request's coroutine; takes the image's locks as {@link Qcow2Image}
 * describes.
 */
final class Qcow2Writer {
    private final Qcow2Image img;
    private final Qcow2Tables tables;
    private final Qcow2Refcounts refs;
    private final int bits;
    private final int cs;

    Qcow2Writer(Qcow2Image img) {
        this.img = img;
        this.tables = img.tables;
        this.refs = img.refcounts;
        this.bits = img.clusterBits;
        this.cs = img.clusterSize;
    }

    /** Whether guest data can go straight to the entry's host cluster. */
    private static boolean inPlace(long entry) {
        return !Qcow2Tables.isCompressed(entry) && (entry & COPIED) != 0 && (entry & ZERO) == 0
                && Qcow2Tables.hostOffset(entry) != 0;
    }

    long write(FileIoEngine e, long offset, MemorySegment buf, boolean fua) {
        img.clusters.rdlock();
        try {
            writeLocked(e, offset, buf);
        } finally {
            img.clusters.unlock();
        }
        if (fua) {
            img.flushOrThrow(e);
        }
        return buf.byteSize();
    }

    /** Writes {@code buf} at guest {@code offset}; the caller holds {@code clusters} (either way). */
    private void writeLocked(FileIoEngine e, long offset, MemorySegment buf) {
        long len = buf.byteSize();
        long pos = 0;
        while (pos < len) { // bounded: each round consumes at least one byte
            long g = offset + pos;
            long cl = g >>> bits;
            long in = g & (cs - 1);
            long n = Math.min(len - pos, cs - in);
            MemorySegment src = buf.asSlice(pos, n);
            long host = -1;
            img.meta.lock();
            try {
                long entry = tables.l2Entry(e, cl);
                if (inPlace(entry)) {
                    host = Qcow2Tables.hostOffset(entry);
                    img.checkClusterOffset(host, "L2 entry of guest cluster " + cl);
                } else {
                    allocatingWrite(e, cl, entry, in, src);
                }
            } finally {
                img.meta.unlock();
            }
            if (host >= 0) {
                Qcow2Error.check(CoFileIo.write(e, img.fd, host + in, src, false), "write of data at " + (host + in));
            }
            pos += n;
        }
    }

    /** Makes sure guest cluster {@code cl} has an L2 table of its own (L1 entry with COPIED). Under meta. */
    private void ensureL2(FileIoEngine e, long cl) {
        int l1i = (int) (cl >>> tables.l2Bits);
        long l1e = tables.l1[l1i];
        if ((l1e & Qcow2Tables.OFFSET_MASK) != 0) {
            if ((l1e & COPIED) == 0) {
                throw new Qcow2Error(Qcow2Error.ENOTSUP, "L1 entry " + l1i + " is shared (no COPIED flag)"
                        + " (expected an image without internal snapshots)");
            }
            return;
        }
        long off = refs.allocate(e);
        img.flushOrThrow(e); // (1)
        MemorySegment t = tables.newL2();
        Qcow2Error.check(CoFileIo.write(e, img.fd, off, t, false), "write of a new L2 table at " + off);
        img.flushOrThrow(e); // (2)
        tables.putL2(off, t);
        tables.setL1Entry(e, l1i, off | COPIED);
    }

    /** Writes {@code src} at {@code in} of guest cluster {@code cl} into a newly allocated cluster. Under meta. */
    private void allocatingWrite(FileIoEngine e, long cl, long old, long in, MemorySegment src) {
        ensureL2(e, cl);
        boolean reuse = Qcow2Tables.isZero(old) && Qcow2Tables.hostOffset(old) != 0 && (old & COPIED) != 0;
        long host = reuse ? Qcow2Tables.hostOffset(old) : refs.allocate(e);
        MemorySegment data = src;
        if (src.byteSize() != cs) {
            data = img.scratch(cs);
            fillOld(e, cl, old, data);
            MemorySegment.copy(src, 0, data, in, src.byteSize());
        }
        Qcow2Error.check(CoFileIo.write(e, img.fd, host, data, false), "write of a new cluster at " + host);
        img.flushOrThrow(e); // (1) and (3)
        tables.setL2Entry(e, cl, host | COPIED);
        if (!reuse) {
            release(e, old, true);
        }
    }

    /** What guest cluster {@code cl} read as before, into {@code data} (one cluster). */
    private void fillOld(FileIoEngine e, long cl, long old, MemorySegment data) {
        long host = Qcow2Tables.hostOffset(old);
        if (Qcow2Tables.isCompressed(old)) {
            tables.readCompressed(e, old, data, cl);
        } else if (Qcow2Tables.isZero(old)) {
            data.fill((byte) 0);
        } else if (host != 0) {
            img.checkClusterOffset(host, "L2 entry of guest cluster " + cl);
            Qcow2Error.check(CoFileIo.read(e, img.fd, host, data), "read of the cluster at " + host);
        } else if (img.backing != null) {
            Qcow2Error.check(img.backing.coRead(e, cl << bits, data), "read of the backing file for copy-on-write");
        } else {
            data.fill((byte) 0);
        }
    }

    /**
     * Releases the host clusters {@code old} used, after its replacement entry is on disk:
     * flush (4), then one refcount less for each cluster (a compressed cluster's sectors may
     * span two). Nothing for unallocated and plain zero entries.
     */
    private void release(FileIoEngine e, long old, boolean flushFirst) {
        long first;
        long last;
        if (Qcow2Tables.isCompressed(old)) {
            long off = tables.compressedOffset(old);
            first = off >>> bits;
            last = (off + tables.compressedLength(old) - 1) >>> bits;
        } else {
            long host = Qcow2Tables.hostOffset(old);
            if (host == 0) {
                return;
            }
            first = host >>> bits;
            last = first;
        }
        if (flushFirst) {
            img.flushOrThrow(e); // (4)
        }
        for (long c = first; c <= last; c++) {
            refs.update(e, c, -1);
        }
    }

    /**
     * Write-zeroes ({@code discard} false) or discard ({@code discard} true) of a range. Whole
     * clusters get the zero flag on v3 (keeping their allocation unless {@code mayUnmap}) or,
     * for a discard on v2, become unallocated; partial clusters are written with zeroes by
     * write-zeroes and left alone by discard (its content is then unspecified by NBD anyway).
     */
    long zeroes(FileIoEngine e, long offset, long length, boolean mayUnmap, boolean discard) {
        img.clusters.wrlock();
        try {
            long pos = 0;
            MemorySegment zeroes = null;
            while (pos < length) { // bounded: each round consumes at least one byte
                long g = offset + pos;
                long cl = g >>> bits;
                long in = g & (cs - 1);
                long n = Math.min(length - pos, cs - in);
                boolean whole = n == cs || (in == 0 && g + n == img.size());
                if (whole && (img.header.version >= 3 || discard)) {
                    img.meta.lock();
                    try {
                        zeroCluster(e, cl, mayUnmap, discard);
                    } finally {
                        img.meta.unlock();
                    }
                } else if (!discard) {
                    if (zeroes == null) {
                        zeroes = img.scratch(cs);
                    }
                    if (!readsAsZero(e, cl)) {
                        writeLocked(e, g, zeroes.asSlice(0, n));
                    }
                }
                pos += n;
            }
        } finally {
            img.clusters.unlock();
        }
        return 0;
    }

    private boolean readsAsZero(FileIoEngine e, long cl) {
        img.meta.lock();
        try {
            long entry = tables.l2Entry(e, cl);
            return Qcow2Tables.isZero(entry) || (entry == 0 && img.backing == null);
        } finally {
            img.meta.unlock();
        }
    }

    private void zeroCluster(FileIoEngine e, long cl, boolean mayUnmap, boolean discard) {
        long old = tables.l2Entry(e, cl);
        boolean unallocated = !Qcow2Tables.isCompressed(old) && Qcow2Tables.hostOffset(old) == 0;
        if (unallocated && (Qcow2Tables.isZero(old) || img.backing == null)) {
            return; // reads as zeroes already
        }
        long entry;
        boolean keep = false;
        if (img.header.version < 3) {
            entry = 0; // discard on v2: unallocated (then the backing file shows through, as in QEMU)
        } else if (!mayUnmap && inPlace(old)) {
            entry = Qcow2Tables.hostOffset(old) | COPIED | ZERO;
            keep = true;
        } else {
            entry = ZERO;
        }
        if (entry == old) {
            return;
        }
        ensureL2(e, cl);
        tables.setL2Entry(e, cl, entry);
        if (!keep) {
            release(e, old, true);
        }
    }
}
