// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code jaio nbd serve} in its own JVM, for tests that kill it, signal it or measure it: the
 * command the {@code ./jaio} launcher execs (same JVM flags, {@link NbdMain} on this test run's
 * class path, so the classes under test and no rebuild), or the same on the module path.
 * {@link #pid()} is the server's JVM; its stdout and stderr go to {@link #log}.
 *
 * <p>Threading: the test thread.
 */
final class NbdServerProcess implements AutoCloseable {
    private static final String URI_LINE = "jaio-nbd: connect to ";
    private final Process process;
    final String socket;
    final Path log;
    /** What the server printed after "jaio-nbd: connect to ". */
    final String uri;

    private NbdServerProcess(Process process, String socket, Path log, String uri) {
        this.process = process;
        this.socket = socket;
        this.log = log;
        this.uri = uri;
    }

    /** The launcher's JVM flags (./jaio: JVM_FLAGS and -Xss512k), class path form. */
    static List<String> classPathJava(String... jvmOptions) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED",
                "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xss512k"));
        cmd.addAll(List.of(jvmOptions));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.jaio.nbd.NbdMain"));
        return cmd;
    }

    /**
     * The same on the module path, as a user of the modules runs it: this test run's jaio-core
     * and jaio-nbd classes (each a directory or jar with its module-info), aircompressor's jar (an
     * automatic module) and
     * {@code -m io.jaio.nbd/io.jaio.nbd.NbdMain}; only the JDK's modules besides.
     */
    static List<String> modulePathJava(String... jvmOptions) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--enable-native-access=io.jaio", "--add-exports", "java.base/jdk.internal.vm=io.jaio",
                "--add-opens", "java.base/java.lang=io.jaio", "--sun-misc-unsafe-memory-access=allow", "-Xss512k"));
        cmd.addAll(List.of(jvmOptions));
        cmd.addAll(List.of("-p", codeSource(io.jaio.AioContext.class) + ":" + codeSource(NbdMain.class) + ":"
                + codeSource(io.airlift.compress.zstd.ZstdDecompressor.class), "-m",
                "io.jaio.nbd/io.jaio.nbd.NbdMain"));
        return cmd;
    }

    private static String codeSource(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Whether this JVM ignores SIGINT (a background job of a non-interactive shell does, and its
     * children inherit that): then a child must be started with SIGINT back at its default, or it
     * could not be stopped with SIGINT at all.
     */
    static boolean sigintIgnoredHere() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & (1L << (2 - 1))) != 0;
            }
        }
        return false;
    }

    /**
     * Starts {@code command} (with SIGINT at its default disposition) and waits, at most 30 s,
     * for the line {@code jaio-nbd: connect to URI}; fails with the output if the server ends first.
     */
    static NbdServerProcess launch(List<String> command, Path log, Path directory, java.util.Map<String, String> env)
            throws IOException {
        List<String> cmd = new ArrayList<>();
        if (sigintIgnoredHere()) {
            cmd.addAll(List.of("env", "--default-signal=INT"));
        }
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        pb.environment().putAll(env);
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            String out = Files.readString(log);
            int at = out.indexOf(URI_LINE);
            int end = at < 0 ? -1 : out.indexOf('\n', at);
            if (end > 0) {
                return new NbdServerProcess(p, null, log, out.substring(at + URI_LINE.length(), end).trim());
            }
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError("server did not start (alive " + p.isAlive() + "): " + String.join(" ", cmd)
                        + "\n" + Files.readString(log));
            }
            Thread.onSpinWait();
        }
    }

    /** The TCP port in {@link #uri} (nbd://HOST:PORT/NAME). */
    int port() {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("nbd://[^/]*:([0-9]+)/").matcher(uri);
        if (!m.find()) {
            throw new AssertionError("no TCP port in " + uri);
        }
        return Integer.parseInt(m.group(1));
    }

    /** Sends signal {@code name} ("INT", "TERM") with kill(1). */
    void signal(String name) throws IOException, InterruptedException {
        Process k = new ProcessBuilder("kill", "-s", name, Long.toString(pid())).inheritIO().start();
        if (!k.waitFor(30, TimeUnit.SECONDS) || k.exitValue() != 0) {
            throw new AssertionError("kill -s " + name + " " + pid() + " failed");
        }
    }

    /** Waits (at most 60 s) for the server to end; returns its exit status. */
    int awaitExit() throws InterruptedException {
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("server did not end within 60 s");
        }
        return process.exitValue();
    }

    /** Everything the server printed so far. */
    String output() throws IOException {
        return Files.readString(log);
    }

    /** Whether {@code tool} is on the PATH. */
    static boolean have(String tool) {
        for (String p : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!p.isEmpty() && Files.isExecutable(Path.of(p, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Starts a server on unix socket {@code socket} and waits (at most 30 s) until it listens. */
    static NbdServerProcess start(Path image, String socket, Path log, String... options) throws IOException {
        return start(List.of(), image, socket, log, options);
    }

    /**
     * {@link #start(Path, String, Path, String...)} with the server's files limited to
     * {@code limitKib} KiB ({@code ulimit -f}): every write that would grow a file past it fails
     * with EFBIG (the JVM ignores SIGXFSZ), a deterministic stand-in for a crash at a file's end.
     */
    static NbdServerProcess startWithFileSizeLimit(long limitKib, Path image, String socket, Path log, String... options)
            throws IOException {
        return start(List.of("bash", "-c", "ulimit -f " + limitKib + " && exec \"$@\"", "bash"), image, socket, log, options);
    }

    private static NbdServerProcess start(List<String> prefix, Path image, String socket, Path log, String... options)
            throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // The launcher's flags (./jaio: JVM_FLAGS and -Xss512k).
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow", "-Xss512k", "-cp", System.getProperty("java.class.path"), "io.jaio.nbd.NbdMain", "serve", "-k", socket));
        cmd.addAll(List.of(options));
        cmd.add(image.toString());
        Files.deleteIfExists(Path.of(socket));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        NbdServerProcess s = new NbdServerProcess(p, socket, log, "nbd+unix:///?socket=" + socket);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.readString(log).contains("jaio-nbd: connect to")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError("server did not start (alive " + p.isAlive() + "): " + Files.readString(log));
            }
            Thread.onSpinWait();
        }
        return s;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** The server JVM's resident set (VmRSS of /proc/PID/status), in KiB; -1 once it has gone. */
    long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    /** SIGKILL, and waits for the process to be gone. */
    void kill9() throws InterruptedException {
        process.destroyForcibly(); // SIGKILL on Linux
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new AssertionError("server survived SIGKILL for 30 s");
        }
    }

    /** SIGTERM (a graceful stop); returns the exit status. */
    int stop() throws InterruptedException {
        process.destroy(); // SIGTERM
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("server did not stop within 60 s of SIGTERM");
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Runs {@code cmd}, at most {@code timeoutS} seconds; returns {exit status, output}. */
    static Object[] run(long timeoutS, String... cmd) throws IOException, InterruptedException {
        Path out = Files.createTempFile("nbd-tool-", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError(String.join(" ", cmd) + " did not finish within " + timeoutS + " s: "
                        + Files.readString(out));
            }
            return new Object[] {p.exitValue(), Files.readString(out)};
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
