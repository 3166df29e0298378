// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.AsynchronousFileChannel;
import java.nio.channels.CompletionHandler;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The JDK rows of {@link FileReadBench}: positional {@link FileChannel#read(ByteBuffer, long)} on
 * one thread or on {@code threads} threads (one read in flight each), and
 * {@link AsynchronousFileChannel} with {@code qd} reads in flight (the default channel: its
 * blocking reads run on the JDK's internal cached thread pool, and each completion handler
 * starts the next read). O_DIRECT through {@code com.sun.nio.file.ExtendedOpenOption.DIRECT}
 * (looked up reflectively: javac's warning about that JDK-specific API cannot be suppressed, and
 * the build treats warnings as errors); buffers are direct and aligned to 4096
 * ({@code alignedSlice}). Every read checks the block's stamp.
 */
final class JdkReadRows {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static final OpenOption DIRECT = directOption();

    private JdkReadRows() {
    }

    private static OpenOption directOption() {
        try {
            return (OpenOption) Class.forName("com.sun.nio.file.ExtendedOpenOption").getField("DIRECT").get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    static ByteBuffer alignedBuffer() {
        return ByteBuffer.allocateDirect(2 * ReadFile.BLOCK_BYTES).alignedSlice(4096).limit(ReadFile.BLOCK_BYTES)
                .slice().order(ByteOrder.nativeOrder());
    }

    static Set<OpenOption> options(boolean direct) {
        Set<OpenOption> o = new HashSet<>();
        o.add(StandardOpenOption.READ);
        if (direct) {
            o.add(DIRECT);
        }
        return o;
    }

    /** Reads on {@code threads} platform threads, each with its own channel position and buffer. */
    static final class FileChannelRow implements FileReadBench.Row {
        private final Path path;
        private final long blocks;
        /** 0: as many threads as the queue depth; else a fixed count (1 = one thread at any depth). */
        private final int threads;

        FileChannelRow(Path path, long blocks, int threads) {
            this.path = path;
            this.blocks = blocks;
            this.threads = threads;
        }

        @Override
        public String name() {
            return threads == 1 ? "FileChannel.read, 1 thread" : "FileChannel.read, QD threads";
        }

        @Override
        public boolean appliesTo(int qd) {
            return threads == 1 || qd > 1;
        }

        @Override
        public FileReadBench.Result run(boolean direct, int qd, long durationNs, long seed) throws Exception {
            int n = threads == 0 ? qd : threads;
            long allBefore = THREADS.getTotalThreadAllocatedBytes();
            try (FileChannel ch = FileChannel.open(path, options(direct))) {
                if (n == 1) {
                    long start = System.nanoTime();
                    long ops = readLoop(ch, new ReadFile.BlockRng(seed, blocks), start + durationNs);
                    long elapsed = System.nanoTime() - start;
                    return new FileReadBench.Result(ops, elapsed, Double.NaN,
                            (double) (THREADS.getTotalThreadAllocatedBytes() - allBefore) / ops);
                }
                long[] ops = new long[n];
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Thread[] ts = new Thread[n];
                long start = System.nanoTime();
                long end = start + durationNs;
                for (int i = 0; i < n; i++) {
                    int id = i;
                    ts[i] = Thread.ofPlatform().name("fc-reader-" + i).start(() -> {
                        try {
                            ops[id] = readLoop(ch, new ReadFile.BlockRng(seed + 7919L * id, blocks), end);
                        } catch (Throwable t) {
                            failure.compareAndSet(null, t);
                        }
                    });
                }
                long total = 0;
                for (int i = 0; i < n; i++) {
                    if (!ts[i].join(java.time.Duration.ofNanos(durationNs).plusSeconds(30))) {
                        throw new IllegalStateException("reader thread " + ts[i].getName() + " did not finish");
                    }
                    total += ops[i];
                }
                long elapsed = System.nanoTime() - start;
                if (failure.get() != null) {
                    throw new IllegalStateException("reader failed", failure.get());
                }
                return new FileReadBench.Result(total, elapsed, Double.NaN,
                        (double) (THREADS.getTotalThreadAllocatedBytes() - allBefore) / total);
            }
        }

        /** Reads random blocks until {@code endNs}; returns how many. */
        private static long readLoop(FileChannel ch, ReadFile.BlockRng rng, long endNs) throws IOException {
            ByteBuffer buf = alignedBuffer();
            long ops = 0;
            do {
                for (int k = 0; k < 16; k++) {
                    long block = rng.next();
                    buf.clear();
                    while (buf.hasRemaining()) {
                        if (ch.read(buf, block * ReadFile.BLOCK_BYTES + buf.position()) < 0) {
                            throw new IOException("unexpected end of file at block " + block);
                        }
                    }
                    if (buf.getLong(0) != ReadFile.stamp(block)) {
                        throw new IOException("block " + block + " has the wrong stamp");
                    }
                    ops++;
                }
            } while (System.nanoTime() < endNs);
            return ops;
        }
    }

    /** AsynchronousFileChannel with {@code qd} reads in flight; completion handlers resubmit. */
    static final class AsyncRow implements FileReadBench.Row {
        private final Path path;
        private final long blocks;

        AsyncRow(Path path, long blocks) {
            this.path = path;
            this.blocks = blocks;
        }

        @Override
        public String name() {
            return "AsynchronousFileChannel";
        }

        /** One read in flight; its handler starts the next until the deadline. */
        static final class Slot implements CompletionHandler<Integer, Void> {
            final AsynchronousFileChannel ch;
            final ReadFile.BlockRng rng;
            final ByteBuffer buf = alignedBuffer();
            final long endNs;
            final CountDownLatch finished;
            final AtomicReference<Throwable> failure;
            long block;
            /** Read by the benchmark thread after {@code finished}: the latch orders it. */
            long ops;

            Slot(AsynchronousFileChannel ch, ReadFile.BlockRng rng, long endNs, CountDownLatch finished,
                    AtomicReference<Throwable> failure) {
                this.ch = ch;
                this.rng = rng;
                this.endNs = endNs;
                this.finished = finished;
                this.failure = failure;
            }

            void start() {
                block = rng.next();
                buf.clear();
                ch.read(buf, block * ReadFile.BLOCK_BYTES, null, this);
            }

            @Override
            public void completed(Integer n, Void unused) {
                if (buf.hasRemaining() || buf.getLong(0) != ReadFile.stamp(block)) {
                    failed(new IOException("short read or wrong stamp at block " + block), null);
                    return;
                }
                ops++;
                if (System.nanoTime() < endNs) {
                    start();
                } else {
                    finished.countDown();
                }
            }

            @Override
            public void failed(Throwable t, Void unused) {
                failure.compareAndSet(null, t);
                finished.countDown();
            }
        }

        @Override
        public FileReadBench.Result run(boolean direct, int qd, long durationNs, long seed) throws Exception {
            long allBefore = THREADS.getTotalThreadAllocatedBytes();
            try (AsynchronousFileChannel ch = AsynchronousFileChannel.open(path, options(direct), null)) {
                CountDownLatch finished = new CountDownLatch(qd);
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Slot[] slots = new Slot[qd];
                long start = System.nanoTime();
                for (int i = 0; i < qd; i++) {
                    slots[i] = new Slot(ch, new ReadFile.BlockRng(seed + 7919L * i, blocks), start + durationNs, finished,
                            failure);
                    slots[i].start();
                }
                if (!finished.await(durationNs + TimeUnit.SECONDS.toNanos(30), TimeUnit.NANOSECONDS)) {
                    throw new IllegalStateException("AsynchronousFileChannel reads did not finish");
                }
                long elapsed = System.nanoTime() - start;
                if (failure.get() != null) {
                    throw new UncheckedIOException(new IOException("AsynchronousFileChannel read failed", failure.get()));
                }
                long total = 0;
                for (Slot s : slots) {
                    total += s.ops;
                }
                return new FileReadBench.Result(total, elapsed, Double.NaN,
                        (double) (THREADS.getTotalThreadAllocatedBytes() - allBefore) / total);
            }
        }
    }
}
