// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded, bounded fuzz of the handshake and request parser. Each iteration builds a valid
 * client stream (handshake options, GO or EXPORT_NAME, requests with payloads, DISC), mutates
 * it (bit flips, interesting integers over length and offset fields, insertions, deletions,
 * duplications, truncation) or replaces it with random bytes, sends it while reading whatever
 * comes back, ends its side and waits for the server to close. The server must close every
 * such connection, keep serving valid clients (checked every few iterations against the image
 * file), never change the file's size, and never throw in a callback.
 *
 * <p>The seed is printed; rerun one with {@code -Djaio.nbd.fuzz.seed=N}. The time per test is
 * bounded ({@code -Djaio.nbd.fuzz.seconds}, default 9) as is the number of iterations. With
 * {@code -Djaio.nbd.fuzz.debug=true} each iteration also waits until the server has closed the
 * connection (a connection that lingers names its stream).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdFuzzTest {
    private static final long IMAGE_SIZE = 4L << 20;
    private static final int MAX_ITERATIONS = 20_000;
    private static final int CHECK_EVERY = 64;
    /** How long one fuzz connection may take to be closed by the server after our EOF. */
    private static final long CONNECTION_DEADLINE_NS = TimeUnit.SECONDS.toNanos(20);

    @TempDir
    Path dir;

    @Test
    void handshakeFuzzOverTcp() throws Exception {
        fuzz(false, true);
    }

    @Test
    void requestFuzzOverUnixSocket() throws Exception {
        fuzz(true, false);
    }

    /** The same requests against a qcow2 export (4 KiB clusters): its coroutine paths, then qemu-img check. */
    @Test
    void requestFuzzOnQcow2Export() throws Exception {
        NbdTestSupport.assumeTool("qemu-img", "qemu-utils");
        qcow2 = true;
        fuzz(true, false);
    }

    private boolean qcow2;

    /**
     * The TLS handshake entry: client flags and STARTTLS, then (sent at once, before the
     * acknowledgement is read) a real ClientHello from a JSSE client, mutated (bytes flipped,
     * cut short, lengths rewritten, records repeated or spliced with garbage), or garbage alone.
     * Every connection must be closed by the server after our EOF; a valid TLS client is served
     * every {@link #CHECK_EVERY} connections and at the end.
     */
    @Test
    void tlsHandshakeFuzzOverTcp() throws Exception {
        long seed = Long.getLong("jaio.nbd.fuzz.seed", System.nanoTime());
        long seconds = Long.getLong("jaio.nbd.fuzz.seconds", 6);
        System.out.println("NbdFuzzTest tls: seed " + seed + " (rerun with -Djaio.nbd.fuzz.seed=" + seed + ")");
        TlsTestCerts certs = TlsTestCerts.make(dir.resolve("pki"));
        NbdTestSupport.resetLog();
        Path image = NbdTestSupport.randomImage(dir.resolve("disk.img"), IMAGE_SIZE, seed);
        List<String> opts = new ArrayList<>(List.of("-t", "-e", "4", "--handshake-limit", "5"));
        opts.addAll(certs.serverOptions(true));
        NbdTestSupport.Server server = NbdTestSupport.Server.start(image, opts.toArray(String[]::new));
        List<byte[]> hellos = new ArrayList<>();
        javax.net.ssl.SSLContext client = TlsTestCerts.clientContext(certs.clientDir);
        for (int i = 0; i < 8; i++) {
            javax.net.ssl.SSLEngine e = client.createSSLEngine("localhost", server.port);
            e.setUseClientMode(true);
            ByteBuffer out = ByteBuffer.allocate(e.getSession().getPacketBufferSize());
            e.wrap(ByteBuffer.allocate(0), out);
            hellos.add(java.util.Arrays.copyOf(out.array(), out.position()));
        }
        Random rnd = new Random(seed);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int iterations = 0;
        try {
            while (iterations < MAX_ITERATIONS && System.nanoTime() < deadline) {
                byte[] stream = tlsStream(rnd, hellos.get(rnd.nextInt(hellos.size())));
                try {
                    exchange(server, null, false, stream);
                } catch (AssertionError e) {
                    throw new AssertionError("iteration " + iterations + " (seed " + seed + "), stream "
                            + java.util.HexFormat.of().formatHex(stream, 0, Math.min(stream.length, 512)), e);
                }
                iterations++;
                if (iterations % CHECK_EVERY == 0) {
                    awaitNoConnections(server, stream);
                    assertTlsClientServed(server, certs, image, rnd);
                }
            }
            awaitNoConnections(server, new byte[0]);
            assertTlsClientServed(server, certs, image, rnd);
        } finally {
            int status = server.stop();
            java.util.List<String> log = NbdTestSupport.assertNoExceptionsLogged();
            assertEquals(0, status, "exit status of the server; last log lines:\n"
                    + String.join("\n", log.subList(Math.max(0, log.size() - 60), log.size())));
        }
        System.out.println("NbdFuzzTest tls: " + iterations + " connections, seed " + seed);
        assertTrue(iterations >= 50, "only " + iterations + " iterations in " + seconds + " s");
    }

    private static byte[] tlsStream(Random rnd, byte[] hello) {
        java.io.ByteArrayOutputStream s = new java.io.ByteArrayOutputStream();
        s.writeBytes(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES).array());
        s.writeBytes(RawClient.optionBytes(Nbd.OPT_STARTTLS, new byte[0]));
        byte[] h = hello.clone();
        switch (rnd.nextInt(6)) {
            case 0 -> { // flip a few bytes
                for (int i = rnd.nextInt(8) + 1; i > 0; i--) {
                    h[rnd.nextInt(h.length)] ^= (byte) (1 + rnd.nextInt(255));
                }
            }
            case 1 -> h = java.util.Arrays.copyOf(h, rnd.nextInt(h.length)); // cut short
            case 2 -> { // a record or handshake length rewritten
                int at = rnd.nextBoolean() ? 3 : 6 + rnd.nextInt(3);
                h[at] = (byte) rnd.nextInt(256);
                h[at + 1] = (byte) rnd.nextInt(256);
            }
            case 3 -> { // the hello twice, or followed by garbage records
                byte[] tail = rnd.nextBoolean() ? hello : randomBytes(rnd, rnd.nextInt(2000));
                byte[] both = java.util.Arrays.copyOf(h, h.length + tail.length);
                System.arraycopy(tail, 0, both, h.length, tail.length);
                h = both;
            }
            case 4 -> h = randomBytes(rnd, rnd.nextInt(3000)); // garbage only
            default -> { // a record header of another type or version
                h[0] = (byte) (20 + rnd.nextInt(6));
                h[1] = (byte) rnd.nextInt(5);
                h[2] = (byte) rnd.nextInt(5);
            }
        }
        s.writeBytes(h);
        return s.toByteArray();
    }

    private static byte[] randomBytes(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /** A valid TLS client reads what the image file holds. */
    private static void assertTlsClientServed(NbdTestSupport.Server server, TlsTestCerts certs, Path image, Random rnd)
            throws Exception {
        long off = rnd.nextLong(IMAGE_SIZE - 65536);
        try (javax.net.ssl.SSLSocket t = TlsTestCerts.connectTls(server.port, certs.clientDir)) {
            NbdHostileClientTest.readOverTls(t, NbdHostileClientTest.goOverTls(t), image, off, 65536);
        }
    }

    private void fuzz(boolean unix, boolean focusOnHandshake) throws Exception {
        long seed = Long.getLong("jaio.nbd.fuzz.seed", System.nanoTime());
        long seconds = Long.getLong("jaio.nbd.fuzz.seconds", 9);
        String name = (focusOnHandshake ? "handshake" : "request") + (qcow2 ? " (qcow2)" : "");
        System.out.println("NbdFuzzTest " + name + ": seed " + seed + " (rerun with -Djaio.nbd.fuzz.seed=" + seed + ")");
        NbdTestSupport.resetLog();
        Path image = NbdTestSupport.randomImage(dir.resolve("disk.img"), IMAGE_SIZE, seed);
        if (qcow2) {
            Path q = dir.resolve("disk.qcow2");
            NbdTestSupport.runOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", image.toString(),
                    q.toString());
            image = q;
        }
        Path socket = dir.resolve("fuzz.sock");
        NbdTestSupport.Server server = unix ? NbdTestSupport.Server.start(image, "-t", "-e", "4", "-k", socket.toString())
                : NbdTestSupport.Server.start(image, "-t", "-e", "4", "--aio=threads", "-v");
        Random rnd = new Random(seed);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int iterations = 0;
        long repliedBytes = 0;
        try {
            while (iterations < MAX_ITERATIONS && System.nanoTime() < deadline) {
                byte[] stream = stream(rnd, focusOnHandshake);
                try {
                    repliedBytes += exchange(server, socket, unix, stream);
                } catch (AssertionError e) {
                    throw new AssertionError("iteration " + iterations + " (seed " + seed + "), stream "
                            + java.util.HexFormat.of().formatHex(stream, 0, Math.min(stream.length, 512)), e);
                }
                iterations++;
                if (Boolean.getBoolean("jaio.nbd.fuzz.debug")) {
                    awaitNoConnections(server, stream);
                }
                if (iterations % CHECK_EVERY == 0) {
                    awaitNoConnections(server, stream);
                    assertValidClientServed(server, image, rnd, qcow2);
                }
            }
            assertTrue(server.alive(), "the server is alive");
            awaitNoConnections(server, new byte[0]);
            assertValidClientServed(server, image, rnd, qcow2);
            if (!qcow2) {
                assertEquals(IMAGE_SIZE, Files.size(image), "image size");
            }
            if (hasNbdinfo()) {
                assertEquals(Long.toString(IMAGE_SIZE), NbdTestSupport.runOk("nbdinfo", "--size", server.uri()).trim());
            }
        } finally {
            if (Boolean.getBoolean("jaio.nbd.fuzz.debug")) {
                System.out.println("before stop: inFlight " + server.probeConnections("inFlight"));
            }
            int status = server.stop();
            java.util.List<String> log = NbdTestSupport.assertNoExceptionsLogged();
            assertEquals(0, status, "exit status of the server; last log lines:\n"
                    + String.join("\n", log.subList(Math.max(0, log.size() - 60), log.size())));
        }
        if (qcow2) {
            Qcow2Tools.assertCheckClean(image);
        }
        System.out.println("NbdFuzzTest " + name + ": " + iterations + " connections, " + repliedBytes
                + " bytes of replies, seed " + seed);
        assertTrue(iterations >= (qcow2 ? 20 : 100), "only " + iterations + " iterations in " + seconds + " s");
    }

    private static boolean hasNbdinfo() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nbdinfo"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Waits until the server has closed every connection. A connection closed for a framing
     * error has its socket shut down at once, while requests it started (writes too) may still
     * be landing: the image is compared only after they have.
     */
    private static void awaitNoConnections(NbdTestSupport.Server server, byte[] lastStream) throws Exception {
        long until = System.nanoTime() + CONNECTION_DEADLINE_NS;
        List<Long> inFlight;
        while (!(inFlight = server.probeConnections("inFlight")).isEmpty()) {
            if (System.nanoTime() > until) {
                fail("connections linger with requests in flight " + inFlight + "; last stream "
                        + java.util.HexFormat.of().formatHex(lastStream, 0, Math.min(lastStream.length, 2000)));
            }
            Thread.onSpinWait();
        }
    }

    /** A valid client reads what the image file holds (a qcow2 image: reads without error). */
    private static void assertValidClientServed(NbdTestSupport.Server server, Path image, Random rnd, boolean qcow2)
            throws IOException {
        long off = rnd.nextLong(IMAGE_SIZE - 65536);
        try (RawClient c = server.connect().handshake(rnd.nextBoolean())) {
            assertEquals(IMAGE_SIZE, c.size);
            RawClient.Reply r = c.read(off, 65536);
            assertEquals(0, r.error(), "read at " + off);
            if (!qcow2) {
                assertArrayEquals(NbdTestSupport.readAt(image, off, 65536), r.data(), "data at " + off);
            }
        }
    }

    // ---- one connection ----

    /**
     * Sends {@code stream} while reading replies, ends our side, and reads until the server
     * closes. Returns the bytes received.
     */
    private static long exchange(NbdTestSupport.Server server, Path socket, boolean unix, byte[] stream) throws IOException {
        long deadline = System.nanoTime() + CONNECTION_DEADLINE_NS;
        try (SocketChannel ch = unix ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
                Selector sel = Selector.open()) {
            ch.connect(unix ? UnixDomainSocketAddress.of(socket) : new InetSocketAddress("127.0.0.1", server.port));
            ch.configureBlocking(false);
            ByteBuffer out = ByteBuffer.wrap(stream);
            ByteBuffer in = ByteBuffer.allocate(256 * 1024);
            long received = 0;
            boolean outputShut = false;
            SelectionKey key = ch.register(sel, SelectionKey.OP_READ);
            while (true) {
                if (!outputShut && out.hasRemaining()) {
                    try {
                        ch.write(out);
                    } catch (IOException e) {
                        out.position(out.limit()); // the server closed on us: fine
                    }
                }
                if (!outputShut && !out.hasRemaining()) {
                    try {
                        ch.shutdownOutput();
                    } catch (IOException e) {
                        // already closed by the server
                    }
                    outputShut = true;
                }
                in.clear();
                int n;
                try {
                    n = ch.read(in);
                } catch (IOException e) {
                    return received; // reset by the server: closed
                }
                if (n < 0) {
                    return received;
                }
                received += n;
                if (n == 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        fail("the server did not close a fuzz connection within "
                                + TimeUnit.NANOSECONDS.toSeconds(CONNECTION_DEADLINE_NS) + " s (sent " + out.position()
                                + " of " + stream.length + " bytes, received " + received + ")\n" + NbdTestSupport.threadDump());
                    }
                    key.interestOps(SelectionKey.OP_READ | (outputShut ? 0 : SelectionKey.OP_WRITE));
                    sel.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    sel.selectedKeys().clear();
                }
            }
        }
    }

    // ---- streams ----

    private static byte[] stream(Random rnd, boolean focusOnHandshake) {
        int kind = rnd.nextInt(100);
        if (kind < 5) {
            byte[] b = new byte[rnd.nextInt(200)];
            rnd.nextBytes(b); // noise from the first byte
            return b;
        }
        ByteArrayOutputStream s = new ByteArrayOutputStream();
        boolean structured = rnd.nextBoolean();
        int handshakeEnd = handshake(rnd, s, structured);
        if (kind < 10) {
            byte[] b = new byte[rnd.nextInt(400)];
            rnd.nextBytes(b); // noise after a valid handshake
            s.writeBytes(b);
            return s.toByteArray();
        }
        requests(rnd, s, structured, 1 + rnd.nextInt(focusOnHandshake ? 4 : 24));
        byte[] valid = s.toByteArray();
        if (kind < 20) {
            return valid; // the valid stream itself
        }
        int from = focusOnHandshake || rnd.nextInt(4) == 0 ? 0 : handshakeEnd;
        return mutate(rnd, valid, from);
    }

    /** Appends client flags, options and GO or EXPORT_NAME; returns where requests start. */
    private static int handshake(Random rnd, ByteArrayOutputStream s, boolean structured) {
        s.writeBytes(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | (rnd.nextInt(4) == 0 ? 0 : Nbd.FLAG_C_NO_ZEROES))
                .array());
        int options = rnd.nextInt(4);
        for (int i = 0; i < options; i++) {
            switch (rnd.nextInt(5)) {
                case 0 -> s.writeBytes(RawClient.optionBytes(Nbd.OPT_LIST, new byte[0]));
                case 1 -> s.writeBytes(RawClient.optionBytes(Nbd.OPT_INFO, RawClient.goPayload("", Nbd.INFO_NAME, Nbd.INFO_BLOCK_SIZE)));
                case 2 -> s.writeBytes(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, RawClient.metaPayload("", "base:")));
                case 3 -> s.writeBytes(RawClient.optionBytes(rnd.nextInt(64) + 12, new byte[rnd.nextInt(16)]));
                default -> s.writeBytes(RawClient.optionBytes(Nbd.OPT_EXTENDED_HEADERS, new byte[0]));
            }
        }
        if (structured) {
            s.writeBytes(RawClient.optionBytes(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
            s.writeBytes(RawClient.optionBytes(Nbd.OPT_SET_META_CONTEXT, RawClient.metaPayload("", Nbd.META_BASE_ALLOCATION)));
        }
        if (!structured && rnd.nextInt(4) == 0) {
            s.writeBytes(RawClient.optionBytes(Nbd.OPT_EXPORT_NAME, new byte[0]));
        } else {
            s.writeBytes(RawClient.optionBytes(Nbd.OPT_GO, RawClient.goPayload("", Nbd.INFO_BLOCK_SIZE)));
        }
        return s.size();
    }

    private static void requests(Random rnd, ByteArrayOutputStream s, boolean structured, int count) {
        for (int i = 0; i < count; i++) {
            int len = 1 + rnd.nextInt(rnd.nextBoolean() ? 4096 : 256 * 1024);
            long off = rnd.nextLong(IMAGE_SIZE - len + 1);
            int flags = rnd.nextInt(8) == 0 ? Nbd.CMD_FLAG_FUA : 0;
            long cookie = rnd.nextLong();
            switch (rnd.nextInt(structured ? 8 : 7)) {
                case 0, 1 -> s.writeBytes(RawClient.requestBytes(flags, Nbd.CMD_READ, cookie, off, len));
                case 2, 3 -> {
                    s.writeBytes(RawClient.requestBytes(flags, Nbd.CMD_WRITE, cookie, off, len));
                    byte[] p = new byte[len];
                    rnd.nextBytes(p);
                    s.writeBytes(p);
                }
                case 4 -> s.writeBytes(RawClient.requestBytes(0, Nbd.CMD_FLUSH, cookie, 0, 0));
                case 5 -> s.writeBytes(RawClient.requestBytes(flags, rnd.nextBoolean() ? Nbd.CMD_TRIM : Nbd.CMD_WRITE_ZEROES,
                        cookie, off, len));
                case 6 -> s.writeBytes(RawClient.requestBytes(0, Nbd.CMD_CACHE, cookie, off, len));
                default -> s.writeBytes(RawClient.requestBytes(rnd.nextBoolean() ? Nbd.CMD_FLAG_REQ_ONE : 0,
                        Nbd.CMD_BLOCK_STATUS, cookie, off, len));
            }
        }
        if (rnd.nextBoolean()) {
            s.writeBytes(RawClient.requestBytes(0, Nbd.CMD_DISC, 0, 0, 0));
        }
    }

    private static final long[] INTERESTING = {0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffffL, 0x8000_0000L, 0xffff_ffffL,
        IMAGE_SIZE - 1, IMAGE_SIZE, IMAGE_SIZE + 1, Nbd.MAX_PAYLOAD, Nbd.MAX_PAYLOAD + 1, Nbd.MAX_OPTION_LENGTH,
        Nbd.MAX_OPTION_LENGTH + 1, Nbd.MAX_STRING + 1, Long.MAX_VALUE, Long.MIN_VALUE, -1, -512, -IMAGE_SIZE};

    /** 1 to 4 mutations at or after {@code from}. */
    private static byte[] mutate(Random rnd, byte[] valid, int from) {
        byte[] b = valid;
        int n = 1 + rnd.nextInt(4);
        for (int i = 0; i < n && b.length > from; i++) {
            int pos = from + rnd.nextInt(b.length - from);
            switch (rnd.nextInt(8)) {
                case 0 -> b[pos] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[pos] = (byte) rnd.nextInt(256);
                case 2 -> { // an interesting 2, 4 or 8 byte big-endian value
                    int w = new int[] {2, 4, 8}[rnd.nextInt(3)];
                    long v = INTERESTING[rnd.nextInt(INTERESTING.length)];
                    for (int k = 0; k < w && pos + k < b.length; k++) {
                        b[pos + k] = (byte) (v >>> (8 * (w - 1 - k)));
                    }
                }
                case 3 -> { // insert random bytes
                    byte[] ins = new byte[1 + rnd.nextInt(32)];
                    rnd.nextBytes(ins);
                    b = splice(b, pos, 0, ins);
                }
                case 4 -> b = splice(b, pos, Math.min(b.length - pos, 1 + rnd.nextInt(64)), new byte[0]); // delete
                case 5 -> { // duplicate a range
                    int len = Math.min(b.length - pos, 1 + rnd.nextInt(64));
                    b = splice(b, pos, 0, java.util.Arrays.copyOfRange(b, pos, pos + len));
                }
                case 6 -> b = java.util.Arrays.copyOf(b, pos); // truncate
                default -> { // a field-sized chunk replaced by one from a request header
                    byte[] hdr = RawClient.requestBytes(rnd.nextInt(0x20), rnd.nextInt(10), 1,
                            INTERESTING[rnd.nextInt(INTERESTING.length)], (int) INTERESTING[rnd.nextInt(INTERESTING.length)]);
                    b = splice(b, pos, Math.min(b.length - pos, hdr.length), hdr);
                }
            }
        }
        return b;
    }

    private static byte[] splice(byte[] b, int pos, int remove, byte[] insert) {
        byte[] out = new byte[b.length - remove + insert.length];
        System.arraycopy(b, 0, out, 0, pos);
        System.arraycopy(insert, 0, out, pos, insert.length);
        System.arraycopy(b, pos + remove, out, pos + insert.length, b.length - pos - remove);
        return out;
    }
}
