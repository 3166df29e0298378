// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --poll-max-ns}: with the io_uring monitor a connection's socket joins the I/O thread's
 * adaptive polling, so the context's poll time grows under a QD1 stream of requests (the loop
 * spins between them instead of sleeping); with 0 it stays 0. Read through the context's MBean
 * ({@code io.jaio:type=AioContext,name="nbd-io0"}), while a real client's reads are checked
 * byte for byte.
 */
class NbdPollingTest {
    private static final MBeanServer MBEANS = ManagementFactory.getPlatformMBeanServer();
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    /** The first I/O thread's context MBean; skips the test unless its fd monitor is io_uring. */
    private static ObjectName ioContextWithUring() throws Exception {
        ObjectName io = null;
        for (ObjectName on : MBEANS.queryNames(new ObjectName("io.jaio:type=AioContext,name=\"nbd-io0\",*"), null)) {
            io = on;
        }
        assertTrue(io != null, "no nbd-io0 context MBean");
        assumeTrue("io_uring".equals(MBEANS.getAttribute(io, "fdMonitor")),
                "sockets join the polling only with the io_uring monitor; this context has " + MBEANS.getAttribute(io, "fdMonitor"));
        return io;
    }

    /** The largest poll time any nbd-io0 context shows, sampled during {@code rounds} x 50 QD1 reads. */
    private long maxPollNsDuringReads(Path image, String pollMaxNs, int rounds) throws Exception {
        byte[] disk = Files.readAllBytes(image);
        long max = 0;
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-t", "--poll-max-ns", pollMaxNs);
                RawClient c = s.connect()) {
            c.handshake(false);
            ObjectName io = ioContextWithUring();
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < 50; i++) {
                    int off = ((r * 50 + i) * 4096 * 7) % SIZE;
                    RawClient.Reply reply = c.read(off, 4096);
                    assertEquals(0, reply.error(), "read at " + off);
                    assertArrayEquals(Arrays.copyOfRange(disk, off, off + 4096), reply.data(), "read at " + off);
                }
                max = Math.max(max, ((Number) MBEANS.getAttribute(io, "pollNs")).longValue());
            }
        }
        return max;
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void socketsJoinAdaptivePollingWhenItIsOn() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("on.img"), SIZE, 7);
        long max = maxPollNsDuringReads(image, "100000", 40);
        assertTrue(max > 0, "the I/O context's poll time stayed 0 under QD1 reads with --poll-max-ns=100000");
        assertTrue(max <= 100_000, "poll time " + max + " ns above --poll-max-ns=100000");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void pollingIsOnByDefault() throws Exception {
        assertEquals(100_000, ServeOptions.parse(new String[0]).pollMaxNs);
    }

    /**
     * While writes are in flight the I/O thread does not poll (their writer or io-wq thread needs
     * the core): with 4 writes always in flight, the context's poll time is 0 in nearly every
     * sample, where a read stream on the same server grows it.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void pollingPausesWhileWritesAreInFlight() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("w.img"), SIZE, 9);
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-t", "--poll-max-ns", "100000");
                RawClient c = s.connect()) {
            c.handshake(false);
            ObjectName io = ioContextWithUring();
            long readMax = 0;
            for (int i = 0; i < 2000; i++) {
                assertEquals(0, c.read((i * 4096L * 3) % SIZE, 4096).error());
                if (i % 50 == 49) {
                    readMax = Math.max(readMax, ((Number) MBEANS.getAttribute(io, "pollNs")).longValue());
                }
            }
            assertTrue(readMax > 0, "reads alone never grew the poll time");
            byte[] data = new byte[4096];
            int depth = 4;
            long cookie = 1;
            for (int i = 0; i < depth; i++) {
                c.request(0, Nbd.CMD_WRITE, cookie, (cookie * 4096) % SIZE, 4096, data);
                cookie++;
            }
            int samples = 0;
            int polling = 0;
            for (int i = 0; i < 4000; i++) {
                assertEquals(0, c.readReply().error(), "write");
                c.request(0, Nbd.CMD_WRITE, cookie, (cookie * 4096) % SIZE, 4096, data); // always 4 in flight
                cookie++;
                if (i % 20 == 19) {
                    samples++;
                    if (((Number) MBEANS.getAttribute(io, "pollNs")).longValue() > 0) {
                        polling++;
                    }
                }
            }
            for (int i = 0; i < depth; i++) {
                assertEquals(0, c.readReply().error(), "write");
            }
            assertTrue(polling * 10 <= samples, "the loop polled in " + polling + " of " + samples
                    + " samples with writes in flight (expected at most a tenth)");
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void noPollingWhenOff() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("off.img"), SIZE, 8);
        assertEquals(0, maxPollNsDuringReads(image, "0", 10), "poll time with --poll-max-ns=0");
    }
}
