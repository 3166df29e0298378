// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import org.junit.jupiter.api.Assumptions;

import io.jaio.AioContext;

/**
 * What the NBD tests share: an in-process server on its own thread (the same steps as
 * {@code NbdMain.serve} without the signal handlers, so the test JVM keeps its own), external
 * clients run with a deadline, images with known content, and a capture of the server's log
 * that fails a test when a callback threw.
 *
 * <p>Nothing here sleeps to wait for timing: the server reports its port once it listens, and
 * every external process or thread is waited for with a deadline that only matters on a hang.
 */
final class NbdTestSupport {
    /** Deadline of one external client run; only reached when something hangs. */
    static final long CLIENT_TIMEOUT_S = 60;
    /** How long a server may take to stop after a shutdown request. */
    static final long STOP_TIMEOUT_S = 30;

    /** Held so that JUL does not collect the logger (and forget our handler). */
    private static final Logger JAIO_LOG = Logger.getLogger("io.jaio");
    private static final LogCapture LOG_CAPTURE = new LogCapture();

    static {
        JAIO_LOG.addHandler(LOG_CAPTURE);
        JAIO_LOG.setUseParentHandlers(false); // hostile clients make the server warn a lot: keep it for failures
        JAIO_LOG.setLevel(Level.ALL);
    }

    private NbdTestSupport() {
    }

    // ---- the server log ----

    /**
     * Records the log of "io.jaio" and "io.jaio.nbd": the most recent {@link #RECENT} records,
     * and every record that carries an exception. Any thread.
     */
    static final class LogCapture extends Handler {
        static final int RECENT = 2000;
        private final java.util.ArrayDeque<LogRecord> recent = new java.util.ArrayDeque<>();
        private final List<LogRecord> thrown = new ArrayList<>();

        @Override
        public synchronized void publish(LogRecord r) {
            if (r.getThrown() != null) {
                thrown.add(r);
            }
            if (recent.size() == RECENT) {
                recent.removeFirst(); // a fuzz run warns a lot
            }
            recent.addLast(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }

        /** Takes the recent records and the ones with exceptions, and forgets them. */
        synchronized List<List<LogRecord>> drain() {
            List<List<LogRecord>> out = List.of(new ArrayList<>(recent), new ArrayList<>(thrown));
            recent.clear();
            thrown.clear();
            return out;
        }
    }

    /** Clears the captured log (call before a test). */
    static void resetLog() {
        LOG_CAPTURE.drain();
    }

    /**
     * Fails when the server logged a thrown exception (a callback that threw, an engine that
     * refused): hostile input must be answered, never crash a handler. Returns the messages logged.
     */
    static List<String> assertNoExceptionsLogged() {
        List<List<LogRecord>> got = LOG_CAPTURE.drain();
        List<String> messages = new ArrayList<>();
        for (LogRecord r : got.get(0)) {
            messages.add(r.getLevel() + " " + r.getMessage());
        }
        StringBuilder thrown = new StringBuilder();
        for (LogRecord r : got.get(1)) {
            var sw = new java.io.StringWriter();
            r.getThrown().printStackTrace(new java.io.PrintWriter(sw));
            thrown.append(r.getLevel()).append(' ').append(r.getMessage()).append('\n').append(sw);
        }
        if (!thrown.isEmpty()) {
            fail("the server logged exceptions:\n" + thrown + "\nlast log lines:\n"
                    + String.join("\n", messages.subList(Math.max(0, messages.size() - 60), messages.size())));
        }
        return messages;
    }

    // ---- in-process server ----

    /** A server running on its own thread, started from command-line options. */
    static final class Server implements AutoCloseable {
        final Path image;
        final String socketPath;
        final int port;
        final long size;
        final boolean readOnly;
        private final NbdServer server;
        private final Thread thread;
        private final CompletableFuture<Integer> status;
        /** The server requires TLS (--tls-creds); set before the server is handed out. */
        boolean tls;

        private Server(Path image, String socketPath, int port, long size, boolean readOnly, NbdServer server, Thread thread,
                CompletableFuture<Integer> status) {
            this.image = image;
            this.socketPath = socketPath;
            this.port = port;
            this.size = size;
            this.readOnly = readOnly;
            this.server = server;
            this.thread = thread;
            this.status = status;
        }

        /** The server's open connections (NbdServer.clients()). */
        int clients() {
            return server.clients();
        }

