// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLSocket;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Clients that try to hold the server's resources: one that connects and says nothing, one that
 * stalls in the middle of an option or of the TLS handshake (all dropped by --handshake-limit),
 * one that sends requests and never reads a reply (bounded by the in-flight caps, measured here,
 * in clear text and through TLS), and TLS clients that send garbage records (dropped alone).
 * Other clients are served throughout.
 */
class NbdHostileClientTest {
    private static final long SIZE = 64L << 20;
    /** How long a test waits for a state the server must reach; only matters when it does not. */
    private static final long DEADLINE_NS = TimeUnit.SECONDS.toNanos(30);
    private static Path dir;
    private static TlsTestCerts certs;

    @BeforeAll
    static void setUp() throws Exception {
        dir = NbdTestSupport.diskScratchDir("hostile");
        certs = TlsTestCerts.make(dir.resolve("pki"));
    }

    @AfterAll
    static void cleanUp() throws Exception {
        NbdTestSupport.deleteTree(dir);
    }

    @BeforeEach
    void resetLog() {
        NbdTestSupport.resetLog();
    }

    private static NbdTestSupport.Server server(Path image, boolean tls, String... more) throws Exception {
        List<String> opts = new ArrayList<>(List.of("-t", "-e", "0"));
        if (tls) {
            opts.addAll(certs.serverOptions(true));
        }
        opts.addAll(List.of(more));
        return NbdTestSupport.Server.start(image, opts.toArray(String[]::new));
    }

