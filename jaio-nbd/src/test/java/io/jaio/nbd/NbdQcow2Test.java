// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qcow2 images made by qemu-img, served by jaio-nbd, used by real clients: reads compared with
 * qemu-img's own reading, block status compared with qemu-nbd's, and writes by qemu-io done
 * through jaio-nbd and through qemu-nbd on a copy, after which {@code qemu-img check} must find
 * no errors and no leaks and {@code qemu-img compare} no difference.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class NbdQcow2Test {
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        Qcow2Tools.assumeQemu();
        NbdTestSupport.resetLog();
    }

    /**
     * A base (raw or qcow2, or none) with data, and a qcow2 overlay on it with data of its own,
     * zero clusters (v3) and data past the end of a shorter backing file.
     */
    private Path layered(String clusterSize, String compat, String backing) throws Exception {
        String opts = "cluster_size=" + clusterSize + ",compat=" + compat;
        Path base = null;
        if (backing.equals("raw")) {
            base = NbdTestSupport.randomImage(dir.resolve("base.raw"), 24 * MIB, 7);
        } else if (backing.equals("qcow2")) {
            base = Qcow2Tools.create(dir.resolve("base.qcow2"), "24M", opts, null, null);
            Qcow2Tools.qemuIo(base, "qcow2", "write -P 0xaa 0 3M", "write -P 0xbb 5M 12k", "write -z 1M 64k",
                    "write -P 0xcc 20M 1M");
        }
        Path top = Qcow2Tools.create(dir.resolve("top.qcow2"), "32M", opts, base, backing);
        Qcow2Tools.qemuIo(top, "qcow2", "write -P 0x11 100k 3k", "write -P 0x22 2M 2M", "write -z 21M 1M",
                "write -P 0x33 30M 1500k", "write -P 0x44 31M 5");
        return top;
    }

    @ParameterizedTest(name = "clusters {0}, compat {1}, backing {2}")
    @CsvSource({"512, 1.1, none", "4k, 1.1, qcow2", "64k, 0.10, raw", "64k, 1.1, raw", "2M, 1.1, qcow2"})
    void readsBlockStatusAndDepthMatchQemu(String clusterSize, String compat, String backing) throws Exception {
        Path top = layered(clusterSize, compat, backing);
        byte[] want = Qcow2Tools.guestBytes(top, "qcow2", dir.resolve("want.raw"));
        String jaioMap;
        String jaioDepth;
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(top, "-r", "-t", "-e", "0")) {
            assertEquals(32 * MIB, s.size, "export size is the guest size");
            Path got = dir.resolve("got.raw");
            NbdTestSupport.runOk("qemu-img", "convert", "-f", "raw", "-O", "raw", s.qemuUri(), got.toString());
            assertArrayEquals(want, Files.readAllBytes(got), "guest bytes through jaio-nbd = qemu-img's reading");
            jaioMap = NbdTestSupport.runOk("nbdinfo", "--map", s.uri());
            jaioDepth = NbdTestSupport.runOk("nbdinfo", "--map=qemu:allocation-depth", s.uri());
        }
        try (Qcow2Tools.QemuNbd q = new Qcow2Tools.QemuNbd(top, dir.resolve("q.sock"), "-r", "-t", "-A", "-f", "qcow2")) {
            assertEquals(NbdTestSupport.runOk("nbdinfo", "--map", q.uri()), jaioMap, "base:allocation as qemu-nbd reports it");
            assertEquals(NbdTestSupport.runOk("nbdinfo", "--map=qemu:allocation-depth", q.uri()), jaioDepth,
                    "qemu:allocation-depth as qemu-nbd reports it");
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void compressedClustersReadAsQemuImgReadsThem() throws Exception {
        Path raw = NbdTestSupport.randomImage(dir.resolve("src.raw"), 8 * MIB, 3);
        // half random (incompressible, stored as data), half repetitive (compressed well)
        try (var ch = java.nio.channels.FileChannel.open(raw, java.nio.file.StandardOpenOption.WRITE)) {
            byte[] text = "jaio-nbd reads compressed qcow2 clusters. ".repeat(100_000).getBytes();
            ch.write(java.nio.ByteBuffer.wrap(text, 0, (int) (4 * MIB)), 2 * MIB);
        }
        Path packed = dir.resolve("packed.qcow2");
        NbdTestSupport.runOk("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k",
                raw.toString(), packed.toString());
        String info = NbdTestSupport.runOk("qemu-img", "check", packed.toString());
        assertTrue(!info.contains(" 0.00% compressed"), "qemu-img made compressed clusters: " + info);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(packed, "-r")) {
            Path got = dir.resolve("got.raw");
            NbdTestSupport.runOk("qemu-img", "convert", "-f", "raw", "-O", "raw", s.qemuUri(), got.toString());
            assertArrayEquals(Files.readAllBytes(raw), Files.readAllBytes(got), "compressed clusters inflated");
        }
        // Writing into compressed clusters: copy-on-write of a partial cluster, release of the old one.
        Path copy = Files.copy(packed, dir.resolve("copy.qcow2"));
        List<String> cmds = List.of("write -P 0x5a 2100k 100", "write -P 0x5b 3M 8k", "write -z 4M 4k", "flush");
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(packed)) {
            Qcow2Tools.qemuIoUri(s.qemuUri(), cmds);
        }
        try (Qcow2Tools.QemuNbd q = new Qcow2Tools.QemuNbd(copy, dir.resolve("q.sock"), "-f", "qcow2")) {
            Qcow2Tools.qemuIoUri(q.uri(), cmds);
            q.awaitExit();
        }
        Qcow2Tools.assertCheckClean(packed);
        Qcow2Tools.assertIdentical(packed, copy);
        NbdTestSupport.assertNoExceptionsLogged();
    }

    /**
     * zstd-compressed clusters (compression type 1) made by {@code qemu-img convert -c -o
     * compression_type=zstd}: nbdcopy reads the guest bytes back through jaio-nbd, then writes
     * into compressed clusters (copy-on-write from the decoded data) end identical to the same
     * writes through qemu-nbd, with {@code qemu-img check} clean. Clusters of one repeated byte,
     * text, zeroes, random data (stored uncompressed) and partly random ones; the small sizes pack
     * compressed clusters back to back, so a cluster's last sector holds the next one's frames.
     */
    @ParameterizedTest(name = "clusters {0}")
    @CsvSource({"512", "4k", "64k", "2M"})
    void zstdClustersReadAndCopyOnWriteAsQemuDoes(String clusterSize) throws Exception {
        NbdTestSupport.assumeTool("nbdcopy", "libnbd-bin");
        Path raw = dir.resolve("src.raw");
        java.util.Random rnd = new java.util.Random(5);
        byte[] bytes = new byte[(int) (8 * MIB)];
        for (int c = 0; c < bytes.length / 4096; c++) {
            int at = c * 4096;
            switch (c % 5) {
                case 0 -> java.util.Arrays.fill(bytes, at, at + 4096, (byte) c);
                case 1 -> {
                    byte[] r = new byte[4096];
                    rnd.nextBytes(r);
                    System.arraycopy(r, 0, bytes, at, 4096);
                }
                case 2 -> {
                    byte[] t = ("zstd cluster " + c + " ").repeat(400).getBytes();
                    System.arraycopy(t, 0, bytes, at, 4096);
                }
                case 3 -> { } // zeroes
                default -> {
                    byte[] r = new byte[1000];
                    rnd.nextBytes(r);
                    System.arraycopy(r, 0, bytes, at, r.length);
                }
            }
        }
        Files.write(raw, bytes);
        Path packed = dir.resolve("zstd.qcow2");
        NbdTestSupport.Result made = NbdTestSupport.run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                "compression_type=zstd,cluster_size=" + clusterSize, raw.toString(), packed.toString());
        org.junit.jupiter.api.Assumptions.assumeTrue(made.exitCode() == 0, "qemu-img without zstd: " + made.output());
        String info = NbdTestSupport.runOk("qemu-img", "check", packed.toString());
        assertTrue(!info.contains(" 0.00% compressed"), "qemu-img made compressed clusters: " + info);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(packed, "-r")) {
            Path got = dir.resolve("got.raw");
            NbdTestSupport.runOk("nbdcopy", s.uri(), got.toString());
            assertArrayEquals(bytes, Files.readAllBytes(got), "zstd clusters decoded");
        }
        Path copy = Files.copy(packed, dir.resolve("copy.qcow2"));
        List<String> cmds = List.of("write -P 0x5a 2100k 100", "write -P 0x5b 3M 8k", "write -P 0x5c 4194000 9000",
                "write -z 5M 4k", "flush");
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(packed)) {
            Qcow2Tools.qemuIoUri(s.qemuUri(), cmds);
        }
        try (Qcow2Tools.QemuNbd q = new Qcow2Tools.QemuNbd(copy, dir.resolve("q.sock"), "-f", "qcow2")) {
            Qcow2Tools.qemuIoUri(q.uri(), cmds);
            q.awaitExit();
        }
        Qcow2Tools.assertCheckClean(packed);
        Qcow2Tools.assertIdentical(packed, copy);
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @ParameterizedTest(name = "clusters {0}, compat {1}, backing {2}, aio {3}")
    @CsvSource({"512, 1.1, none, false", "4k, 1.1, qcow2, true", "64k, 0.10, raw, false", "64k, 1.1, none, true",
            "2M, 1.1, qcow2, false"})
    void clientWritesGiveTheImageQemuNbdMakes(String clusterSize, String compat, String backing, boolean aio) throws Exception {
        Path top = layered(clusterSize, compat, backing);
        Path copy = Files.copy(top, dir.resolve("copy.qcow2"));
        int cs = clusterSize.endsWith("M") ? Integer.parseInt(clusterSize.replace("M", "")) << 20
                : clusterSize.endsWith("k") ? Integer.parseInt(clusterSize.replace("k", "")) << 10 : Integer.parseInt(clusterSize);
        List<String> cmds = Qcow2Tools.randomCommands(clusterSize.hashCode() * 31L + compat.hashCode(), 32 * MIB, 60, cs, aio);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(top, "--discard=unmap")) {
            Qcow2Tools.qemuIoUri(s.qemuUri(), cmds);
        }
        try (Qcow2Tools.QemuNbd q = new Qcow2Tools.QemuNbd(copy, dir.resolve("q.sock"), "-f", "qcow2", "--discard=unmap")) {
            Qcow2Tools.qemuIoUri(q.uri(), cmds);
            q.awaitExit();
        }
        Qcow2Tools.assertCheckClean(top);
        Qcow2Tools.assertIdentical(top, copy);
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void manyClustersGrowTheRefcountTable() throws Exception {
        // 512-byte clusters, 16-bit refcounts: one refcount-table cluster covers 8 MiB of file.
        Path img = Qcow2Tools.create(dir.resolve("grow.qcow2"), "64M", "cluster_size=512", null, null);
        Path copy = Files.copy(img, dir.resolve("copy.qcow2"));
        List<String> cmds = List.of("write -P 0x61 0 6M", "write -P 0x62 20M 5M", "write -P 0x63 50M 3M", "flush");
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(img)) {
            Qcow2Tools.qemuIoUri(s.qemuUri(), cmds);
        }
        try (Qcow2Tools.QemuNbd q = new Qcow2Tools.QemuNbd(copy, dir.resolve("q.sock"), "-f", "qcow2")) {
            Qcow2Tools.qemuIoUri(q.uri(), cmds);
            q.awaitExit();
        }
        String info = NbdTestSupport.runOk("qemu-img", "info", "--output=json", img.toString());
        assertTrue(Files.size(img) > 8 * MIB, "the file outgrew the first refcount table cluster: " + Files.size(img));
        Qcow2Tools.assertCheckClean(img);
        Qcow2Tools.assertIdentical(img, copy);
        assertTrue(info.contains("\"format\": \"qcow2\""), info);
    }

    @Test
    void snapshotServesAnOverlayAndLeavesTheImageUntouched() throws Exception {
        Path top = layered("64k", "1.1", "qcow2");
        String before = NbdTestSupport.sha256(top);
        byte[] guestBefore = Qcow2Tools.guestBytes(top, "qcow2", dir.resolve("before.raw"));
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(top, "--snapshot")) {
            String out = Qcow2Tools.qemuIoUri(s.qemuUri(), List.of("write -P 0x99 0 1M", "read -P 0x99 0 1M",
                    "read -P 0x22 2M 2M", "flush"));
            assertTrue(out.contains("read 1048576/1048576"), out);
        }
        assertEquals(before, NbdTestSupport.sha256(top), "the image file is unchanged");
        assertArrayEquals(guestBefore, Qcow2Tools.guestBytes(top, "qcow2", dir.resolve("after.raw")));
        assertTrue(NbdTestSupport.assertNoExceptionsLogged() != null);
    }

    @Test
    void detectZeroesUnmapTurnsZeroWritesIntoZeroClusters() throws Exception {
        Path img = Qcow2Tools.create(dir.resolve("dz.qcow2"), "16M", "cluster_size=64k", null, null);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(img, "--detect-zeroes=unmap")) {
            Qcow2Tools.qemuIoUri(s.qemuUri(), List.of("write -P 0x1 0 1M", "write -P 0 256k 256k", "flush"));
        }
        Qcow2Tools.assertCheckClean(img);
        String map = NbdTestSupport.runOk("qemu-img", "map", "--output=json", img.toString());
        assertTrue(map.contains("\"start\": 262144, \"length\": 262144, \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false"),
                "zero clusters where zeroes were written: " + map);
        assertNotEquals(0, Files.size(img));
    }
}
