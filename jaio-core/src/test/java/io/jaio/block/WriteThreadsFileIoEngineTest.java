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
        final MemorySegment buf;
        final int slots;
        long started;
        long done;
        long total;
        long firstError;

        Chain(FileIoEngine e, int fd, MemorySegment buf, int slots) {
            this.e = e;
            this.fd = fd;
            this.buf = buf;
            this.slots = slots;
        }

        void start(int depth, long count) {
            total += count;
            for (int i = 0; i < depth && started < total; i++) {
                next();
            }
        }

        private void next() {
            long slot = started++ % slots;
            e.write(fd, slot * BLOCK, buf.asSlice(slot * BLOCK, BLOCK), false, this);
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
        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        if (!(mx instanceof com.sun.management.ThreadMXBean sun) || !sun.isThreadAllocatedMemorySupported()) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "this JVM does not count allocated bytes per thread");
            return;
        }
        sun.setThreadAllocatedMemoryEnabled(true);
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

            long home0 = sun.getThreadAllocatedBytes(homeId);
            long writer0 = sun.getThreadAllocatedBytes(writerId);
            long count = 50_000;
            chain.start(32, count);
            while (chain.done != chain.total) { // no lambda: pollUntil's would be counted too
                ctx.poll(true);
            }
            long homeBytes = sun.getThreadAllocatedBytes(homeId) - home0;
            long writerBytes = sun.getThreadAllocatedBytes(writerId) - writer0;

            assertEquals(0, chain.firstError, "a write failed");
            assertEquals(ops, ((WriteThreadsFileIoEngine) e).opsCreated(), "operations made in steady state");
            // One segment or boxed value per write would be >= 16 bytes x 50,000; allow a few KiB of incidental allocation.
            assertTrue(homeBytes < 16_384, "home thread allocated " + homeBytes + " bytes for " + count + " writes");
            assertTrue(writerBytes < 16_384, "writer allocated " + writerBytes + " bytes for " + count + " writes");
            System.out.println("write-threads, " + count + " writes at QD32: home thread " + homeBytes + " B, writer "
                    + writerBytes + " B allocated");
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
