// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import static io.jaio.testing.TestSupport.pattern;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;

/**
 * What the write-threads engine adds to the {@link FileIoEngine} contract (which
 * {@link FileIoEngineTest} checks on it): more writes in flight than its queue holds, no
 * allocation per write once warm on the home thread and on the writer, and writer threads that
 * stop with the context. Real files, real writer threads.
 */
class WriteThreadsFileIoEngineTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    private static AioContext context(String name) throws ErrnoException {
        return AioContext.builder().name(name).fdMonitor(FdMonitorKind.IO_URING).build();
    }

    private int openFile(String name, int size) throws Exception {
        Path f = dir.resolve(name);
        Files.write(f, new byte[size]);
        return Fds.open(f.toString(), Fds.O_RDWR, 0);
    }

    private static List<Thread> writerThreads(String ctxName) {
        List<Thread> found = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("jaio-writer-" + ctxName + "-") && t.isAlive()) {
                found.add(t);
            }
        }
        return found;
    }

    @Test
    void moreWritesThanTheQueueHoldsEachCompleteOnceWithTheirData() throws Exception {
        int n = WriterPool.CAPACITY * 3 + 17; // past the queue: the rest waits in the overflow FIFO
        byte[] data = pattern(n * BLOCK, 21);
        int fd = openFile("overflow", n * BLOCK);
        try (AioContext ctx = context("wt-overflow"); Arena a = Arena.ofConfined()) {
            FileIoEngine e = FileIoEngines.writeThreads(ctx, 2);
            MemorySegment src = a.allocate(data.length, BLOCK);
            MemorySegment.copy(data, 0, src, JAVA_BYTE, 0, data.length);
            int[] calls = new int[n];
            long[] results = new long[n];
            for (int i = 0; i < n; i++) {
                int k = i;
                e.write(fd, (long) i * BLOCK, src.asSlice((long) i * BLOCK, BLOCK), i % 97 == 0, r -> {
                    calls[k]++;
                    results[k] = r;
                });
            }
            int[] sum = {0};
            pollUntil(ctx, n + " writes", () -> {
                sum[0] = 0;
                for (int c : calls) {
                    sum[0] += c;
                }
                return sum[0] >= n;
            });
            ctx.poll(false);
            for (int i = 0; i < n; i++) {
                assertEquals(1, calls[i], "completions of write " + i);
                assertEquals(BLOCK, results[i], "result of write " + i);
            }
        } finally {
            Fds.close(fd);
        }
        assertArrayEquals(data, Files.readAllBytes(dir.resolve("overflow")));
    }

    /** Keeps {@code depth} writes in flight: each completion starts the next, until {@code total} are done. */
    private static final class Chain implements FileIoEngine.Completion {
        final FileIoEngine e;
        final int fd;
        /** One 4 KiB slice of the buffer per slot, made once (asSlice makes an object). */
        final MemorySegment[] slices;
        final int slots;
        long started;
        long done;
        long total;
        long firstError;

        Chain(FileIoEngine e, int fd, MemorySegment buf, int slots) {
            this.e = e;
            this.fd = fd;
            this.slots = slots;
            this.slices = new MemorySegment[slots];
            for (int i = 0; i < slots; i++) {
                slices[i] = buf.asSlice((long) i * BLOCK, BLOCK);
            }
        }

        void start(int depth, long count) {
            total += count;
            for (int i = 0; i < depth && started < total; i++) {
                next();
            }
        }

        private void next() {
            int slot = (int) (started++ % slots);
            e.write(fd, (long) slot * BLOCK, slices[slot], false, this);
        }

        @Override
        public void complete(long result) {
            if (result != BLOCK && firstError == 0) {
                firstError = result == 0 ? Long.MIN_VALUE : result;
            }
            done++;
            if (started < total) {
                next();
            }
        }
    }

    @Test
    void steadyStateWritesAllocateNothingOnTheHomeThreadOrTheWriter() throws Exception {
        // com.sun.management through reflection: the test module does not read jdk.management.
        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        Method allocated;
        try {
            Class<?> sunMx = Class.forName("com.sun.management.ThreadMXBean");
            org.junit.jupiter.api.Assumptions.assumeTrue(sunMx.isInstance(mx)
                    && (boolean) sunMx.getMethod("isThreadAllocatedMemorySupported").invoke(mx),
                    "this JVM does not count allocated bytes per thread");
            sunMx.getMethod("setThreadAllocatedMemoryEnabled", boolean.class).invoke(mx, true);
            allocated = sunMx.getMethod("getThreadAllocatedBytes", long.class);
        } catch (ClassNotFoundException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no com.sun.management.ThreadMXBean: " + e);
            return;
        }
        int slots = 256;
        int fd = openFile("alloc", slots * BLOCK);
        try (AioContext ctx = context("wt-alloc"); Arena a = Arena.ofConfined()) {
            FileIoEngine e = FileIoEngines.writeThreads(ctx, 1);
            MemorySegment buf = a.allocate((long) slots * BLOCK, BLOCK);
            Chain chain = new Chain(e, fd, buf, slots);
            chain.start(32, 50_000); // warm-up: the JIT compiles the paths
            pollUntil(ctx, "warm-up writes", () -> chain.done == chain.total);
            List<Thread> writers = writerThreads("wt-alloc");
            assertEquals(1, writers.size(), "writer threads of the context");
            long writerId = writers.get(0).threadId();
            long homeId = Thread.currentThread().threadId();
            int ops = ((WriteThreadsFileIoEngine) e).opsCreated();

            // Rounds of 20,000 writes until one allocates (almost) nothing: C2 removes the loop's own
            // temporary objects only once it has compiled it whole, which takes a few rounds; a
            // segment or boxed value made per write would show in every round (>= 16 B x 20,000).
            long count = 20_000;
            long homeBytes = -1;
            long writerBytes = -1;
            int round = 0;
            StringBuilder seen = new StringBuilder();
            for (; round < 30; round++) {
                long home0 = (long) allocated.invoke(mx, homeId);
                long writer0 = (long) allocated.invoke(mx, writerId);
                chain.start(32, count);
                while (chain.done != chain.total) { // no lambda here: pollUntil's would be counted too
                    ctx.poll(true);
                }
                homeBytes = (long) allocated.invoke(mx, homeId) - home0;
                writerBytes = (long) allocated.invoke(mx, writerId) - writer0;
                seen.append(' ').append(homeBytes).append('/').append(writerBytes);
                if (homeBytes < 1024 && writerBytes < 1024) {
                    break;
                }
            }
            System.out.println("write-threads, rounds of " + count + " writes at QD32, bytes allocated home/writer:" + seen);
            assertEquals(0, chain.firstError, "a write failed");
            assertEquals(ops, ((WriteThreadsFileIoEngine) e).opsCreated(), "operations made in steady state");
            assertTrue(homeBytes < 1024 && writerBytes < 1024, "no round of " + count
                    + " writes allocated less than 1 KiB on both threads (home/writer bytes per round:" + seen + ")");
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void closingTheContextStopsAndJoinsItsWriters() throws Exception {
        int fd = openFile("close", BLOCK);
        try (Arena a = Arena.ofConfined()) {
            AioContext ctx = context("wt-close");
            List<Thread> writers;
            try {
                FileIoEngine e = FileIoEngines.writeThreads(ctx, 3);
                assertEquals(3, ((WriteThreadsFileIoEngine) e).writers());
                long[] result = {Long.MIN_VALUE};
                e.write(fd, 0, a.allocate(BLOCK, BLOCK).fill((byte) 7), true, r -> result[0] = r);
                pollUntil(ctx, "FUA write", () -> result[0] != Long.MIN_VALUE);
                assertEquals(BLOCK, result[0]);
                writers = writerThreads("wt-close");
                assertEquals(3, writers.size(), "writer threads started by the first write");
                FileIoEngine again = FileIoEngines.writeThreads(ctx, 1);
                assertEquals(3, ((WriteThreadsFileIoEngine) again).writers(), "the first call sets the pool's size");
            } finally {
                ctx.close();
            }
            for (Thread t : writers) {
                assertFalse(t.isAlive(), t.getName() + " still runs after close()");
            }
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void aWriterCountOutOfRangeIsRefusedNamingIt() throws Exception {
        try (AioContext ctx = context("wt-bad")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FileIoEngines.writeThreads(ctx, 0));
            assertTrue(e.getMessage().contains("writers=0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> FileIoEngines.writeThreads(ctx, 65));
            assertTrue(e.getMessage().contains("writers=65"), e.getMessage());
        }
    }
}
