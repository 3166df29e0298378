// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

import io.jaio.block.FileIoEngine;
import io.jaio.coroutine.CoFileIo;

import io.airlift.compress.MalformedInputException;
import io.airlift.compress.zstd.ZstdDecompressor;

import static io.jaio.nbd.image.Qcow2Header.BE_LONG;

/**
 * The guest-to-host mapping of a qcow2 image (qcow2.rst "Cluster mapping"): the L1 table, held
 * in memory whole, and the L2 tables, read on demand into a small LRU {@link MetadataCache};
 * entry decoding; write-through updates of L1 and L2 entries; the reading of compressed
 * clusters (raw deflate with java.util.zip.Inflater, zstd with aircompressor's pure-Java
 * decoder). Every offset read from the file is checked
 * (alignment, inside the file) before it is used: a bad one is a {@link Qcow2Error} (EIO)
 * naming the entry, never a read elsewhere.
 *
 * <p>Threading: only the coroutine holding the image's metadata lock.
 */
final class Qcow2Tables {
    static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO = 1L;
    /** The write-through unit: a table's aligned chunk holding the changed entry. */
    static final int CHUNK = 4096;

    private final Qcow2Image img;
    final long[] l1;
    private final MetadataCache l2Cache;
    final int l2Bits;
    private final int compressedShift;

    Qcow2Tables(Qcow2Image img, long[] l1) {
        this.img = img;
        this.l1 = l1;
        int cs = img.clusterSize;
        this.l2Bits = img.clusterBits - 3;
        this.l2Cache = new MetadataCache(Math.max(4, Math.min(64, (16 << 20) / cs)), cs);
        this.compressedShift = 62 - (img.clusterBits - 8);
    }

    /** The L2 entry of guest cluster {@code guestCluster} (0 when its L2 table is absent). */
    long l2Entry(FileIoEngine e, long guestCluster) {
        int l1Index = (int) (guestCluster >>> l2Bits);
        long l2Off = l1[l1Index] & OFFSET_MASK;
        if (l2Off == 0) {
            return 0;
        }
        MemorySegment t = l2Table(e, l2Off, l1Index);
        return t.getAtIndex(BE_LONG, guestCluster & ((1L << l2Bits) - 1));
    }

    /** The L2 table at {@code l2Off}, from the cache or the file. */
    MemorySegment l2Table(FileIoEngine e, long l2Off, int l1Index) {
        MemorySegment t = l2Cache.get(l2Off);
        if (t == null) {
            img.checkClusterOffset(l2Off, "L1 entry " + l1Index);
            t = l2Cache.newTable();
            Qcow2Error.check(CoFileIo.read(e, img.fd, l2Off, t), "read of the L2 table at " + l2Off);
            l2Cache.put(l2Off, t);
        }
        return t;
    }

    /** Caches a new L2 table the writer just made (already written to the file). */
    void putL2(long l2Off, MemorySegment t) {
        l2Cache.put(l2Off, t);
    }

    MemorySegment newL2() {
        return l2Cache.newTable();
    }

    /** Sets one L2 entry and writes its chunk to the file. */
    void setL2Entry(FileIoEngine e, long guestCluster, long entry) {
        int l1Index = (int) (guestCluster >>> l2Bits);
        long l2Off = l1[l1Index] & OFFSET_MASK;
        MemorySegment t = l2Table(e, l2Off, l1Index);
        long idx = guestCluster & ((1L << l2Bits) - 1);
        t.setAtIndex(BE_LONG, idx, entry);
        writeChunk(e, t, l2Off, idx * 8, "L2 table at " + l2Off);
    }

    /** Sets one L1 entry and writes its chunk. */
    void setL1Entry(FileIoEngine e, int l1Index, long entry) {
        l1[l1Index] = entry;
        long byteOff = (long) l1Index * 8;
        long start = byteOff & ~(long) (CHUNK - 1);
        int n = (int) Math.min(CHUNK, (long) l1.length * 8 - start);
        MemorySegment buf = img.scratch(n);
        for (int i = 0; i < n / 8; i++) {
            buf.setAtIndex(BE_LONG, i, l1[(int) (start / 8) + i]);
        }
        Qcow2Error.check(CoFileIo.write(e, img.fd, img.header.l1Offset + start, buf.asSlice(0, n), false), "write of the L1 table");
    }

