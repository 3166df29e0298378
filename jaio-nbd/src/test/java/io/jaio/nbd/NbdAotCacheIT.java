// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * {@code ./jaio nbd} makes the server's AOT cache once per build of the jars (a training run) and
 * starts the server with it. Runs after {@code package} (failsafe), on the jars the launcher uses:
 * the launcher trains, and a JVM told to insist on the cache ({@code -XX:AOTMode=on}, which fails
 * when the cache does not fit the JDK, the class path or the flags) then starts with it.
 */
class NbdAotCacheIT {
    private static final Path ROOT = Path.of(System.getProperty("jaio.root", "..")).toAbsolutePath().normalize();

    @Test
    void launcherTrainsTheCacheOnceAndTheServerStartsWithIt() throws Exception {
        Path cache = ROOT.resolve("jaio-nbd/target/jaio-nbd.aot");
        Files.deleteIfExists(cache);
        NbdTestSupport.Result first = run(List.of(ROOT.resolve("jaio").toString(), "nbd", "serve", "--version"));
        assertEquals(0, first.exitCode(), first.toString());
        assertTrue(first.toString().contains("jaio: AOT training served"), "a training run: " + first);
        assertTrue(Files.size(cache) > 1_000_000, "a cache of some MB at " + cache);
        long made = Files.getLastModifiedTime(cache).toMillis();

        NbdTestSupport.Result second = run(List.of(ROOT.resolve("jaio").toString(), "nbd", "serve", "--version"));
        assertEquals(0, second.exitCode(), second.toString());
        assertTrue(!second.toString().contains("training"), "no second training: " + second);
        assertEquals(made, Files.getLastModifiedTime(cache).toMillis(), "the cache is reused");

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = ROOT.resolve("jaio-core/target/jaio-core-0.1.0-SNAPSHOT.jar") + ":"
                + ROOT.resolve("jaio-nbd/target/jaio-nbd-0.1.0-SNAPSHOT.jar") + ":"
                + ROOT.resolve("jaio-nbd/target/lib/aircompressor-2.0.3.jar"); // the launcher's class path (nbd_cp)
        List<String> strict = new ArrayList<>(List.of(java, "-XX:AOTCache=" + cache, "-XX:AOTMode=on",
                "--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED",
                "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xss512k", "-cp", cp, "io.jaio.nbd.NbdMain", "serve",
                "--version"));
        NbdTestSupport.Result used = run(strict);
        assertEquals(0, used.exitCode(), "the JVM accepts the cache with -XX:AOTMode=on: " + used);
        assertTrue(used.toString().contains("jaio-nbd "), used.toString());
    }

    private static NbdTestSupport.Result run(List<String> cmd) throws Exception {
        return NbdTestSupport.run(cmd);
    }
}
