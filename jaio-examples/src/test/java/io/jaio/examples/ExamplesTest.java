// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs each example program the README lists (`./jaio example NAME`) on real sockets (loopback)
 * and real files, and checks what it prints. Each example checks its own work too (an echo
 * client compares every byte it gets back, the file copy compares the files, the fan-out every
 * result) and throws when it is wrong.
 */
class ExamplesTest {
    @FunctionalInterface
    interface Program {
        void run(PrintStream out) throws Throwable;
    }

    private static List<String> output(Program p) throws Throwable {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            p.run(out);
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        return text.lines().toList();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void echoServerEchoesEveryByteToThreeClients() throws Throwable {
        List<String> lines = output(out -> EchoServer.run(out));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(0).matches("echo server listening on 127\\.0\\.0\\.1:\\d+"), lines.get(0));
        Matcher m = Pattern.compile("accepted 3 connections, echoed (\\d+) bytes; every client got back exactly what it sent")
                .matcher(lines.get(1));
        assertTrue(m.matches(), lines.get(1));
        long expected = 0;
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < 200; i++) {
                expected += ("client " + c + " message " + i + " " + "x".repeat(i * 37) + "\n").length();
            }
        }
        assertEquals(expected, Long.parseLong(m.group(1)), "bytes echoed");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void fileCopyCopiesATemporaryFileWithCoroutines() throws Throwable {
        List<String> lines = output(out -> FileCopy.run(out));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(0).matches("copied 4206649 bytes in 17 chunks of up to 256 KiB with 4 coroutines on the "
                + "(io_uring|threads) engine"), lines.get(0));
        assertEquals("the copy has the same 4206649 bytes as the original", lines.get(1));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void fileCopyCopiesNamedFilesByteForByte(@TempDir Path dir) throws Throwable {
        byte[] data = new byte[1_000_003];
        new Random(7).nextBytes(data);
        Path src = Files.write(dir.resolve("in"), data);
        Path dst = dir.resolve("out");
        Files.write(dst, new byte[3_000_000]); // longer than the source: the copy truncates it
        List<String> lines = output(out -> FileCopy.run(out, src.toString(), dst.toString()));
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("copied 1000003 bytes in 4 chunks"), lines.get(0));
        assertEquals(-1, Files.mismatch(src, dst), "the copy has the source's bytes and length");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void fanOutSpreadsJobsOverEveryIoThread() throws Throwable {
        List<String> lines = output(out -> FanOut.run(out, "4", "64"));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("64 jobs on 4 IOThreads, every result checked"), lines.get(0));
        assertEquals("jobs per thread: {IO worker-0=16, IO worker-1=16, IO worker-2=16, IO worker-3=16}", lines.get(1));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void embeddedLoopRunsAContextFromAnOwnLoopAndFromTheMainLoop() throws Throwable {
        List<String> lines = output(EmbeddedLoop::run);
        assertEquals(2, lines.size(), lines.toString());
        Matcher own = Pattern.compile("own loop: the context's timer fired 3 times in (\\d+) outer iterations \\((\\d+) of them waited in poll\\(2\\)\\)")
                .matcher(lines.get(0));
        assertTrue(own.matches(), lines.get(0));
        assertTrue(Integer.parseInt(own.group(2)) >= 1, "the outer loop slept in poll(2) between the timer's deadlines");
        assertTrue(lines.get(1).startsWith("main loop: the attached device context ran its bottom half and its timer, and the"
                + " iohandler fd handler read \"ping\""), lines.get(1));
    }
}
