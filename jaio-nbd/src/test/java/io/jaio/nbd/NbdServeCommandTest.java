// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code jaio nbd serve} as a process, the way a user meets it: how it stops (SIGTERM, SIGINT,
 * the last client leaving) on the class path and on the module path, what it prints (one URI
 * line, one exit line, the log with and without {@code -v}), and how a qcow2 file is served (probed, or -f raw).
 * Clients are {@link RawClient}s on loopback or a unix socket; every process has a deadline.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdServeCommandTest {
    private static final int MIB = 1 << 20;
    /** A read this large cannot sit in loopback socket buffers (a few MiB): it is still being sent when the signal comes. */
    private static final int BIG_READ = 32 * MIB;

    @TempDir
    Path dir;

    private NbdServerProcess launch(String path, List<String> serveArgs, Path tmp) throws IOException {
        String tmpdir = "-Djava.io.tmpdir=" + tmp;
        List<String> cmd = new ArrayList<>("module".equals(path) ? NbdServerProcess.modulePathJava(tmpdir)
                : NbdServerProcess.classPathJava(tmpdir));
        cmd.add("serve");
        cmd.addAll(serveArgs);
        return NbdServerProcess.launch(cmd, dir.resolve("server-" + System.nanoTime() + ".log"), null, Map.of());
    }

    private static List<Path> temporaryImages(Path tmp) throws IOException {
        try (var s = Files.list(tmp)) {
            return s.filter(p -> p.getFileName().toString().startsWith("jaio-nbd-")).toList();
        }
    }

    /**
     * The README's server (no IMAGE) stopped by a signal while a 32 MiB reply is on its way: the
     * reply arrives whole, the server exits 0 saying which signal, and the temporary image is gone.
     */
    @ParameterizedTest(name = "SIG{1} on the {0} path")
    @CsvSource({"class, TERM", "class, INT", "module, TERM", "module, INT"})
    void signalDrainsTheReplyInFlightExitsZeroAndDeletesTheTemporaryImage(String path, String signal) throws Exception {
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        try (NbdServerProcess server = launch(path, List.of("-p", "0"), tmp)) {
            assertEquals(1, temporaryImages(tmp).size(), "the temporary image while serving: " + temporaryImages(tmp));
            byte[] pattern = new byte[BIG_READ];
            for (int i = 0; i < pattern.length; i++) {
                pattern[i] = (byte) (i * 31 + (i >>> 12));
            }
            try (RawClient c = RawClient.tcp(server.port()).handshake(false)) {
                assertEquals(0, c.write(0, pattern).error(), "write before the read");
                c.request(0, Nbd.CMD_READ, 77, 0, BIG_READ, null);
                ByteBuffer header = ByteBuffer.wrap(c.readExactly(16)); // the reply has started going out
                assertEquals(Nbd.SIMPLE_REPLY_MAGIC, header.getInt(), "simple reply magic");
                assertEquals(0, header.getInt(), "read error");
                assertEquals(77, header.getLong(), "cookie");
                server.signal(signal);
                byte[] data = c.readExactly(BIG_READ);
                assertTrue(Arrays.equals(pattern, data), "the 32 MiB read in flight at SIG" + signal + " arrived whole");
                c.awaitClosedByServer();
            }
            int status = server.awaitExit();
            String out = server.output();
            assertEquals(0, status, "exit status after SIG" + signal + "; output:\n" + out);
            assertTrue(out.contains("jaio-nbd: exiting: SIG" + signal + "\n"), "exit reason line in:\n" + out);
            assertEquals(List.of(), temporaryImages(tmp), "temporary image left after SIG" + signal);
        }
    }

    /** Without IMAGE the server is persistent: a second client after the first has left is served. */
    @Test
    void withoutImageTheServerOutlivesItsClients() throws Exception {
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        try (NbdServerProcess server = launch("class", List.of("-p", "0"), tmp)) {
            for (int round = 0; round < 3; round++) {
                try (RawClient c = RawClient.tcp(server.port()).handshake(true)) {
                    assertEquals(0, c.read(0, 4096).error(), "read by client " + round);
                }
            }
            assertTrue(server.isAlive(), "still serving after three clients came and went:\n" + server.output());
            server.signal("TERM");
            assertEquals(0, server.awaitExit(), server.output());
        }
    }

    /** With IMAGE and without -t, qemu-nbd's rule: the server ends with its last client, and says so. */
    @Test
    void withImageAndNoPersistentTheLastClientLeavingEndsTheServer() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 4 * MIB);
        String sock = dir.resolve("nbd.sock").toString();
        try (NbdServerProcess server = launch("class", List.of("-k", sock, image.toString()), dir)) {
            try (RawClient c = RawClient.unix(Path.of(sock)).handshake(false)) {
                assertEquals(0, c.read(0, 4096).error());
            }
            assertEquals(0, server.awaitExit(), server.output());
            assertTrue(server.output().endsWith("jaio-nbd: exiting: last client left; not persistent (-t)\n"),
                    "exit reason in:\n" + server.output());
            assertFalse(Files.exists(Path.of(sock)), "the socket is unlinked");
        }
    }

    // ---- qcow2 ----

    private Path qcow2Image() throws Exception {
        NbdTestSupport.assumeTool("qemu-img", "qemu-utils");
        Path image = dir.resolve("test.qcow2");
        NbdTestSupport.runOk("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
        byte[] magic = NbdTestSupport.readAt(image, 0, 4);
        assertArrayEquals(new byte[] {'Q', 'F', 'I', (byte) 0xfb}, magic, "qemu-img made a qcow2 file");
        return image;
    }

    @Test
    void qcow2ImageIsProbedAndServedAsItsGuestDisk() throws Exception {
        Path image = qcow2Image();
        NbdTestSupport.runOk("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", image.toString());
        String sock = dir.resolve("nbd.sock").toString();
        try (NbdServerProcess server = launch("class", List.of("-k", sock, image.toString()), dir)) {
            try (RawClient c = RawClient.unix(Path.of(sock)).handshake(false)) {
                assertEquals(64L << 20, c.size, "export size is the guest size, not the file's");
                RawClient.Reply r = c.read(1 << 20, 4096);
                assertEquals(0, r.error());
                byte[] want = new byte[4096];
                java.util.Arrays.fill(want, (byte) 0x5a);
                assertArrayEquals(want, r.data(), "the guest's data, not the container's bytes");
            }
            assertEquals(0, server.awaitExit(), server.output());
        }
    }

    @ParameterizedTest
    @CsvSource({"-f, raw", "--format=raw, ''"})
    void formatRawServesTheQcow2FileBytesAsTheyAre(String option, String value) throws Exception {
        Path image = qcow2Image();
        String sock = dir.resolve("nbd.sock").toString();
        List<String> args = new ArrayList<>(List.of("-k", sock, option));
        if (!value.isEmpty()) {
            args.add(value);
        }
        args.add(image.toString());
        try (NbdServerProcess server = launch("class", args, dir)) {
            try (RawClient c = RawClient.unix(Path.of(sock)).handshake(false)) {
                assertEquals(Files.size(image), c.size, "export size is the qcow2 file's size");
                RawClient.Reply r = c.read(0, 4096);
                assertEquals(0, r.error());
                assertArrayEquals(NbdTestSupport.readAt(image, 0, 4096), r.data(), "the file's bytes, magic included");
            }
            assertEquals(0, server.awaitExit(), server.output());
        }
    }

    // ---- what it prints ----

    private static final Pattern LOG_LINE = Pattern.compile(
            "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z (ERROR|WARNING|INFO|DEBUG|TRACE) \\S.*");

    /** One client connects, makes an option error and a request error, and leaves; then SIGTERM. */
    private String serveOneClient(boolean verbose, boolean unix) throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 4 * MIB);
        String sock = dir.resolve("nbd.sock").toString();
        List<String> args = new ArrayList<>(unix ? List.of("-k", sock) : List.of("-p", "0"));
        args.add("-t");
        if (verbose) {
            args.add("-v");
        }
        args.add(image.toString());
        try (NbdServerProcess server = launch("class", args, dir)) {
            try (RawClient c = unix ? RawClient.unix(Path.of(sock)) : RawClient.tcp(server.port())) {
                c.handshake(false);
                assertEquals(22, c.read(4 * MIB, 4096).error(), "EINVAL past the end");
            }
            // The close is logged on the I/O thread after the client's end of stream: a new client
            // served proves the first one's close has been handled (one client at a time, -e 1).
            try (RawClient c = unix ? RawClient.unix(Path.of(sock)) : RawClient.tcp(server.port())) {
                c.handshake(false);
            }
            server.signal("TERM");
            assertEquals(0, server.awaitExit(), server.output());
            return server.output();
        }
    }

    @ParameterizedTest(name = "unix socket {0}")
    @CsvSource({"false", "true"})
    void verboseLogIsOneLinePerEventNamingTheClientByPeer(boolean unix) throws Exception {
        String out = serveOneClient(true, unix);
        List<String> lines = out.lines().toList();
        String peer = unix ? "client\\(unix#1\\)" : "client\\(127\\.0\\.0\\.1:[1-9][0-9]*\\)";
        for (String line : lines) {
            if (!line.startsWith("jaio-nbd: connect to ") && !line.startsWith("jaio-nbd: exiting: ")) {
                assertTrue(LOG_LINE.matcher(line).matches(), "log line format: '" + line + "' in:\n" + out);
            }
        }
        for (String event : new String[] {"connected \\(file engine .*\\)", "request type 0 cookie \\d+ -> error 22.*", "closed"}) {
            Pattern p = Pattern.compile(".*Z INFO " + peer + " " + event);
            assertTrue(lines.stream().anyMatch(l -> p.matcher(l).matches()), p + " in:\n" + out);
        }
        Pattern second = Pattern.compile(".*Z INFO " + (unix ? "client\\(unix#2\\)" : peer) + " connected.*");
        assertTrue(lines.stream().anyMatch(l -> second.matcher(l).matches()), second + " in:\n" + out);
        assertTrue(lines.stream().noneMatch(l -> l.contains("client 1") || l.matches(".*client\\(\\d+\\).*")),
                "no client named by fd number:\n" + out);
        assertEquals(1, lines.stream().filter(l -> l.startsWith("jaio-nbd: exiting: SIGTERM")).count(), out);
    }

    @Test
    void withoutVerboseOnlyTheUriAndExitLinesArePrinted() throws Exception {
        String out = serveOneClient(false, false);
        List<String> lines = out.lines().toList();
        assertEquals(2, lines.size(), "two lines without -v:\n" + out);
        assertTrue(lines.get(0).matches("jaio-nbd: connect to nbd://127\\.0\\.0\\.1:[1-9][0-9]*/"), out);
        assertEquals("jaio-nbd: exiting: SIGTERM", lines.get(1), out);
    }

    /** A warning (a client that breaks the protocol) is printed without -v, in the same one-line format. */
    @Test
    void warningsArePrintedWithoutVerbose() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 4 * MIB);
        String sock = dir.resolve("nbd.sock").toString();
        try (NbdServerProcess server = launch("class", List.of("-t", "-k", sock, image.toString()), dir)) {
            try (RawClient c = RawClient.unix(Path.of(sock)).handshake(false)) {
                c.send(new byte[Nbd.REQUEST_SIZE]); // bad request magic: the server drops this client
                c.awaitClosedByServer();
            }
            server.signal("TERM");
            assertEquals(0, server.awaitExit());
            List<String> lines = server.output().lines().toList();
            List<String> logged = lines.stream().filter(l -> !l.startsWith("jaio-nbd: ")).toList();
            if (logged.isEmpty()) {
                fail("no warning for a bad request magic:\n" + server.output());
            }
            for (String l : logged) {
                assertTrue(l.matches("\\S+Z WARNING client\\(unix#1\\) .*"), "'" + l + "' in:\n" + server.output());
            }
        }
    }
}
