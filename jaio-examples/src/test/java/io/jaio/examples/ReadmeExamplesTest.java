// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The README's Java examples are the regions of {@link ReadmeExamples} between
 * {@code // README:begin NAME} and {@code // README:end}, line for line (indentation aside), and
 * they run and print what their comments say.
 */
class ReadmeExamplesTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    @Test
    void readmeJavaBlocksAreTheCompiledExamples() throws IOException {
        List<List<String>> readme = javaBlocks(Files.readAllLines(ROOT.resolve("README.md")));
        List<String> source = Files.readAllLines(
                ROOT.resolve("jaio-examples/src/main/java/io/jaio/examples/ReadmeExamples.java"));
        assertEquals(List.of(region(source, "loop"), region(source, "coroutines")), readme,
                "README.md's ```java blocks differ from ReadmeExamples.java's README regions");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void examplesRunAndPrintWhatTheReadmeSays() throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream capture = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(capture);
            ReadmeExamples.main(new String[0]);
        } finally {
            System.setOut(saved);
        }
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(List.of("bottom half ran", "timer fired", "readable"), lines.subList(0, 3), lines.toString());
        assertTrue(lines.get(3).startsWith("on Thread[") && lines.get(3).contains("IO worker"), lines.get(3));
        assertEquals(List.of("worker said 42", "slept"), lines.subList(4, 6), lines.toString());
        assertEquals(6, lines.size(), lines.toString());
    }

    private static List<List<String>> javaBlocks(List<String> lines) {
        List<List<String>> blocks = new ArrayList<>();
        List<String> block = null;
        for (String l : lines) {
            if (block == null && l.equals("```java")) {
                block = new ArrayList<>();
            } else if (block != null && l.equals("```")) {
                blocks.add(block);
                block = null;
            } else if (block != null) {
                block.add(l.strip());
            }
        }
        return blocks;
    }

    private static List<String> region(List<String> source, String name) {
        int begin = source.indexOf(source.stream().filter(l -> l.strip().equals("// README:begin " + name)).findFirst()
                .orElseThrow(() -> new AssertionError("no '// README:begin " + name + "' in ReadmeExamples.java")));
        List<String> region = new ArrayList<>();
        for (String l : source.subList(begin + 1, source.size())) {
            if (l.strip().equals("// README:end")) {
                return region;
            }
            region.add(l.strip());
        }
        throw new AssertionError("README region " + name + " has no end");
    }
}
