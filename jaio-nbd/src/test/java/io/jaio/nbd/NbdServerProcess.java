package io.jaio.nbd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code jaio nbd serve} in its own JVM, for tests that kill it or measure it: the command the
 * {@code ./jaio} launcher execs (same JVM flags, {@link NbdMain} on this test run's class path, so
 * the classes under test and no rebuild), on a unix socket. {@link #pid()} is the server's JVM.
 *
 * <p>Threading: the test thread.
 */
final class NbdServerProcess implements AutoCloseable {
    private final Process process;
    final String socket;
    final Path log;

    private NbdServerProcess(Process process, String socket, Path log) {
        this.process = process;
        this.socket = socket;
        this.log = log;
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
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // The launcher's flags (./jaio: JVM_FLAGS and -Xss512k).
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "-Xss512k", "-cp", System.getProperty("java.class.path"), "io.jaio.nbd.NbdMain", "serve", "-k", socket));
        cmd.addAll(List.of(options));
        cmd.add(image.toString());
        Files.deleteIfExists(Path.of(socket));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        NbdServerProcess s = new NbdServerProcess(p, socket, log);
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
