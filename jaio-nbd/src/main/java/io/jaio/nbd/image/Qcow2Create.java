// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Makes an empty qcow2 v3 image (64 KiB clusters, 16-bit refcounts), optionally over a backing
 * file: what {@code qemu-img create -f qcow2 -b BACKING -F FMT} makes, for {@code --snapshot}'s
 * temporary overlay. Layout: cluster 0 the header, its backing-format extension and the backing
 * name; cluster 1 the refcount table; cluster 2 its one refcount block; then the L1 table.
 * Any thread; blocking file I/O.
 */
public final class Qcow2Create {
    private static final int CLUSTER_BITS = 16;
    private static final int CLUSTER = 1 << CLUSTER_BITS;

    private Qcow2Create() {
    }

    /**
     * Creates {@code path} (which must not exist) for a guest of {@code size} bytes.
     *
     * @param backing the backing file's absolute path, or null
     * @param backingFormat "raw" or "qcow2" (with a backing file)
     */
    public static void create(Path path, long size, String backing, String backingFormat) throws IOException {
        long l2Covers = (long) CLUSTER * (CLUSTER / 8);
        long l1Entries = Math.max(1, (size + l2Covers - 1) / l2Covers);
        long l1Clusters = (l1Entries * 8 + CLUSTER - 1) / CLUSTER;
        if (l1Entries * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new IOException("a qcow2 overlay for " + size + " bytes needs an L1 table of " + l1Entries * 8
                    + " bytes (expected at most " + Qcow2Header.MAX_L1_BYTES + ")");
        }
        long clusters = 3 + l1Clusters;
        ByteBuffer h = ByteBuffer.allocate(CLUSTER);
        h.putInt(0, Qcow2Header.MAGIC);
        h.putInt(4, 3);
        h.putInt(20, CLUSTER_BITS);
        h.putLong(24, size);
        h.putInt(36, (int) l1Entries);
        h.putLong(40, 3L * CLUSTER);
        h.putLong(48, CLUSTER);
        h.putInt(56, 1);
        h.putInt(96, 4);
        h.putInt(100, 112);
        int pos = 112;
        if (backing != null) {
            byte[] fmt = backingFormat.getBytes(StandardCharsets.UTF_8);
            h.putInt(pos, Qcow2Header.EXT_BACKING_FORMAT);
            h.putInt(pos + 4, fmt.length);
            h.put(pos + 8, fmt);
            pos += 8 + ((fmt.length + 7) & ~7);
        }
        pos += 8; // end of the extensions: type 0, length 0
        if (backing != null) {
            byte[] name = backing.getBytes(StandardCharsets.UTF_8);
            if (name.length > 1023) {
                throw new IOException("backing file name of " + name.length + " bytes (expected at most 1023)");
            }
            h.putLong(8, pos);
            h.putInt(16, name.length);
            h.put(pos, name);
        }
        ByteBuffer table = ByteBuffer.allocate(CLUSTER);
        table.putLong(0, 2L * CLUSTER);
        ByteBuffer block = ByteBuffer.allocate(CLUSTER);
        for (int i = 0; i < clusters; i++) {
            block.putShort(i * 2, (short) 1);
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writeFully(ch, h, 0);
            writeFully(ch, table, CLUSTER);
            writeFully(ch, block, 2L * CLUSTER);
            writeFully(ch, ByteBuffer.allocate((int) (l1Clusters * CLUSTER)), 3L * CLUSTER);
            ch.force(true);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        long p = at;
        while (b.hasRemaining()) { // bounded: each round writes at least one byte or throws
            p += ch.write(b, p);
        }
    }
}