        /**
         * Starts {@code jaio nbd serve OPTIONS IMAGE} in this JVM and returns once it listens.
         * {@code -p 0} is added unless a socket or port is given.
         */
        static Server start(Path image, String... options) throws Exception {
            List<String> args = new ArrayList<>(Arrays.asList(options));
            if (!args.contains("-k") && !args.contains("-p")) {
                args.add("-p");
                args.add("0");
            }
            args.add(image.toString());
            ServeOptions opts = ServeOptions.parse(args.toArray(String[]::new));
            CompletableFuture<Server> started = new CompletableFuture<>();
            CompletableFuture<Integer> status = new CompletableFuture<>();
            Thread t = new Thread(() -> serve(opts, image, started, status), "nbd-test-server");
            t.setDaemon(true);
            t.start();
            try {
                return started.get(STOP_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError("server did not start", e.getCause());
            }
        }

        private static void serve(ServeOptions opts, Path image, CompletableFuture<Server> started,
                CompletableFuture<Integer> status) {
            try {
                Export export = Export.open(opts, image.toString(), NbdMain.probeFormat(image.toString(), opts.format));
                try (AioContext main = AioContext.builder().name("nbd-main").build()) {
                    main.makeCurrent();
                    NbdServer s = new NbdServer(opts, export, main, TlsCredentials.fromOptions(opts));
                    Server started0 = new Server(image, opts.socketPath, s.port(), export.size, export.readOnly, s,
                            Thread.currentThread(), status);
                    started0.tls = opts.tlsCredsId != null;
                    started.complete(started0);
                    int st = s.run();
                    s.closeMain();
                    status.complete(st);
                } finally {
                    export.close();
                }
            } catch (Throwable e) {
                started.completeExceptionally(e);
                status.completeExceptionally(e);
            }
        }

        /** The URI a libnbd client takes (nbds:// when the server requires TLS). */
        String uri() {
            String scheme = tls ? "nbds" : "nbd";
            return socketPath != null ? scheme + "+unix:///?socket=" + socketPath : scheme + "://127.0.0.1:" + port + "/";
        }

        /** The URI form qemu takes (qemu wants the socket as a query too, which it accepts). */
        String qemuUri() {
            return uri();
        }

        boolean alive() {
            return thread.isAlive() && !status.isDone();
        }

        /** Asks for a graceful stop (as SIGTERM does) and returns at once. */
        void requestStop() {
            server.requestShutdown("test");
        }

        /** Asks for a graceful stop and returns the exit status. */
        int stop() {
            server.requestShutdown("test");
            try {
                return status.get(STOP_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                throw new AssertionError("the server did not stop within " + STOP_TIMEOUT_S + " s\n" + threadDump());
            } catch (ExecutionException e) {
                throw new AssertionError("the server failed", e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while stopping the server", e);
            }
        }

        @Override
        public void close() {
            if (!status.isDone()) {
                assertEquals(0, stop(), "exit status of the server");
            }
        }

        /**
         * The value of an integral (or boolean: 1/0) field of every open connection, read on the connection's own
         * thread (a one-shot bottom half on its context, so no request is half-processed).
         * White-box: names a private field of {@link NbdConnection}.
         */
        List<Long> probeConnections(String field) throws Exception {
            var workersField = NbdServer.class.getDeclaredField("workers");
            workersField.setAccessible(true);
            var f = NbdConnection.class.getDeclaredField(field);
            f.setAccessible(true);
            List<Long> values = new ArrayList<>();
            for (Object o : (List<?>) workersField.get(server)) {
                NbdServer.Worker w = (NbdServer.Worker) o;
                CompletableFuture<List<Long>> got = new CompletableFuture<>();
                w.ctx.scheduleOneShot("test-probe", () -> {
                    try {
                        List<Long> vs = new ArrayList<>();
                        for (NbdConnection c : w.connections) {
                            Object v = f.get(c);
                            vs.add(v instanceof Boolean b ? (b ? 1L : 0L) : ((Number) v).longValue());
                        }
                        got.complete(vs);
                    } catch (ReflectiveOperationException | RuntimeException e) {
                        got.completeExceptionally(e);
                    }
                });
                values.addAll(got.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
            }
            return values;
        }

        /** A raw client connected to this server, greeting read. */
        RawClient connect() throws IOException {
            return socketPath != null ? RawClient.unix(Path.of(socketPath)) : RawClient.tcp(port);
        }
    }

    // ---- external clients ----

    /** The output and exit status of an external command. */
    record Result(int exitCode, String output) {
        Result expectSuccess(List<String> cmd) {
            if (exitCode != 0) {
                fail(String.join(" ", cmd) + " exited " + exitCode + ":\n" + output);
            }
            return this;
        }
    }

    /** Skips the test, saying why, when {@code binary} is not on the PATH. */
    static void assumeTool(String binary, String debianPackage) {
        boolean found = false;
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, binary))) {
                found = true;
                break;
            }
        }
        if (!found) {
            String why = binary + " is not installed (apt-get install " + debianPackage + "): test skipped";
            System.out.println("SKIPPED: " + why);
        }
        Assumptions.assumeTrue(found, binary + " is not installed (apt-get install " + debianPackage + ")");
    }

    /** Starts {@code cmd} with stderr merged into stdout. */
    static Process startProcess(List<String> cmd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("LC_ALL", "C");
        return pb.start();
    }

    /** Runs {@code cmd} to completion; kills it and fails after {@link #CLIENT_TIMEOUT_S}. */
    static Result run(String... cmd) throws Exception {
        return run(List.of(cmd));
    }

