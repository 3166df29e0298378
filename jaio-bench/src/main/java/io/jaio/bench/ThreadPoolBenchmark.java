// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.block.ThreadPool;
import io.jaio.block.ThreadPoolTask;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.Future;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Thread-pool round trip: submit work that returns at once, and wait on the submitting thread
 * until its completion has been delivered there. Two shapes: {@code one} (one task in flight,
 * ns per round trip) and {@code burst64} (64 tasks submitted back to back, then all awaited; ns
 * per task).
 *
 * <ul>
 * <li>{@code jaio}: the benchmark thread builds a context in {@code @Setup(Level.Trial)} (so it
 *     is the home thread) and submits reusable {@link ThreadPoolTask}s to {@code ThreadPool.of(ctx)}
 *     (QEMU defaults: 0..64 workers), then runs {@code ctx.poll(true)} until every
 *     {@code complete()} has run. Default fd monitor (poll).</li>
 * <li>{@code fj}: {@code CompletableFuture.supplyAsync(supplier, ForkJoinPool.commonPool())},
 *     then {@code join()}.</li>
 * <li>{@code netty}: {@code DefaultEventExecutorGroup(2).submit(callable)} (round robin over its
 *     executors), then {@code sync()}.</li>
 * </ul>
 * Run with {@code -prof gc}: B/op counts every thread's allocation (workers included).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class ThreadPoolBenchmark {
    static final int BURST = 64;
    private static final Supplier<Long> WORK = () -> 1L;
    private static final java.util.concurrent.Callable<Long> NETTY_WORK = () -> 1L;

    private AioContext ctx;
    private ThreadPool pool;
    private Task[] tasks;
    /** Completions delivered in the current invocation; home thread only. */
    int done;
    private DefaultEventExecutorGroup nettyGroup;
    private final CompletableFuture<?>[] fjFutures = new CompletableFuture<?>[BURST];
    private final Future<?>[] nettyFutures = new Future<?>[BURST];

    /** A reusable task: trivial work on a worker, a counter on the home thread. */
    static final class Task extends ThreadPoolTask {
        private final ThreadPoolBenchmark owner;

        Task(ThreadPoolBenchmark owner) {
            this.owner = owner;
        }

        @Override
        protected long run() {
            return 1;
        }

        @Override
        protected void complete(long ret) {
            owner.done += (int) ret;
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws ErrnoException {
        ctx = AioContext.builder().name("thread-pool-bench").build();
        pool = ThreadPool.of(ctx);
        tasks = new Task[BURST];
        for (int i = 0; i < BURST; i++) {
            tasks[i] = new Task(this);
        }
        nettyGroup = new DefaultEventExecutorGroup(2);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        ctx.close();
        nettyGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    }

    private int jaioRoundTrip(int n) {
        done = 0;
        for (int i = 0; i < n; i++) {
            pool.submit(tasks[i]);
        }
        for (long polls = 0; done < n; polls++) { // bounded: each completion needs at most a few wake-ups
            if (polls > 1_000_000) {
                throw new IllegalStateException(done + " of " + n + " completions after " + polls + " polls");
            }
            ctx.poll(true);
        }
        return done;
    }

    @Benchmark
    public int jaio_one() {
        return jaioRoundTrip(1);
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public int jaio_burst64() {
        return jaioRoundTrip(BURST);
    }

    @Benchmark
    public Long fj_one() {
        return CompletableFuture.supplyAsync(WORK, ForkJoinPool.commonPool()).join();
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public long fj_burst64() {
        for (int i = 0; i < BURST; i++) {
            fjFutures[i] = CompletableFuture.supplyAsync(WORK, ForkJoinPool.commonPool());
        }
        long sum = 0;
        for (int i = 0; i < BURST; i++) {
            sum += (Long) fjFutures[i].join();
        }
        return sum;
    }

    @Benchmark
    public Object netty_one() throws InterruptedException {
        return nettyGroup.submit(NETTY_WORK).sync().getNow();
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public long netty_burst64() throws InterruptedException, ExecutionException {
        for (int i = 0; i < BURST; i++) {
            nettyFutures[i] = nettyGroup.submit(NETTY_WORK);
        }
        long sum = 0;
        for (int i = 0; i < BURST; i++) {
            sum += (Long) nettyFutures[i].sync().getNow();
        }
        return sum;
    }
}
