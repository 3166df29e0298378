// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * 64 connections at queue depth 32 against one server ({@code jaio nbd serve -t -e 64
 * --iothreads 2} on a unix socket, a 256 MiB image): fio's nbd engine, 64 jobs each on its own
 * connection and its own 4 MiB slice, random 4 KiB writes for {@code jaio.nbd.stress.seconds}
 * (default 20) with crc32c verification of what was written (verify_backlog while writing, and
 * fio's verify phase). No I/O or verify error is allowed, the server must stop gracefully after,
 * and its memory must be steady.
 *
 * <p>Memory: the server JVM's VmRSS is sampled every 250 ms while fio runs. It must stay under
 * {@link #RSS_BOUND_KB} (512 MiB: the JVM with its default heap and 64 connections, each with a
 * 512 KiB receive buffer, a 64 KiB handshake buffer and its request slots, measures about 150 MiB),
 * and the last sample must not exceed the middle one by more than {@link #RSS_GROWTH_KB} (64 MiB)
 * plus 25%: a leak of one buffer per request or per connection would pass either.
 *
 * <p>Longer: {@code mvn -pl jaio-core,jaio-nbd test -Dtest=NbdLoadStressTest
 * -Djaio.test.argLine=-Djaio.nbd.stress.seconds=600}.
 */
class NbdLoadStressTest {
    static final long RSS_BOUND_KB = 512 * 1024;
    static final long RSS_GROWTH_KB = 64 * 1024;
    private static final int CONNECTIONS = 64;
    private static final int QUEUE_DEPTH = 32;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void sixtyFourConnectionsAtDepthThirtyTwoVerifyAndKeepMemorySteady() throws Exception {
        assumeTrue(NbdServerProcess.have("fio"), "fio is not installed");
        Object[] eng = NbdServerProcess.run(30, "fio", "--enghelp");
        assumeTrue(((String) eng[1]).lines().anyMatch(l -> l.trim().equals("nbd")), "fio has no nbd engine");
        int seconds = Integer.getInteger("jaio.nbd.stress.seconds", 20);
        Path image = dir.resolve("disk.img");
        try (var raf = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(256L << 20);
        }
        String sock = dir.resolve("nbd.sock").toString();
        Path json = dir.resolve("fio.json");
        try (NbdServerProcess server = NbdServerProcess.start(image, sock, dir.resolve("server.log"), "-t", "-e",
                Integer.toString(CONNECTIONS), "--iothreads", "2")) {
            List<String> cmd = List.of("fio", "--name=load", "--ioengine=nbd", "--uri=nbd+unix:///?socket=" + sock,
                "--rw=randwrite", "--bs=4k", "--iodepth=" + QUEUE_DEPTH, "--numjobs=" + CONNECTIONS, "--size=4m",
                "--offset_increment=4m", "--time_based", "--runtime=" + seconds, "--verify=crc32c", "--do_verify=1",
                "--verify_backlog=4096", "--verify_fatal=1", "--verify_state_save=0", "--group_reporting", "--output-format=json",
                "--output=" + json);
            Path fioLog = dir.resolve("fio.log");
            Process fio = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(fioLog.toFile()).start();
            List<long[]> samples = new ArrayList<>(); // {ms since start, rss KiB}
            long t0 = System.nanoTime();
            long limitNs = TimeUnit.SECONDS.toNanos(seconds + 120L);
            while (!fio.waitFor(250, TimeUnit.MILLISECONDS)) { // the sampling period, not a wait for an event
                samples.add(new long[] {(System.nanoTime() - t0) / 1_000_000, server.rssKb()});
                if (System.nanoTime() - t0 > limitNs) {
                    fio.destroyForcibly();
                    throw new AssertionError("fio ran past " + (seconds + 120) + " s: " + Files.readString(fioLog));
                }
            }
            String out = Files.readString(fioLog);
            assertEquals(0, fio.exitValue(), "fio failed: " + out);
            assertTrue(server.isAlive(), "the server died under load: " + Files.readString(server.log));
            String report = Files.readString(json);
            long error = first(report, "\"error\" : (\\d+)", 0);
            long reads = section(report, "read", "total_ios");
            long writes = section(report, "write", "total_ios");
            long verifiedBytes = section(report, "read", "io_bytes");
            long writtenBytes = section(report, "write", "io_bytes");
            assertEquals(0, error, "fio reported an error");
            assertTrue(writes > 0 && reads > 0, "fio did writes (" + writes + ") and verify reads (" + reads + ")");
            assertTrue(!out.contains("verify:") && !out.contains("bad magic"), "verify errors: " + out);

            assertTrue(samples.size() >= 4, "too few RSS samples: " + samples.size());
            long max = 0;
            for (long[] s : samples) {
                assertTrue(s[1] > 0, "server gone during the run");
                max = Math.max(max, s[1]);
            }
            long mid = samples.get(samples.size() / 2)[1];
            long end = samples.get(samples.size() - 1)[1];
            StringBuilder trace = new StringBuilder();
            for (int i = 0; i < samples.size(); i += Math.max(1, samples.size() / 10)) {
                trace.append(samples.get(i)[0] / 1000.0).append("s=").append(samples.get(i)[1] / 1024).append("MiB ");
            }
            System.out.printf("NbdLoadStressTest: %d connections x depth %d for %d s: %d requests (%d writes, %d verify reads),"
                    + " %d MiB written, %d MiB verified; server RSS max %d MiB, middle %d MiB, end %d MiB; samples: %s%n",
                    CONNECTIONS, QUEUE_DEPTH, seconds, reads + writes, writes, reads, writtenBytes >> 20, verifiedBytes >> 20,
                    max / 1024, mid / 1024, end / 1024, trace);
            assertTrue(max < RSS_BOUND_KB, "server RSS reached " + max + " KiB (bound " + RSS_BOUND_KB + "): " + trace);
            assertTrue(end <= mid + RSS_GROWTH_KB + mid / 4, "server RSS grew from " + mid + " KiB (middle) to " + end
                    + " KiB (end): " + trace);
            assertEquals(0, server.stop(), "graceful stop after the load: " + Files.readString(server.log));
        }
    }

    private static long first(String s, String regex, int from) {
        Matcher m = Pattern.compile(regex).matcher(s);
        assertTrue(m.find(from), "no " + regex + " in fio's report");
        return Long.parseLong(m.group(1));
    }

    /** The first {@code key} after the first {@code "dir" : {} of the (group-reported) job. */
    private static long section(String s, String dir, String key) {
        int at = s.indexOf("\"" + dir + "\" : {");
        assertTrue(at >= 0, "no " + dir + " section in fio's report");
        return first(s, "\"" + key + "\" : (\\d+)", at);
    }
}