    static Result run(List<String> cmd) throws Exception {
        Process p = startProcess(cmd);
        p.getOutputStream().close();
        CompletableFuture<String> out = readAllAsync(p.getInputStream());
        if (!p.waitFor(CLIENT_TIMEOUT_S, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            fail(String.join(" ", cmd) + " did not finish within " + CLIENT_TIMEOUT_S + " s:\n" + out.getNow("") + "\n"
                    + threadDump());
        }
        return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS));
    }

    /** Runs {@code cmd} and fails unless it exits 0. */
    static String runOk(String... cmd) throws Exception {
        return run(List.of(cmd)).expectSuccess(List.of(cmd)).output();
    }

    static CompletableFuture<String> readAllAsync(InputStream in) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (in) {
                f.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                f.complete("(output unreadable: " + e + ")");
            }
        }, "process-output");
        t.setDaemon(true);
        t.start();
        return f;
    }

    /** qemu-io on the raw export with commands {@code -c ...}; fails unless it exits 0 and no command failed. */
    static String qemuIo(Server s, String... commands) throws Exception {
        List<String> cmd = qemuIoCommand(s, false, commands);
        String out = run(cmd).expectSuccess(cmd).output();
        assertNoQemuIoFailure(cmd, out);
        return out;
    }

    static List<String> qemuIoCommand(Server s, boolean readOnly, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        if (readOnly) {
            cmd.add("-r");
        }
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(s.qemuUri());
        return cmd;
    }

    static void assertNoQemuIoFailure(List<String> cmd, String out) {
        String lower = out.toLowerCase(java.util.Locale.ROOT);
        if (lower.contains("fail") || lower.contains("error") || lower.contains("can't")) {
            fail(String.join(" ", cmd) + " reported a failure:\n" + out);
        }
    }

    /** nbdinfo --json, parsed just enough: the scalar fields of the (single) export. */
    static Map<String, String> nbdinfoJson(Server s) throws Exception {
        String out = runOk("nbdinfo", "--json", s.uri());
        Map<String, String> fields = new java.util.HashMap<>();
        var m = java.util.regex.Pattern.compile("\"([a-z_-]+)\"\\s*:\\s*(\"[^\"]*\"|[0-9a-z]+)").matcher(out);
        while (m.find()) {
            fields.put(m.group(1), m.group(2).replace("\"", ""));
        }
        fields.put("raw", out);
        return fields;
    }

    // ---- images ----

    /** A file of {@code size} bytes of seeded random data. */
    static Path randomImage(Path file, long size, long seed) throws IOException {
        Random rnd = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        try (var out = Files.newOutputStream(file)) {
            for (long done = 0; done < size; done += chunk.length) {
                rnd.nextBytes(chunk);
                out.write(chunk, 0, (int) Math.min(chunk.length, size - done));
            }
        }
        return file;
    }

    /** A sparse file of {@code size} bytes. */
    static Path sparseImage(Path file, long size) throws IOException {
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        return file;
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code length} bytes of {@code file} at {@code offset}. */
    static byte[] readAt(Path file, long offset, int length) {
        try (var ch = java.nio.channels.FileChannel.open(file)) {
            var b = java.nio.ByteBuffer.allocate(length);
            while (b.hasRemaining()) {
                if (ch.read(b, offset + b.position()) < 0) {
                    break;
                }
            }
            return Arrays.copyOf(b.array(), b.position());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Fails unless all {@code length} bytes at {@code offset} are {@code value}. */
    static void assertFilled(Path file, long offset, int length, int value) {
        byte[] b = readAt(file, offset, length);
        assertEquals(length, b.length, "bytes readable at " + offset);
        for (int i = 0; i < b.length; i++) {
            if (b[i] != (byte) value) {
                fail(file + ": byte at " + (offset + i) + " is 0x" + Integer.toHexString(b[i] & 0xff) + " (expected 0x"
                        + Integer.toHexString(value) + ")");
            }
        }
    }

    /** A directory on a real disk (not tmpfs) inside the module's target directory, for O_DIRECT. */
    static Path diskScratchDir(String name) throws IOException {
        Path dir = Path.of("target", "nbd-test-scratch", name + "-" + ProcessHandle.current().pid()).toAbsolutePath();
        Files.createDirectories(dir);
        return dir;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static String threadDump() {
        StringBuilder sb = new StringBuilder("thread dump:\n");
        for (var e : Thread.getAllStackTraces().entrySet()) {
            sb.append('"').append(e.getKey().getName()).append("\" ").append(e.getKey().getState()).append('\n');
            for (StackTraceElement f : e.getValue()) {
                sb.append("    at ").append(f).append('\n');
            }
        }
        return sb.toString();
    }

    /** Reads what a stream gives until it ends or {@code limit} bytes; used on small outputs. */
    static byte[] readUpTo(InputStream in, int limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] b = new byte[4096];
        int n;
        while (out.size() < limit && (n = in.read(b)) > 0) {
            out.write(b, 0, n);
        }
        return out.toByteArray();
    }
}
