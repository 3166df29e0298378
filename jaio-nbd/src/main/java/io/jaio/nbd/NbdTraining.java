// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The training run behind {@code ./jaio nbd}'s ahead-of-time cache (JDK 25's
 * {@code -XX:AOTCacheOutput}): it serves a small temporary image on a unix socket in this JVM and
 * drives it with two in-process clients that speak what real clients speak (fixed newstyle,
 * structured replies, {@code base:allocation}, NBD_OPT_GO), with the request mix a block server
 * sees: reads and writes at depth 1 and 32, FUA writes, flushes, write-zeroes, trims, block status
 * and cache. The JVM records the classes it loaded and linked and the methods' profiles, and the
 * launcher's next start of {@code jaio nbd serve} begins with them, so the first second of a
 * real client is served by warm code rather than by the interpreter.
 *
 * <p>Every reply is checked (magic, cookie, error 0, the data of a read equal to what was written),
 * so a training run that exits 0 has also shown that the server works on this machine.
 *
 * <p>Threading: {@link #main} and {@link #run} on one caller thread; they start the server's
 * threads and one thread per client, and join them all before returning.
 */
final class NbdTraining {
    private static final long IMAGE_BYTES = 64L << 20;
    private static final int BLOCK = 4096;
    private static final long SHUTDOWN_WAIT_S = 30;

    /** What the clients did: requests answered, by kind. */
    record Totals(long reads, long writes, long flushes, long zeroes, long trims, long blockStatus, long caches) {
        long all() {
            return reads + writes + flushes + zeroes + trims + blockStatus + caches;
        }
    }

    private NbdTraining() {
    }

    /**
     * {@code NbdTraining [MILLIS]}: trains for MILLIS (default 4000) and exits 0, or prints why it
     * failed and exits 1. The launcher runs it once per build of the jars.
     */
    public static void main(String[] args) {
        long ms = args.length > 0 ? Long.parseLong(args[0]) : 4000;
        try {
            Totals t = run(ms);
            System.err.println("jaio: AOT training served " + t.all() + " requests in " + ms + " ms");
            System.exit(0);
        } catch (Exception | AssertionError e) {
            System.err.println("jaio: AOT training failed: " + e);
            System.exit(1);
        }
    }

    /** Serves a temporary image for {@code durationMs} under two clients; returns what they did. */
    static Totals run(long durationMs) throws Exception {
        Path dir = Files.createTempDirectory("jaio-nbd-training");
        Path image = dir.resolve("train.img");
        Path socket = dir.resolve("nbd.sock");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        Logger.getLogger("io.jaio.nbd").setLevel(Level.WARNING); // one line per connection is noise here
        PrintStream out = System.out;
        PrintStream err = System.err;
        System.setOut(new PrintStream(OutputStream.nullOutputStream())); // the "connect to" line
        System.setErr(new PrintStream(OutputStream.nullOutputStream())); // and the "exiting" one
        int[] status = {-1};
        Thread server = new Thread(() -> status[0] = NbdMain.run(new String[] {"serve", "-t", "-e", "0", "-k",
                socket.toString(), image.toString()}), "nbd-training-server");
        server.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SHUTDOWN_WAIT_S);
            while (NbdMain.running == null || !Files.exists(socket)) {
                if (!server.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("the training server did not start (status " + status[0] + ")");
                }
                Thread.sleep(5);
            }
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(durationMs);
            List<Client> clients = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            Throwable[] failure = new Throwable[1];
            for (int i = 0; i < 2; i++) {
                Client c = new Client(socket, i);
                clients.add(c);
                Thread t = new Thread(() -> {
                    try {
                        c.train(end);
                    } catch (Throwable e) {
                        synchronized (failure) {
                            failure[0] = e;
                        }
                    }
                }, "nbd-training-client" + i);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join();
            }
            for (Client c : clients) {
                c.close();
            }
            if (failure[0] != null) {
                throw new IOException("a training client failed: " + failure[0], failure[0]);
            }
            long[] sum = new long[7];
            for (Client c : clients) {
                for (int k = 0; k < sum.length; k++) {
                    sum[k] += c.counts[k];
                }
            }
            return new Totals(sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], sum[6]);
        } finally {
            NbdServer s = NbdMain.running;
            if (s != null) {
                s.requestShutdown("training done");
            }
            server.join(TimeUnit.SECONDS.toMillis(SHUTDOWN_WAIT_S));
            System.setOut(out);
            System.setErr(err);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(image);
            Files.deleteIfExists(dir);
        }
    }

    /** One connection, blocking I/O, requests pipelined up to a depth. Training thread only. */
    private static final class Client implements AutoCloseable {
        private final SocketChannel ch;
        private final ByteBuffer header = ByteBuffer.allocate(Nbd.STRUCTURED_HEADER_SIZE);
        private final ByteBuffer request = ByteBuffer.allocate(Nbd.REQUEST_SIZE);
        private final ByteBuffer data = ByteBuffer.allocateDirect(32 * BLOCK);
        private final long base;
        private final long span;
        private final long[] counts = new long[7];
        private long cookie;
        private long seed;

        Client(Path socket, int index) throws IOException {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(socket));
            span = IMAGE_BYTES / 2;
            base = index * span;
            seed = 0x9E3779B97F4A7C15L * (index + 1);
            handshake();
        }

        private void handshake() throws IOException {
            ByteBuffer hello = read(18);
            expect(hello.getLong() == Nbd.NBDMAGIC && hello.getLong() == Nbd.IHAVEOPT, "newstyle greeting");
            write(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES).flip());
            option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            expect(optionReply(Nbd.OPT_STRUCTURED_REPLY) == Nbd.REP_ACK, "structured replies");
            byte[] ctx = Nbd.META_BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            option(Nbd.OPT_SET_META_CONTEXT, ByteBuffer.allocate(12 + ctx.length).putInt(0).putInt(1)
                    .putInt(ctx.length).put(ctx).array());
            while (optionReply(Nbd.OPT_SET_META_CONTEXT) != Nbd.REP_ACK) {
                // REP_META_CONTEXT for base:allocation, then the ACK
            }
            option(Nbd.OPT_GO, ByteBuffer.allocate(6).putInt(0).putShort((short) 0).array());
            while (optionReply(Nbd.OPT_GO) != Nbd.REP_ACK) {
                // REP_INFO replies, then the ACK
            }
        }

        private void option(int option, byte[] payload) throws IOException {
            write(ByteBuffer.allocate(16 + payload.length).putLong(Nbd.IHAVEOPT).putInt(option).putInt(payload.length)
                    .put(payload).flip());
        }

        /** Reads one option reply to {@code option}; returns its type (errors fail). */
        private int optionReply(int option) throws IOException {
            ByteBuffer h = read(20);
            expect(h.getLong() == Nbd.OPTION_REPLY_MAGIC && h.getInt() == option, "option reply to " + option);
            int type = h.getInt();
            int len = h.getInt();
            expect(type > 0 && len >= 0 && len <= Nbd.MAX_OPTION_LENGTH, "option " + option + " answered " + type);
            read(len);
            return type;
        }

        void train(long endNs) throws IOException {
            int round = 0;
            while (System.nanoTime() < endNs) {
                int depth = (round & 1) == 0 ? 1 : 32;
                writes(depth, (round & 63) == 1);
                reads(depth);
                if ((round & 63) == 3) { // flush and friends sync or reshape the file: now and then
                    simple(Nbd.CMD_FLUSH, 0, 0, 0, 2);
                    simple(Nbd.CMD_WRITE_ZEROES, 0, base + next(span - 16 * BLOCK), 16 * BLOCK, 3);
                    simple(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_NO_HOLE, base + next(span - 16 * BLOCK), 16 * BLOCK, 3);
                    simple(Nbd.CMD_TRIM, 0, base + next(span - 16 * BLOCK), 16 * BLOCK, 4);
                    simple(Nbd.CMD_CACHE, 0, base, 64 * BLOCK, 6);
                    blockStatus();
                }
                round++;
            }
        }

        private long next(long bound) {
            seed ^= seed << 13;
            seed ^= seed >>> 7;
            seed ^= seed << 17;
            return Math.floorMod(seed, bound / BLOCK) * BLOCK;
        }

        /** {@code depth} writes of one block, each filled with its block number, then their replies. */
        private void writes(int depth, boolean fua) throws IOException {
            for (int i = 0; i < depth; i++) {
                long off = base + next(span);
                sendRequest(fua && i == 0 ? Nbd.CMD_FLAG_FUA : 0, Nbd.CMD_WRITE, off, BLOCK); // FUA syncs: one per batch
                data.clear().limit(BLOCK);
                while (data.hasRemaining()) {
                    data.putLong(off);
                }
                write(data.flip());
            }
            for (int i = 0; i < depth; i++) {
                reply(null);
            }
            counts[1] += depth;
        }

        /** {@code depth} reads of one block, then their replies; a written block holds its offset. */
        private void reads(int depth) throws IOException {
            for (int i = 0; i < depth; i++) {
                sendRequest(0, Nbd.CMD_READ, base + next(span), BLOCK);
            }
            for (int i = 0; i < depth; i++) {
                data.clear().limit(BLOCK);
                data.putLong(0, 0); // a reply without data must not pass for the previous read's
                long off = reply(data);
                long first = data.getLong(0);
                expect(first == 0 || first == off, "read at " + off + " gave block " + first);
            }
            counts[0] += depth;
        }

        private void simple(int type, int flags, long offset, int length, int counter) throws IOException {
            sendRequest(flags, type, offset, length);
            reply(null);
            counts[counter]++;
        }

        private void blockStatus() throws IOException {
            sendRequest(0, Nbd.CMD_BLOCK_STATUS, base, (int) Math.min(span, 1 << 24));
            reply(null);
            counts[5]++;
        }

        private void sendRequest(int flags, int type, long offset, int length) throws IOException {
            request.clear().putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type)
                    .putLong(++cookie).putLong(offset).putInt(length);
            // the cookie carries the offset for reads, so a reply can be checked against its request
            if (type == Nbd.CMD_READ) {
                request.putLong(8, offset);
            }
            write(request.flip());
        }

        /**
         * Reads the whole reply to one request (a simple reply, or structured chunks up to the one
         * flagged DONE), putting read data into {@code into}. Returns the cookie; errors fail.
         */
        private long reply(ByteBuffer into) throws IOException {
            while (true) {
                header.clear().limit(4);
                fill(header);
                int magic = header.getInt(0);
                if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
                    header.limit(Nbd.SIMPLE_REPLY_SIZE);
                    fill(header);
                    int error = header.getInt(4);
                    expect(error == 0, "request answered with error " + error);
                    return header.getLong(8);
                }
                expect(magic == Nbd.STRUCTURED_REPLY_MAGIC, "reply magic " + Integer.toHexString(magic));
                header.limit(Nbd.STRUCTURED_HEADER_SIZE);
                fill(header);
                int flags = header.getShort(4);
                int type = header.getShort(6) & 0xffff;
                long replyCookie = header.getLong(8);
                int len = header.getInt(16);
                expect(type != Nbd.REPLY_TYPE_ERROR && (type & 0x8000) == 0, "error chunk " + type);
                if (type == Nbd.REPLY_TYPE_OFFSET_DATA && into != null) {
                    read(8); // the chunk's offset
                    expect(len - 8 <= into.remaining(), "data chunk of " + len + " bytes");
                    ByteBuffer dst = into.slice(into.position(), len - 8);
                    fill(dst);
                    into.position(into.position() + len - 8);
                } else {
                    read(len);
                }
                if ((flags & Nbd.REPLY_FLAG_DONE) != 0) {
                    return replyCookie;
                }
            }
        }

        private ByteBuffer read(int n) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(n);
            fill(b);
            return b.flip();
        }

        private void fill(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new EOFException("the training server closed the connection");
                }
            }
        }

        private void write(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        private static void expect(boolean ok, String what) throws IOException {
            if (!ok) {
                throw new IOException("unexpected answer from the training server: " + what);
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