    /** Writes the chunk of {@code table} (at file offset {@code tableOff}) holding byte {@code byteOff}. */
    void writeChunk(FileIoEngine e, MemorySegment table, long tableOff, long byteOff, String what) {
        int chunk = (int) Math.min(CHUNK, table.byteSize());
        long start = byteOff & ~(long) (chunk - 1);
        Qcow2Error.check(CoFileIo.write(e, img.fd, tableOff + start, table.asSlice(start, chunk), false), "write of the " + what);
    }

    // ---- entry decoding ----

    static boolean isCompressed(long entry) {
        return (entry & COMPRESSED) != 0;
    }

    /** Host offset of a standard entry (0: unallocated). */
    static long hostOffset(long entry) {
        return entry & OFFSET_MASK;
    }

    /** Reads as zeroes: the zero flag of v3 on a standard entry. */
    static boolean isZero(long entry) {
        return !isCompressed(entry) && (entry & ZERO) != 0;
    }

    long compressedOffset(long entry) {
        return entry & ((1L << compressedShift) - 1);
    }

    /** Bytes from the compressed offset to the end of its last sector. */
    long compressedLength(long entry) {
        long sectors = ((entry & ~COPIED & ~COMPRESSED) >>> compressedShift) + 1;
        long off = compressedOffset(entry);
        return sectors * 512 - (off & 511);
    }

    /**
     * Decompresses the cluster of {@code entry} into {@code out} (one cluster): raw deflate for
     * compression type 0, zstd for type 1. The host range (offset to the end of its last sector)
     * may hold bytes of the next compressed cluster after this one's data: both decoders stop
     * once the cluster is full, as QEMU's do.
     */
    void readCompressed(FileIoEngine e, long entry, MemorySegment out, long guestCluster) {
        long off = compressedOffset(entry);
        long len = compressedLength(entry);
        if (off == 0 || off >= img.fileSize() || len > 2L * img.clusterSize + 512) {
            throw new Qcow2Error(Qcow2Error.EIO, "compressed L2 entry 0x" + Long.toHexString(entry) + " of guest cluster "
                    + guestCluster + " (expected data inside the file of " + img.fileSize() + " bytes)");
        }
        MemorySegment in = img.compressedScratch((int) len);
        Qcow2Error.check(CoFileIo.read(e, img.fd, off, in), "read of a compressed cluster at " + off);
        if (img.header.compressionType == 0) {
            inflate(in, out, off, guestCluster);
        } else {
            unzstd(in, out, off, guestCluster);
        }
    }

