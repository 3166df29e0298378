// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * docs/observability.md's recipe on {@code ./jaio demo}'s program: run in its own JVM with
 * {@code -XX:StartFlightRecording}, no agent and no code change, its recording holds the loop's
 * io.jaio.* events, as {@code jfr print --events 'io.jaio.*'} shows them.
 */
class DemoRecordingTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFlightRecordingOfTheDemoHoldsTheLoopsEvents() throws Exception {
        Path jfr = dir.resolve("demo.jfr");
        Path log = dir.resolve("demo.log");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED",
                "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-ea",
                "-XX:StartFlightRecording:filename=" + jfr + ",io.jaio.BottomHalfRun#threshold=0ms",
                "-cp", System.getProperty("java.class.path"), "io.jaio.examples.Demo");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(50, TimeUnit.SECONDS), "the demo did not end:\n" + Files.readString(log));
        assertEquals(0, p.exitValue(), Files.readString(log));
        assertTrue(Files.readString(log).contains("done: 3 BH runs"), Files.readString(log));
        Map<String, Integer> counts = new HashMap<>();
        boolean counterBh = false;
        boolean demoIteration = false;
        for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
            String type = e.getEventType().getName();
            if (!type.startsWith("io.jaio.")) {
                continue;
            }
            counts.merge(type, 1, Integer::sum);
            if (type.equals("io.jaio.BottomHalfRun") && "counter".equals(e.getString("name"))) {
                counterBh = true;
            }
            if (type.equals("io.jaio.LoopIteration") && "demo".equals(e.getString("context"))) {
                demoIteration = true;
            }
        }
        assertTrue(counterBh, "no io.jaio.BottomHalfRun of the demo's 'counter' bottom half: " + counts);
        assertTrue(demoIteration, "no io.jaio.LoopIteration of context 'demo': " + counts);
    }
}
