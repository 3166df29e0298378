// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static io.jaio.nbd.NbdTestSupport.assumeTool;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The server's figures: the export's and each connection's MBean count what a real client did,
 * the contexts have theirs, the latency histogram bounds its values, and a server process run
 * with {@code --stats 1} and {@code -XX:StartFlightRecording} under fio's load prints summary
 * lines and records io.jaio.nbd.* and io.jaio.* events.
 */
class NbdObservabilityTest {
    private static final MBeanServer MBEANS = ManagementFactory.getPlatformMBeanServer();

    @TempDir
    Path dir;

    private static void await(String what, BooleanSupplier done) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!done.getAsBoolean()) { // bounded by the deadline
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "\n" + NbdTestSupport.threadDump());
            }
            Thread.onSpinWait();
        }
    }

    private static long attr(ObjectName on, String name) {
        try {
            return ((Number) MBEANS.getAttribute(on, name)).longValue();
        } catch (javax.management.JMException e) {
            throw new AssertionError(on + " " + name + ": " + e, e);
        }
    }

    private static ObjectName only(String pattern) throws Exception {
        Set<ObjectName> names = MBEANS.queryNames(new ObjectName(pattern), null);
        assertEquals(1, names.size(), pattern + ": " + names);
        return names.iterator().next();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void exportAndConnectionMBeansCountWhatTheClientDid() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 1 << 20);
        // A name of its own, so that MBeans another test's server might have left cannot match.
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-t", "-x", "obs-export")) {
            ObjectName export = only("io.jaio.nbd:type=Export,name=\"obs-export\"");
            assertEquals(0, attr(export, "requests"));
            try (RawClient c = goTo(s.connect(), "obs-export")) {
                assertEquals(0, c.write(0, new byte[4096]).error());
                assertEquals(0, c.write(4096, new byte[8192]).error());
                assertEquals(0, c.read(0, 4096).error());
                assertTrue(c.read(1 << 20, 4096).error() != 0, "a read past the end fails");
                assertEquals(0, c.call(0, Nbd.CMD_FLUSH, 0, 0, null).error());
                ObjectName conn = only("io.jaio.nbd:type=Connection,export=\"obs-export\",*");
                await("5 requests on the connection's MBean", () -> attr(conn, "requests") == 5);
                for (ObjectName on : List.of(conn, export)) {
                    assertEquals(2, attr(on, "reads"), on.toString());
                    assertEquals(2, attr(on, "writes"), on.toString());
                    assertEquals(1, attr(on, "flushes"), on.toString());
                    assertEquals(1, attr(on, "errors"), on.toString());
                    assertEquals(4096, attr(on, "bytesRead"), on.toString());
                    assertEquals(12288, attr(on, "bytesWritten"), on.toString());
                    assertEquals(0, attr(on, "inFlight"), on.toString());
                    assertEquals(1, attr(on, "connections"), on.toString());
                    assertTrue(attr(on, "latencyP50Ns") > 0 && attr(on, "latencyP99Ns") >= attr(on, "latencyP50Ns"),
                            on + " p50 " + attr(on, "latencyP50Ns") + " p99 " + attr(on, "latencyP99Ns"));
                }
                boolean ioContextBusy = false;
                for (ObjectName io : MBEANS.queryNames(new ObjectName("io.jaio:type=AioContext,name=\"nbd-io0\",*"), null)) {
                    ioContextBusy |= attr(io, "iterations") > 0 && attr(io, "fdHandlers") >= 1; // the client's socket
                }
                assertTrue(ioContextBusy, "no nbd-io0 context MBean with iterations and the client's fd");
                assertTrue(!MBEANS.queryNames(new ObjectName("io.jaio:type=AioContext,name=\"nbd-main\",*"), null).isEmpty());
            }
            await("the connection's MBean to go", () -> {
                try {
                    return MBEANS.queryNames(new ObjectName("io.jaio.nbd:type=Connection,export=\"obs-export\",*"), null)
                            .isEmpty();
                } catch (javax.management.MalformedObjectNameException e) {
                    throw new AssertionError(e);
                }
            });
            assertEquals(5, attr(export, "requests"), "the export keeps what closed connections did");
        }
        assertTrue(!MBEANS.isRegistered(new ObjectName("io.jaio.nbd:type=Export,name=\"obs-export\"")), "unregistered at stop");
    }

    /** Handshake with simple replies, then GO for export {@code name}. */
    private static RawClient goTo(RawClient c, String name) throws Exception {
        c.greeting();
        c.clientFlags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
        c.option(Nbd.OPT_GO, RawClient.goPayload(name));
        for (int i = 0; i < 16; i++) { // bounded: a few INFO replies, then the ACK
            RawClient.OptionReply r = c.readOptionReply();
            if (r.type() == Nbd.REP_ACK) {
                return c;
            }
            assertEquals(Nbd.REP_INFO, r.type(), "GO for '" + name + "' answered: " + r.message());
        }
        throw new AssertionError("no ACK for GO '" + name + "'");
    }

    @Test
    void aStatsPeriodOutsideItsRangeIsRefusedNamingTheValue() {
        for (String bad : new String[] {"--stats=0", "--stats=3601", "--stats=x"}) {
            ServeOptions.UsageException e = org.junit.jupiter.api.Assertions.assertThrows(ServeOptions.UsageException.class,
                    () -> ServeOptions.parse(new String[] {bad}));
            assertTrue(e.getMessage().contains(bad.substring("--stats=".length())) && e.getMessage().contains("seconds 1..3600"),
                    bad + ": " + e.getMessage());
        }
    }

    @Test
    void latencyBucketsBoundTheirValuesWithin12AndAHalfPercent() {
        long[] samples = {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 4095, 4096, 123_456, 9_999_999, 1L << 40, Long.MAX_VALUE};
        for (long v : samples) {
            int b = LatencyHistogram.bucketOf(v);
            long up = LatencyHistogram.upperBound(b);
            assertTrue(up >= v, v + " in bucket " + b + " whose upper bound is " + up);
            assertTrue(up - v <= v / 8, v + " in bucket " + b + " whose upper bound is " + up + ": more than 12.5% high");
            assertTrue(b < LatencyHistogram.BUCKETS);
        }
        long[] buckets = new long[LatencyHistogram.BUCKETS];
        for (int i = 1; i <= 100; i++) {
            buckets[LatencyHistogram.bucketOf(i * 1000L)]++; // 1 us .. 100 us
        }
        long p50 = LatencyHistogram.percentile(buckets, 0.50);
        long p99 = LatencyHistogram.percentile(buckets, 0.99);
        assertTrue(p50 >= 50_000 && p50 <= 50_000 * 9 / 8, "p50 " + p50);
        assertTrue(p99 >= 99_000 && p99 <= 99_000 * 9 / 8, "p99 " + p99);
        assertEquals(0, LatencyHistogram.percentile(new long[LatencyHistogram.BUCKETS], 0.5));
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aServerWithStatsAndAFlightRecordingUnderFioLoadReportsBoth() throws Exception {
        assumeTool("fio", "fio");
        Path image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 16 << 20);
        Path jfr = dir.resolve("nbd.jfr");
        String socket = dir.resolve("nbd.sock").toString();
        List<String> cmd = new ArrayList<>(NbdServerProcess.classPathJava("-XX:StartFlightRecording:filename=" + jfr));
        cmd.addAll(List.of("serve", "-k", socket, "-t", "--stats=1", image.toString()));
        NbdServerProcess server = NbdServerProcess.launch(cmd, dir.resolve("server.log"), null, Map.of());
        try {
            List<String> fio = List.of("fio", "--name=load", "--ioengine=nbd", "--uri=nbd+unix:///?socket=" + socket,
                    "--rw=randrw", "--bs=4k", "--size=16M", "--iodepth=8", "--time_based", "--runtime=3");
            NbdTestSupport.run(fio).expectSuccess(fio);
            // fio ran 3 s, so at least two 1 s intervals saw its requests.
            Pattern line = Pattern.compile("INFO stats: (\\d+) req/s, ([0-9.]+) MiB/s, p50 (\\d+(?:\\.\\d+)? [mu]?s), p99 "
                    + "(\\d+(?:\\.\\d+)? [mu]?s), in flight (\\d+), clients (\\d+)");
            await("two --stats lines with requests", () -> {
                try {
                    Matcher m = line.matcher(server.output());
                    int busy = 0;
                    while (m.find()) {
                        if (Long.parseLong(m.group(1)) > 0 && Double.parseDouble(m.group(2)) > 0) {
                            busy++;
                        }
                    }
                    return busy >= 2;
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            server.signal("TERM");
            assertEquals(0, server.awaitExit(), server.output());
        } finally {
            if (server.isAlive()) {
                server.signal("KILL");
            }
        }
        Map<String, Integer> counts = new HashMap<>();
        boolean read4k = false;
        boolean write4k = false;
        boolean opened = false;
        boolean closed = false;
        for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
            String type = e.getEventType().getName();
            if (!type.startsWith("io.jaio.")) {
                continue;
            }
            counts.merge(type, 1, Integer::sum);
            if (type.equals("io.jaio.nbd.Request") && e.getLong("length") == 4096 && e.getLong("latencyNs") > 0
                    && e.getInt("error") == 0) {
                read4k |= "read".equals(e.getString("command"));
                write4k |= "write".equals(e.getString("command"));
            }
            if (type.equals("io.jaio.nbd.Connection")) {
                opened |= "open".equals(e.getString("phase"));
                closed |= "close".equals(e.getString("phase")) && e.getLong("requests") > 0 && e.getLong("connectedNs") > 0;
            }
        }
        assertTrue(read4k && write4k, "4 KiB reads and writes as io.jaio.nbd.Request events: " + counts);
        assertTrue(opened && closed, "the connection's open and close events: " + counts);
        assertTrue(counts.getOrDefault("io.jaio.LoopIteration", 0) > 0, "the loop's own events: " + counts);
        assertTrue(Files.size(jfr) > 0);
    }
}
