// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.uring.CqeHandler;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.uring.IoUring;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Where registered (fixed) files and buffers pay off: 4 KiB random reads at queue depth
 * {@code qd} through the context's ring ({@link IoUring}) in four modes, same file, same driver,
 * same JMH run:
 * <ul>
 * <li>{@code plain}: {@link IoUring#read} on the fd;</li>
 * <li>{@code fixedFile}: {@link IoUring#readFixedFile} on slot 0 of a registered file table;</li>
 * <li>{@code fixedBuffer}: {@link IoUring#readFixed} (READ_FIXED) on the fd, into slices of one
 *     registered buffer;</li>
 * <li>{@code fixedFileAndBuffer}: {@link IoUring#readFixedFileAndBuffer}, both.</li>
 * </ul>
 * {@code direct=false} reads through the page cache (the file is read once at trial setup, so
 * it is cached); {@code direct=true} opens it O_DIRECT. The file is {@link FileReadBench}'s 1 GiB
 * stamped file ({@code -Djaio.bench.file}, default /var/tmp/jaio-bench/read-1g.img, made on first
 * use); every completion checks the stamp of its block, so a wrong block fails the trial.
 *
 * <p>One benchmark operation is {@code qd} completed reads (each completion submits the next
 * read from the same handler, so {@code qd} stay in flight); the {@code reads} counter is IOPS.
 * Run with {@code -prof gc}: gc.alloc.rate.norm should be ~0 B/op. The context lives on the
 * benchmark thread (Scope.Thread setup runs there), its home thread.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class UringFixedReadBenchmark {
    private static final long FILE_BYTES = 1L << 30;
    /** Blocking polls allowed to finish one operation or to drain at teardown. */
    private static final int MAX_POLLS = 1_000_000;

    @Param({"plain", "fixedFile", "fixedBuffer", "fixedFileAndBuffer"})
    String mode;

    @Param({"false", "true"})
    boolean direct;

    @Param({"32"})
    int qd;

    private static final int PLAIN = 0;
    private static final int FIXED_FILE = 1;
    private static final int FIXED_BUFFER = 2;
    private static final int FIXED_BOTH = 3;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

    private int kind;
    private AioContext ctx;
    private IoUring ring;
    private Arena arena;
    private int fd = -1;
    private Read[] reads;
    private ReadFile.BlockRng rng;
    /** Reads completed since setup; home thread. */
    long completed;
    long bad;
    int inFlight;
    boolean stopping;
    private long iterationBytes;
    private long iterationReads;

    /** Counts reads so JMH reports reads/s (IOPS) next to operations/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long reads;
    }

    /** One in-flight read: a reusable handler with its own 4 KiB slice. */
    static final class Read extends CqeHandler {
        final UringFixedReadBenchmark owner;
        final MemorySegment buf;
        long block;

        Read(UringFixedReadBenchmark owner, MemorySegment buf) {
            this.owner = owner;
            this.buf = buf;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            owner.onRead(this, res);
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        kind = switch (mode) {
            case "plain" -> PLAIN;
            case "fixedFile" -> FIXED_FILE;
            case "fixedBuffer" -> FIXED_BUFFER;
            case "fixedFileAndBuffer" -> FIXED_BOTH;
            default -> throw new IllegalArgumentException("mode=" + mode
                    + " (expected plain, fixedFile, fixedBuffer or fixedFileAndBuffer)");
        };
        Path file = Path.of(System.getProperty("jaio.bench.file", "/var/tmp/jaio-bench/read-1g.img"));
        ReadFile.ensure(file, FILE_BYTES);
        if (!direct) {
            ReadFile.warmPageCache(file);
        }
        ctx = AioContext.builder().name("uring-fixed-read").fdMonitor(FdMonitorKind.IO_URING).build();
        if (!ctx.hasIoUring()) {
            String why = ctx.ioUringUnavailableReason();
            ctx.close();
            throw new IllegalStateException("io_uring unavailable: " + why);
        }
        ring = IoUring.of(ctx);
        fd = Fds.open(file.toString(), Fds.O_RDONLY | (direct ? Fds.O_DIRECT : 0), 0);
        arena = Arena.ofConfined();
        MemorySegment all = arena.allocate((long) ReadFile.BLOCK_BYTES * qd, 4096);
        if (kind == FIXED_FILE || kind == FIXED_BOTH) {
            ring.registerFiles(fd);
        }
        if (kind == FIXED_BUFFER || kind == FIXED_BOTH) {
            ring.registerBuffers(all);
        }
        reads = new Read[qd];
        for (int i = 0; i < qd; i++) {
            reads[i] = new Read(this, all.asSlice((long) ReadFile.BLOCK_BYTES * i, ReadFile.BLOCK_BYTES));
        }
        rng = new ReadFile.BlockRng(42, FILE_BYTES / ReadFile.BLOCK_BYTES);
        for (Read r : reads) {
            submit(r);
        }
    }

    private void submit(Read r) {
        long b = rng.next();
        r.block = b;
        long offset = b * ReadFile.BLOCK_BYTES;
        inFlight++;
        switch (kind) {
            case PLAIN -> ring.read(fd, r.buf, offset, r);
            case FIXED_FILE -> ring.readFixedFile(0, r.buf, offset, r);
            case FIXED_BUFFER -> ring.readFixed(fd, r.buf, 0, offset, r);
            default -> ring.readFixedFileAndBuffer(0, r.buf, 0, offset, r);
        }
    }

    void onRead(Read r, int res) {
        inFlight--;
        completed++;
        if (res != ReadFile.BLOCK_BYTES || !ReadFile.stampMatches(r.buf, r.block)) {
            bad++;
        }
        if (!stopping) {
            submit(r);
        }
    }

    @Benchmark
    public long read(Counters counters) {
        long before = completed;
        long target = before + qd;
        for (int polls = 0; completed < target; polls++) { // bounded: each blocking poll completes at least one read
            if (polls > MAX_POLLS) {
                throw new IllegalStateException(mode + ": " + (target - completed) + " reads missing after " + polls + " polls");
            }
            ctx.poll(true);
        }
        counters.reads += completed - before;
        return completed;
    }

    @Setup(Level.Iteration)
    public void startIteration() {
        iterationBytes = THREADS.getCurrentThreadAllocatedBytes();
        iterationReads = completed;
    }

    /**
     * Prints the bytes the home thread allocated per read in the iteration, from the JVM's
     * per-thread counter: JMH's gc.alloc.rate.norm counts every thread of the JVM, so at a few
     * thousand operations per second (O_DIRECT) the harness's own background allocation shows
     * up as B/op.
     */
    @TearDown(Level.Iteration)
    public void endIteration() {
        long bytes = THREADS.getCurrentThreadAllocatedBytes() - iterationBytes;
        long n = completed - iterationReads;
        System.out.printf("  [home thread: %d B allocated over %d reads = %.4f B/read]%n", bytes, n, n == 0 ? 0.0 : (double) bytes / n);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws ErrnoException {
        stopping = true;
        for (int polls = 0; inFlight > 0; polls++) {
            if (polls > MAX_POLLS) {
                throw new IllegalStateException(mode + ": " + inFlight + " reads still in flight after " + polls + " polls");
            }
            ctx.poll(true);
        }
        ctx.close();
        Fds.close(fd);
        arena.close();
        if (bad > 0) {
            throw new IllegalStateException(mode + ": " + bad + " of " + completed + " reads failed or returned the wrong block");
        }
    }
}
