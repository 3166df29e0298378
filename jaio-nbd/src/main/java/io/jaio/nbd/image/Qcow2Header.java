// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * The qcow2 header (QEMU docs/interop/qcow2.rst, "Header" and "Header extensions"), parsed
 * and checked against the file size so that no later lookup trusts an offset it did not check.
 * Every refusal names the field, its value and what was expected. Immutable after
 * {@link #parse} except the fields the writer updates under the image's metadata lock
 * (refcount table location, feature bits); any thread for the rest.
 */
final class Qcow2Header {
    static final int MAGIC = 0x514649fb; // "QFI\xfb"
    static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);

    static final long INCOMPAT_DIRTY = 1;
    static final long INCOMPAT_CORRUPT = 2;
    static final long INCOMPAT_DATA_FILE = 4;
    static final long INCOMPAT_COMPRESSION = 8;
    static final long INCOMPAT_EXTL2 = 16;
    static final long INCOMPAT_KNOWN = 31;
    /** QEMU's limits: 32 MiB of L1 table, 8 MiB of refcount table. */
    static final long MAX_L1_BYTES = 32L << 20;
    static final long MAX_REFTABLE_BYTES = 8L << 20;
    static final int EXT_BACKING_FORMAT = 0xe2792aca;
    static final int EXT_END = 0;

    final String path;
    final int version;
    final int clusterBits;
    final int clusterSize;
    final long size;
    final int l1Size;
    final long l1Offset;
    long refcountTableOffset;
    int refcountTableClusters;
    final int nbSnapshots;
    long incompatible;
    final long compatible;
    long autoclear;
    final int refcountOrder;
    final int headerLength;
    final int compressionType;
    final String backingFile;
    final String backingFormat;

    private Qcow2Header(String path, MemorySegment h, long fileSize) throws ImageException {
        this.path = path;
        version = h.get(BE_INT, 4);
        if (version != 2 && version != 3) {
            throw bad("version " + version, "2 or 3");
        }
        clusterBits = h.get(BE_INT, 20);
        if (clusterBits < 9 || clusterBits > 21) {
            throw bad("cluster_bits " + clusterBits, "9..21, clusters of 512 B to 2 MiB");
        }
        clusterSize = 1 << clusterBits;
        size = h.get(BE_LONG, 24);
        if (size < 0 || size > (1L << 62)) {
            throw bad("virtual size " + Long.toUnsignedString(size), "0..2^62 bytes");
        }
        int crypt = h.get(BE_INT, 32);
        if (crypt != 0) {
            throw bad("crypt_method " + crypt, "0, an unencrypted image: encrypted qcow2 is not served");
        }
        l1Size = h.get(BE_INT, 36);
        l1Offset = h.get(BE_LONG, 40);
        refcountTableOffset = h.get(BE_LONG, 48);
        refcountTableClusters = h.get(BE_INT, 56);
        nbSnapshots = h.get(BE_INT, 60);
        if (version == 2) {
            incompatible = 0;
            compatible = 0;
            autoclear = 0;
            refcountOrder = 4;
            headerLength = 72;
        } else {
            incompatible = h.get(BE_LONG, 72);
            compatible = h.get(BE_LONG, 80);
            autoclear = h.get(BE_LONG, 88);
            refcountOrder = h.get(BE_INT, 96);
            headerLength = h.get(BE_INT, 100);
            if (headerLength < 104 || headerLength % 8 != 0 || headerLength > clusterSize) {
                throw bad("header_length " + headerLength, "a multiple of 8, 104 up to the cluster size");
            }
        }
        if (refcountOrder < 0 || refcountOrder > 6) {
            throw bad("refcount_order " + refcountOrder, "0..6");
        }
        long unknown = incompatible & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            throw bad("incompatible feature bits 0x" + Long.toHexString(unknown), "none but dirty, corrupt and compression type");
        }
        if ((incompatible & INCOMPAT_DATA_FILE) != 0) {
            throw bad("incompatible feature 'external data file'", "an image that keeps its data inside (external data files are not served)");
        }
        if ((incompatible & INCOMPAT_EXTL2) != 0) {
            throw bad("incompatible feature 'extended L2 entries'", "an image without subclusters (extended_l2=off)");
        }
        int ct = headerLength > 104 ? Byte.toUnsignedInt(h.get(ValueLayout.JAVA_BYTE, 104)) : 0;
        if ((incompatible & INCOMPAT_COMPRESSION) != 0 && ct == 0) {
            throw bad("compression type bit set with compression_type 0", "a non-zero compression_type");
        }
        if ((incompatible & INCOMPAT_COMPRESSION) == 0 && ct != 0) {
            throw bad("compression_type " + ct + " without the compression type bit", "incompatible bit 3 set with a non-zero compression_type");
        }
        if (ct > 1) {
            throw bad("compression_type " + ct, "0 (deflate) or 1 (zstd)");
        }
        compressionType = ct;
        checkTable("L1 table", l1Offset, (long) l1Size * 8, MAX_L1_BYTES, fileSize);
        long l2Entries = clusterSize / 8;
        long needL1 = (size + ((long) clusterSize * l2Entries) - 1) / ((long) clusterSize * l2Entries);
        if (Integer.toUnsignedLong(l1Size) < needL1) {
            throw bad("l1_size " + Integer.toUnsignedString(l1Size), "at least " + needL1 + " entries for a virtual size of " + size);
        }
        checkTable("refcount table", refcountTableOffset, (long) refcountTableClusters * clusterSize, MAX_REFTABLE_BYTES, fileSize);
        if (refcountTableClusters == 0) {
            throw bad("refcount_table_clusters 0", "at least 1");
        }
        long bOff = h.get(BE_LONG, 8);
        int bLen = h.get(BE_INT, 16);
        if (bOff != 0) {
            if (bLen <= 0 || bLen > 1023 || bOff < 0 || bOff > clusterSize - bLen) {
                throw bad("backing file name at " + bOff + " of " + bLen + " bytes", "1..1023 bytes inside the first cluster");
            }
            byte[] name = h.asSlice(bOff, bLen).toArray(ValueLayout.JAVA_BYTE);
            backingFile = new String(name, StandardCharsets.UTF_8);
        } else {
            backingFile = null;
        }
        backingFormat = parseExtensions(h);
    }

    private void checkTable(String what, long offset, long bytes, long max, long fileSize) throws ImageException {
        if (bytes < 0 || bytes > max) {
            throw bad(what + " of " + bytes + " bytes", "at most " + max + " bytes (QEMU's limit)");
        }
        if (offset < 0 || (offset & (clusterSize - 1)) != 0) {
            throw bad(what + " offset " + offset, "a cluster-aligned offset");
        }
        if (bytes > 0 && (offset == 0 || offset > fileSize || bytes > fileSize - offset)) {
            throw bad(what + " at " + offset + "+" + bytes, "inside the file of " + fileSize + " bytes");
        }
    }

    /** Walks the header extensions; returns the backing format name, or null. */
    private String parseExtensions(MemorySegment h) throws ImageException {
        long pos = headerLength;
        String fmt = null;
        for (int i = 0; i < 1024 && pos + 8 <= clusterSize; i++) { // bounded: extensions live in cluster 0
            int type = h.get(BE_INT, pos);
            long len = Integer.toUnsignedLong(h.get(BE_INT, pos + 4));
            if (type == EXT_END) {
                return fmt;
            }
            if (len > clusterSize - pos - 8) {
                throw bad("header extension 0x" + Integer.toHexString(type) + " of " + len + " bytes at " + pos,
                        "an extension inside the first cluster");
            }
            if (type == EXT_BACKING_FORMAT) {
                fmt = new String(h.asSlice(pos + 8, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            }
            pos += 8 + ((len + 7) & ~7L);
        }
        return fmt;
    }

    private ImageException bad(String found, String expected) {
        return new ImageException("qcow2 image " + path + ": " + found + " (expected " + expected + ")");
    }

    /** Parses the first cluster {@code h} (at least {@code min(clusterSize, file size)} bytes, zero-padded). */
    static Qcow2Header parse(String path, MemorySegment h, long fileSize) throws ImageException {
        if (fileSize < 72) {
            throw new ImageException("qcow2 image " + path + ": " + fileSize + " bytes (expected a header of at least 72 bytes)");
        }
        if (h.get(BE_INT, 0) != MAGIC) {
            throw new ImageException("qcow2 image " + path + ": no qcow2 magic (expected QFI\\xfb)");
        }
        return new Qcow2Header(path, h, fileSize);
    }

    boolean dirty() {
        return (incompatible & INCOMPAT_DIRTY) != 0;
    }

    boolean corrupt() {
        return (incompatible & INCOMPAT_CORRUPT) != 0;
    }
}
