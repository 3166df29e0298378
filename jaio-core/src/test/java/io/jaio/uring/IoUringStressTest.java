// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.UringTestSupport.pollUntil;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReferenceArray;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import io.jaio.AioContext;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;
import io.jaio.testing.UringTestSupport;

/**
 * Thousands of requests in flight on a small ring: the submission queue fills and is flushed
 * mid-batch, the completion queue overflows into the kernel's backlog, and every completion must
 * still arrive exactly once with the right data. Then several io_uring contexts on their own
 * threads while another thread keeps waking them up. Bounded: a watchdog timer per wait and a
 * JUnit timeout; a hang dumps every thread.
 */
class IoUringStressTest {
    private static final int FILE_BYTES = 64 << 20;
    private static final int READ_BYTES = 4096;
    private static final int READS = 4096;

    @TempDir
    static Path dir;
    private static Path file;

    /** A 64 MiB file whose every 8-byte word holds its own offset (little-endian). */
    @BeforeAll
    static void writeFile() throws Exception {
        file = dir.resolve("64m.img");
        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            for (long base = 0; base < FILE_BYTES; base += chunk.capacity()) {
                chunk.clear();
                for (int i = 0; i < chunk.capacity(); i += 8) {
                    chunk.putLong(i, base + i);
                }
                while (chunk.hasRemaining()) {
                    ch.write(chunk, base + chunk.position());
                }
            }
        }
    }

    private static long randomOffset(Random rnd) {
        return 8L * rnd.nextInt((FILE_BYTES - READ_BYTES) / 8);
    }

    private static void checkBlock(MemorySegment buf, long offset, String what) {
        for (long k = 0; k < READ_BYTES; k += 8) {
            long got = buf.get(JAVA_LONG_UNALIGNED, k);
            if (got != offset + k) {
                fail(what + " at offset " + offset + ": word " + k / 8 + " = " + got + " (expected " + (offset + k) + ")");
            }
        }
    }

    /** A read handler that counts its completions and keeps its last result. */
    static final class CountingRead extends CqeHandler {
        long offset;
        int calls;
        int res;
        int[] total;

        @Override
        protected void onCompletion(int res, int flags) {
            calls++;
            total[0]++;
            this.res = res;
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void fourThousandReadsInFlightOnA256EntryRingEachCompleteOnce() throws Exception {
        int fd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
        try (AioContext ctx = UringTestSupport.uringContext(256); Arena a = Arena.ofConfined()) {
            MemorySegment bufs = a.allocate((long) READS * READ_BYTES, 4096);
            MemorySegment[] slices = new MemorySegment[READS];
            CountingRead[] hs = new CountingRead[READS];
            int[] total = {0};
            for (int i = 0; i < READS; i++) {
                slices[i] = bufs.asSlice((long) i * READ_BYTES, READ_BYTES);
                hs[i] = new CountingRead();
                hs[i].total = total;
            }
            Random rnd = new Random(42);
            IoUring ring = IoUring.of(ctx);
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < READS; i++) { // all submitted before the first poll: the SQ overflows
                    hs[i].offset = randomOffset(rnd);
                    ring.read(fd, slices[i], hs[i].offset, hs[i]);
                }
                int want = round * READS;
                pollUntil(ctx, "round " + round + " of " + READS + " reads", () -> total[0] >= want);
                assertFalse(ctx.poll(false), "completions after all were counted");
                assertEquals(want, total[0]);
                for (int i = 0; i < READS; i++) {
                    assertEquals(round, hs[i].calls, "completions of read " + i);
                    assertEquals(READ_BYTES, hs[i].res, "res of read " + i);
                    assertFalse(hs[i].isInFlight());
                    checkBlock(slices[i], hs[i].offset, "read " + i);
                }
            }
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void fourThousandEngineReadsOnA64EntryRingEachCompleteOnce() throws Exception {
        int fd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
        try (AioContext ctx = UringTestSupport.uringContext(64); Arena a = Arena.ofConfined()) {
            FileIoEngine engine = FileIoEngines.ioUring(ctx);
            MemorySegment bufs = a.allocate((long) READS * READ_BYTES, 4096);
            long[] offsets = new long[READS];
            int[] calls = new int[READS];
            long[] results = new long[READS];
            int[] total = {0};
            Random rnd = new Random(7);
            for (int i = 0; i < READS; i++) {
                int id = i;
                offsets[i] = randomOffset(rnd);
                engine.read(fd, offsets[i], bufs.asSlice((long) i * READ_BYTES, READ_BYTES), r -> {
                    calls[id]++;
                    results[id] = r;
                    total[0]++;
                });
            }
            pollUntil(ctx, READS + " engine reads", () -> total[0] >= READS);
            assertFalse(ctx.poll(false));
            for (int i = 0; i < READS; i++) {
                assertEquals(1, calls[i], "completions of read " + i);
                assertEquals(READ_BYTES, results[i], "result of read " + i);
                checkBlock(bufs.asSlice((long) i * READ_BYTES, READ_BYTES), offsets[i], "engine read " + i);
            }
        } finally {
            Fds.close(fd);
        }
    }

    /**
     * Each of {@code THREADS} home threads keeps {@code DEPTH} reads and NOPs in flight on its own
     * small ring, resubmitting from the handlers, while another thread keeps calling aioNotify()
     * on every context: cross-thread wake-ups mixed with a busy ring.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void contextsOnSeveralThreadsKeepRingsBusyWhileWokenFromAnotherThread() throws Exception {
        final int threads = 4;
        final int depth = 96;
        final int perThread = 20_000;
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicReferenceArray<AioContext> ctxs = new AtomicReferenceArray<>(threads);
        CountDownLatch started = new CountDownLatch(threads);
        CountDownLatch finished = new CountDownLatch(threads);
        CountDownLatch notifierStopped = new CountDownLatch(1);
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int id = t;
            workers[t] = new Thread(() -> {
                try {
                    runWorker(id, depth, perThread, ctxs, started, finished, notifierStopped);
                } catch (Throwable e) {
                    failures.add(e);
                    started.countDown();
                    finished.countDown();
                }
            }, "uring-stress-" + t);
            workers[t].start();
        }
        AtomicBoolean stop = new AtomicBoolean();
        Thread notifier = new Thread(() -> {
            try {
                while (!stop.get()) {
                    for (int i = 0; i < threads; i++) {
                        AioContext c = ctxs.get(i);
                        if (c != null) {
                            c.aioNotify();
                        }
                    }
                    Thread.onSpinWait();
                }
            } catch (Throwable e) {
                failures.add(e);
            }
        }, "uring-stress-notifier");
        try {
            awaitOrDump(started, "workers to start");
            notifier.start();
            awaitOrDump(finished, "workers to finish");
        } finally {
            stop.set(true);
            notifier.join(TimeUnit.SECONDS.toMillis(20));
            notifierStopped.countDown();
            for (Thread w : workers) {
                w.join(TimeUnit.SECONDS.toMillis(20));
                if (w.isAlive()) {
                    failures.add(new AssertionError(w.getName() + " did not finish\n" + threadDump()));
                }
            }
        }
        if (!failures.isEmpty()) {
            AssertionError e = new AssertionError(failures.size() + " thread(s) failed");
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }

    private static void runWorker(int id, int depth, int total, AtomicReferenceArray<AioContext> ctxs, CountDownLatch started,
            CountDownLatch finished, CountDownLatch notifierStopped) throws Exception {
        int fd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
        try (Arena a = Arena.ofConfined()) {
            AioContext ctx = AioContext.builder().name("stress-" + id).fdMonitor(FdMonitorKind.IO_URING)
                    .ioUringEntries(32).build();
            try {
                if (!ctx.hasIoUring()) {
                    System.out.println("SKIPPED worker " + id + ": io_uring unavailable: " + ctx.ioUringUnavailableReason());
                    started.countDown();
                    finished.countDown();
                    return;
                }
                ctxs.set(id, ctx);
                started.countDown();
                int[] submitted = {0};
                int[] completed = {0};
                long[] badResults = {0};
                Random rnd = new Random(id);
                MemorySegment bufs = a.allocate((long) depth * READ_BYTES, 4096);
                CqeHandler[] hs = new CqeHandler[depth];
                long[] offsets = new long[depth];
                IoUring ring = IoUring.of(ctx);
                for (int i = 0; i < depth; i++) {
                    int index = i; // not 'slot': CqeHandler has a package-private field of that name
                    MemorySegment buf = bufs.asSlice((long) i * READ_BYTES, READ_BYTES);
                    hs[i] = new CqeHandler() {
                        @Override
                        protected void onCompletion(int res, int flags) {
                            completed[0]++;
                            boolean wasRead = offsets[index] >= 0;
                            if ((wasRead && (res != READ_BYTES || buf.get(JAVA_LONG_UNALIGNED, 0) != offsets[index]))
                                    || (!wasRead && res != 0)) {
                                badResults[0]++;
                            }
                            if (submitted[0] < total) {
                                submitOne(ring, fd, buf, this, offsets, index, rnd, submitted);
                            }
                        }
                    };
                    submitOne(ring, fd, buf, hs[i], offsets, index, rnd, submitted);
                }
                pollUntil(ctx, "worker " + id + ": " + total + " completions", () -> completed[0] == total);
                assertEquals(0, badResults[0], "worker " + id + ": completions with a wrong result or data");
                finished.countDown();
                if (!notifierStopped.await(60, TimeUnit.SECONDS)) {
                    fail("worker " + id + ": the notifier thread did not stop");
                }
            } finally {
                ctxs.set(id, null);
                ctx.close();
            }
        } finally {
            Fds.close(fd);
        }
    }

    /** Every third request is a NOP (offset -1), the others 4 KiB reads at a random offset. */
    private static void submitOne(IoUring ring, int fd, MemorySegment buf, CqeHandler h, long[] offsets, int slot,
            Random rnd, int[] submitted) {
        if (submitted[0]++ % 3 == 2) {
            offsets[slot] = -1;
            ring.nop(h);
        } else {
            offsets[slot] = randomOffset(rnd);
            ring.read(fd, buf, offsets[slot], h);
        }
    }

    private static void awaitOrDump(CountDownLatch latch, String what) throws InterruptedException {
        if (!latch.await(90, TimeUnit.SECONDS)) {
            fail("gave up waiting for " + what + "\n" + threadDump());
        }
    }

    private static String threadDump() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            sb.append('"').append(e.getKey().getName()).append("\" ").append(e.getKey().getState()).append('\n');
            for (StackTraceElement f : e.getValue()) {
                sb.append("    at ").append(f).append('\n');
            }
        }
        return sb.toString();
    }
}
