// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.FdHandler;
import io.jaio.Fds;
import io.jaio.Sockets;

/**
 * An echo server on raw, non-blocking sockets and fd handlers: the listening socket's read
 * handler accepts, each connection's read handler receives and sends back, and when the peer
 * does not read fast enough the connection stops reading and waits for its write handler
 * (back-pressure, the way QEMU's NBD server and chardevs do it).
 *
 * <pre>
 * ./jaio example echo-server                 # listens on 127.0.0.1, runs 3 clients against itself, exits
 * ./jaio example echo-server --serve 7777    # serves on 127.0.0.1:7777 until killed (try: nc 127.0.0.1 7777)
 * </pre>
 *
 * <p>Threading: the server runs on its context's home thread; the demo's clients are ordinary
 * blocking {@link Socket}s on their own threads, which tell the loop they are done through
 * {@link AioContext#aioNotify()}.
 */
public final class EchoServer implements AutoCloseable {
    private static final int EAGAIN = 11; // the kernel's errno; recv/send return -EAGAIN when they would block
    private static final int BUFFER_BYTES = 64 * 1024;

    private final AioContext ctx;
    private final int listenFd;
    private final Arena arena = Arena.ofConfined();
    private final Map<Integer, Connection> connections = new HashMap<>();
    private long echoedBytes;
    private int accepted;

    /**
     * Listens on {@code host:port} (0 = any free port) and registers the accept handler.
     *
     * @param ctx the context whose home thread (the caller) runs the server
     * @param host an IP literal, for example 127.0.0.1
     * @param port the port, 0 for a free one
     * @throws IOException if the socket cannot be bound or registered
     */
    public EchoServer(AioContext ctx, String host, int port) throws IOException {
        this.ctx = ctx;
        this.listenFd = Sockets.listenTcp(host, port, 64);
        ctx.setFdHandler(listenFd, FdHandler.read(this::onAcceptable));
    }

    /**
     * {@return the port the server listens on}
     *
     * @throws ErrnoException if getsockname fails
     */
    public int port() throws ErrnoException {
        return Sockets.localPort(listenFd);
    }

    /** {@return bytes sent back so far} Home thread. */
    public long echoedBytes() {
        return echoedBytes;
    }

    /** {@return connections accepted so far} Home thread. */
    public int accepted() {
        return accepted;
    }

    private void onAcceptable() {
        for (int i = 0; i < 64; i++) { // a bound per call: the handler runs again while more wait
            int fd = Sockets.accept(listenFd);
            if (fd < 0) {
                return; // -EAGAIN: none left; another error: the next connection may succeed
            }
            Sockets.setNoDelay(fd);
            Connection c = new Connection(fd, arena.allocate(BUFFER_BYTES));
            try {
                ctx.setFdHandler(fd, c.reading);
            } catch (ErrnoException e) {
                closeQuietly(fd);
                continue;
            }
            connections.put(fd, c);
            accepted++;
        }
    }

    /** One client: what is received is sent back; {@code pending} bytes wait for room. */
    private final class Connection {
        final int fd;
        final MemorySegment buf;
        final FdHandler reading = FdHandler.read(this::onReadable);
        final FdHandler writing = FdHandler.write(this::onWritable);
        long pendingFrom;
        long pendingTo;
        /** Whether the write handler is registered instead of the read handler. */
        boolean waitingForRoom;

        Connection(int fd, MemorySegment buf) {
            this.fd = fd;
            this.buf = buf;
        }

        void onReadable() {
            for (int i = 0; i < 16; i++) { // at most 1 MiB per wake-up, so one client cannot starve the others
                long n = Sockets.recv(fd, buf);
                if (n == -EAGAIN) {
                    return;
                }
                if (n <= 0) {
                    close(); // 0: the peer closed; < 0: a socket error
                    return;
                }
                if (!sendFrom(0, n)) {
                    return; // waiting for room: the write handler continues
                }
            }
        }

