// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static io.jaio.nbd.NbdTestSupport.assertNoExceptionsLogged;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and broken clients: a raw socket client that speaks the handshake by hand and then
 * sends what no well-behaved client would. After each test a fresh client is served, the server
 * is alive, and the image file has its size and (where nothing valid was written) its content.
 * Also: clients killed mid-run, SIGTERM of a server process, bad command lines and images.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdFaultTest {
    private static final long IMAGE_SIZE = 16L << 20;

    @TempDir
    Path dir;
    private Path image;
    private String imageHash;
    private NbdTestSupport.Server server;
    /** Whether the test wrote valid data, so the image content may differ at the end. */
    private boolean wroteData;

    @BeforeEach
    void startServer() throws Exception {
        NbdTestSupport.resetLog();
        image = NbdTestSupport.randomImage(dir.resolve("disk.img"), IMAGE_SIZE, 42);
        imageHash = NbdTestSupport.sha256(image);
        server = NbdTestSupport.Server.start(image, "-t", "-e", "8");
    }

    /** Set by a test after which a killed client's writes may still land in the image. */
    private boolean writesMayStillLand;

    @AfterEach
    void serverStillServesAndImageIsIntact() throws Exception {
        if (server == null) {
            return;
        }
        try {
            assertTrue(server.alive(), "the server is alive");
            assertServes(server, writesMayStillLand ? -1 : 0);
            assertEquals(IMAGE_SIZE, Files.size(image), "image size");
            if (!wroteData) {
                assertEquals(imageHash, NbdTestSupport.sha256(image), "image content");
            }
        } finally {
            assertEquals(0, server.stop(), "exit status of the server");
            assertNoExceptionsLogged();
        }
    }

    /** A fresh raw client reads the start of the export, and nbdinfo (when installed) answers. */
    private static void assertServes(NbdTestSupport.Server s) throws Exception {
        assertServes(s, 0);
    }

    /**
     * Like {@link #assertServes(NbdTestSupport.Server)}, for a server whose killed client still
     * had writes in flight: the server completes them after the client is gone (as qemu-nbd
     * does), so block 0 may still change while it is compared. The read through NBD must match
     * the file within {@code settleReads} further reads, 20 ms apart, once those writes land.
     */
    private static void assertServes(NbdTestSupport.Server s, int settleReads) throws Exception {
        try (RawClient c = s.connect()) {
            c.handshake(false);
            assertEquals(s.size, c.size, "export size");
            RawClient.Reply r = c.read(0, 4096);
            assertEquals(0, r.error(), "read error");
            for (int i = 0; i < settleReads && !Arrays.equals(NbdTestSupport.readAt(s.image, 0, 4096), r.data()); i++) {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
                r = c.read(0, 4096);
                assertEquals(0, r.error(), "read error");
            }
            if (settleReads >= 0) { // -1: the caller knows writes may still land
                assertArrayEquals(NbdTestSupport.readAt(s.image, 0, 4096), r.data(), "data read");
            }
            c.request(0, Nbd.CMD_DISC, 99, 0, 0, null);
            assertEquals(0, c.awaitClosedByServer(), "DISC: no reply, the server closes");
        }
        if (hasTool("nbdinfo")) {
            String out = NbdTestSupport.runOk("nbdinfo", "--size", s.uri());
            assertEquals(Long.toString(s.size), out.trim(), "nbdinfo --size");
        }
    }

    private static boolean hasTool(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
                return true;
            }
        }
        return false;
    }

    private RawClient connected(boolean structured) throws IOException {
        return server.connect().handshake(structured);
    }

    // ---- framing errors: this connection only ----

    @Test
    void badRequestMagicClosesThatConnectionOnly() throws Exception {
        try (RawClient bad = connected(false); RawClient good = connected(false)) {
            bad.send(ByteBuffer.allocate(Nbd.REQUEST_SIZE).putInt(0xdeadbeef).putInt(0).putLong(1).putLong(0).putInt(512).array());
            bad.awaitClosedByServer();
            assertEquals(0, good.read(0, 512).error(), "the other connection still reads");
        }
    }

    @Test
    void oversizedWriteHeaderDisconnects() throws Exception {
        try (RawClient bad = connected(false); RawClient good = connected(false)) {
            bad.request(0, Nbd.CMD_WRITE, 7, 0, Nbd.MAX_PAYLOAD + 1, new byte[4096]);
            bad.awaitClosedByServer();
            assertEquals(0, good.read(0, 512).error());
        }
        try (RawClient bad = connected(false)) {
            bad.request(0, Nbd.CMD_WRITE, 8, 0, -1, null); // 4 GiB - 1
            bad.awaitClosedByServer();
        }
    }

    // ---- bad requests: an error reply, the connection goes on ----

    @Test
    void outOfRangeAndOverflowingRequestsGetErrorsAndTheConnectionGoesOn() throws Exception {
        long size = IMAGE_SIZE;
        try (RawClient c = connected(false)) {
            assertEquals(Nbd.EINVAL, c.read(size, 512).error(), "read at the end");
            assertEquals(Nbd.EINVAL, c.read(size - 512, 1024).error(), "read across the end");
            assertEquals(Nbd.EINVAL, c.read(size + 1, 0).error(), "empty read past the end");
            assertEquals(Nbd.EINVAL, c.read(-512, 1024).error(), "read at 2^64 - 512 (offset + length wraps)");
            assertEquals(Nbd.EINVAL, c.read(Long.MAX_VALUE - 100, 4096).error(), "read at 2^63 - 101");
            assertEquals(Nbd.EINVAL, c.read(Long.MIN_VALUE, 512).error(), "read at 2^63");
            assertEquals(0, c.read(size - 512, 512).error(), "last sector");
            assertEquals(0, c.read(size, 0).error(), "empty read at the end");

            byte[] payload = new byte[4096];
            assertEquals(Nbd.ENOSPC, c.write(size - 2048, payload).error(), "write across the end");
            assertEquals(Nbd.ENOSPC, c.write(-2048, payload).error(), "write whose end wraps");
            assertEquals(Nbd.ENOSPC, c.write(Long.MAX_VALUE, payload).error(), "write at 2^63 - 1");
            assertEquals(Nbd.ENOSPC, c.call(0, Nbd.CMD_WRITE_ZEROES, size - 1, 2, null).error(), "write zeroes across the end");
            assertEquals(Nbd.ENOSPC, c.call(0, Nbd.CMD_WRITE_ZEROES, -1, -1, null).error(), "write zeroes wrapping");
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_TRIM, size, 1, null).error(), "trim past the end");
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_TRIM, 1, -1, null).error(), "trim of 4 GiB - 1");
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_CACHE, size - 1, 2, null).error(), "cache across the end");
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_FLUSH, 4096, 0, null).error(), "flush with an offset");
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_FLUSH, 0, 512, null).error(), "flush with a length");
            assertEquals(0, c.call(0, Nbd.CMD_FLUSH, 0, 0, null).error(), "flush");
            assertEquals(0, c.read(0, 4096).error(), "the connection still works");
            assertArrayEquals(NbdTestSupport.readAt(image, 0, 4096), c.read(0, 4096).data());
        }
    }

    @Test
    void blockStatusOutOfRangeGetsEinvalAsAStructuredError() throws Exception {
        try (RawClient c = connected(true)) {
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_BLOCK_STATUS, IMAGE_SIZE, 4096, null).error());
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_BLOCK_STATUS, -4096, 8192, null).error());
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_BLOCK_STATUS, 0, 0, null).error(), "empty block status");
            assertEquals(Nbd.EINVAL, c.call(0x40, Nbd.CMD_BLOCK_STATUS, 0, 4096, null).error(), "unknown flag");
            RawClient.Reply ok = c.call(Nbd.CMD_FLAG_REQ_ONE, Nbd.CMD_BLOCK_STATUS, 0, 1 << 20, null);
            assertEquals(0, ok.error());
            assertEquals(1, ok.extents().size(), "REQ_ONE: one extent");
            assertEquals(1 << 20, ok.extents().get(0)[0], "a fully written file is one data extent");
            assertEquals(0, ok.extents().get(0)[1], "data");
        }
        try (RawClient c = connected(false)) {
            // Without structured replies, block status cannot be answered: EINVAL, no framing loss.
            assertEquals(Nbd.EINVAL, c.call(0, Nbd.CMD_BLOCK_STATUS, 0, 4096, null).error());
            assertEquals(0, c.read(0, 512).error());
        }
    }

    @Test
    void oversizedReadIsRefusedWithEinvalOrEoverflow() throws Exception {
        try (RawClient c = connected(false)) {
            assertEquals(Nbd.EINVAL, c.read(0, Nbd.MAX_PAYLOAD + 1).error(), "simple replies: EINVAL");
            assertEquals(Nbd.EINVAL, c.read(0, -1).error(), "read of 4 GiB - 1");
            assertEquals(0, c.read(0, 512).error());
        }
        try (RawClient c = connected(true)) {
            int e = c.read(0, Nbd.MAX_PAYLOAD + 1).error();
            assertTrue(e == Nbd.EOVERFLOW || e == Nbd.EINVAL, "structured: EOVERFLOW or EINVAL, got " + e);
            RawClient.Reply r = c.read(4096, 8192);
            assertEquals(0, r.error());
            assertArrayEquals(NbdTestSupport.readAt(image, 4096, 8192), r.data());
        }
    }

    @Test
    void unknownCommandsAndFlagsGetEinval() throws Exception {
        try (RawClient c = connected(false)) {
            for (int type : new int[] {8, 9, 42, 0x7fff, 0xffff}) {
                assertEquals(Nbd.EINVAL, c.call(0, type, 0, 4096, null).error(), "command " + type);
            }
            assertEquals(Nbd.EINVAL, c.call(0x8000, Nbd.CMD_READ, 0, 512, null).error(), "read with flag 0x8000");
            assertEquals(Nbd.EINVAL, c.call(Nbd.CMD_FLAG_NO_HOLE, Nbd.CMD_READ, 0, 512, null).error(), "read with NO_HOLE");
            // A write with an unknown flag: refused, and its payload is still consumed.
            byte[] payload = new byte[8192];
            java.util.Arrays.fill(payload, (byte) 0x77);
            assertEquals(Nbd.EINVAL, c.call(Nbd.CMD_FLAG_NO_HOLE, Nbd.CMD_WRITE, 0, payload.length, payload).error());
            assertEquals(Nbd.EINVAL, c.call(Nbd.CMD_FLAG_DF, Nbd.CMD_TRIM, 0, 4096, null).error(), "trim with DF");
            assertEquals(Nbd.EINVAL, c.call(0x100, Nbd.CMD_WRITE_ZEROES, 0, 4096, null).error(), "write zeroes with 0x100");
            RawClient.Reply r = c.read(0, 8192);
            assertEquals(0, r.error());
            assertArrayEquals(NbdTestSupport.readAt(image, 0, 8192), r.data(), "the refused write changed nothing");
        }
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws Exception {
        Path ro = NbdTestSupport.randomImage(dir.resolve("ro.img"), 1 << 20, 7);
        String hash = NbdTestSupport.sha256(ro);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(ro, "-r", "-t")) {
            try (RawClient c = s.connect().handshake(false)) {
                assertTrue((c.transmissionFlags & Nbd.TF_READ_ONLY) != 0, "READ_ONLY flag");
                assertEquals(Nbd.EPERM, c.write(0, new byte[4096]).error(), "write");
                assertEquals(Nbd.EPERM, c.call(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, 4096, 512, new byte[512]).error(), "FUA write");
                assertEquals(Nbd.EPERM, c.call(0, Nbd.CMD_TRIM, 0, 4096, null).error(), "trim");
                assertEquals(Nbd.EPERM, c.call(0, Nbd.CMD_WRITE_ZEROES, 0, 4096, null).error(), "write zeroes");
                RawClient.Reply r = c.read(0, 65536);
                assertEquals(0, r.error(), "reads work");
                assertArrayEquals(NbdTestSupport.readAt(ro, 0, 65536), r.data());
                assertEquals(0, c.call(0, Nbd.CMD_FLUSH, 0, 0, null).error(), "flush is harmless");
            }
            assertServes(s);
        }
        assertEquals(hash, NbdTestSupport.sha256(ro), "read-only image unchanged");
    }

    @Test
    void zeroLengthRequestsSucceed() throws Exception {
        try (RawClient c = connected(false)) {
            assertEquals(0, c.read(0, 0).error());
            assertEquals(0, c.write(4096, new byte[0]).error());
            assertEquals(0, c.call(0, Nbd.CMD_TRIM, 0, 0, null).error());
            assertEquals(0, c.call(0, Nbd.CMD_WRITE_ZEROES, 0, 0, null).error());
        }
    }

    // ---- the handshake ----

    @Test
    void unknownAndUnsupportedOptionsGetErrUnsupAndTheHandshakeGoesOn() throws Exception {
        try (RawClient c = server.connect().greeting()) {
            c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE);
            for (int opt : new int[] {0, 4, 0x1234, Integer.MIN_VALUE, Nbd.OPT_STARTTLS, Nbd.OPT_EXTENDED_HEADERS}) {
                c.option(opt, new byte[] {1, 2, 3});
                RawClient.OptionReply r = c.readOptionReply();
                assertEquals(opt, r.option(), "option answered");
                if (opt == Nbd.OPT_EXTENDED_HEADERS || opt == Nbd.OPT_STARTTLS) {
                    assertTrue(r.type() == Nbd.REP_ERR_UNSUP || r.type() == Nbd.REP_ERR_INVALID, "type " + r.type());
                } else {
                    assertEquals(Nbd.REP_ERR_UNSUP, r.type(), "option " + opt);
                }
            }
            c.go();
            assertEquals(IMAGE_SIZE, c.size);
            // Without NO_ZEROES the GO path is the same; reads work.
            assertEquals(0, c.read(0, 512).error());
        }
    }

    @Test
    void badOptionLengthsGetErrInvalid() throws Exception {
        try (RawClient c = server.connect().greeting()) {
            c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
            List<byte[]> bad = new ArrayList<>();
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST, new byte[] {1}));
            bad.add(RawClient.optionBytes(Nbd.OPT_STRUCTURED_REPLY, new byte[] {1, 2}));
            bad.add(RawClient.optionBytes(Nbd.OPT_GO, new byte[] {0, 0, 0}));
            bad.add(RawClient.optionBytes(Nbd.OPT_GO, ByteBuffer.allocate(6).putInt(100).putShort((short) 0).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_GO, ByteBuffer.allocate(6).putInt(-1).putShort((short) 0).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_INFO, ByteBuffer.allocate(8).putInt(0).putShort((short) 5).putShort((short) 1).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_GO, ByteBuffer.allocate(10).putInt(0).putShort((short) 0).putInt(0).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_SET_META_CONTEXT, RawClient.metaPayload("", "base:allocation")));
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, new byte[] {0, 0, 0, 0}));
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, ByteBuffer.allocate(8).putInt(-8).putInt(0).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, ByteBuffer.allocate(12).putInt(0).putInt(-1).putInt(5).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, ByteBuffer.allocate(12).putInt(0).putInt(1).putInt(100).array()));
            bad.add(RawClient.optionBytes(Nbd.OPT_LIST_META_CONTEXT, ByteBuffer.allocate(13).putInt(0).putInt(0).putInt(0).array()));
            for (byte[] opt : bad) {
                c.send(opt);
                RawClient.OptionReply r = c.readOptionReply();
                assertEquals(Nbd.REP_ERR_INVALID, r.type(), "answer to " + java.util.HexFormat.of().formatHex(opt) + ": "
                        + r.message());
            }
            c.option(Nbd.OPT_GO, RawClient.goPayload("no-such-export"));
            assertEquals(Nbd.REP_ERR_UNKNOWN, c.readOptionReply().type(), "GO for an unknown export");
            c.option(Nbd.OPT_LIST, new byte[0]);
            assertEquals(Nbd.REP_SERVER, c.readOptionReply().type(), "LIST");
            assertEquals(Nbd.REP_ACK, c.readOptionReply().type(), "LIST end");
            c.go();
            assertEquals(0, c.read(0, 512).error());
        }
    }

    @Test
    void untrustworthyHandshakesCloseTheConnection() throws Exception {
        List<byte[]> streams = new ArrayList<>();
        streams.add(ByteBuffer.allocate(4).putInt(0x80).array()); // unknown client flags
        streams.add(ByteBuffer.allocate(4 + 16).putInt(1).putLong(0x1122334455667788L).putInt(7).putInt(0).array()); // bad magic
        streams.add(ByteBuffer.allocate(4 + 16).putInt(1).putLong(Nbd.IHAVEOPT).putInt(7).putInt(Nbd.MAX_OPTION_LENGTH + 1).array());
        streams.add(ByteBuffer.allocate(4 + 16).putInt(1).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_LIST).putInt(-1).array());
        streams.add(ByteBuffer.allocate(4 + 16 + 3).putInt(1).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_EXPORT_NAME).putInt(3)
                .put("bad".getBytes(StandardCharsets.US_ASCII)).array()); // EXPORT_NAME of an unknown export
        streams.add(ByteBuffer.allocate(4 + 16).putInt(1).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_ABORT).putInt(0).array());
        for (byte[] s : streams) {
            try (RawClient c = server.connect().greeting()) {
                c.send(s);
                c.awaitClosedByServer();
            }
        }
    }

    @Test
    void truncatedHandshakesAndHeadersAreForgotten() throws Exception {
        byte[] handshake = ByteBuffer.allocate(4 + 16 + 6).putInt(3).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO).putInt(6).putInt(0)
                .putShort((short) 0).array();
        for (int cut = 0; cut < handshake.length; cut++) {
            try (RawClient c = server.connect().greeting()) {
                c.send(java.util.Arrays.copyOf(handshake, cut));
                c.shutdownOutput();
                c.awaitClosedByServer();
            }
        }
        byte[] req = RawClient.requestBytes(0, Nbd.CMD_READ, 1, 0, 512);
        for (int cut = 1; cut < req.length; cut += 3) {
            try (RawClient c = connected(false)) {
                c.send(java.util.Arrays.copyOf(req, cut));
                c.shutdownOutput();
                c.awaitClosedByServer();
            }
        }
    }

    @Test
    void optionFloodWithoutReadingRepliesEndsTheConnection() throws Exception {
        // Options whose replies the client never reads: the server must stop at its output cap
        // and close this connection, not buffer without bound.
        byte[] list = RawClient.optionBytes(Nbd.OPT_LIST, new byte[0]);
        byte[] many = new byte[list.length * 4096];
        for (int i = 0; i < 4096; i++) {
            System.arraycopy(list, 0, many, i * list.length, list.length);
        }
        try (RawClient c = server.connect().greeting()) {
            c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
            boolean closed = false;
            for (int round = 0; round < 256 && !closed; round++) {
                try {
                    c.send(many);
                } catch (IOException e) {
                    closed = true; // reset by the server
                }
            }
            assertTrue(closed, "the server closed a client that never reads");
        }
        try (RawClient good = connected(false)) {
            assertEquals(0, good.read(0, 512).error());
        }
    }

    // ---- clients that vanish ----

    @Test
    void clientVanishingMidWritePayloadWritesNothing() throws Exception {
        try (RawClient c = connected(false)) {
            byte[] half = new byte[512 * 1024];
            java.util.Arrays.fill(half, (byte) 0x5a);
            c.request(0, Nbd.CMD_WRITE, 1, 1 << 20, 1 << 20, half);
        }
        try (RawClient c = connected(false)) {
            byte[] half = new byte[100];
            c.request(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, 1, 0, 4096, half);
        }
        // The server has seen both go before the next connection is served in full.
        assertServes(server);
        assertEquals(imageHash, NbdTestSupport.sha256(image), "no partial write reached the image");
    }

    @Test
    void clientVanishingWithRequestsInFlightDoesNotHarmOthers() throws Exception {
        try (RawClient good = connected(true)) {
            for (int round = 0; round < 8; round++) {
                try (RawClient c = connected(round % 2 == 0)) {
                    ByteArrayOutputStream reqs = new ByteArrayOutputStream();
                    for (int i = 0; i < 200; i++) {
                        reqs.writeBytes(RawClient.requestBytes(0, Nbd.CMD_READ, i, (i * 65536L) % IMAGE_SIZE, 1 << 20));
                    }
                    c.send(reqs.toByteArray()); // and never read a reply
                }
                RawClient.Reply r = good.read(round * 4096L, 4096);
                assertEquals(0, r.error());
                assertArrayEquals(NbdTestSupport.readAt(image, round * 4096L, 4096), r.data());
            }
        }
    }

    @Test
    void pipelinedRequestsBeyondTheInFlightCapAllGetTheirReplies() throws Exception {
        // More requests and bytes than the server keeps in flight, sent before reading any reply:
        // the server must pause reading and resume as replies go out, losing none.
        int n = 600;
        try (RawClient c = connected(false)) {
            for (int i = 0; i < n; i++) {
                c.request(0, Nbd.CMD_READ, i, (i * 8192L) % IMAGE_SIZE, 1 << 20 >> (i % 4), null);
            }
            boolean[] seen = new boolean[n];
            for (int i = 0; i < n; i++) {
                RawClient.Reply r = c.readReply();
                int k = (int) r.cookie();
                assertEquals(0, r.error(), "request " + k);
                assertTrue(!seen[k], "one reply per request");
                seen[k] = true;
                if (k % 50 == 0) {
                    assertArrayEquals(NbdTestSupport.readAt(image, (k * 8192L) % IMAGE_SIZE, 1 << 20 >> (k % 4)), r.data());
                }
            }
        }
    }

    @Test
    void refusedReadsLeaveTheBytesInFlightAccountBalanced() throws Exception {
        // Reads refused before they start (too long, past the end, bad flags) must not be
        // credited back to the budget they were never charged to: a negative account would
        // disable the cap on buffered read data.
        try (RawClient c = connected(false)) {
            assertEquals(Nbd.EINVAL, c.read(0, -1).error());
            assertEquals(Nbd.EINVAL, c.read(IMAGE_SIZE, 1 << 20).error());
            assertEquals(Nbd.EINVAL, c.call(0x8000, Nbd.CMD_READ, 0, 4096, null).error());
            assertEquals(Nbd.ENOSPC, c.write(IMAGE_SIZE, new byte[4096]).error());
            assertEquals(0, c.read(0, 65536).error());
            assertEquals(List.of(0L), server.probeConnections("bytesInFlight"), "bytes in flight once idle");
            assertEquals(List.of(0L), server.probeConnections("inFlight"), "requests in flight once idle");
            int n = 300;
            for (int i = 0; i < n; i++) {
                c.request(0, Nbd.CMD_READ, i, 0, 1 << 20, null);
            }
            for (int i = 0; i < n; i++) {
                assertEquals(0, c.readReply().error());
            }
            assertEquals(List.of(0L), server.probeConnections("bytesInFlight"), "bytes in flight once idle");
        }
    }

    @Test
    void qemuIoKilledMidSessionLeavesTheServerServing() throws Exception {
        NbdTestSupport.assumeTool("qemu-io", "qemu-utils");
        wroteData = true;
        List<String> cmd = List.of("qemu-io", "-f", "raw", server.uri());
        Process p = NbdTestSupport.startProcess(cmd);
        try {
            var in = new java.io.PrintWriter(p.getOutputStream(), true, StandardCharsets.UTF_8);
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            in.println("write -P 0x33 0 1M");
            String line;
            while ((line = out.readLine()) != null && !line.contains("wrote")) {
                // wait for the first acknowledged write: the client is mid-session now
            }
            assertTrue(line != null, "qemu-io wrote");
            for (int i = 0; i < 16; i++) {
                in.println("aio_write -P 0x44 " + (2 + i) + "M 1M");
            }
            p.destroyForcibly(); // SIGKILL with requests in flight
            assertTrue(p.waitFor(NbdTestSupport.CLIENT_TIMEOUT_S, TimeUnit.SECONDS));
        } finally {
            p.destroyForcibly();
        }
        NbdTestSupport.assertFilled(image, 0, 1 << 20, 0x33);
        assertServes(server);
        NbdTestSupport.qemuIo(server, "read -P 0x33 0 1M");
    }

    @Test
    void fioKilledMidRunLeavesTheServerServing() throws Exception {
        NbdTestSupport.assumeTool("fio", "fio");
        wroteData = true;
        List<String> cmd = List.of("fio", "--name=killme", "--ioengine=nbd", "--uri=" + server.uri(), "--rw=randrw",
                "--bs=64k", "--iodepth=32", "--size=16M", "--time_based", "--runtime=60", "--eta=always",
                "--eta-newline=1", "--eta-interval=250ms");
        Process p = NbdTestSupport.startProcess(cmd);
        StringBuilder seen = new StringBuilder();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.contains("Jobs: 1") && line.contains("IOPS")) {
                    break; // fio is running I/O against the server
                }
            }
            if (line == null) {
                fail("fio ended before running:\n" + seen);
            }
            p.destroyForcibly();
            assertTrue(p.waitFor(NbdTestSupport.CLIENT_TIMEOUT_S, TimeUnit.SECONDS));
        } finally {
            p.destroyForcibly();
        }
        // The killed client's queued writes may go on landing for a while (as with qemu-nbd), so
        // block 0 is not compared with the file here or after the test: the server must serve.
        writesMayStillLand = true;
        assertServes(server, -1);
    }

    // ---- stopping ----

    @Test
    void sigtermAfterFlushedWritesExitsZeroWithTheDataInTheImage() throws Exception {
        NbdTestSupport.assumeTool("qemu-io", "qemu-utils");
        Path img = NbdTestSupport.sparseImage(dir.resolve("term.img"), 8 << 20);
        List<String> cmd = new ArrayList<>(javaCommand());
        cmd.addAll(List.of("io.jaio.nbd.NbdMain", "serve", "-p", "0", "-t", img.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String uri = null;
            StringBuilder seen = new StringBuilder();
            String line;
            while (uri == null && (line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.startsWith("jaio-nbd: connect to ")) {
                    uri = line.substring("jaio-nbd: connect to ".length()).trim();
                }
            }
            if (uri == null) {
                fail("the server printed no URI:\n" + seen);
            }
            assertTrue(uri.matches("nbd://127\\.0\\.0\\.1:[1-9][0-9]*/"), "URI with the real port: " + uri);
            List<String> io = List.of("qemu-io", "-f", "raw", "-c", "write -P 0x6b 0 2M", "-c", "write -P 0x6c 6M 1M", "-c",
                    "flush", uri);
            String res = NbdTestSupport.run(io).expectSuccess(io).output();
            NbdTestSupport.assertNoQemuIoFailure(io, res);
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(NbdTestSupport.STOP_TIMEOUT_S, TimeUnit.SECONDS), "the server stopped on SIGTERM");
            String rest = NbdTestSupport.readAllAsync(p.getInputStream()).get(10, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), "exit status after SIGTERM; output:\n" + seen + rest);
        } finally {
            p.destroyForcibly();
        }
        NbdTestSupport.assertFilled(img, 0, 2 << 20, 0x6b);
        NbdTestSupport.assertFilled(img, 6 << 20, 1 << 20, 0x6c);
        NbdTestSupport.assertFilled(img, 2 << 20, 4 << 20, 0);
        assertEquals(8 << 20, Files.size(img));
    }

    /** java with the class path of this test run's jaio-core and jaio-nbd classes. */
    private static List<String> javaCommand() throws Exception {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String cp = Path.of(io.jaio.AioContext.class.getProtectionDomain().getCodeSource().getLocation().toURI()) + ":"
                + Path.of(NbdMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xss512k", "-cp", cp);
    }

    // ---- command lines and images ----

    /** NbdMain.run in this JVM; returns the status and what it printed on stderr. */
    private static String[] runMain(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        synchronized (System.class) {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                status = NbdMain.run(args);
            } finally {
                System.setErr(saved);
            }
        }
        return new String[] {Integer.toString(status), err.toString(StandardCharsets.UTF_8)};
    }

    private static void assertOneLineFailure(String containing, String... args) {
        String[] r = runMain(args);
        String stderr = r[1];
        assertNotEquals("0", r[0], "exit status of " + String.join(" ", args) + "; stderr: " + stderr);
        assertTrue(stderr.endsWith("\n") && stderr.indexOf('\n') == stderr.length() - 1,
                "one line on stderr for " + String.join(" ", args) + ", got: " + stderr);
        assertTrue(stderr.contains(containing), "stderr of " + String.join(" ", args) + " names '" + containing + "': " + stderr);
    }

    @Test
    void badCommandLinesAndImagesGiveOneLineAndNonZeroStatus() throws Exception {
        Path missing = dir.resolve("missing.img");
        assertOneLineFailure("does not exist", "serve", "-p", "0", missing.toString());
        assertOneLineFailure("is a directory", "serve", "-p", "0", dir.toString());
        assertOneLineFailure("unknown option --frobnicate", "serve", "--frobnicate", image.toString());
        assertOneLineFailure("-p 70000", "serve", "-p", "70000", image.toString());
        assertOneLineFailure("-p http", "serve", "-p", "http", image.toString());
        assertOneLineFailure("--port=-1", "serve", "--port=-1", image.toString());
        assertOneLineFailure("needs a value", "serve", image.toString(), "-p");
        assertOneLineFailure("--aio=posix", "serve", "--aio=posix", image.toString());
        assertOneLineFailure("--cache=unsafe", "serve", "--cache=unsafe", image.toString());
        assertOneLineFailure("expected at most one IMAGE", "serve", image.toString(), image.toString());
        assertOneLineFailure("expected 'serve'", "frobnicate");
        assertOneLineFailure("expected 'serve'");
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            assertOneLineFailure("cannot listen", "serve", "-p", Integer.toString(taken.getLocalPort()), image.toString());
        }
        assertOneLineFailure("cannot listen", "serve", "-k", dir.resolve("no/such/dir/sock").toString(), image.toString());
        assertEquals(IMAGE_SIZE, Files.size(image));
    }

    @Test
    void unreadableImageGivesOneLineAndNonZeroStatus() throws Exception {
        Path img = NbdTestSupport.sparseImage(dir.resolve("secret.img"), 1 << 20);
        Files.setPosixFilePermissions(img, java.util.Set.of());
        boolean readable = Files.isReadable(img);
        if (readable) {
            System.out.println("SKIPPED: running as root, every file is readable: unreadable-image test skipped");
        }
        Assumptions.assumeFalse(readable, "running as root: every file is readable");
        assertOneLineFailure("cannot open image", "serve", "-p", "0", img.toString());
    }

    @Test
    void helpAndVersionExitZero() {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            assertEquals(0, NbdMain.run(new String[] {"serve", "--help"}));
            assertEquals(0, NbdMain.run(new String[] {"serve", "-V"}));
        } finally {
            System.setOut(saved);
        }
        String s = out.toString(StandardCharsets.UTF_8);
        assertTrue(s.contains("Usage: jaio nbd serve"), s);
        assertTrue(s.contains(NbdMain.VERSION), s);
        assertThrows(ServeOptions.UsageException.class, () -> ServeOptions.parse(new String[] {"-e", "-1"}));
    }
}
