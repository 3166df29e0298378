// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.jaio.block.FileIoEngine;
import io.jaio.coroutine.CoFileIo;

import static io.jaio.nbd.image.Qcow2Header.BE_INT;
import static io.jaio.nbd.image.Qcow2Header.BE_LONG;

/**
 * Host cluster reference counts (qcow2.rst "Host cluster management"): the refcount table in
 * memory, refcount blocks in a small LRU cache, written through; allocation of free clusters,
 * new refcount blocks and the growth of the refcount table.
 *
 * <p>Crash consistency, the rule every caller follows: a cluster's refcount is written (and
 * flushed, by the caller, before anything points to the cluster) before the L2/L1 entry that
 * uses it, and a cluster is released only after the entry that used it is gone and flushed.
 * A crash in between leaves a leaked cluster (refcount 1, unused), which {@code qemu-img check}
 * reports as a leak, never a cluster in use with refcount 0. New refcount blocks and a grown
 * table are written and flushed before the table entry or header that points to them.
 *
 * <p>Threading: only the coroutine holding the image's metadata lock.
 */
final class Qcow2Refcounts {
    private final Qcow2Image img;
    private long[] table;
    private final MetadataCache cache;
    private final int refBits;
    /** log2 of refcount entries per block. */
    private final int epbBits;
    private final long maxRefcount;
    /** The file grows by at least this much at a time before a refcount past its end ({@link #coverInFile}). */
    private static final long STEP_MIN_BYTES = 1L << 20;
    private static final long STEP_MAX_BYTES = 16L << 20;
    /** No cluster below this index is free (a search hint). */
    private long freeHint;

    Qcow2Refcounts(Qcow2Image img, long[] table) {
        this.img = img;
        this.table = table;
        this.refBits = 1 << img.header.refcountOrder;
        this.epbBits = img.clusterBits + 3 - img.header.refcountOrder;
        this.maxRefcount = refBits == 64 ? Long.MAX_VALUE : (1L << refBits) - 1;
        this.cache = new MetadataCache(Math.max(4, Math.min(32, (8 << 20) / img.clusterSize)), img.clusterSize);
    }

    /** The refcount of host cluster {@code cluster}. */
    long get(FileIoEngine e, long cluster) {
        long b = cluster >>> epbBits;
        if (b >= table.length) {
            return 0;
        }
        long off = table[(int) b] & Qcow2Tables.OFFSET_MASK;
        if (off == 0) {
            return 0;
        }
        return entry(block(e, off, b), cluster & ((1L << epbBits) - 1));
    }

    private MemorySegment block(FileIoEngine e, long off, long b) {
        MemorySegment blk = cache.get(off);
        if (blk == null) {
            img.checkClusterOffset(off, "refcount table entry " + b);
            blk = cache.newTable();
            Qcow2Error.check(CoFileIo.read(e, img.fd, off, blk), "read of the refcount block at " + off);
            cache.put(off, blk);
        }
        return blk;
    }

    private long entry(MemorySegment blk, long i) {
        return switch (refBits) {
            case 64 -> blk.getAtIndex(BE_LONG, i);
            case 32 -> Integer.toUnsignedLong(blk.getAtIndex(BE_INT, i));
            case 16 -> Short.toUnsignedInt(blk.get(Qcow2Image.BE_SHORT, i * 2));
            case 8 -> Byte.toUnsignedInt(blk.get(ValueLayout.JAVA_BYTE, i));
            default -> { // 1, 2 or 4 bits: bit 0 is the least significant bit of the byte
                long bit = i * refBits;
                int v = Byte.toUnsignedInt(blk.get(ValueLayout.JAVA_BYTE, bit >>> 3));
                yield (v >>> (bit & 7)) & ((1 << refBits) - 1);
            }
        };
    }

    /** Byte offset in the block of entry {@code i}. */
    private long setEntry(MemorySegment blk, long i, long v) {
        switch (refBits) {
            case 64 -> blk.setAtIndex(BE_LONG, i, v);
            case 32 -> blk.setAtIndex(BE_INT, i, (int) v);
            case 16 -> blk.set(Qcow2Image.BE_SHORT, i * 2, (short) v);
            case 8 -> blk.set(ValueLayout.JAVA_BYTE, i, (byte) v);
            default -> {
                long bit = i * refBits;
                int mask = ((1 << refBits) - 1) << (bit & 7);
                int old = Byte.toUnsignedInt(blk.get(ValueLayout.JAVA_BYTE, bit >>> 3));
                blk.set(ValueLayout.JAVA_BYTE, bit >>> 3, (byte) ((old & ~mask) | ((int) (v << (bit & 7)) & mask)));
                return bit >>> 3;
            }
        }
        return i * refBits / 8;
    }