        void onWritable() {
            sendFrom(pendingFrom, pendingTo);
        }

        /** Sends buf[from, to); true when all went, false when the rest waits for the write handler. */
        boolean sendFrom(long from, long to) {
            while (from < to) {
                long sent = Sockets.send(fd, buf.asSlice(from, to - from));
                if (sent == -EAGAIN) {
                    pendingFrom = from;
                    pendingTo = to;
                    if (!waitingForRoom) {
                        waitingForRoom = true;
                        switchTo(writing); // stop reading until the peer has taken what we owe it
                    }
                    return false;
                }
                if (sent < 0) {
                    close();
                    return false;
                }
                from += sent;
                echoedBytes += sent;
            }
            if (waitingForRoom) {
                waitingForRoom = false;
                switchTo(reading);
            }
            return true;
        }

        void switchTo(FdHandler h) {
            try {
                ctx.setFdHandler(fd, h);
            } catch (ErrnoException e) {
                close();
            }
        }

        void close() {
            ctx.removeFdHandler(fd);
            connections.remove(fd);
            closeQuietly(fd);
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Fds.close(fd);
        } catch (ErrnoException e) {
            // already gone: nothing to release
        }
    }

    /** Removes every handler and closes every socket. Home thread. */
    @Override
    public void close() {
        for (Connection c : new ArrayList<>(connections.values())) {
            c.close();
        }
        ctx.removeFdHandler(listenFd);
        closeQuietly(listenFd);
        arena.close();
    }

    /**
     * Without arguments: serves on a free port of 127.0.0.1, runs three blocking clients against
     * it, checks every byte they get back, and exits. With {@code --serve PORT}: serves until
     * killed.
     *
     * @param args nothing, or {@code --serve PORT}
     * @throws Exception if the server cannot start or a client got back other bytes than it sent
     */
    public static void main(String[] args) throws Exception {
        run(System.out, args);
    }

    static void run(PrintStream out, String... args) throws Exception {
        boolean serve = args.length == 2 && args[0].equals("--serve");
        if (args.length != 0 && !serve) {
            throw new IllegalArgumentException("arguments " + Arrays.toString(args) + " (expected none, or --serve PORT)");
        }
        try (AioContext ctx = AioContext.builder().name("echo").build();
                EchoServer server = new EchoServer(ctx, "127.0.0.1", serve ? Integer.parseInt(args[1]) : 0)) {
            int port = server.port();
            out.println("echo server listening on 127.0.0.1:" + port);
            if (serve) {
                while (true) {
                    ctx.poll(true);
                }
            }
            int clients = 3;
            int messages = 200;
            AtomicInteger finished = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int id = c;
                threads.add(Thread.ofPlatform().name("echo-client-" + c).start(() -> {
                    try {
                        client(port, id, messages);
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    } finally {
                        finished.incrementAndGet();
                        ctx.aioNotify(); // wake the loop so it sees the count
                    }
                }));
            }
            while (finished.get() < clients) {
                ctx.poll(true);
            }
            for (Thread t : threads) {
                t.join();
            }
            if (failure.get() != null) {
                throw new IllegalStateException("an echo client failed", failure.get());
            }
            out.println("accepted " + server.accepted() + " connections, echoed " + server.echoedBytes()
                    + " bytes; every client got back exactly what it sent");
        }
    }

    /** A blocking client: sends {@code messages} lines of growing length and reads each back. */
    private static void client(int port, int id, int messages) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            OutputStream os = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            for (int m = 0; m < messages; m++) {
                byte[] line = ("client " + id + " message " + m + " " + "x".repeat(m * 37) + "\n")
                        .getBytes(StandardCharsets.US_ASCII);
                os.write(line);
                byte[] back = new byte[line.length];
                in.readFully(back);
                if (!Arrays.equals(line, back)) {
                    throw new IOException("client " + id + " message " + m + ": got back other bytes than it sent");
                }
            }
        }
    }
}
