// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A hand-written NBD client over a java SocketChannel, for sending exactly the bytes a test wants
 * (valid or hostile) and reading exactly what the server answers. Every read and write has a
 * deadline ({@link #TIMEOUT_MS}) that only matters when the server hangs.
 *
 * <p>Threading: one test thread.
 */
final class RawClient implements AutoCloseable {
    static final long TIMEOUT_MS = TimeUnit.SECONDS.toMillis(20);

    private final SocketChannel ch;
    private final Selector selector;
    private final Map<Long, long[]> outstanding = new HashMap<>();
    /** Export size and transmission flags from the handshake. */
    long size;
    int transmissionFlags;
    boolean structured;

    /** An option reply: the option it answers, its type and payload. */
    record OptionReply(int option, int type, byte[] data) {
        String message() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    /** A reply to a request: error 0 for success, the data of a read, the extents of a block status. */
    record Reply(long cookie, int error, byte[] data, List<long[]> extents, String message) {
    }

    private RawClient(SocketChannel ch) throws IOException {
        this.ch = ch;
        ch.configureBlocking(false);
        this.selector = Selector.open();
    }

    static RawClient tcp(int port) throws IOException {
        SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
        ch.socket().setTcpNoDelay(true);
        return new RawClient(ch);
    }

    static RawClient unix(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new RawClient(ch);
    }

    @Override
    public void close() throws IOException {
        selector.close();
        ch.close();
    }

    // ---- bytes ----

    void send(byte[] b) throws IOException {
        send(ByteBuffer.wrap(b));
    }

    void send(ByteBuffer b) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        while (b.hasRemaining()) {
            if (ch.write(b) == 0) {
                await(SelectionKey.OP_WRITE, deadline, "the server to take " + b.remaining() + " more bytes");
            }
        }
    }

    /** Exactly {@code n} bytes; EOFException if the server closes first. */
    byte[] readExactly(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        while (b.hasRemaining()) {
            int r = ch.read(b);
            if (r < 0) {
                throw new EOFException("server closed after " + b.position() + " of " + n + " bytes");
            }
            if (r == 0) {
                await(SelectionKey.OP_READ, deadline, n + " bytes from the server (got " + b.position() + ")");
            }
        }
        return b.array();
    }

    /**
     * Reads and discards until the server closes the connection; fails if it does not within the
     * deadline. Returns the bytes discarded.
     */
    long awaitClosedByServer() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(64 * 1024);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        long total = 0;
        while (true) {
            b.clear();
            int r;
            try {
                r = ch.read(b);
            } catch (IOException e) {
                return total; // ECONNRESET: closed too
            }
            if (r < 0) {
                return total;
            }
            total += r;
            if (r == 0) {
                await(SelectionKey.OP_READ, deadline, "the server to close the connection");
            }
        }
    }

    /** Ends our side of the stream (the server sees EOF) but keeps reading. */
    void shutdownOutput() throws IOException {
        ch.shutdownOutput();
    }

    private void await(int op, long deadline, String what) throws IOException {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0) {
            fail("gave up waiting for " + what + " after " + TIMEOUT_MS + " ms\n" + NbdTestSupport.threadDump());
        }
        SelectionKey k = ch.register(selector, op);
        selector.select(Math.max(1, left));
        selector.selectedKeys().clear();
        k.interestOps(0);
    }

    // ---- handshake ----

    /** Reads the server's greeting and checks it is fixed newstyle. */
    RawClient greeting() throws IOException {
        ByteBuffer g = ByteBuffer.wrap(readExactly(18));
        assertEquals(Nbd.NBDMAGIC, g.getLong(), "NBDMAGIC");
        assertEquals(Nbd.IHAVEOPT, g.getLong(), "IHAVEOPT");
        assertEquals(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES, g.getShort(), "handshake flags");
        return this;
    }

    void clientFlags(int flags) throws IOException {
        send(ByteBuffer.allocate(4).putInt(flags).flip());
    }

    static byte[] optionBytes(int option, byte[] data) {
        return ByteBuffer.allocate(16 + data.length).putLong(Nbd.IHAVEOPT).putInt(option).putInt(data.length).put(data)
                .array();
    }

    void option(int option, byte[] data) throws IOException {
        send(optionBytes(option, data));
    }

    OptionReply readOptionReply() throws IOException {
        ByteBuffer h = ByteBuffer.wrap(readExactly(20));
        assertEquals(Nbd.OPTION_REPLY_MAGIC, h.getLong(), "option reply magic");
        int option = h.getInt();
        int type = h.getInt();
        int len = h.getInt();
        if (len < 0 || len > 1 << 20) {
            fail("option reply of " + Integer.toUnsignedString(len) + " bytes");
        }
        return new OptionReply(option, type, readExactly(len));
    }

    /** The payload of OPT_GO / OPT_INFO for {@code name} with the given info requests. */
    static byte[] goPayload(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length).putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** The payload of LIST/SET_META_CONTEXT for {@code name} with {@code queries}. */
    static byte[] metaPayload(String name, String... queries) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.length();
        }
        ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            b.putInt(q.length()).put(q.getBytes(StandardCharsets.US_ASCII));
        }
        return b.array();
    }

    /**
     * The whole handshake: greeting, client flags, optionally STRUCTURED_REPLY and
     * SET_META_CONTEXT base:allocation, then GO for the default export.
     */
    RawClient handshake(boolean withStructured) throws IOException {
        greeting();
        clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
        if (withStructured) {
            option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            assertEquals(Nbd.REP_ACK, readOptionReply().type(), "STRUCTURED_REPLY answer");
            structured = true;
            option(Nbd.OPT_SET_META_CONTEXT, metaPayload("", Nbd.META_BASE_ALLOCATION));
            OptionReply r = readOptionReply();
            assertEquals(Nbd.REP_META_CONTEXT, r.type(), "SET_META_CONTEXT answer");
            assertEquals(Nbd.REP_ACK, readOptionReply().type(), "SET_META_CONTEXT end");
        }
        return go();
    }

    /** Sends GO for the default export and reads the replies up to the ACK. */
    RawClient go() throws IOException {
        option(Nbd.OPT_GO, goPayload(""));
        while (true) {
            OptionReply r = readOptionReply();
            if (r.type() == Nbd.REP_ACK) {
                return this;
            }
            if (r.type() != Nbd.REP_INFO) {
                fail("GO answered with type 0x" + Integer.toHexString(r.type()) + ": " + r.message());
            }
            ByteBuffer d = ByteBuffer.wrap(r.data());
            if (d.getShort() == Nbd.INFO_EXPORT) {
                size = d.getLong();
                transmissionFlags = Short.toUnsignedInt(d.getShort());
            }
        }
    }

    // ---- transmission ----

    static byte[] requestBytes(int flags, int type, long cookie, long offset, int length) {
        return ByteBuffer.allocate(Nbd.REQUEST_SIZE).putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type)
                .putLong(cookie).putLong(offset).putInt(length).array();
    }

    /** Sends a request (a write's payload is {@code payload}, which may be shorter than length). */
    void request(int flags, int type, long cookie, long offset, int length, byte[] payload) throws IOException {
        outstanding.put(cookie, new long[] {type, offset, Integer.toUnsignedLong(length)});
        send(requestBytes(flags, type, cookie, offset, length));
        if (payload != null) {
            send(payload);
        }
    }

    /** Sends one request and reads its reply. */
    Reply call(int flags, int type, long offset, int length, byte[] payload) throws IOException {
        long cookie = 0x1000 + outstanding.size() + System.nanoTime() % 1000;
        request(flags, type, cookie, offset, length, payload);
        Reply r = readReply();
        assertEquals(cookie, r.cookie(), "cookie of the reply");
        return r;
    }

    Reply read(long offset, int length) throws IOException {
        return call(0, Nbd.CMD_READ, offset, length, null);
    }

    Reply write(long offset, byte[] data) throws IOException {
        return call(0, Nbd.CMD_WRITE, offset, data.length, data);
    }

    /** Reads the next reply (simple, or every chunk of a structured one). */
    Reply readReply() throws IOException {
        ByteBuffer h = ByteBuffer.wrap(readExactly(4));
        int magic = h.getInt();
        if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
            ByteBuffer s = ByteBuffer.wrap(readExactly(12));
            int error = s.getInt();
            long cookie = s.getLong();
            long[] req = outstanding.remove(cookie);
            if (req == null) {
                fail("reply for unknown cookie " + cookie);
            }
            byte[] data = null;
            if (req[0] == Nbd.CMD_READ && error == 0) {
                data = readExactly((int) req[2]);
            }
            return new Reply(cookie, error, data, null, null);
        }
        if (magic != Nbd.STRUCTURED_REPLY_MAGIC) {
            fail("bad reply magic 0x" + Integer.toHexString(magic));
        }
        return readStructured();
    }

    private Reply readStructured() throws IOException {
        byte[] data = null;
        List<long[]> extents = null;
        int error = 0;
        String message = null;
        long cookie;
        boolean first = true;
        while (true) {
            if (!first) {
                ByteBuffer m = ByteBuffer.wrap(readExactly(4));
                assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, m.getInt(), "structured reply magic");
            }
            first = false;
            ByteBuffer h = ByteBuffer.wrap(readExactly(16));
            int flags = Short.toUnsignedInt(h.getShort());
            int type = Short.toUnsignedInt(h.getShort());
            cookie = h.getLong();
            int len = h.getInt();
            long[] req = outstanding.get(cookie);
            if (req == null) {
                fail("structured reply for unknown cookie " + cookie);
            }
            if (len < 0 || len > Nbd.MAX_PAYLOAD + 64) {
                fail("structured chunk of " + Integer.toUnsignedString(len) + " bytes");
            }
            ByteBuffer p = ByteBuffer.wrap(readExactly(len));
            switch (type) {
                case Nbd.REPLY_TYPE_NONE -> { }
                case Nbd.REPLY_TYPE_OFFSET_DATA -> {
                    long off = p.getLong();
                    if (data == null) {
                        data = new byte[(int) req[2]];
                    }
                    p.get(data, (int) (off - req[1]), len - 8);
                }
                case Nbd.REPLY_TYPE_BLOCK_STATUS -> {
                    p.getInt(); // context id
                    extents = new ArrayList<>();
                    while (p.remaining() >= 8) {
                        extents.add(new long[] {Integer.toUnsignedLong(p.getInt()), p.getInt()});
                    }
                }
                case Nbd.REPLY_TYPE_ERROR, Nbd.REPLY_TYPE_ERROR + 1 -> {
                    error = p.getInt();
                    int mlen = Short.toUnsignedInt(p.getShort());
                    byte[] msg = new byte[mlen];
                    p.get(msg);
                    message = new String(msg, StandardCharsets.UTF_8);
                }
                default -> fail("unexpected structured reply type " + type);
            }
            if ((flags & Nbd.REPLY_FLAG_DONE) != 0) {
                break;
            }
        }
        outstanding.remove(cookie);
        return new Reply(cookie, error, data, extents, message);
    }
}