    /** Adds {@code delta} to the refcount of {@code cluster} and writes it through. */
    void update(FileIoEngine e, long cluster, long delta) {
        long b = cluster >>> epbBits;
        if (b >= table.length) {
            growTable(e, cluster);
        }
        long off = table[(int) b] & Qcow2Tables.OFFSET_MASK;
        if (off == 0) {
            off = newBlock(e, b, cluster);
        }
        MemorySegment blk = block(e, off, b);
        long i = cluster & ((1L << epbBits) - 1);
        long v = entry(blk, i) + delta;
        if (v < 0 || v > maxRefcount) {
            throw new Qcow2Error(Qcow2Error.EIO, "refcount of host cluster " + cluster + " would become " + v
                    + " (expected 0.." + maxRefcount + "): the image's refcounts are inconsistent, see qemu-img check");
        }
        long byteOff = setEntry(blk, i, v);
        img.tables.writeChunk(e, blk, off, byteOff, "refcount block at " + off);
        if (v == 0 && cluster < freeHint) {
            freeHint = cluster;
        }
    }

    /**
     * Finds a free host cluster, sets its refcount to 1 (written, not flushed) and returns its
     * offset. The caller flushes before anything points to it.
     */
    long allocate(FileIoEngine e) {
        long max = (1L << 56) >>> img.clusterBits;
        for (long c = Math.max(freeHint, 1); c < max; c++) { // bounded by the 2^56 bytes a qcow2 offset can address
            if (get(e, c) != 0) {
                continue;
            }
            checkNotMetadata(c);
            coverInFile(e, c);
            update(e, c, 1); // a new refcount block or table goes elsewhere in c's range, never on c
            freeHint = c + 1;
            return c << img.clusterBits;
        }
        throw new Qcow2Error(Qcow2Error.ENOSPC, "no free host cluster below 2^56 bytes");
    }

    /**
     * Makes the file reach past host cluster {@code c}, flushed, before its refcount is written.
     * Otherwise a crash between the refcount write and the data write leaves a refcount of 1 past
     * the end of the file, and {@code qemu-img check} counts refcounts only up to the file's end:
     * that leak is invisible to {@code check -r leaks} and shows up as soon as a later session
     * writes past it (issue #14). The file grows in steps (1/64 of its size, 1 to 16 MiB, at least
     * four clusters) so that one flush covers many allocations; the step's clusters stay free
     * (refcount 0), which {@code qemu-img check} accepts. Measured with nbdcopy of 64 MiB into an
     * empty image: steps of 1/64 and at least one cluster added 27 % fdatasyncs at 64 KiB
     * clusters; these steps add 0.4-6 % at 4 KiB-64 KiB (docs/performance.md section 12).
     */
    private void coverInFile(FileIoEngine e, long c) {
        long end = (c + 1) << img.clusterBits;
        long size = img.fileSize();
        if (end <= size) {
            return;
        }
        long step = Math.max(Math.min(Math.max(size / 64, STEP_MIN_BYTES), STEP_MAX_BYTES), 4L * img.clusterSize);
        long target = end + (step / img.clusterSize - 1) * img.clusterSize;
        int tail = Math.min(img.clusterSize, 4096); // aligned for O_DIRECT: a cluster is at least 512 bytes
        MemorySegment zeroes = img.scratch(tail);
        zeroes.fill((byte) 0);
        Qcow2Error.check(CoFileIo.write(e, img.fd, target - tail, zeroes, false), "write extending the file to " + target);
        img.flushOrThrow(e);
        img.extendFile(target);
    }

    /**
     * Refuses to hand out a cluster that the image's own metadata occupies (QEMU's overlap
     * check): refcounts that call the header, the L1 table, the refcount table, a refcount block
     * or an L2 table free belong to a corrupt image, and writing there would destroy it.
     */
    private void checkNotMetadata(long c) {
        long off = c << img.clusterBits;
        String what = null;
        Qcow2Header h = img.header;
        if (off < img.clusterSize) {
            what = "the header";
        } else if (off >= (h.l1Offset & ~(long) (img.clusterSize - 1)) && off < h.l1Offset + (long) h.l1Size * 8) {
            what = "the L1 table";
        } else if (off >= h.refcountTableOffset && off < h.refcountTableOffset + (long) h.refcountTableClusters * img.clusterSize) {
            what = "the refcount table";
        } else {
            for (long t : table) {
                if ((t & Qcow2Tables.OFFSET_MASK) == off) {
                    what = "a refcount block";
                    break;
                }
            }
            for (long t : img.tables.l1) {
                if (what == null && (t & Qcow2Tables.OFFSET_MASK) == off) {
                    what = "an L2 table";
                }
            }
        }
        if (what != null) {
            throw new Qcow2Error(Qcow2Error.EIO, "the refcounts call host cluster " + c + " free, but it holds " + what
                    + " (expected consistent refcounts: the image is corrupt, see qemu-img check -r all)");
        }
    }

