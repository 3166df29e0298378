// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarFile;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.jaio.AioContext;

/** Runs {@code ./jaio demo}'s program and checks that the library artifact carries no demo. */
class DemoTest {
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void demoRunsEveryPartOfTheLoopAndReportsIt() throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream capture = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(capture);
            Demo.main(new String[0]);
        } finally {
            System.setOut(saved);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        saved.print(text);
        List<String> lines = text.lines().toList();
        assertTrue(lines.stream().anyMatch(l -> l.contains("bottom half 'counter' run 3")), text);
        assertTrue(lines.stream().anyMatch(l -> l.contains("timer fired")), text);
        assertTrue(lines.stream().anyMatch(l -> l.contains("read \"hello from the timer\"")), text);
        assertTrue(lines.stream().anyMatch(l -> l.contains("scheduled from thread 'IO demo-helper' ran on")), text);
        String last = lines.get(lines.size() - 1);
        assertTrue(last.contains("done: 3 BH runs, 1 timer firing, 20 bytes through the fd handler"), last);
    }

    @Test
    void libraryArtifactShipsNoDemoOrExampleClasses() throws URISyntaxException, Exception {
        Path core = Path.of(AioContext.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isDirectory(core)) {
            assertFalse(Files.exists(core.resolve("io/jaio/demo")), core + " has io/jaio/demo");
            assertFalse(Files.exists(core.resolve("io/jaio/examples")), core + " has io/jaio/examples");
        } else {
            try (JarFile jar = new JarFile(core.toFile())) {
                List<String> bad = jar.stream().map(e -> e.getName())
                        .filter(n -> n.startsWith("io/jaio/demo/") || n.startsWith("io/jaio/examples/")).toList();
                assertEquals(List.of(), bad, core + " ships demo classes");
            }
        }
    }
}
