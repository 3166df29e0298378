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

    /** The largest poll time any nbd-io0 context shows, sampled during {@code rounds} x 50 QD1 reads. */
    private long maxPollNsDuringReads(Path image, String pollMaxNs, int rounds) throws Exception {
        byte[] disk = Files.readAllBytes(image);
        long max = 0;
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-t", "--poll-max-ns", pollMaxNs);
                RawClient c = s.connect()) {
            c.handshake(false);
            ObjectName io = null;
            for (ObjectName on : MBEANS.queryNames(new ObjectName("io.jaio:type=AioContext,name=\"nbd-io0\",*"), null)) {
                io = on;
            }
            assertTrue(io != null, "no nbd-io0 context MBean");
            assumeTrue("io_uring".equals(MBEANS.getAttribute(io, "fdMonitor")),
                    "sockets join the polling only with the io_uring monitor; this context has "
                            + MBEANS.getAttribute(io, "fdMonitor"));
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
    void noPollingWhenOff() throws Exception {
        Path image = NbdTestSupport.randomImage(dir.resolve("off.img"), SIZE, 8);
        assertEquals(0, maxPollNsDuringReads(image, "0", 10), "poll time with --poll-max-ns=0");
    }
}
