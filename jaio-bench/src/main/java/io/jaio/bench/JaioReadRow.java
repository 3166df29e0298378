// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;

import io.jaio.AioContext;
import io.jaio.block.FileIoEngine;

/**
 * A {@link FileReadBench} row on a jaio {@link FileIoEngine}: the benchmark thread is the
 * context's home thread and drives it with {@code poll(true)}, keeping {@code qd} reads in
 * flight. Each in-flight read is a reusable {@link Slot} (the engine's {@code Completion}) with
 * its own 4 KiB native buffer aligned to 4096; its completion checks the block's stamp and
 * submits the next random read, so steady state allocates nothing in the benchmark.
 *
 * <p>Allocation is read from the JVM's per-thread counters around the measured interval: the
 * benchmark (home) thread alone, and all threads together (which adds the engine's workers).
 *
 * <p>Threading: home thread of {@code ctx} only.
 */
final class JaioReadRow implements FileReadBench.Row {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    /** Poll iterations allowed to drain the reads still in flight after the deadline. */
    private static final int DRAIN_POLLS = 1_000_000;

    private final String name;
    private final AioContext ctx;
    private final FileIoEngine engine;
    private final int directFd;
    private final int cachedFd;
    private final long blocks;
    private final Slot[] slots;
    /** The engine takes O_DIRECT fds only (Linux AIO): the page-cache rows are skipped. */
    private final boolean directOnly;
    private ReadFile.BlockRng rng;
    private int fd;
    private int inFlight;
    private long completed;
    private long bad;
    private boolean stopping;

    JaioReadRow(String name, AioContext ctx, FileIoEngine engine, int directFd, int cachedFd, long blocks, int maxQd,
            Arena arena) {
        this(name, ctx, engine, directFd, cachedFd, blocks, maxQd, arena, false);
    }

    JaioReadRow(String name, AioContext ctx, FileIoEngine engine, int directFd, int cachedFd, long blocks, int maxQd,
            Arena arena, boolean directOnly) {
        this.directOnly = directOnly;
        this.name = name;
        this.ctx = ctx;
        this.engine = engine;
        this.directFd = directFd;
        this.cachedFd = cachedFd;
        this.blocks = blocks;
        this.slots = new Slot[maxQd];
        for (int i = 0; i < maxQd; i++) {
            slots[i] = new Slot(this, arena.allocate(ReadFile.BLOCK_BYTES, 4096));
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean appliesToMode(boolean direct) {
        return direct || !directOnly;
    }

    @Override
    public boolean tracksAllocation() {
        return true;
    }

    /** One in-flight read: the engine's completion, reused for every read it carries. */
    static final class Slot implements FileIoEngine.Completion {
        final JaioReadRow row;
        final MemorySegment buf;
        long block;

        Slot(JaioReadRow row, MemorySegment buf) {
            this.row = row;
            this.buf = buf;
        }

        @Override
        public void complete(long result) {
            row.onComplete(this, result);
        }
    }

    private void submit(Slot s) {
        long b = rng.next();
        s.block = b;
        inFlight++;
        engine.read(fd, b * ReadFile.BLOCK_BYTES, s.buf, s);
    }

    void onComplete(Slot s, long result) {
        inFlight--;
        if (result != ReadFile.BLOCK_BYTES || !ReadFile.stampMatches(s.buf, s.block)) {
            bad++;
        }
        completed++;
        if (!stopping) {
            submit(s);
        }
    }

    @Override
    public FileReadBench.Result run(boolean direct, int qd, long durationNs, long seed) {
        fd = direct ? directFd : cachedFd;
        rng = new ReadFile.BlockRng(seed, blocks);
        completed = 0;
        bad = 0;
        stopping = false;
        long allBefore = THREADS.getTotalThreadAllocatedBytes();
        long mineBefore = THREADS.getCurrentThreadAllocatedBytes();
        long start = System.nanoTime();
        long end = start + durationNs;
        for (int i = 0; i < qd; i++) {
            submit(slots[i]);
        }
        long now;
        while ((now = System.nanoTime()) < end) {
            ctx.poll(true);
        }
        long ops = completed;
        long mine = THREADS.getCurrentThreadAllocatedBytes() - mineBefore;
        long all = THREADS.getTotalThreadAllocatedBytes() - allBefore;
        stopping = true;
        for (int polls = 0; inFlight > 0; polls++) { // bounded: each blocking poll completes at least one read
            if (polls > DRAIN_POLLS) {
                throw new IllegalStateException(name + ": " + inFlight + " reads still in flight after " + polls + " polls");
            }
            ctx.poll(true);
        }
        if (bad > 0) {
            throw new IllegalStateException(name + ": " + bad + " of " + completed + " reads failed or returned the wrong block");
        }
        return new FileReadBench.Result(ops, now - start, (double) mine / ops, (double) all / ops);
    }
}