    @Test
    void clientsThatStallInTheHandshakeAreDroppedAtTheLimit() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("stall.img"), 1 << 20, 5);
        try (var s = server(image, true, "--handshake-limit", "2")) {
            // The JVM's first TLS handshakes (class loading, JIT, on both ends here) can take a
            // second on a loaded machine: one warm-up client, which the limit may drop.
            try (SSLSocket warmUp = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
                goOverTls(warmUp);
            } catch (IOException dropped) {
                System.out.println("NbdHostileClientTest: the warm-up TLS client did not finish within 2 s: " + dropped);
            }
            NbdTestSupport.resetLog();
            // A client that finished its handshake before the stallers connected: the limit is
            // off for it once it is in transmission.
            try (SSLSocket good = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
                DataInputStream gin = goOverTls(good);
                long t0 = System.nanoTime();
                try (RawClient silent = s.connect().greeting();
                        RawClient midOption = s.connect().greeting();
                        Socket midTls = TlsTestCerts.startTls(s.port)) {
                    midOption.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
                    midOption.send(java.util.Arrays.copyOf(RawClient.optionBytes(Nbd.OPT_LIST, new byte[0]), 10));
                    byte[] hello = new byte[5 + 40];
                    hello[0] = 22; // handshake record
                    hello[1] = 3;
                    hello[2] = 1;
                    hello[3] = 1; // announces 256 bytes, sends 40
                    midTls.getOutputStream().write(hello);
                    midTls.getOutputStream().flush();
                    silent.awaitClosedByServer();
                    midOption.awaitClosedByServer();
                    assertEquals(-1, readOrEof(midTls.getInputStream()), "client stalled in the TLS handshake");
                }
                System.out.printf("NbdHostileClientTest: three stalled clients dropped %.2f s after connecting"
                        + " (--handshake-limit 2)%n", (System.nanoTime() - t0) / 1e9);
                // the good client is still served, after the limit passed for it too
                readOverTls(good, gin, image, 4096, 65536);
            }
        }
        List<String> log = NbdTestSupport.assertNoExceptionsLogged();
        long dropped = log.stream().filter(m -> m.contains("handshake not finished within 2.0 s")).count();
        assertEquals(3, dropped, "three clients dropped by the handshake limit: " + log);
    }

    @Test
    void handshakeLimitZeroMeansNoLimit() throws Exception {
        var o = ServeOptions.parse(new String[] {"--handshake-limit", "0"});
        assertEquals(0, o.handshakeLimitNs);
        assertEquals(10_000_000_000L, ServeOptions.parse(new String[0]).handshakeLimitNs, "qemu-nbd's default, 10 s");
        var e = org.junit.jupiter.api.Assertions.assertThrows(ServeOptions.UsageException.class,
                () -> ServeOptions.parse(new String[] {"--handshake-limit=-1"}));
        assertEquals("--handshake-limit=-1 (expected seconds 0..86400, 0 for no limit)", e.getMessage());
    }

    @Test
    void clientThatNeverReadsRepliesIsBoundedInClearText() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("noread.img"), SIZE);
        try (var s = server(image, false); RawClient hog = s.connect().handshake(false)) {
            Socket unused = null;
            neverReads(s, image, bytes -> hog.send(bytes), unused);
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void clientThatNeverReadsRepliesIsBoundedThroughTls() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("noread-tls.img"), SIZE);
        try (var s = server(image, true); SSLSocket hog = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
            goOverTls(hog);
            OutputStream out = hog.getOutputStream();
            neverReads(s, image, bytes -> {
                out.write(bytes);
                out.flush();
            }, hog);
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    private interface Sender {
        void send(byte[] b) throws IOException;
    }

    /**
     * Sends a million reads of 4 MiB and never reads: the server must stop reading
     * requests with at most its caps of requests and bytes in flight, and go on serving others.
     */
    private static void neverReads(NbdTestSupport.Server s, Path image, Sender hog, Socket tlsHog) throws Exception {
        int len = 4 << 20;
        int count = 1_000_000; // 28 MB of requests: more than loopback socket buffers hold, so the writer blocks
        long rss0 = rssBytes();
        CompletableFuture<Integer> sent = new CompletableFuture<>();
        Thread writer = new Thread(() -> {
            int i = 0;
            try {
                for (; i < count; i++) {
                    hog.send(RawClient.requestBytes(0, Nbd.CMD_READ, i, (long) (i % 16) * len, len));
                }
                sent.complete(i);
            } catch (Throwable e) {
                sent.complete(i); // the socket closed under a blocked write (test end)
            }
        }, "never-reading-client");
        writer.setDaemon(true);
        writer.start();
        long until = System.nanoTime() + DEADLINE_NS;
        List<Long> paused;
        while (!(paused = s.probeConnections("readPaused")).contains(1L)) {
            if (System.nanoTime() > until) {
                fail("the server never stopped reading the requests of a client that reads no reply: readPaused " + paused
                        + ", inFlight " + s.probeConnections("inFlight"));
            }
            Thread.onSpinWait();
        }
        long inFlight = s.probeConnections("inFlight").stream().mapToLong(Long::longValue).max().orElseThrow();
        long bytes = s.probeConnections("bytesInFlight").stream().mapToLong(Long::longValue).max().orElseThrow();
        long rss1 = rssBytes();
        System.out.printf("NbdHostileClientTest%s: a client that never reads: server paused with %d requests and %d MiB"
                + " of replies in flight (caps %d and %d MiB + one %d MiB request); test JVM RSS %+d MiB%n",
                tlsHog != null ? " (TLS)" : "", inFlight, bytes >> 20, NbdConnection.MAX_IN_FLIGHT,
                NbdConnection.MAX_BYTES_IN_FLIGHT >> 20, Nbd.MAX_PAYLOAD >> 20, (rss1 - rss0) >> 20);
        assertTrue(inFlight <= NbdConnection.MAX_IN_FLIGHT, "requests in flight " + inFlight);
        assertTrue(bytes <= NbdConnection.MAX_BYTES_IN_FLIGHT + Nbd.MAX_PAYLOAD, "bytes in flight " + bytes);
        assertTrue(!sent.isDone(), "the hog's writes are blocked: the server stopped taking its requests");
        // the server still serves another client, and the hog's state did not change meanwhile
        if (tlsHog == null) {
            try (RawClient other = s.connect().handshake(true)) {
                for (int i = 0; i < 8; i++) {
                    other.request(0, Nbd.CMD_READ, 100 + i, (long) i << 20, 65536, null);
                    assertEquals(0, other.readReply().error());
                }
            }
        } else {
            try (SSLSocket other = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
                DataInputStream in = goOverTls(other);
                for (int i = 0; i < 8; i++) {
                    readOverTls(other, in, image, (long) i << 20, 65536);
                }
            }
        }
        assertTrue(s.probeConnections("inFlight").stream().mapToLong(Long::longValue).max().orElseThrow()
                <= NbdConnection.MAX_IN_FLIGHT);
        if (tlsHog != null) {
            // The writer may be blocked in a write that holds JSSE's record lock, which close()
            // would wait for to send close_notify, for ever: linger 0 makes it give up and reset.
            tlsHog.setSoLinger(true, 0);
            tlsHog.close();
        }
    }

    @Test
    void garbageTlsRecordsDropOnlyThatClient() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("garbage.img"), 1 << 20, 6);
        Random rnd = new Random(7);
        try (var s = server(image, true); SSLSocket good = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
            DataInputStream gin = goOverTls(good);
            readOverTls(good, gin, image, 0, 4096);
            // 1. garbage instead of a ClientHello
            try (Socket g = TlsTestCerts.startTls(s.port)) {
                byte[] junk = new byte[4096];
                rnd.nextBytes(junk);
                g.getOutputStream().write(junk);
                assertEquals(-1, drain(g.getInputStream()), "garbage instead of a ClientHello");
            }
            // 2. a well-formed record header around garbage, after STARTTLS
            try (Socket g = TlsTestCerts.startTls(s.port)) {
                byte[] rec = new byte[5 + 300];
                rnd.nextBytes(rec);
                rec[0] = 22;
                rec[1] = 3;
                rec[2] = 1;
                rec[3] = 1;
                rec[4] = 44;
                g.getOutputStream().write(rec);
                assertEquals(-1, drain(g.getInputStream()), "a handshake record of garbage");
            }
            // 3. a garbage application-data record after a complete handshake, below TLS
            Socket raw = TlsTestCerts.startTls(s.port);
            SSLSocket t = (SSLSocket) TlsTestCerts.clientContext(certs.clientDir).getSocketFactory().createSocket(raw,
                    "localhost", s.port, true);
            t.startHandshake();
            DataInputStream tin = goOverTls(t);
            readOverTls(t, tin, image, 8192, 4096);
            byte[] rec = new byte[5 + 64];
            rnd.nextBytes(rec);
            rec[0] = 23;
            rec[1] = 3;
            rec[2] = 3;
            rec[3] = 0;
            rec[4] = 64;
            raw.getOutputStream().write(rec);
            raw.getOutputStream().flush();
            assertEquals(-1, drain(raw.getInputStream()), "a forged application-data record");
            t.close();
            // 4. a huge record length
            try (Socket g = TlsTestCerts.startTls(s.port)) {
                g.getOutputStream().write(new byte[] {22, 3, 3, (byte) 0xff, (byte) 0xff});
                g.getOutputStream().write(new byte[1000]);
                assertEquals(-1, drain(g.getInputStream()), "a record announcing 65535 bytes");
            }
            readOverTls(good, gin, image, 65536, 1 << 19);
        }
        List<String> log = NbdTestSupport.assertNoExceptionsLogged();
        assertTrue(log.stream().filter(m -> m.contains("TLS")).count() >= 4, "each refusal is logged: " + log);
    }

    // ---- helpers ----

    /** GO for the default export over an established TLS socket; returns its input stream, replies consumed. */
    static DataInputStream goOverTls(SSLSocket t) throws IOException {
        OutputStream out = t.getOutputStream();
        DataInputStream in = new DataInputStream(t.getInputStream());
        out.write(RawClient.optionBytes(Nbd.OPT_GO, RawClient.goPayload("")));
        out.flush();
        int type;
        do {
            assertEquals(Nbd.OPTION_REPLY_MAGIC, in.readLong());
            assertEquals(Nbd.OPT_GO, in.readInt());
            type = in.readInt();
            in.readNBytes(in.readInt());
        } while (type == Nbd.REP_INFO);
        assertEquals(Nbd.REP_ACK, type, "GO");
        return in;
    }

    /** One simple-reply read over TLS, checked against the image. */
    static void readOverTls(SSLSocket t, DataInputStream in, Path image, long offset, int len) throws IOException {
        t.getOutputStream().write(RawClient.requestBytes(0, Nbd.CMD_READ, offset, offset, len));
        t.getOutputStream().flush();
        assertEquals(Nbd.SIMPLE_REPLY_MAGIC, in.readInt());
        assertEquals(0, in.readInt(), "read error");
        assertEquals(offset, in.readLong(), "cookie");
        assertArrayEquals(NbdTestSupport.readAt(image, offset, len), in.readNBytes(len), "data at " + offset);
    }

    /** Reads until EOF (-1) or a reset (also -1); the socket's timeout fails a server that keeps it open. */
    private static int drain(InputStream in) throws IOException {
        byte[] b = new byte[8192];
        try {
            while (in.read(b) >= 0) {
                // what the server sends before closing (an alert, perhaps) is not checked
            }
        } catch (java.net.SocketException e) {
            // ECONNRESET: closed too
        }
        return -1;
    }

    private static int readOrEof(InputStream in) throws IOException {
        return drain(in);
    }

    private static long rssBytes() throws IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return 0;
    }
}