    private void inflate(MemorySegment in, MemorySegment out, long off, long guestCluster) {
        Inflater inf = new Inflater(true); // qcow2's deflate clusters carry no zlib header
        try {
            inf.setInput(in.asByteBuffer());
            ByteBuffer dst = out.asByteBuffer();
            while (dst.hasRemaining() && !inf.finished()) {
                int n = inf.inflate(dst);
                if (n == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
            }
            if (dst.hasRemaining()) {
                throw new Qcow2Error(Qcow2Error.EIO, "compressed cluster at " + off + " of guest cluster " + guestCluster
                        + " inflates to " + dst.position() + " bytes (expected " + img.clusterSize + ")");
            }
        } catch (DataFormatException ex) {
            throw new Qcow2Error(Qcow2Error.EIO, "compressed cluster at " + off + " of guest cluster " + guestCluster
                    + ": " + ex.getMessage() + " (expected raw deflate data)");
        } finally {
            inf.end();
        }
    }

    /**
     * zstd (qcow2.rst "compression type" 1): one or more zstd frames that decode to the cluster,
     * followed by whatever fills the last sector (often the next compressed cluster). Each frame's
     * length is found from its header and block headers ({@link #zstdFrameLength}) and the frame
     * is decoded by aircompressor's pure-Java decoder, until the cluster is full; bytes after
     * that are not looked at, as in QEMU.
     */
    private void unzstd(MemorySegment in, MemorySegment out, long off, long guestCluster) {
        byte[] src = in.toArray(ValueLayout.JAVA_BYTE);
        byte[] dst = new byte[img.clusterSize];
        ZstdDecompressor z = new ZstdDecompressor();
        int pos = 0;
        int n = 0;
        try {
            while (n < dst.length) { // bounded: each frame consumes at least its 4-byte magic
                int frame = zstdFrameLength(src, pos);
                if (frame < 0) {
                    throw new Qcow2Error(Qcow2Error.EIO, "compressed cluster at " + off + " of guest cluster " + guestCluster
                            + ": no zstd frame at byte " + pos + " of " + src.length + " after " + n + " decoded bytes"
                            + " (expected zstd frames decoding to " + img.clusterSize + " bytes)");
                }
                if (Integer.toUnsignedLong(leInt(src, pos)) >>> 4 != SKIPPABLE_MAGIC >>> 4) {
                    n += z.decompress(src, pos, frame, dst, n, dst.length - n);
                }
                pos += frame;
            }
        } catch (MalformedInputException | IndexOutOfBoundsException ex) {
            throw new Qcow2Error(Qcow2Error.EIO, "compressed cluster at " + off + " of guest cluster " + guestCluster
                    + ": " + ex.getMessage() + " (expected zstd frames decoding to " + img.clusterSize + " bytes)");
        }
        MemorySegment.copy(dst, 0, out, ValueLayout.JAVA_BYTE, 0, dst.length);
    }

    private static final long ZSTD_MAGIC = 0xFD2FB528L;
    /** Skippable frames have magics 0x184D2A50..0x184D2A5F. */
    private static final long SKIPPABLE_MAGIC = 0x184D2A50L;

    /**
     * The length in bytes of the zstd frame at {@code pos} of {@code b} (RFC 8878 section 3.1:
     * magic, frame header, blocks each with a 3-byte header, optional 4-byte checksum), or -1 when
     * no whole frame starts there.
     */
    static int zstdFrameLength(byte[] b, int pos) {
        if (pos < 0 || b.length - pos < 4) {
            return -1;
        }
        long magic = Integer.toUnsignedLong(leInt(b, pos));
        if (magic >>> 4 == SKIPPABLE_MAGIC >>> 4) {
            if (b.length - pos < 8) {
                return -1;
            }
            long len = 8 + Integer.toUnsignedLong(leInt(b, pos + 4));
            return len <= b.length - pos ? (int) len : -1;
        }
        if (magic != ZSTD_MAGIC || b.length - pos < 5) {
            return -1;
        }
        int fhd = b[pos + 4] & 0xff; // frame header descriptor
        int fcsFlag = fhd >>> 6;
        boolean singleSegment = (fhd & 0x20) != 0;
        boolean checksum = (fhd & 0x04) != 0;
        int dictFlag = fhd & 0x03;
        long p = pos + 5L + (singleSegment ? 0 : 1) + (dictFlag == 3 ? 4 : dictFlag)
                + switch (fcsFlag) {
                    case 0 -> singleSegment ? 1 : 0;
                    case 1 -> 2;
                    case 2 -> 4;
                    default -> 8;
                };
        while (true) { // bounded: each block advances p by at least its 3-byte header
            if (b.length - p < 3) {
                return -1;
            }
            int bh = (b[(int) p] & 0xff) | (b[(int) p + 1] & 0xff) << 8 | (b[(int) p + 2] & 0xff) << 16;
            int type = (bh >>> 1) & 3;
            int size = bh >>> 3;
            if (type == 3) {
                return -1; // reserved block type
            }
            p += 3 + (type == 1 ? 1 : size); // an RLE block holds one byte, repeated size times
            if ((bh & 1) != 0) {
                break;
            }
        }
        p += checksum ? 4 : 0;
        return p <= b.length ? (int) (p - pos) : -1;
    }

    private static int leInt(byte[] b, int i) {
        return (b[i] & 0xff) | (b[i + 1] & 0xff) << 8 | (b[i + 2] & 0xff) << 16 | (b[i + 3] & 0xff) << 24;
    }
}
