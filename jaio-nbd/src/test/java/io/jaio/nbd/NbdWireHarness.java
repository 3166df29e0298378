// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;
import io.jaio.Sockets;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * Feeds one input to one {@link NbdConnection} over a socketpair, with no listening socket and no
 * IOThread: the connection runs on a context this thread polls (through the
 * {@code NbdServer.Worker(AioContext, Export, FileIoEngine)} seam), and the test plays the client.
 * This is the fuzz target of {@link NbdWireFuzzTest}.
 *
 * <p>An input is read as a small program. Its first byte picks the export (a 1 MiB read-write
 * image or a 64 KiB read-only one) and the mode:
 * <ul>
 *   <li><b>raw</b>: every other byte goes to the server as is, from the greeting on (fuzzes
 *       {@link Handshake} and, if the bytes get that far, the request parser);</li>
 *   <li><b>scripted</b>: the harness sends client flags, a few fuzzed options, optionally
 *       STRUCTURED_REPLY and SET_META_CONTEXT, then GO or EXPORT_NAME, then a sequence of
 *       requests whose type, flags, offset and length come from the input (offsets and lengths
 *       near the export's end, zero, overflowing, negative), each with a unique cookie; a request
 *       may be cut short, followed by garbage, or be a write announcing more than 32 MiB.</li>
 *   <li><b>tls</b> (first byte 0xf0..0xff, when certtool is installed): client flags and STARTTLS,
 *       then the rest of the input as TLS records, to a worker that requires TLS (fuzzes the
 *       hand-over to {@link TlsSession} and JSSE's handshake as the server drives it).</li>
 * </ul>
 * After the input is sent the client half-closes its socket (SHUT_WR) and keeps reading.
 *
 * <p>Oracles, checked for every input (a failure is an {@link AssertionError}):
 * <ol>
 *   <li>no exception reaches the context's error handler (nothing escapes a callback);</li>
 *   <li>the connection closes within {@link #DEADLINE_NS} of the client's EOF: every request is
 *       answered or the connection is closed, nothing hangs;</li>
 *   <li>the greeting is right; in scripted mode the server's byte stream parses exactly into option
 *       replies and then into one simple reply or one structured chunk with the DONE flag per
 *       request, each for a cookie that was sent and not yet answered, with the right payload
 *       length (a read's data is its length; OFFSET_DATA echoes the offset);</li>
 *   <li>when the requests were well framed (no garbage, no oversized write), every request
 *       before the first DISC got its reply before the close;</li>
 *   <li>no write outside the export: the read-write image keeps its size, and the read-only
 *       image keeps its size and every byte.</li>
 * </ol>
 *
 * <p>Threading: the thread that built it (the context's home thread) only.
 */
final class NbdWireHarness implements AutoCloseable {
    static final long RW_SIZE = 1 << 20;
    static final long RO_SIZE = 64 << 10;
    /** How long a connection may take to close after the client's EOF. */
    static final long DEADLINE_NS = 10_000_000_000L;
    /** Requests per scripted input (the in-flight cap is 128: this also reaches it). */
    private static final int MAX_REQUESTS = 160;
    private static final int SHUT_WR = 1;

    private final AioContext ctx;
    private final Path dir;
    private final Export rw;
    private final Export ro;
    private final byte[] roContent;
    private final FileIoEngine engine;
    private final NbdServer.Worker rwWorker;
    private final NbdServer.Worker roWorker;
    /** A worker that requires TLS (certificates by certtool), or null when certtool is missing. */
    private final NbdServer.Worker tlsWorker;
    private final List<String> callbackErrors = new ArrayList<>();
    private Throwable firstCallbackError;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment recvBuf = arena.allocate(256 * 1024, 8);
    private final MemorySegment sendBuf = arena.allocate(256 * 1024, 8);

    /** Figures, for the report. */
    long executions;
    long requestsSent;
    long repliesChecked;
    long connectionsClosedByServer;

    /** The server's logger, quiet while fuzzing (every bad input logs a line); held so it is not collected. */
    private static final java.util.logging.Logger SERVER_LOG = java.util.logging.Logger.getLogger("io.jaio.nbd");
    private final java.util.logging.Level savedLevel = SERVER_LOG.getLevel();

    NbdWireHarness(Path dir) throws Exception {
        this.dir = dir;
        SERVER_LOG.setLevel(java.util.logging.Level.OFF);
        this.ctx = AioContext.builder().name("nbd-wire-harness").errorHandler((c, source, error) -> {
            callbackErrors.add(source + ": " + error);
            if (firstCallbackError == null) {
                firstCallbackError = error;
            }
        }).build();
        ctx.makeCurrent();
        Path rwPath = dir.resolve("rw.img");
        Path roPath = dir.resolve("ro.img");
        byte[] pattern = new byte[(int) RW_SIZE];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 31 + 7);
        }
        Files.write(rwPath, pattern);
        roContent = Arrays.copyOf(pattern, (int) RO_SIZE);
        Files.write(roPath, roContent);
        rw = Export.open("", rwPath.toString(), false, false);
        ro = Export.open("", roPath.toString(), true, false);
        engine = FileIoEngines.best(ctx);
        rwWorker = new NbdServer.Worker(ctx, rw, engine);
        roWorker = new NbdServer.Worker(ctx, ro, engine);
        NbdServer.Worker tls = null;
        if (Files.isExecutable(Path.of("/usr/bin/certtool"))) {
            TlsTestCerts certs = TlsTestCerts.make(dir.resolve("pki"));
            tls = new NbdServer.Worker(ctx, ro, engine, TlsCredentials.load("harness", certs.serverDir, true, null), 0);
        }
        tlsWorker = tls;
    }

    Path dir() {
        return dir;
    }

    /** Runs one input through a fresh connection and checks every oracle. */
    void run(byte[] input) throws ErrnoException {
        executions++;
        Input in = new Input(input);
        int mode = in.u8();
        boolean readOnly = (mode & 1) != 0;
        boolean tls = tlsWorker != null && (mode & 0xf0) == 0xf0; // one input in sixteen: the TLS handshake
        boolean raw = tls || (mode & 6) == 0; // one input in four is raw
        Export export = tls || readOnly ? ro : rw;
        Client client = new Client(export, raw);
        byte[] script = tls ? tlsScript(in.rest()) : raw ? in.rest() : client.script(in);
        int[] pair = Sockets.socketPair();
        int cfd = pair[0];
        NbdConnection c = new NbdConnection(tls ? tlsWorker : readOnly ? roWorker : rwWorker, pair[1], "fuzz");
        try {
            c.start();
            exchange(c, cfd, script, client);
        } finally {
            Fds.close(cfd);
            if (!c.isClosed()) {
                c.beginClose("harness gave up", true); // keep the harness usable after a failure
                for (int i = 0; i < 1000 && !c.isClosed(); i++) {
                    ctx.poll(false);
                }
            }
        }
        connectionsClosedByServer++;
        if (firstCallbackError != null) {
            Throwable t = firstCallbackError;
            String all = String.join("; ", callbackErrors);
            firstCallbackError = null;
            callbackErrors.clear();
            throw new AssertionError("exception escaped to the loop: " + all, t);
        }
        client.finish();
        repliesChecked += client.replies;
        requestsSent += client.requests;
        checkImages();
    }

    /** Client flags and STARTTLS, then the input as TLS records (a ClientHello, the fuzzer hopes). */
    private static byte[] tlsScript(byte[] records) {
        ByteBuffer b = ByteBuffer.allocate(4 + 16 + records.length);
        b.putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES).put(RawClient.optionBytes(Nbd.OPT_STARTTLS, new byte[0]));
        return b.put(records).array();
    }

    private void exchange(NbdConnection c, int cfd, byte[] script, Client client) {
        long deadline = 0;
        int sent = 0;
        boolean shutWr = false;
        boolean eof = false;
        while (!(c.isClosed() && eof)) {
            if (sent < script.length) {
                int n = Math.min(script.length - sent, (int) sendBuf.byteSize());
                MemorySegment.copy(script, sent, sendBuf, ValueLayout.JAVA_BYTE, 0, n);
                long r = Sockets.send(cfd, sendBuf.asSlice(0, n));
                if (r > 0) {
                    sent += (int) r;
                } else if (r != -Errno.EAGAIN) {
                    sent = script.length; // the server closed its end: the rest is not read
                }
            } else if (!shutWr) {
                Syscalls.shutdown(Syscalls.threadErrnoSegment(), cfd, SHUT_WR);
                shutWr = true;
                deadline = System.nanoTime() + DEADLINE_NS;
            }
            if (!eof) {
                long r = Sockets.recv(cfd, recvBuf);
                if (r > 0) {
                    client.received(recvBuf.asSlice(0, r).toArray(ValueLayout.JAVA_BYTE));
                } else if (r != -Errno.EAGAIN) {
                    eof = true; // 0, or ECONNRESET
                }
            }
            ctx.poll(false);
            if (shutWr && System.nanoTime() > deadline) {
                throw new AssertionError("connection neither answered nor closed within " + DEADLINE_NS / 1_000_000
                        + " ms of the client's EOF (closed " + c.isClosed() + ", client saw EOF " + eof + ", "
                        + client.pending.size() + " request(s) unanswered)");
            }
        }
    }

    private void checkImages() throws ErrnoException {
        long rwSize = Fds.size(rw.fd);
        if (rwSize != RW_SIZE) {
            throw new AssertionError("read-write image is " + rwSize + " bytes (expected " + RW_SIZE + "): a write went outside the export");
        }
        long roSize = Fds.size(ro.fd);
        if (roSize != RO_SIZE) {
            throw new AssertionError("read-only image is " + roSize + " bytes (expected " + RO_SIZE + ")");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(RO_SIZE);
            long n = Fds.pread(ro.fd, buf, 0);
            if (n != RO_SIZE) {
                throw new AssertionError("pread of the read-only image returned " + n);
            }
            long at = buf.mismatch(MemorySegment.ofArray(roContent));
            if (at >= 0) {
                throw new AssertionError("read-only image changed at byte " + at);
            }
        }
    }

    @Override
    public void close() {
        SERVER_LOG.setLevel(savedLevel);
        rw.close();
        ro.close();
        arena.close();
        ctx.close();
    }

    /** The fuzz input, read as a program; reads past the end give zeros. */
    static final class Input {
        private final byte[] b;
        private int p;

        Input(byte[] b) {
            this.b = b;
        }

        int size() {
            return b.length;
        }

        boolean more() {
            return p < b.length;
        }

        int u8() {
            return p < b.length ? b[p++] & 0xff : 0;
        }

        int u16() {
            return u8() << 8 | u8();
        }

        int u32() {
            return u16() << 16 | u16();
        }

        long u64() {
            return (long) u32() << 32 | (u32() & 0xffffffffL);
        }

        byte[] bytes(int n) {
            int m = Math.max(0, Math.min(n, b.length - p));
            byte[] r = Arrays.copyOfRange(b, p, p + m);
            p += m;
            return r;
        }

        byte[] rest() {
            return bytes(b.length - p);
        }
    }

    /** What the client sent and expects back; parses the server's byte stream. */
    private static final class Client {
        private static final int PHASE_GREETING = 0;
        private static final int PHASE_OPTIONS = 1;
        private static final int PHASE_EXPORT_NAME = 2;
        private static final int PHASE_TRANSMISSION = 3;
        private static final int PHASE_RAW = 4;

        private final Export export;
        private final boolean raw;
        private int phase = PHASE_GREETING;
        /** Options sent, in order, whose final reply (ACK or an error) is still due. */
        private final List<Integer> optionsDue = new ArrayList<>();
        private boolean endsWithExportName;
        private boolean structured;
        /** cookie -> {type, length, offset-low} of requests not yet answered. */
        final Map<Long, long[]> pending = new HashMap<>();
        /** Every request up to the first DISC is framed so that the server must answer it. */
        private boolean exact = true;
        private byte[] acc = new byte[4096];
        private int accLen;
        long replies;
        long requests;

        Client(Export export, boolean raw) {
            this.export = export;
            this.raw = raw;
            if (raw) {
                exact = false;
            }
        }

        byte[] script(Input in) {
            ByteBuffer out = ByteBuffer.allocate(16384 + MAX_REQUESTS * Nbd.REQUEST_SIZE + in.size()).order(ByteOrder.BIG_ENDIAN);
            out.putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
            int sel = in.u8();
            int fuzzedOptions = sel & 3;
            for (int i = 0; i < fuzzedOptions; i++) {
                int[] known = {Nbd.OPT_LIST, Nbd.OPT_INFO, Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT,
                    Nbd.OPT_STARTTLS, Nbd.OPT_EXTENDED_HEADERS, Nbd.OPT_STRUCTURED_REPLY, in.u8() + 12};
                int option = known[in.u8() & 7];
                byte[] data = in.bytes(in.u8());
                option(out, option, data);
            }
            if ((sel & 4) != 0) {
                option(out, Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
                if ((sel & 8) != 0) {
                    byte[] q = Nbd.META_BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
                    ByteBuffer m = ByteBuffer.allocate(4 + 4 + 4 + q.length);
                    m.putInt(0).putInt(1).putInt(q.length).put(q);
                    option(out, Nbd.OPT_SET_META_CONTEXT, m.array());
                }
            }
            if ((sel & 16) != 0) {
                endsWithExportName = true;
                out.putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_EXPORT_NAME).putInt(0);
            } else {
                option(out, Nbd.OPT_GO, new byte[] {0, 0, 0, 0, 0, 1, 0, (byte) Nbd.INFO_BLOCK_SIZE});
            }
            requests(in, out, export.size);
            return Arrays.copyOf(out.array(), out.position());
        }

        private void option(ByteBuffer out, int option, byte[] data) {
            out.putLong(Nbd.IHAVEOPT).putInt(option).putInt(data.length).put(data);
            optionsDue.add(option);
        }

        private void requests(Input in, ByteBuffer out, long size) {
            boolean disc = false;
            for (long cookie = 1; in.more() && cookie <= MAX_REQUESTS; cookie++) {
                int op = in.u8();
                int kind = op & 15;
                if (kind == 14) { // garbage: the framing is lost, the server may drop everything
                    out.put(in.bytes(in.u8()));
                    exact = false;
                    return;
                }
                if (kind == 15) { // a request cut short at the end of the input
                    out.put(in.bytes(in.u8() % Nbd.REQUEST_SIZE));
                    return;
                }
                int[] types = {Nbd.CMD_READ, Nbd.CMD_READ, Nbd.CMD_WRITE, Nbd.CMD_WRITE, Nbd.CMD_WRITE, Nbd.CMD_FLUSH,
                    Nbd.CMD_TRIM, Nbd.CMD_WRITE_ZEROES, Nbd.CMD_CACHE, Nbd.CMD_BLOCK_STATUS, Nbd.CMD_BLOCK_STATUS,
                    Nbd.CMD_READ, Nbd.CMD_WRITE, in.u8() & 0xff, Nbd.CMD_DISC};
                int type = kind == 13 && (op & 16) != 0 ? Nbd.CMD_DISC : types[kind];
                int flags = (op & 32) != 0 ? in.u16() : (op & 64) != 0 ? in.u8() & 0x1f : 0;
                long offset = offset(in, size);
                long length = length(in, size, type);
                out.putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                        .putLong(offset).putInt((int) length);
                if (type == Nbd.CMD_WRITE) {
                    if (length > Nbd.MAX_PAYLOAD) {
                        exact = false; // the server must disconnect: it cannot skip the payload
                        return;
                    }
                    byte[] data = in.bytes((int) length);
                    out.put(data);
                    if (data.length < length) {
                        return; // the payload ends early: the client's EOF comes mid-write
                    }
                }
                requests++;
                if (!disc && type != Nbd.CMD_DISC) {
                    pending.put(cookie, new long[] {type, length, offset});
                }
                disc |= type == Nbd.CMD_DISC;
                if (disc && (op & 128) == 0) {
                    return;
                }
            }
        }

        private static long offset(Input in, long size) {
            int s = in.u8();
            return switch (s & 7) {
                case 0, 1 -> (in.u16() * 512L) % size;
                case 2 -> size - in.u8();
                case 3 -> size;
                case 4 -> size + in.u8();
                case 5 -> Long.MAX_VALUE - in.u8();
                case 6 -> -1L - in.u8();
                default -> in.u64();
            };
        }

        private static long length(Input in, long size, int type) {
            int s = in.u8();
            long len = switch (s & 7) {
                case 0, 1, 2 -> in.u16() & 0x3fff;
                case 3 -> 0;
                case 4 -> size - in.u8();
                case 5 -> 0xffff_ffffL - in.u8();
                case 6 -> Nbd.MAX_PAYLOAD + in.u8() - 128L;
                default -> in.u32() & 0xffff_ffffL;
            };
            if (type == Nbd.CMD_WRITE && len > RW_SIZE && len <= Nbd.MAX_PAYLOAD) {
                len = RW_SIZE + 1; // a big payload is the input's bytes; keep it near the rbuf size
            }
            return len;
        }

        /** Bytes from the server. */
        void received(byte[] data) {
            if (accLen + data.length > acc.length) {
                acc = Arrays.copyOf(acc, Math.max(acc.length * 2, accLen + data.length));
            }
            System.arraycopy(data, 0, acc, accLen, data.length);
            accLen += data.length;
            int used = 0;
            while (true) {
                int n = parse(acc, used, accLen - used);
                if (n == 0) {
                    break;
                }
                used += n;
            }
            System.arraycopy(acc, used, acc, 0, accLen - used);
            accLen -= used;
        }

        /** Parses one unit at {@code p}: its size, or 0 when more bytes are needed. */
        private int parse(byte[] b, int p, int avail) {
            ByteBuffer bb = ByteBuffer.wrap(b, p, avail).slice().order(ByteOrder.BIG_ENDIAN);
            switch (phase) {
                case PHASE_GREETING -> {
                    if (avail < 18) {
                        return 0;
                    }
                    check(bb.getLong(0) == Nbd.NBDMAGIC && bb.getLong(8) == Nbd.IHAVEOPT, "greeting magic");
                    check((bb.getShort(16) & Nbd.FLAG_FIXED_NEWSTYLE) != 0, "greeting without FIXED_NEWSTYLE");
                    phase = raw ? PHASE_RAW : PHASE_OPTIONS;
                    return 18;
                }
                case PHASE_OPTIONS -> {
                    if (optionsDue.isEmpty()) {
                        phase = endsWithExportName ? PHASE_EXPORT_NAME : PHASE_TRANSMISSION;
                        return parse(b, p, avail);
                    }
                    if (avail < 20) {
                        return 0;
                    }
                    check(bb.getLong(0) == Nbd.OPTION_REPLY_MAGIC, "option reply magic");
                    int option = bb.getInt(8);
                    int type = bb.getInt(12);
                    long len = Integer.toUnsignedLong(bb.getInt(16));
                    check(len <= 64 * 1024, "option reply of " + len + " bytes");
                    if (avail < 20 + len) {
                        return 0;
                    }
                    int due = optionsDue.get(0);
                    check(option == due, "reply to option " + option + " (expected " + due + ")");
                    if (type == Nbd.REP_ACK || type < 0) {
                        optionsDue.remove(0);
                        if (option == Nbd.OPT_STRUCTURED_REPLY && type == Nbd.REP_ACK) {
                            structured = true;
                        }
                        check(option != Nbd.OPT_GO || type == Nbd.REP_ACK, "GO refused: " + type);
                    }
                    return 20 + (int) len;
                }
                case PHASE_EXPORT_NAME -> {
                    if (avail < 10) {
                        return 0;
                    }
                    check(bb.getLong(0) == export.size, "EXPORT_NAME size " + bb.getLong(0));
                    phase = PHASE_TRANSMISSION;
                    return 10;
                }
                case PHASE_TRANSMISSION -> {
                    return reply(bb, avail);
                }
                default -> {
                    return avail; // raw mode: the bytes are not modelled
                }
            }
        }

        private int reply(ByteBuffer bb, int avail) {
            if (avail < 4) {
                return 0;
            }
            int magic = bb.getInt(0);
            if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
                if (avail < 16) {
                    return 0;
                }
                int error = bb.getInt(4);
                long cookie = bb.getLong(8);
                long[] req = pending.get(cookie);
                if (req == null && !exact) {
                    // After garbage the server may have framed real requests out of it (seen: a FLUSH
                    // and a DISC inside the garbage, answered correctly): their replies are not modelled.
                    phase = PHASE_RAW;
                    return avail;
                }
                check(req != null, "simple reply for cookie " + cookie + " that is not pending");
                long data = req[0] == Nbd.CMD_READ && error == 0 ? req[1] : 0;
                check(!structured || data == 0, "simple reply with data to a read under structured replies");
                if (avail < 16 + data) {
                    return 0;
                }
                pending.remove(cookie);
                replies++;
                return 16 + (int) data;
            }
            check(magic == Nbd.STRUCTURED_REPLY_MAGIC, "reply magic 0x" + Integer.toHexString(magic) + ": framing lost");
            check(structured, "structured reply that was not negotiated");
            if (avail < 20) {
                return 0;
            }
            int flags = bb.getShort(4) & 0xffff;
            int type = bb.getShort(6) & 0xffff;
            long cookie = bb.getLong(8);
            long len = Integer.toUnsignedLong(bb.getInt(16));
            long[] req = pending.get(cookie);
            if (req == null && !exact) {
                phase = PHASE_RAW; // a reply to a request framed out of garbage (see the simple reply)
                return avail;
            }
            check(req != null, "structured chunk for cookie " + cookie + " that is not pending");
            check(flags == Nbd.REPLY_FLAG_DONE, "chunk flags " + flags + " (one chunk with DONE expected)");
            switch (type) {
                case Nbd.REPLY_TYPE_OFFSET_DATA -> check(req[0] == Nbd.CMD_READ && len == 8 + req[1], "OFFSET_DATA of "
                        + len + " bytes for request type " + req[0] + " length " + req[1]);
                case Nbd.REPLY_TYPE_BLOCK_STATUS -> check(req[0] == Nbd.CMD_BLOCK_STATUS && len >= 12 && (len - 4) % 8 == 0,
                        "BLOCK_STATUS chunk of " + len + " bytes");
                case Nbd.REPLY_TYPE_ERROR -> check(len >= 6, "ERROR chunk of " + len + " bytes");
                default -> check(false, "chunk type " + type);
            }
            check(len <= Nbd.MAX_PAYLOAD + 8L, "chunk of " + len + " bytes");
            if (avail < 20 + len) {
                return 0;
            }
            if (type == Nbd.REPLY_TYPE_OFFSET_DATA) {
                check(bb.getLong(20) == req[2], "OFFSET_DATA offset " + bb.getLong(20) + " (expected " + req[2] + ")");
            }
            if (type == Nbd.REPLY_TYPE_ERROR) {
                check(bb.getInt(20) != 0, "ERROR chunk with error 0");
                check(6 + (bb.getShort(24) & 0xffff) == len, "ERROR chunk message length");
            }
            pending.remove(cookie);
            replies++;
            return 20 + (int) len;
        }

        /** The server closed: everything it owed is there. */
        void finish() {
            if (exact && phase == PHASE_TRANSMISSION) {
                check(pending.isEmpty(), pending.size() + " well-framed request(s) never answered, cookies "
                        + pending.keySet());
            }
            check(phase == PHASE_RAW || accLen == 0 || !exact, accLen + " stray byte(s) after the last reply");
        }

        private static void check(boolean ok, String what) {
            if (!ok) {
                throw new AssertionError(what);
            }
        }
    }
}
