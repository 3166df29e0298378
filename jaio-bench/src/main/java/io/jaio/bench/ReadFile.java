// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;

/**
 * The file {@link FileReadBench} reads: {@code sizeBytes} of non-zero data in 4 KiB blocks. Each
 * block starts with a stamp that names it ({@link #stamp}), so every benchmark row can check that
 * a read returned the block it asked for; the rest of the block is random bytes. Made once and
 * kept: a file of the right size whose first and last stamps match is reused.
 *
 * <p>Also the random block generator every row uses (xorshift64*, one per reader), so all rows
 * draw offsets the same way. Any thread; a generator belongs to one reader.
 */
final class ReadFile {
    static final int BLOCK_BYTES = 4096;
    private static final long STAMP_BITS = 0x5A17_0000_0000_0000L;

    private ReadFile() {
    }

    /** The first 8 bytes (native order) of block {@code block}: never zero. */
    static long stamp(long block) {
        return STAMP_BITS | block;
    }

    /** Whether the first 8 bytes of {@code buf} are the stamp of {@code block}. */
    static boolean stampMatches(MemorySegment buf, long block) {
        return buf.get(ValueLayout.JAVA_LONG, 0) == stamp(block);
    }

    /** Makes {@code path} ({@code sizeBytes}, a multiple of 4 KiB) unless a valid copy exists. */
    static void ensure(Path path, long sizeBytes) throws IOException {
        if (Files.isRegularFile(path) && Files.size(path) == sizeBytes && stampsOk(path, sizeBytes)) {
            return;
        }
        Files.createDirectories(path.toAbsolutePath().getParent());
        System.out.printf("making %s (%d MiB of non-zero data) ...%n", path, sizeBytes >> 20);
        int chunk = 1 << 20;
        ByteBuffer buf = ByteBuffer.allocateDirect(chunk).order(ByteOrder.nativeOrder());
        byte[] noise = new byte[chunk];
        new SplittableRandom(42).nextBytes(noise);
        for (int i = 0; i < noise.length; i++) {
            if (noise[i] == 0) {
                noise[i] = 1;
            }
        }
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            for (long pos = 0; pos < sizeBytes; pos += chunk) {
                buf.clear();
                buf.put(noise);
                for (int b = 0; b < chunk; b += BLOCK_BYTES) {
                    buf.putLong(b, stamp((pos + b) / BLOCK_BYTES));
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf, pos + buf.position());
                }
            }
            ch.force(true);
        }
        Files.move(tmp, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static boolean stampsOk(Path path, long sizeBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            for (long block : new long[] {0, sizeBytes / BLOCK_BYTES - 1}) {
                b.clear();
                ch.read(b, block * BLOCK_BYTES);
                if (b.getLong(0) != stamp(block)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Reads the whole file once through the page cache (what {@code cat file > /dev/null} does). */
    static void warmPageCache(Path path) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long pos = 0;
            int n;
            while ((n = ch.read(buf.clear(), pos)) > 0) {
                pos += n;
            }
        }
    }

    /** A random block index in {@code [0, blocks)}, blocks a power of two; one per reader. */
    static final class BlockRng {
        private long state;
        private final long mask;

        BlockRng(long seed, long blocks) {
            if (Long.bitCount(blocks) != 1) {
                throw new IllegalArgumentException("blocks=" + blocks + " (expected a power of two)");
            }
            this.state = seed == 0 ? 0x9E3779B97F4A7C15L : seed;
            this.mask = blocks - 1;
        }

        long next() {
            long x = state;
            x ^= x >>> 12;
            x ^= x << 25;
            x ^= x >>> 27;
            state = x;
            return ((x * 0x2545F4914F6CDD1DL) >>> 20) & mask;
        }
    }
}
