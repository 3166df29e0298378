// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.uring.CqeHandler;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
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
 * io_uring NOP round trips through the public submission API: one benchmark operation submits
 * {@code batch} IORING_OP_NOPs with {@code batch} reusable {@link CqeHandler}s
 * ({@link IoUring#nop}), then runs {@code ctx.poll(true)} until every handler has run. That is
 * one io_uring_enter per batch (submit and wait), the CQ reaped, and the handlers dispatched from
 * the context's FIFO. The {@code nops} counter gives NOPs per second; the primary score is
 * batches per second. Run with {@code -prof gc}: the loop allocates nothing, so
 * gc.alloc.rate.norm should be ~0 B/op.
 *
 * <p>The context lives on the benchmark thread (Scope.Thread setup runs there), which is its
 * home thread. Without io_uring (kernel.io_uring_disabled, seccomp) the trial fails at setup with
 * the reason.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class UringNopBenchmark {
    @Param({"1", "8", "32"})
    int batch;

    private AioContext ctx;
    private IoUring ring;
    private Nop[] handlers;
    /** Handlers run in the current batch; home thread only. */
    int done;

    /** Counts NOPs so JMH reports NOPs/s next to batches/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long nops;
    }

    /** A reusable handler: one per slot of the batch. */
    static final class Nop extends CqeHandler {
        private final UringNopBenchmark owner;

        Nop(UringNopBenchmark owner) {
            this.owner = owner;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            owner.done++;
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws ErrnoException {
        ctx = AioContext.builder().name("uring-nop-bench").fdMonitor(FdMonitorKind.IO_URING).build();
        if (!ctx.hasIoUring()) {
            String why = ctx.ioUringUnavailableReason();
            ctx.close();
            throw new IllegalStateException("io_uring unavailable: " + why);
        }
        ring = IoUring.of(ctx);
        handlers = new Nop[batch];
        for (int i = 0; i < batch; i++) {
            handlers[i] = new Nop(this);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
    }

    @Benchmark
    public int roundTrip(Counters counters) {
        done = 0;
        for (int i = 0; i < batch; i++) {
            ring.nop(handlers[i]);
        }
        for (int polls = 0; done < batch; polls++) { // bounded: each blocking poll reaps at least one CQE
            if (polls > batch + 16) {
                throw new IllegalStateException(done + " of " + batch + " NOPs completed after " + polls + " polls");
            }
            ctx.poll(true);
        }
        counters.nops += batch;
        return done;
    }
}
