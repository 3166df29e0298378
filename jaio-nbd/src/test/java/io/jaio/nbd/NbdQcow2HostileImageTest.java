// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bad and hostile qcow2 images: a header or table that cannot be trusted is refused at open with
 * one line naming the value and what was expected; metadata that goes bad only where a request
 * looks (an L2 entry past the end of the file, a refcount table entry on the header) gives that
 * request an error, never a read or write elsewhere, and the server serves on.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdQcow2HostileImageTest {
    @TempDir
    Path dir;
    private Path image;

    @BeforeEach
    void makeImage() throws Exception {
        Qcow2Tools.assumeQemu();
        NbdTestSupport.resetLog();
        image = Qcow2Tools.create(dir.resolve("t.qcow2"), "16M", "cluster_size=64k", null, null);
        Qcow2Tools.qemuIo(image, "qcow2", "write -P 0x41 0 128k", "write -P 0x42 8M 64k");
    }

    private static void poke(Path file, long offset, int bytes, long value) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            switch (bytes) {
                case 4 -> f.writeInt((int) value);
                case 8 -> f.writeLong(value);
                default -> throw new IllegalArgumentException("bytes=" + bytes + " (expected 4 or 8)");
            }
        }
    }

    private static long peek8(Path file, long offset) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            return f.readLong();
        }
    }

    private String refusal(boolean readOnly) {
        ServeOptions.UsageException e = assertThrows(ServeOptions.UsageException.class,
                () -> Export.open("", image.toString(), readOnly, false, null).close());
        return e.getMessage();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            version 4                    | 4   | 4 | 4                   | version 4 (expected 2 or 3)
            cluster_bits 22              | 20  | 4 | 22                  | cluster_bits 22 (expected 9..21, clusters of 512 B to 2 MiB)
            huge virtual size            | 24  | 8 | 2305843009213693952 | l1_size 1 (expected at least 4294967296 entries for a virtual size of 2305843009213693952)
            negative virtual size        | 24  | 8 | -1                  | virtual size 18446744073709551615 (expected 0..2^62 bytes)
            L1 table past the end        | 40  | 8 | 1099511627776       | L1 table at 1099511627776+8 (expected inside the file of FILESIZE bytes)
            L1 table misaligned          | 40  | 8 | 65544               | L1 table offset 65544 (expected a cluster-aligned offset)
            refcount table past the end  | 48  | 8 | 1099511627776       | refcount table at 1099511627776+65536 (expected inside the file of FILESIZE bytes)
            huge L1 table                | 36  | 4 | 16777216            | L1 table of 134217728 bytes (expected at most 33554432 bytes (QEMU's limit))
            unknown incompatible bit     | 72  | 8 | 128                 | incompatible feature bits 0x80 (expected none but dirty, corrupt and compression type)
            zstd without its bit         | 104 | 4 | 16777216            | compression_type 1 without the compression type bit (expected incompatible bit 3 set with a non-zero compression_type)
            encryption                   | 32  | 4 | 1                   | crypt_method 1 (expected 0, an unencrypted image: encrypted qcow2 is not served)
            header length                | 100 | 4 | 7                   | header_length 7 (expected a multiple of 8, 104 up to the cluster size)
            backing name past cluster 0  | 16  | 4 | 1000                | backing file name at 0 of 1000 bytes (expected 1..1023 bytes inside the first cluster)
            """)
    void badHeaderIsRefusedWithOneLine(String what, long offset, int bytes, long value, String expected) throws Exception {
        if (what.startsWith("backing name")) {
            poke(image, 8, 8, 65536 - 10);
            expected = expected.replace("at 0", "at " + (65536 - 10));
        }
        poke(image, offset, bytes, value);
        String msg = refusal(false);
        assertEquals("qcow2 image " + image + ": " + expected.replace("FILESIZE", Long.toString(Files.size(image))), msg, what);
    }

    @Test
    void truncatedHeaderIsRefused() throws Exception {
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(image), 40);
        Files.write(image, head);
        assertEquals("qcow2 image " + image + ": 40 bytes (expected a header of at least 72 bytes)", refusal(true));
    }

    @Test
    void backingLoopAndMissingBackingAreRefused() throws Exception {
        NbdTestSupport.runOk("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", "t.qcow2", "-F", "qcow2", image.toString());
        assertTrue(refusal(true).contains("backing chain loops or is deeper than 64"), refusal(true));
        NbdTestSupport.runOk("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2", image.toString());
        assertEquals("qcow2 image " + image + ": backing file " + dir.resolve("gone.qcow2")
                + " cannot be opened: no such file (expected the backing file named in the image's header)", refusal(true));
    }

    @Test
    void dirtyCorruptAndSnapshotImagesAreReadOnly() throws Exception {
        NbdTestSupport.runOk("qemu-img", "snapshot", "-c", "s1", image.toString());
        assertEquals("qcow2 image " + image + " has 1 internal snapshots (expected an image without them for writing, or -r to"
                + " read it)", refusal(false));
        Export.open("", image.toString(), true, false, null).close();
        NbdTestSupport.runOk("qemu-img", "snapshot", "-d", "s1", image.toString());
        poke(image, 72, 8, 2); // corrupt
        assertEquals("qcow2 image " + image + " is marked corrupt (expected -r to read it, or a repair with qemu-img check -r all"
                + " first)", refusal(false));
        Export.open("", image.toString(), true, false, null).close();
        poke(image, 72, 8, 1); // dirty
        assertTrue(refusal(false).contains("is marked dirty"), refusal(false));
        Export.open("", image.toString(), true, false, null).close();
    }

    @Test
    void extendedL2EntriesAreRefused() throws Exception {
        Path ext = Qcow2Tools.create(dir.resolve("ext.qcow2"), "16M", "extended_l2=on,cluster_size=64k", null, null);
        image = ext;
        assertEquals("qcow2 image " + ext + ": incompatible feature 'extended L2 entries' (expected an image without subclusters"
                + " (extended_l2=off))", refusal(true));
    }

    @Test
    void l2EntryPastTheEndFailsThatReadOnly() throws Exception {
        long l1 = peek8(image, 40);
        long l2 = peek8(image, l1) & 0x00ff_ffff_ffff_fe00L;
        poke(image, l2, 8, (1L << 63) | (1L << 40)); // guest cluster 0 -> 1 TiB, far past the end
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-r", "-t")) {
            NbdTestSupport.Result bad = NbdTestSupport.run(NbdTestSupport.qemuIoCommand(s, true, "read 0 4k"));
            assertTrue(bad.output().contains("Input/output error"), "read of the bad cluster fails: " + bad.output());
            var cmd = NbdTestSupport.qemuIoCommand(s, true, "read -P 0x41 64k 64k", "read -P 0x42 8M 64k", "read -P 0 4M 64k");
            NbdTestSupport.assertNoQemuIoFailure(cmd, NbdTestSupport.run(cmd).expectSuccess(cmd).output());
            assertTrue(s.alive());
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    /**
     * A zstd-compressed cluster whose frame is garbage (its magic overwritten) fails that read
     * with EIO and a log line naming the cluster; its uncompressed neighbour still reads.
     */
    @Test
    void corruptZstdClusterFailsThatReadOnly() throws Exception {
        Path raw = NbdTestSupport.randomImage(dir.resolve("src.raw"), 1L << 20, 3);
        Files.write(raw, "compressible ".repeat(5_000).getBytes(), java.nio.file.StandardOpenOption.WRITE);
        Path packed = dir.resolve("zstd.qcow2");
        NbdTestSupport.Result made = NbdTestSupport.run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                "compression_type=zstd,cluster_size=64k", raw.toString(), packed.toString());
        org.junit.jupiter.api.Assumptions.assumeTrue(made.exitCode() == 0, "qemu-img without zstd: " + made.output());
        long l1 = peek8(packed, 40);
        long entry = peek8(packed, peek8(packed, l1) & 0x00ff_ffff_ffff_fe00L);
        assertTrue((entry & (1L << 62)) != 0, "guest cluster 0 is compressed: 0x" + Long.toHexString(entry));
        long data = entry & ((1L << (62 - (16 - 8))) - 1); // 64 KiB clusters: offset in the low 54 bits
        poke(packed, data, 8, 0x0123_4567_89ab_cdefL);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(packed, "-r", "-t")) {
            NbdTestSupport.Result bad = NbdTestSupport.run(NbdTestSupport.qemuIoCommand(s, true, "read 0 4k"));
            assertTrue(bad.output().contains("Input/output error"), "read of the bad cluster fails: " + bad.output());
            byte[] want = java.util.Arrays.copyOfRange(Files.readAllBytes(raw), 128 << 10, 192 << 10);
            Path got = dir.resolve("got.raw");
            NbdTestSupport.runOk("qemu-img", "convert", "-O", "raw", "--image-opts", "driver=raw,offset=131072,size=65536,"
                    + "file.driver=nbd,file.server.type=inet,file.server.host=127.0.0.1,file.server.port=" + s.port, got.toString());
            assertTrue(java.util.Arrays.equals(want, Files.readAllBytes(got)), "a random (uncompressed) cluster still reads");
            assertTrue(s.alive());
        }
        String log = String.join("\n", NbdTestSupport.assertNoExceptionsLogged());
        assertTrue(log.contains("guest cluster 0: no zstd frame at byte 0"), "the log names the bad cluster: " + log);
    }

    @Test
    void refcountTableEntryOnTheHeaderFailsAllocatingWritesOnly() throws Exception {
        long reftable = peek8(image, 48);
        poke(image, reftable, 8, 0); // refcount block 0 "at" offset 0: the header
        String before = NbdTestSupport.sha256(image);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-t")) {
            NbdTestSupport.Result bad = NbdTestSupport.run(NbdTestSupport.qemuIoCommand(s, false, "write -P 0x55 4M 4k"));
            assertTrue(bad.output().contains("error"), "an allocating write fails: " + bad.output());
            NbdTestSupport.qemuIo(s, "write -P 0x56 0 4k", "read -P 0x56 0 4k", "read -P 0x42 8M 64k");
            assertTrue(s.alive());
        }
        assertTrue(!before.equals(NbdTestSupport.sha256(image)), "the in-place write landed");
        byte[] header = java.util.Arrays.copyOf(Files.readAllBytes(image), 4);
        assertEquals('Q', header[0], "the header was not overwritten");
    }
}
