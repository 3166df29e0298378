// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.jaio.AioContext;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;

/**
 * The writer pool's wake-up protocol and completion stack under many idle/busy transitions:
 * rounds of a random number of writes (1 to 48, some submitted from completions), each round
 * waited for with blocking polls, so that between rounds the writers spin out and park and the
 * next round must wake them. A lost wake-up hangs a round (the timeout fails the test and dumps
 * the threads, as every test's timeout does); a lost or doubled completion fails the count. Bounded: 3,000 rounds.
 */
class WriterPoolStressTest {
    private static final int BLOCK = 4096;
    private static final int ROUNDS = 3000;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} writer(s)")
    @ValueSource(ints = {1, 2, 3})
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void everyWriteCompletesOnceAcrossParkAndWakeTransitions(int writers) throws Exception {
        Path f = dir.resolve("stress");
        Files.write(f, new byte[64 * BLOCK]);
        int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        try (AioContext ctx = AioContext.builder().name("wt-stress-" + writers).fdMonitor(FdMonitorKind.IO_URING).build();
                Arena a = Arena.ofConfined()) {
            FileIoEngine e = FileIoEngines.writeThreads(ctx, writers);
            MemorySegment buf = a.allocate(64L * BLOCK, BLOCK);
            long[] completions = {0};
            long[] failures = {0};
            int[] toChain = {0};
            FileIoEngine.Completion done = new FileIoEngine.Completion() {
                @Override
                public void complete(long result) {
                    completions[0]++;
                    if (result != BLOCK) {
                        failures[0]++;
                    }
                    if (toChain[0] > 0) { // a write started from a completion, as NBD replies do
                        toChain[0]--;
                        e.write(fd, 0, buf.asSlice(0, BLOCK), false, this);
                    }
                }
            };
            long submitted = 0;
            for (int round = 0; round < ROUNDS; round++) {
                int n = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 48 : 3);
                toChain[0] = rnd.nextInt(3);
                submitted += n + toChain[0];
                for (int i = 0; i < n; i++) {
                    int slot = rnd.nextInt(64);
                    e.write(fd, (long) slot * BLOCK, buf.asSlice((long) slot * BLOCK, BLOCK), false, done);
                }
                while (completions[0] < submitted) { // bounded by the test's timeout
                    ctx.poll(true);
                }
                assertEquals(submitted, completions[0], "completions after round " + round + " (seed " + seed + ")");
            }
            assertEquals(0, failures[0], "writes that did not write " + BLOCK + " bytes (seed " + seed + ")");
        } finally {
            Fds.close(fd);
        }
    }
}
