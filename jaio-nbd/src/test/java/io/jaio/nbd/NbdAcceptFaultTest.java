// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Faults;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server survives running out of fds: accept() failing with EMFILE (injected through the
 * system-call seam) pauses accepting instead of spinning on the readable listening socket, and
 * the client queued meanwhile is served once accept() works again.
 */
class NbdAcceptFaultTest {
    @TempDir
    Path dir;

    @AfterEach
    void clearFaults() {
        Faults.clear();
    }

    private static boolean have(String tool) {
        for (String p : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(p, tool))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void emfileOnAcceptPausesAcceptingAndTheClientIsServedAfterwards() throws Exception {
        assumeTrue(have("nbdinfo"), "nbdinfo (libnbd-bin) is not installed");
        Path image = dir.resolve("disk.img");
        try (var raf = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(16 << 20);
        }
        String sock = dir.resolve("nbd.sock").toString();
        AtomicInteger status = new AtomicInteger(-1);
        Thread server = new Thread(() -> status.set(NbdMain.run(new String[] {"serve", "-t", "-e", "4", "-k", sock,
            image.toString()})), "nbd-server-under-test");
        server.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (NbdMain.running == null || !Files.exists(Path.of(sock))) {
                assertTrue(System.nanoTime() < deadline, "server did not start");
                assertTrue(server.isAlive(), "server exited with " + status.get());
                Thread.onSpinWait();
            }
            AtomicInteger failures = new AtomicInteger(5);
            long before = Faults.injected(Faults.Call.ACCEPT);
            Faults.install((call, len) -> call == Faults.Call.ACCEPT && failures.getAndDecrement() > 0 ? -Errno.EMFILE : 0);
            String out = nbdinfoSize("nbd+unix:///?socket=" + sock);
            assertEquals(String.valueOf(16 << 20), out.trim(), "served after the EMFILE storm");
            assertEquals(5, Faults.injected(Faults.Call.ACCEPT) - before, "five accepts failed");
            assertTrue(NbdMain.running.acceptFailures() >= 1, "the server saw the failures");
            Faults.clear();
            assertEquals(String.valueOf(16 << 20), nbdinfoSize("nbd+unix:///?socket=" + sock).trim(), "and serves on");
        } finally {
            Faults.clear();
            NbdServer s = NbdMain.running;
            if (s != null) {
                s.requestShutdown("test");
            }
            server.join(TimeUnit.SECONDS.toMillis(30));
        }
        assertEquals(0, status.get(), "graceful stop");
    }

    private static String nbdinfoSize(String uri) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("nbdinfo", "--size", uri).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("nbdinfo did not answer within 30 s");
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), "nbdinfo: " + out);
        return out;
    }
}
