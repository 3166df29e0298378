// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged jar is executable with no JVM flag: {@code java -jar jaio-nbd-VERSION.jar serve}
 * finds jaio-core in lib/, has native access (no restricted-method warning) and serves a client.
 */
class NbdJarLaunchIT {
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void javaDashJarServesWithoutAnyJvmFlag(@TempDir Path dir) throws Exception {
        Path jar = Path.of(System.getProperty("jaio.nbd.jar"));
        assertTrue(Files.isRegularFile(jar), "no jar at " + jar);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = dir.resolve("server.log");
        NbdServerProcess server = NbdServerProcess.launch(
                List.of(java, "-jar", jar.toString(), "serve", "-b", "127.0.0.1", "-p", "0"), log, dir, Map.of());
        try {
            assertTrue(server.uri.startsWith("nbd://127.0.0.1:"), server.uri);
            if (NbdServerProcess.have("nbdinfo")) {
                Process info = new ProcessBuilder("nbdinfo", "--size", server.uri).redirectErrorStream(true).start();
                String out = new String(info.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                assertTrue(info.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, info.exitValue(), out);
                assertEquals("1073741824", out, "the default temporary image is 1 GiB");
            } else {
                System.out.println("NbdJarLaunchIT: nbdinfo not installed; checked start and stop only");
            }
        } finally {
            server.signal("TERM");
        }
        assertEquals(0, server.awaitExit(), server.output());
        String out = server.output();
        assertTrue(out.contains("jaio-nbd: exiting: SIGTERM"), out);
        assertFalse(out.contains("restricted method"), "native access not granted by the manifest:\n" + out);
        assertFalse(out.contains("WARNING"), out);
    }

    @Test
    void jarWithoutItsLibDirectorySaysWhatIsMissing(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isRegularFile(Path.of(System.getProperty("jaio.nbd.jar"))));
        Path alone = Files.copy(Path.of(System.getProperty("jaio.nbd.jar")), dir.resolve("jaio-nbd.jar"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-jar", alone.toString(), "--version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertTrue(p.exitValue() != 0, "ran without jaio-core: " + out);
        assertTrue(out.contains("io/jaio/"), "expected the missing jaio-core class to be named: " + out);
    }
}
