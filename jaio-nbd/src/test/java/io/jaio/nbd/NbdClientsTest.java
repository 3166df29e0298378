// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static io.jaio.nbd.NbdTestSupport.assertFilled;
import static io.jaio.nbd.NbdTestSupport.assumeTool;
import static io.jaio.nbd.NbdTestSupport.qemuIo;
import static io.jaio.nbd.NbdTestSupport.run;
import static io.jaio.nbd.NbdTestSupport.runOk;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.jaio.ErrnoException;
import io.jaio.Fds;

/**
 * Real NBD clients against the server: qemu-io, qemu-img, nbdinfo, nbdcopy and fio's nbd
 * engine, over TCP and unix sockets, with the io_uring and thread-pool engines, O_DIRECT,
 * read-only exports and several connections at once. What the clients wrote is checked in the
 * image file itself. A missing client skips its test with the reason printed (CI installs them).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdClientsTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private final List<NbdTestSupport.Server> servers = new ArrayList<>();
    private Path scratch;

    @BeforeEach
    void clearLog() {
        NbdTestSupport.resetLog();
    }

    @AfterEach
    void stopServers() throws IOException {
        try {
            for (NbdTestSupport.Server s : servers) {
                assertEquals(0, s.stop(), "exit status of the server");
            }
            NbdTestSupport.assertNoExceptionsLogged();
        } finally {
            if (scratch != null) {
                NbdTestSupport.deleteTree(scratch);
            }
        }
    }

    private NbdTestSupport.Server serve(Path image, String... options) throws Exception {
        NbdTestSupport.Server s = NbdTestSupport.Server.start(image, options);
        servers.add(s);
        return s;
    }

    private String socket() {
        return dir.resolve("nbd.sock").toString();
    }

    // ---- qemu-io ----

    /** Variants: transport, file engine, cache mode. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tcp", "unix", "tcp --aio=threads", "unix --aio=threads --iothreads=2", "tcp --cache=none",
            "unix --cache=none --aio=threads", "tcp --cache=none --aio=native", "unix --cache=none --aio=native --iothreads=2"})
    void qemuIoPatternsReadBackAndLandInTheImage(String variant) throws Exception {
        assumeTool("qemu-io", "qemu-utils");
        List<String> words = new ArrayList<>(List.of(variant.split(" ")));
        List<String> opts = new ArrayList<>(List.of("-t"));
        if (words.remove(0).equals("unix")) {
            opts.addAll(List.of("-k", socket()));
        }
        opts.addAll(words);
        Path image;
        if (words.contains("--cache=none")) {
            scratch = NbdTestSupport.diskScratchDir("odirect");
            image = NbdTestSupport.sparseImage(scratch.resolve("disk.img"), 16 * MIB);
            assumeODirect(image);
        } else {
            image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 16 * MIB);
        }
        NbdTestSupport.Server s = serve(image, opts.toArray(String[]::new));
        qemuIo(s,
                "write -P 0xa5 0 1M",
                "write -P 0x5a 1M 64k",
                "aio_write -P 0x11 2M 64k",
                "aio_write -P 0x22 3M 128k",
                "aio_write -P 0x23 4M 1M",
                "aio_flush",
                "read -P 0xa5 0 1M",
                "read -P 0x5a 1M 64k",
                "aio_read -P 0x11 2M 64k",
                "aio_read -P 0x22 3M 128k",
                "aio_read -P 0x23 4M 1M",
                "aio_flush",
                "write -f -P 0x33 6M 64k",
                "flush",
                "write -P 0x44 8M 1M",
                "discard 8M 1M",
                "read -P 0 8M 1M",
                "write -P 0x55 10M 1M",
                "write -z 10M 1M",
                "read -P 0 10M 1M",
                "write -P 0x66 12M 1M",
                "write -z -u 12M 512k",
                "read -P 0 12M 512k",
                "read -P 0x66 12800k 512k",
                "write -P 0x77 15M 1M",
                "read -P 0x77 15M 1M",
                "flush");
        assertFilled(image, 0, MIB, 0xa5);
        assertFilled(image, MIB, 64 * 1024, 0x5a);
        assertFilled(image, 2 * MIB, 64 * 1024, 0x11);
        assertFilled(image, 3 * MIB, 128 * 1024, 0x22);
        assertFilled(image, 4 * MIB, MIB, 0x23);
        assertFilled(image, 6 * MIB, 64 * 1024, 0x33);
        assertFilled(image, 8 * MIB, MIB, 0);
        assertFilled(image, 10 * MIB, MIB, 0);
        assertFilled(image, 12 * MIB, 512 * 1024, 0);
        assertFilled(image, 12 * MIB + 512 * 1024, 512 * 1024, 0x66);
        assertFilled(image, 15 * MIB, MIB, 0x77);
        assertEquals(16 * MIB, Files.size(image));

        // Requests past the end fail (qemu may refuse them before they reach the wire) and
        // leave the image as it was.
        for (String bad : new String[] {"read 16M 4k", "write -P 0x99 16M 4k", "read 15M 2M", "write -P 0x99 16380k 8k"}) {
            List<String> cmd = NbdTestSupport.qemuIoCommand(s, false, bad);
            NbdTestSupport.Result r = run(cmd);
            assertNotEquals(0, r.exitCode(), bad + " succeeded:\n" + r.output());
        }
        assertFilled(image, 15 * MIB, MIB, 0x77);
        assertEquals(16 * MIB, Files.size(image));
        if (words.contains("--aio=native")) {
            List<String> log = NbdTestSupport.assertNoExceptionsLogged();
            assertTrue(log.stream().anyMatch(m -> m.contains("(file engine linux-aio)")),
                    "no connection was served by the Linux AIO engine; log:\n" + String.join("\n", log));
        }
    }

    /** Skips unless the file system under {@code image} takes O_DIRECT. */
    private static void assumeODirect(Path image) {
        try {
            Fds.close(Fds.open(image.toString(), Fds.O_RDWR | Fds.O_DIRECT, 0));
        } catch (ErrnoException e) {
            String why = "O_DIRECT is refused on " + image.getParent() + " (" + e.getMessage() + "): cache=none test skipped";
            System.out.println("SKIPPED: " + why);
            Assumptions.abort(why);
        }
    }

    @Test
    void readOnlyExportServesReadsAndRefusesWrites() throws Exception {
        assumeTool("qemu-io", "qemu-utils");
        Path image = NbdTestSupport.sparseImage(dir.resolve("ro.img"), 4 * MIB);
        try (var ch = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.WRITE)) {
            byte[] b = new byte[MIB];
            java.util.Arrays.fill(b, (byte) 0x3c);
            ch.write(java.nio.ByteBuffer.wrap(b), MIB);
        }
        String before = NbdTestSupport.sha256(image);
        NbdTestSupport.Server s = serve(image, "-r", "-t");
        List<String> read = NbdTestSupport.qemuIoCommand(s, true, "read -P 0 0 1M", "read -P 0x3c 1M 1M", "aio_read -P 0 2M 1M",
                "aio_flush");
        String out = run(read).expectSuccess(read).output();
        NbdTestSupport.assertNoQemuIoFailure(read, out);
        // qemu sees the READ_ONLY flag and refuses to open for writing: EPERM before any request.
        List<String> write = NbdTestSupport.qemuIoCommand(s, false, "write -P 0x11 0 4k");
        NbdTestSupport.Result r = run(write);
        assertNotEquals(0, r.exitCode(), "write to a read-only export:\n" + r.output());
        assertTrue(r.output().contains("Permission denied") || r.output().contains("read-only"), r.output());
        if (hasNbdinfo()) {
            Map<String, String> info = NbdTestSupport.nbdinfoJson(s);
            assertEquals("true", info.get("is_read_only"), info.get("raw"));
            assertEquals("false", info.get("can_trim"), info.get("raw"));
            assertEquals("false", info.get("can_zero"), info.get("raw"));
        }
        assertEquals(before, NbdTestSupport.sha256(image), "read-only image unchanged");
    }

    @Test
    void fourQemuIoClientsAtOnceEachGetTheirOwnData() throws Exception {
        assumeTool("qemu-io", "qemu-utils");
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 16 * MIB);
        NbdTestSupport.Server s = serve(image, "-t", "-e", "4", "--iothreads=2");
        List<Process> procs = new ArrayList<>();
        List<java.util.concurrent.CompletableFuture<String>> outs = new ArrayList<>();
        List<List<String>> cmds = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                List<String> c = new ArrayList<>();
                String p = "0x" + Integer.toHexString(0x40 + i);
                for (int k = 0; k < 4; k++) {
                    c.add("aio_write -P " + p + " " + (4 * i + k) + "M 1M");
                }
                c.add("aio_flush");
                c.add("flush");
                for (int k = 0; k < 4; k++) {
                    c.add("aio_read -P " + p + " " + (4 * i + k) + "M 1M");
                }
                c.add("aio_flush");
                List<String> cmd = NbdTestSupport.qemuIoCommand(s, false, c.toArray(String[]::new));
                cmds.add(cmd);
                Process proc = NbdTestSupport.startProcess(cmd);
                proc.getOutputStream().close();
                procs.add(proc);
                outs.add(NbdTestSupport.readAllAsync(proc.getInputStream()));
            }
            for (int i = 0; i < 4; i++) {
                Process proc = procs.get(i);
                if (!proc.waitFor(NbdTestSupport.CLIENT_TIMEOUT_S, TimeUnit.SECONDS)) {
                    fail("qemu-io " + i + " hung\n" + NbdTestSupport.threadDump());
                }
                String out = outs.get(i).get(10, TimeUnit.SECONDS);
                assertEquals(0, proc.exitValue(), "qemu-io " + i + ":\n" + out);
                NbdTestSupport.assertNoQemuIoFailure(cmds.get(i), out);
            }
        } finally {
            procs.forEach(Process::destroyForcibly);
        }
        for (int i = 0; i < 4; i++) {
            assertFilled(image, 4L * i * MIB, 4 * MIB, 0x40 + i);
        }
    }

    // ---- qemu-img ----

    @Test
    void qemuImgConvertThroughNbdAndCompareWithTheOriginal() throws Exception {
        assumeTool("qemu-img", "qemu-utils");
        // A source with data and holes.
        Path src = NbdTestSupport.sparseImage(dir.resolve("src.raw"), 24 * MIB);
        java.util.Random rnd = new java.util.Random(1234);
        try (var ch = java.nio.channels.FileChannel.open(src, java.nio.file.StandardOpenOption.WRITE)) {
            for (long off = 0; off < 24 * MIB; off += 3 * MIB) {
                byte[] b = new byte[MIB + rnd.nextInt(MIB)];
                rnd.nextBytes(b);
                ch.write(java.nio.ByteBuffer.wrap(b), off);
            }
        }
        Path target = NbdTestSupport.sparseImage(dir.resolve("target.raw"), 24 * MIB);
        NbdTestSupport.Server s = serve(target, "-t", "-k", socket());
        runOk("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.toString(), s.qemuUri());
        NbdTestSupport.Result cmp = run("qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), s.qemuUri());
        assertEquals(0, cmp.exitCode(), "qemu-img compare: " + cmp.output());
        assertEquals(NbdTestSupport.sha256(src), NbdTestSupport.sha256(target), "the image file holds the source");
        Path back = dir.resolve("back.raw");
        runOk("qemu-img", "convert", "-f", "raw", "-O", "raw", s.qemuUri(), back.toString());
        assertEquals(NbdTestSupport.sha256(src), NbdTestSupport.sha256(back), "converted back out of the export");
        // A difference is seen too (the comparison can fail).
        try (var ch = java.nio.channels.FileChannel.open(src, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {42}), 5 * MIB + 7);
        }
        NbdTestSupport.Result differ = run("qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), s.qemuUri());
        assertEquals(1, differ.exitCode(), "qemu-img compare after a change: " + differ.output());
    }

    // ---- nbdinfo ----

    private static boolean hasNbdinfo() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nbdinfo"))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void nbdinfoReportsSizeFlagsContextAndHolesAfterDiscard() throws Exception {
        assumeTool("nbdinfo", "libnbd-bin");
        assumeTool("qemu-io", "qemu-utils");
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 64 * MIB);
        NbdTestSupport.Server s = serve(image, "-t");
        Map<String, String> info = NbdTestSupport.nbdinfoJson(s);
        String raw = info.get("raw");
        assertEquals(Long.toString(64 * MIB), info.get("export-size"), raw);
        assertEquals("newstyle-fixed", info.get("protocol"), raw);
        assertEquals("true", info.get("structured"), raw);
        for (String flag : new String[] {"can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero", "can_cache",
                "can_df"}) {
            assertEquals("true", info.get(flag), flag + " in " + raw);
        }
        assertEquals("false", info.get("is_read_only"), raw);
        assertEquals("33554432", info.get("block_size_maximum"), raw);
        assertTrue(raw.contains("\"base:allocation\""), "base:allocation context in " + raw);

        assertEquals(List.of(new Extent(0, 64 * MIB, 3)), map(s), "a sparse image is one hole");
        qemuIo(s, "write -P 0xaa 0 4M", "discard 1M 1M", "write -P 0xbb 32M 64k", "flush");
        List<Extent> extents = map(s);
        assertTrue(covers(extents, 0, MIB, 0), "data at 0+1M: " + extents);
        assertTrue(covers(extents, MIB, MIB, 3), "hole,zero where discarded (1M+1M): " + extents);
        assertTrue(covers(extents, 2 * MIB, 2 * MIB, 0), "data at 2M+2M: " + extents);
        assertTrue(covers(extents, 8 * MIB, 16 * MIB, 3), "hole at 8M+16M: " + extents);
        assertTrue(covers(extents, 32 * MIB, 64 * 1024, 0), "data at 32M+64k: " + extents);
        long total = 0;
        for (Extent e : extents) {
            assertEquals(total, e.offset, "extents are contiguous: " + extents);
            total += e.length;
        }
        assertEquals(64 * MIB, total, "extents cover the export: " + extents);
        assertFilled(image, MIB, MIB, 0);
    }

    record Extent(long offset, long length, int type) {
    }

    private static List<Extent> map(NbdTestSupport.Server s) throws Exception {
        String out = runOk("nbdinfo", "--map", s.uri());
        List<Extent> extents = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 3) {
                fail("nbdinfo --map line: " + line + "\n" + out);
            }
            extents.add(new Extent(Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2])));
        }
        return extents;
    }

    /** Whether [offset, offset + length) lies in extents of the given type. */
    private static boolean covers(List<Extent> extents, long offset, long length, int type) {
        long pos = offset;
        for (Extent e : extents) {
            if (e.offset <= pos && pos < e.offset + e.length) {
                if (e.type != type) {
                    return false;
                }
                pos = e.offset + e.length;
                if (pos >= offset + length) {
                    return true;
                }
            }
        }
        return false;
    }

    // ---- nbdcopy ----

    /**
     * With the default {@code -e 1} the server must not advertise multi-conn: nbdcopy then opens
     * one connection only. When it did advertise it, nbdcopy opened more, the second waited in the
     * listen queue behind the first for ever, and the copy never finished. With {@code -e 2} it is
     * advertised and the copy uses both connections.
     */
    @Test
    void multiConnIsAdvertisedOnlyWhenMoreThanOneClientMayConnect() throws Exception {
        assumeTool("nbdinfo", "libnbd-bin");
        assumeTool("nbdcopy", "libnbd-bin");
        Path image = NbdTestSupport.randomImage(dir.resolve("disk.img"), 8 * MIB, 5);
        NbdTestSupport.Server one = serve(image, "-t", "-k", socket());
        assertEquals("false", NbdTestSupport.nbdinfoJson(one).get("can_multi_conn"), "-e 1");
        Path out = dir.resolve("out1.bin");
        runOk("nbdcopy", one.uri(), out.toString()); // runOk's timeout fails the test if it hangs
        assertEquals(NbdTestSupport.sha256(image), NbdTestSupport.sha256(out), "nbdcopy out of an -e 1 server");

        NbdTestSupport.Server two = serve(image, "-t", "-e", "2", "-k", socket() + "2");
        assertEquals("true", NbdTestSupport.nbdinfoJson(two).get("can_multi_conn"), "-e 2");
        Path out2 = dir.resolve("out2.bin");
        runOk("nbdcopy", two.uri(), out2.toString());
        assertEquals(NbdTestSupport.sha256(image), NbdTestSupport.sha256(out2), "nbdcopy out of an -e 2 server");
    }

    @Test
    void nbdcopyRoundTripOverFourConnections() throws Exception {
        assumeTool("nbdcopy", "libnbd-bin");
        Path in = NbdTestSupport.randomImage(dir.resolve("in.bin"), 64 * MIB, 99);
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 64 * MIB);
        NbdTestSupport.Server s = serve(image, "-t", "-e", "4", "--iothreads=2");
        runOk("nbdcopy", "--connections=4", "--requests=16", in.toString(), s.uri());
        Path out = dir.resolve("out.bin");
        runOk("nbdcopy", "--connections=4", s.uri(), out.toString());
        String want = NbdTestSupport.sha256(in);
        assertEquals(want, NbdTestSupport.sha256(image), "image after nbdcopy in");
        assertEquals(want, NbdTestSupport.sha256(out), "nbdcopy out");
    }

    @Test
    void nbdcopyOverUnixSocketWithThreadEngine() throws Exception {
        assumeTool("nbdcopy", "libnbd-bin");
        Path in = NbdTestSupport.randomImage(dir.resolve("in.bin"), 16 * MIB, 7);
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 16 * MIB);
        NbdTestSupport.Server s = serve(image, "-t", "-k", socket(), "--aio=threads", "-e", "2");
        runOk("nbdcopy", "--connections=2", in.toString(), s.uri());
        Path out = dir.resolve("out.bin");
        runOk("nbdcopy", s.uri(), out.toString());
        assertEquals(NbdTestSupport.sha256(in), NbdTestSupport.sha256(out));
    }

    // ---- fio ----

    @Test
    void fioNbdEngineVerifiesWhatItWrote() throws Exception {
        assumeTool("fio", "fio");
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 32 * MIB);
        NbdTestSupport.Server s = serve(image, "-t", "-e", "2");
        List<String> cmd = List.of("fio", "--name=verify", "--ioengine=nbd", "--uri=" + s.uri(), "--rw=randwrite",
                "--bsrange=4k-128k", "--size=16M", "--iodepth=32", "--numjobs=2", "--offset_increment=16M",
                "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0", "--group_reporting");
        NbdTestSupport.Result r = run(cmd).expectSuccess(cmd);
        assertTrue(r.output().contains("READ:") && r.output().contains("WRITE:"), "fio wrote and read back:\n" + r.output());
        assertTrue(!r.output().contains("verify") || !r.output().toLowerCase(java.util.Locale.ROOT).contains("bad"),
                "no verify failure:\n" + r.output());
    }
}