    /**
     * A refcount block for block index {@code b}, whose range is all free (no block), placed in
     * that range itself (its first cluster other than {@code avoid}); written and flushed, then
     * the refcount table entry written and flushed.
     */
    private long newBlock(FileIoEngine e, long b, long avoid) {
        long j = b << epbBits;
        if (j == avoid) {
            j++;
        }
        if (j == 0) {
            j = avoid == 1 ? 2 : 1; // cluster 0 is the header; its block always exists in a valid image
        }
        checkNotMetadata(j);
        MemorySegment blk = cache.newTable();
        setEntry(blk, j & ((1L << epbBits) - 1), 1);
        long off = j << img.clusterBits;
        Qcow2Error.check(CoFileIo.write(e, img.fd, off, blk, false), "write of a new refcount block at " + off);
        img.extendFile(off + img.clusterSize);
        img.flushOrThrow(e);
        table[(int) b] = off;
        writeTableEntry(e, b);
        img.flushOrThrow(e);
        cache.put(off, blk);
        return off;
    }

    private void writeTableEntry(FileIoEngine e, long b) {
        long byteOff = b * 8;
        long start = byteOff & ~(long) (Qcow2Tables.CHUNK - 1);
        int n = (int) Math.min(Qcow2Tables.CHUNK, (long) table.length * 8 - start);
        MemorySegment buf = img.scratch(n);
        for (int i = 0; i < n / 8; i++) {
            buf.setAtIndex(BE_LONG, i, table[(int) (start / 8) + i]);
        }
        Qcow2Error.check(CoFileIo.write(e, img.fd, img.header.refcountTableOffset + start, buf, false),
                "write of the refcount table");
    }

    /**
     * Grows the refcount table so that it covers {@code cluster}: a new table of twice the
     * entries (at least enough), placed with a new refcount block that counts it in a block
     * range beyond the old table (all free); both written and flushed, then the header switched
     * to the new table and flushed, then the old table's clusters released.
     */
    private void growTable(FileIoEngine e, long cluster) {
        long b = cluster >>> epbBits;
        int perCluster = img.clusterSize / 8;
        long entries = Math.max(2L * table.length, b + 1);
        long clusters = (entries + perCluster - 1) / perCluster;
        entries = clusters * perCluster;
        if (clusters * img.clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new Qcow2Error(Qcow2Error.ENOSPC, "refcount table of " + clusters * img.clusterSize
                    + " bytes needed (expected at most " + Qcow2Header.MAX_REFTABLE_BYTES + ", QEMU's limit)");
        }
        long rangeStart = b << epbBits;
        long start = rangeStart;
        if (cluster >= start && cluster <= start + clusters) {
            start = cluster + 1;
        }
        if (start + clusters + 1 > rangeStart + (1L << epbBits)) {
            throw new Qcow2Error(Qcow2Error.ENOSPC, "a refcount table of " + clusters
                    + " clusters does not fit one refcount block's range (expected a larger cluster size)");
        }
        long blockCluster = start;
        long tableCluster = start + 1;
        MemorySegment blk = cache.newTable();
        for (long c = blockCluster; c <= tableCluster + clusters - 1; c++) {
            setEntry(blk, c & ((1L << epbBits) - 1), 1);
        }
        long blockOff = blockCluster << img.clusterBits;
        Qcow2Error.check(CoFileIo.write(e, img.fd, blockOff, blk, false), "write of a new refcount block at " + blockOff);
        long[] grown = java.util.Arrays.copyOf(table, (int) entries);
        grown[(int) b] = blockOff;
        long tableOff = tableCluster << img.clusterBits;
        MemorySegment t = img.scratch((int) (clusters * img.clusterSize));
        for (int i = 0; i < grown.length; i++) {
            t.setAtIndex(BE_LONG, i, grown[i]);
        }
        Qcow2Error.check(CoFileIo.write(e, img.fd, tableOff, t, false), "write of the grown refcount table at " + tableOff);
        img.extendFile(tableOff + clusters * img.clusterSize);
        img.flushOrThrow(e);
        long oldOff = img.header.refcountTableOffset;
        int oldClusters = img.header.refcountTableClusters;
        img.header.refcountTableOffset = tableOff;
        img.header.refcountTableClusters = (int) clusters;
        img.writeHeader(e);
        img.flushOrThrow(e);
        table = grown;
        cache.put(blockOff, blk);
        for (int i = 0; i < oldClusters; i++) {
            update(e, (oldOff >>> img.clusterBits) + i, -1);
        }
    }
}
