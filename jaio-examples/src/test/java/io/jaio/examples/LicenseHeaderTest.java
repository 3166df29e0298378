// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * jaio's header convention: every Java and C source of the repository starts with the line
 * {@value #HEADER}, and the Apache License 2.0 is the repository's LICENSE file.
 */
class LicenseHeaderTest {
    static final String HEADER = "// SPDX-License-Identifier: Apache-2.0";
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    @Test
    void everySourceFileStartsWithTheSpdxHeader() throws IOException {
        List<String> missing;
        try (Stream<Path> files = Files.walk(ROOT)) {
            missing = files.filter(p -> {
                String rel = ROOT.relativize(p).toString();
                return !rel.startsWith(".git") && !rel.contains("/target/") && !rel.startsWith("target/")
                        && (rel.endsWith(".java") || rel.endsWith(".c")) && Files.isRegularFile(p);
            }).filter(p -> !firstLine(p).equals(HEADER)).map(p -> ROOT.relativize(p).toString()).sorted().toList();
        }
        assertEquals(List.of(), missing, "files without '" + HEADER + "' as their first line");
    }

    @Test
    void licenseIsApache2() throws IOException {
        String license = Files.readString(ROOT.resolve("LICENSE"));
        assertTrue(license.contains("Apache License") && license.contains("Version 2.0, January 2004"), "LICENSE is not Apache 2.0");
    }

    private static String firstLine(Path p) {
        try (Stream<String> lines = Files.lines(p)) {
            return lines.findFirst().orElse("");
        } catch (IOException e) {
            throw new AssertionError(p + ": " + e, e);
        }
    }
}
