// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's quick start, read from README.md and run as written: {@code ./jaio nbd serve}
 * through the launcher (with this test run's classes, {@code JAIO_NBD_CLASSPATH}, so no build
 * inside the test), then its nbdinfo and qemu-io lines and {@code qemu-img info}, in that order,
 * against the one server, then SIGTERM: every client succeeds, the server exits 0 saying why, and
 * the temporary image is gone. The README's port 10809 is used when it is free; when it is taken
 * (another server on this machine), {@code -p 0} and the printed URI stand in for it.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdQuickStartTest {
    private static final String README_URI = "nbd://127.0.0.1:10809/";

    @TempDir
    Path dir;

    /** The lines of the README's "## Quick start" section. */
    private static List<String> quickStart(Path readme) throws IOException {
        String text = Files.readString(readme);
        int start = text.indexOf("\n## Quick start\n");
        assertTrue(start >= 0, "README.md has a Quick start section");
        int end = text.indexOf("\n## ", start + 1);
        return text.substring(start, end < 0 ? text.length() : end).lines().toList();
    }

    /** The first line of the section that starts with {@code prefix}, without its trailing comment. */
    private static String line(List<String> section, String prefix) {
        for (String l : section) {
            if (l.startsWith(prefix)) {
                int comment = l.indexOf(" #");
                return (comment < 0 ? l : l.substring(0, comment)).trim();
            }
        }
        throw new AssertionError("README quick start has no line starting with '" + prefix + "':\n" + String.join("\n", section));
    }

    /** Splits a shell command line into words: spaces separate, single quotes group. */
    static List<String> words(String commandLine) {
        List<String> out = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean quoted = false;
        boolean inWord = false;
        for (char c : commandLine.toCharArray()) {
            if (c == '\'') {
                quoted = !quoted;
                inWord = true;
            } else if (c == ' ' && !quoted) {
                if (inWord) {
                    out.add(w.toString());
                    w.setLength(0);
                    inWord = false;
                }
            } else {
                w.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            out.add(w.toString());
        }
        return out;
    }

    private static boolean readmePortFree() {
        try {
            new ServerSocket(10809, 1, InetAddress.getByName("127.0.0.1")).close();
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void readmeQuickStartServesEveryClientInTurnAndStopsCleanlyOnSigterm() throws Exception {
        NbdTestSupport.assumeTool("nbdinfo", "libnbd-bin");
        NbdTestSupport.assumeTool("qemu-io", "qemu-utils");
        NbdTestSupport.assumeTool("qemu-img", "qemu-utils");
        Path root = Path.of(System.getProperty("user.dir")).getParent();
        List<String> section = quickStart(root.resolve("README.md"));
        List<String> serve = words(line(section, "./jaio nbd serve"));
        assertEquals(List.of("./jaio", "nbd", "serve"), serve, "the README's first command");
        assertTrue(String.join("\n", section).contains("prints `jaio-nbd: connect to " + README_URI + "`"),
                "the README says which URI is printed");
        List<List<String>> clients = List.of(words(line(section, "nbdinfo ")), words(line(section, "qemu-io ")),
                words(line(section, "qemu-img info ")));

        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        Map<String, String> env = Map.of("JAIO_NBD_CLASSPATH", System.getProperty("java.class.path"), "JAIO_JAVA_OPTS",
                "-Djava.io.tmpdir=" + tmp, "JAVA_HOME", System.getProperty("java.home"));
        List<String> cmd = new ArrayList<>(serve);
        cmd.set(0, root.resolve("jaio").toString());
        boolean readmePort = readmePortFree();
        if (!readmePort) {
            System.out.println("NOTE: port 10809 is taken on this machine: the quick start runs with -p 0");
            cmd.addAll(List.of("-p", "0"));
        }
        try (NbdServerProcess server = NbdServerProcess.launch(cmd, dir.resolve("server.log"), root, env)) {
            if (readmePort) {
                assertEquals(README_URI, server.uri, "the URI the README promises");
            }
            for (List<String> client : clients) {
                List<String> run = new ArrayList<>();
                for (String w : client) {
                    run.add(w.equals(README_URI) ? server.uri : w);
                }
                NbdTestSupport.Result r = NbdTestSupport.run(run);
                if (r.exitCode() != 0) {
                    fail(String.join(" ", run) + " exited " + r.exitCode() + ":\n" + r.output() + "\nserver:\n" + server.output());
                }
                if (run.get(0).equals("qemu-io")) {
                    NbdTestSupport.assertNoQemuIoFailure(run, r.output());
                }
                if (run.get(0).equals("qemu-img")) {
                    assertTrue(r.output().contains("virtual size: 1 GiB"), "qemu-img info of the 1 GiB image:\n" + r.output());
                }
                assertTrue(server.isAlive(), "the server still runs after " + run.get(0) + ":\n" + server.output());
            }
            server.signal("TERM");
            int status = server.awaitExit();
            assertEquals(0, status, "exit status after SIGTERM:\n" + server.output());
            assertTrue(server.output().endsWith("jaio-nbd: exiting: SIGTERM\n"), server.output());
        }
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(), s.toList(), "the temporary image is deleted");
        }
    }
}
