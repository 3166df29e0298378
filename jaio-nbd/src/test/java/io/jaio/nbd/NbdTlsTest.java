// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import javax.net.ssl.SSLSocket;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * TLS (NBD_OPT_STARTTLS, --object tls-creds-x509 --tls-creds, --tls-authz) with real clients:
 * nbdinfo and nbdcopy with nbds:// URIs and libnbd's tls-certificates=DIR, qemu-img and qemu-io
 * with --object tls-creds-x509,endpoint=client and --image-opts, and JSSE for exact bytes.
 * Certificates are made by {@link TlsTestCerts} with certtool. Every refusal is checked from the
 * client's side (it fails) and the server's (it still serves the next client).
 */
class NbdTlsTest {
    private static final long SIZE = 8L << 20;
    private static Path dir;
    private static TlsTestCerts certs;

    @BeforeAll
    static void certificates() throws Exception {
        dir = NbdTestSupport.diskScratchDir("tls");
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

    private static NbdTestSupport.Server tlsServer(Path image, boolean verifyPeer, String... more) throws Exception {
        List<String> opts = new ArrayList<>(certs.serverOptions(verifyPeer));
        opts.addAll(List.of("-t", "-e", "0"));
        opts.addAll(List.of(more));
        return NbdTestSupport.Server.start(image, opts.toArray(String[]::new));
    }

    private static String tlsUri(NbdTestSupport.Server s, Path clientDir) {
        return s.uri() + "?tls-certificates=" + clientDir;
    }

    private static List<String> qemuTls(Path clientDir) {
        return List.of("--object", "tls-creds-x509,id=tls0,dir=" + clientDir + ",endpoint=client");
    }

    private static String qemuImageOpts(NbdTestSupport.Server s) {
        return "driver=nbd,host=127.0.0.1,port=" + s.port + ",tls-creds=tls0";
    }

    @Test
    void nbdcopyReadsAndWritesExactlyThroughTls() throws Exception {
        NbdTestSupport.assumeTool("nbdcopy", "libnbd-bin");
        Path image = NbdTestSupport.randomImage(dir.resolve("copy.img"), SIZE, 1);
        Path src = NbdTestSupport.randomImage(dir.resolve("copy-src.img"), SIZE, 2);
        Path out = dir.resolve("copy-out.img");
        try (var s = tlsServer(image, true)) {
            String info = NbdTestSupport.runOk("nbdinfo", tlsUri(s, certs.clientDir));
            assertTrue(info.contains("export-size: " + SIZE), info);
            String before = NbdTestSupport.sha256(image);
            NbdTestSupport.runOk("nbdcopy", tlsUri(s, certs.clientDir), out.toString());
            assertEquals(before, NbdTestSupport.sha256(out), "nbdcopy out of the TLS export");
            NbdTestSupport.runOk("nbdcopy", src.toString(), tlsUri(s, certs.clientDir));
            NbdTestSupport.runOk("nbdcopy", "--flush", tlsUri(s, certs.clientDir), out.toString());
            assertEquals(NbdTestSupport.sha256(src), NbdTestSupport.sha256(out), "data written through TLS, read back");
            assertEquals(NbdTestSupport.sha256(src), NbdTestSupport.sha256(image), "the image holds what was written");
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void qemuIoAndQemuImgWorkThroughTls() throws Exception {
        NbdTestSupport.assumeTool("qemu-io", "qemu-utils");
        Path image = NbdTestSupport.sparseImage(dir.resolve("qemu.img"), SIZE);
        Path out = dir.resolve("qemu-out.img");
        try (var s = tlsServer(image, true)) {
            List<String> io = new ArrayList<>(List.of("qemu-io"));
            io.addAll(qemuTls(certs.clientDir));
            io.addAll(List.of("--image-opts", qemuImageOpts(s), "-c", "write -P 0x5a 1M 3M", "-c", "read -P 0x5a 1M 3M",
                    "-c", "read -P 0 0 1M", "-c", "flush"));
            String o = NbdTestSupport.run(io).expectSuccess(io).output();
            NbdTestSupport.assertNoQemuIoFailure(io, o);
            NbdTestSupport.assertFilled(image, 1 << 20, 3 << 20, 0x5a);
            List<String> convert = new ArrayList<>(List.of("qemu-img", "convert"));
            convert.addAll(qemuTls(certs.clientDir));
            convert.addAll(List.of("--image-opts", qemuImageOpts(s), "-O", "raw", out.toString()));
            NbdTestSupport.run(convert).expectSuccess(convert);
            assertEquals(NbdTestSupport.sha256(image), NbdTestSupport.sha256(out), "qemu-img convert out of the TLS export");
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void clientWithoutCertificateIsRefusedUnderVerifyPeer() throws Exception {
        NbdTestSupport.assumeTool("nbdinfo", "libnbd-bin");
        Path image = NbdTestSupport.sparseImage(dir.resolve("nocert.img"), SIZE);
        try (var s = tlsServer(image, true)) {
            var r = NbdTestSupport.run("nbdinfo", tlsUri(s, certs.noCertDir));
            assertNotEquals(0, r.exitCode(), "nbdinfo without a client certificate:\n" + r.output());
            assertServesAfterwards(s);
        }
        List<String> log = NbdTestSupport.assertNoExceptionsLogged();
        assertTrue(log.stream().anyMatch(m -> m.contains("TLS")), "the server logs the TLS refusal: " + log);
    }

    @Test
    void verifyPeerOffServesAClientWithoutCertificate() throws Exception {
        NbdTestSupport.assumeTool("nbdcopy", "libnbd-bin");
        Path image = NbdTestSupport.randomImage(dir.resolve("nopeer.img"), SIZE, 3);
        Path out = dir.resolve("nopeer-out.img");
        try (var s = tlsServer(image, false)) {
            NbdTestSupport.runOk("nbdcopy", tlsUri(s, certs.noCertDir), out.toString());
            assertEquals(NbdTestSupport.sha256(image), NbdTestSupport.sha256(out));
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void wrongCaIsRefusedBothWays() throws Exception {
        NbdTestSupport.assumeTool("nbdinfo", "libnbd-bin");
        Path image = NbdTestSupport.sparseImage(dir.resolve("wrongca.img"), SIZE);
        try (var s = tlsServer(image, true)) {
            // a client certificate from another CA: the server refuses it
            var r = NbdTestSupport.run("nbdinfo", tlsUri(s, certs.wrongCaDir));
            assertNotEquals(0, r.exitCode(), "client certificate of an unrelated CA:\n" + r.output());
            // the client trusts another CA: it refuses the server's certificate
            r = NbdTestSupport.run("nbdinfo", tlsUri(s, certs.wrongTrustDir));
            assertNotEquals(0, r.exitCode(), "client trusting an unrelated CA:\n" + r.output());
            if (Files.isExecutable(Path.of("/usr/bin/qemu-img"))) {
                List<String> q = new ArrayList<>(List.of("qemu-img", "info"));
                q.addAll(qemuTls(certs.wrongCaDir));
                q.addAll(List.of("--image-opts", qemuImageOpts(s)));
                r = NbdTestSupport.run(q);
                assertNotEquals(0, r.exitCode(), "qemu-img with a certificate of an unrelated CA:\n" + r.output());
            }
            assertServesAfterwards(s);
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void plainTextClientIsRefusedByTheProtocol() throws Exception {
        NbdTestSupport.assumeTool("nbdinfo", "libnbd-bin");
        Path image = NbdTestSupport.sparseImage(dir.resolve("plain.img"), SIZE);
        try (var s = tlsServer(image, true)) {
            String clear = "nbd://127.0.0.1:" + s.port + "/";
            var r = NbdTestSupport.run("nbdinfo", clear);
            assertNotEquals(0, r.exitCode(), "nbdinfo in clear text against a TLS server:\n" + r.output());
            if (Files.isExecutable(Path.of("/usr/bin/qemu-io"))) {
                var q = NbdTestSupport.run("qemu-io", "-f", "raw", "-c", "read 0 4k", clear);
                assertTrue(q.exitCode() != 0 || q.output().toLowerCase(java.util.Locale.ROOT).contains("tls"),
                        "qemu-io in clear text against a TLS server:\n" + q.output());
            }
            // Exact bytes: every option but STARTTLS and ABORT is ERR_TLS_REQD before TLS.
            try (RawClient c = s.connect().greeting()) {
                c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
                for (int opt : new int[] {Nbd.OPT_LIST, Nbd.OPT_STRUCTURED_REPLY, Nbd.OPT_INFO, Nbd.OPT_GO,
                        Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT, Nbd.OPT_EXTENDED_HEADERS, 42}) {
                    byte[] data = opt == Nbd.OPT_INFO || opt == Nbd.OPT_GO ? RawClient.goPayload("") : new byte[0];
                    c.option(opt, data);
                    var reply = c.readOptionReply();
                    assertEquals(opt, reply.option());
                    assertEquals(Nbd.REP_ERR_TLS_REQD, reply.type(), "option " + opt + " before STARTTLS: " + reply.message());
                }
                c.option(Nbd.OPT_ABORT, new byte[0]);
                assertEquals(Nbd.REP_ACK, c.readOptionReply().type(), "ABORT before STARTTLS");
                c.awaitClosedByServer();
            }
            try (RawClient c = s.connect().greeting()) {
                c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
                c.option(Nbd.OPT_EXPORT_NAME, new byte[0]);
                assertEquals(0, c.awaitClosedByServer(), "EXPORT_NAME before STARTTLS: closed, nothing sent");
            }
            assertServesAfterwards(s);
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    @Test
    void tlsAuthzAllowsOnlyTheListedIdentity() throws Exception {
        NbdTestSupport.assumeTool("nbdinfo", "libnbd-bin");
        Path image = NbdTestSupport.sparseImage(dir.resolve("authz.img"), SIZE);
        // as qemu-nbd takes it: the DN's commas doubled inside the --object value
        String identity = TlsTestCerts.CLIENT_DN.replace(",", ",,");
        try (var s = tlsServer(image, true, "--object", "authz-simple,id=auth0,identity=" + identity, "--tls-authz", "auth0")) {
            NbdTestSupport.runOk("nbdinfo", tlsUri(s, certs.clientDir));
            var r = NbdTestSupport.run("nbdinfo", tlsUri(s, certs.otherClientDir));
            assertNotEquals(0, r.exitCode(), "a client of the same CA with another DN:\n" + r.output());
            NbdTestSupport.runOk("nbdinfo", tlsUri(s, certs.clientDir));
        }
        List<String> log = NbdTestSupport.assertNoExceptionsLogged();
        assertTrue(log.stream().anyMatch(m -> m.contains("not allowed by --tls-authz")), "the refusal is logged: " + log);
    }

    /** Exact bytes over JSSE: STARTTLS twice is ERR_INVALID, then GO and a read of known data. */
    @Test
    void optionsAfterTlsAndAReadOverJsse() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("jsse.img"), SIZE, 4);
        try (var s = tlsServer(image, true); SSLSocket t = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
            DataOutputStream out = new DataOutputStream(t.getOutputStream());
            DataInputStream in = new DataInputStream(t.getInputStream());
            out.write(RawClient.optionBytes(Nbd.OPT_STARTTLS, new byte[0]));
            out.write(RawClient.optionBytes(Nbd.OPT_GO, RawClient.goPayload("")));
            out.flush();
            assertEquals(Nbd.OPTION_REPLY_MAGIC, in.readLong());
            assertEquals(Nbd.OPT_STARTTLS, in.readInt());
            assertEquals(Nbd.REP_ERR_INVALID, in.readInt(), "STARTTLS over TLS");
            in.readNBytes(in.readInt());
            int type;
            do {
                assertEquals(Nbd.OPTION_REPLY_MAGIC, in.readLong());
                assertEquals(Nbd.OPT_GO, in.readInt());
                type = in.readInt();
                in.readNBytes(in.readInt());
            } while (type == Nbd.REP_INFO);
            assertEquals(Nbd.REP_ACK, type, "GO over TLS");
            List<Long> ns = s.probeConnections("tlsHandshakeNs");
            assertEquals(1, ns.size());
            assertTrue(ns.get(0) > 0, "the handshake's duration is recorded: " + ns);
            int len = 3 << 20;
            out.write(RawClient.requestBytes(0, Nbd.CMD_READ, 7, 12345, len));
            out.flush();
            assertEquals(Nbd.SIMPLE_REPLY_MAGIC, in.readInt());
            assertEquals(0, in.readInt(), "read error");
            assertEquals(7, in.readLong(), "cookie");
            assertArrayEquals(NbdTestSupport.readAt(image, 12345, len), in.readNBytes(len), "3 MiB read through TLS");
            out.write(RawClient.requestBytes(0, Nbd.CMD_DISC, 8, 0, 0));
            out.flush();
            assertEquals(-1, in.read(), "closed after DISC");
            assertTrue(s.probeConnections("inFlight").stream().allMatch(v -> v == 0));
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    /**
     * The server ends a TLS session with close_notify (RFC 8446 6.1), after the last reply, both
     * when the client sends DISC and when the server stops. Checked with a JSSE engine driven by
     * hand over the socket, which tells the alert ({@code unwrap} status CLOSED, inbound done)
     * from a bare EOF (the stream ends with the engine still expecting records).
     */
    @Test
    void closeNotifyEndsTheSessionOnDiscAndOnStop() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("bye.img"), SIZE, 5);
        try (var s = tlsServer(image, true)) {
            for (boolean disc : new boolean[] {true, false}) {
                try (Socket raw = TlsTestCerts.startTls(s.port)) {
                    javax.net.ssl.SSLEngine e = TlsTestCerts.clientContext(certs.clientDir).createSSLEngine("localhost", s.port);
                    e.setUseClientMode(true);
                    EngineClient c = new EngineClient(raw, e);
                    c.handshake();
                    c.write(RawClient.optionBytes(Nbd.OPT_GO, RawClient.goPayload("")));
                    int type;
                    do {
                        java.nio.ByteBuffer h = c.read(20);
                        assertEquals(Nbd.OPTION_REPLY_MAGIC, h.getLong());
                        assertEquals(Nbd.OPT_GO, h.getInt());
                        type = h.getInt();
                        c.read(h.getInt());
                    } while (type == Nbd.REP_INFO);
                    assertEquals(Nbd.REP_ACK, type, "GO over TLS");
                    c.write(RawClient.requestBytes(0, Nbd.CMD_READ, 1, 4096, 65536));
                    java.nio.ByteBuffer h = c.read(16);
                    assertEquals(Nbd.SIMPLE_REPLY_MAGIC, h.getInt());
                    assertEquals(0, h.getInt(), "read error");
                    assertArrayEquals(NbdTestSupport.readAt(image, 4096, 65536), c.read(65536).array(), "64 KiB through TLS");
                    if (disc) {
                        c.write(RawClient.requestBytes(0, Nbd.CMD_DISC, 2, 0, 0));
                    } else {
                        s.requestStop();
                    }
                    assertTrue(c.readToEnd(), (disc ? "after DISC" : "at the server's stop")
                            + ": the stream ended without close_notify");
                }
            }
        }
        NbdTestSupport.assertNoExceptionsLogged();
    }

    /** A blocking TLS client over an {@link javax.net.ssl.SSLEngine}, enough for the close_notify test. */
    private static final class EngineClient {
        private final java.io.InputStream in;
        private final java.io.OutputStream out;
        private final javax.net.ssl.SSLEngine engine;
        private final java.nio.ByteBuffer netIn;
        private final java.nio.ByteBuffer app;
        private final java.nio.ByteBuffer netOut;
        private boolean closed;

        EngineClient(Socket s, javax.net.ssl.SSLEngine engine) throws java.io.IOException {
            this.in = s.getInputStream();
            this.out = s.getOutputStream();
            this.engine = engine;
            int packet = engine.getSession().getPacketBufferSize();
            this.netIn = java.nio.ByteBuffer.allocate(packet * 2);
            this.app = java.nio.ByteBuffer.allocate(Math.max(engine.getSession().getApplicationBufferSize(), 1 << 17));
            this.netOut = java.nio.ByteBuffer.allocate(packet * 2);
        }

        void handshake() throws java.io.IOException {
            engine.beginHandshake();
            while (true) {
                switch (engine.getHandshakeStatus()) {
                    case NEED_WRAP -> wrap(java.nio.ByteBuffer.allocate(0));
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        if (!unwrapSome()) {
                            throw new java.io.EOFException("EOF in the TLS handshake");
                        }
                    }
                    case NEED_TASK -> {
                        Runnable t;
                        while ((t = engine.getDelegatedTask()) != null) {
                            t.run();
                        }
                    }
                    default -> {
                        return;
                    }
                }
            }
        }

        void write(byte[] b) throws java.io.IOException {
            java.nio.ByteBuffer src = java.nio.ByteBuffer.wrap(b);
            while (src.hasRemaining()) {
                wrap(src);
            }
        }

        private void wrap(java.nio.ByteBuffer src) throws java.io.IOException {
            netOut.clear();
            engine.wrap(src, netOut);
            out.write(netOut.array(), 0, netOut.position());
            out.flush();
        }

        /** Reads ciphertext and unwraps one step into {@code app}; false at EOF. */
        private boolean unwrapSome() throws java.io.IOException {
            while (true) {
                netIn.flip();
                javax.net.ssl.SSLEngineResult r = engine.unwrap(netIn, app);
                netIn.compact();
                if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.CLOSED) {
                    closed = true;
                    return true;
                }
                if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.OK
                        && (r.bytesProduced() > 0 || r.getHandshakeStatus() != javax.net.ssl.SSLEngineResult.HandshakeStatus.NEED_UNWRAP)) {
                    return true;
                }
                if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.OK && r.bytesConsumed() > 0) {
                    continue; // a record was taken: the next may be buffered already
                }
                int n = in.read(netIn.array(), netIn.position(), netIn.remaining());
                if (n < 0) {
                    return false;
                }
                netIn.position(netIn.position() + n);
            }
        }

        /** Exactly {@code n} bytes of plaintext, in a buffer ready to read. */
        java.nio.ByteBuffer read(int n) throws java.io.IOException {
            while (app.position() < n) {
                if (!unwrapSome() || closed) {
                    throw new java.io.EOFException("the TLS stream ended before " + n + " bytes");
                }
            }
            byte[] b = new byte[n];
            app.flip();
            app.get(b);
            app.compact();
            return java.nio.ByteBuffer.wrap(b);
        }

        /** Reads until the stream ends: true if it ended with close_notify, false at a bare EOF. */
        boolean readToEnd() throws java.io.IOException {
            while (!closed) {
                app.clear();
                if (!unwrapSome()) {
                    return false;
                }
            }
            return engine.isInboundDone();
        }
    }

    /**
     * Prints how long the server's side of a TLS handshake takes (STARTTLS to FINISHED, the
     * engine's delegated tasks run inline on the loop): the first ones pay for class loading.
     */
    @Test
    void handshakeDurationIsMeasured() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("hs.img"), SIZE);
        List<String> ms = new ArrayList<>();
        try (var s = tlsServer(image, true)) {
            for (int i = 0; i < 12; i++) {
                try (SSLSocket t = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
                    NbdHostileClientTest.goOverTls(t);
                    ms.add(String.format("%.1f", s.probeConnections("tlsHandshakeNs").get(0) / 1e6));
                }
                long until = System.nanoTime() + 10_000_000_000L;
                while (s.clients() > 0 && System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
            }
        }
        System.out.println("NbdTlsTest: server-side TLS 1.3 handshakes (RSA 3072 server key, EC client key), ms: " + ms);
        NbdTestSupport.assertNoExceptionsLogged();
    }

    private static void assertServesAfterwards(NbdTestSupport.Server s) throws Exception {
        if (Files.isExecutable(Path.of("/usr/bin/nbdinfo"))) {
            String info = NbdTestSupport.runOk("nbdinfo", tlsUri(s, certs.clientDir));
            assertTrue(info.contains("export-size: " + s.size), info);
        } else {
            try (SSLSocket t = TlsTestCerts.connectTls(s.port, certs.clientDir)) {
                t.getOutputStream().write(RawClient.optionBytes(Nbd.OPT_ABORT, new byte[0]));
                t.getOutputStream().flush();
                assertEquals(Nbd.OPTION_REPLY_MAGIC, ByteBuffer.wrap(t.getInputStream().readNBytes(8)).getLong());
            }
        }
    }
}
