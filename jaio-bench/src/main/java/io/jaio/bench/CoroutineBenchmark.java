// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import io.jaio.AioContext;
import io.jaio.coroutine.Coroutine;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;

/**
 * Coroutine switching costs (QEMU test-coroutine.c's /perf group): one enter + yield of a live
 * coroutine, create + run to the end, create + yield + finish (QEMU perf_cost), and one
 * aio_co_schedule + poll() round on the home thread. Goal: enter + yield at most 200 ns and
 * 0 B/op with {@code -prof gc}.
 *
 * <p>Run: {@code ./jaio bench CoroutineBenchmark -prof gc}. The forked JVMs get
 * {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED}
 * from the annotation below.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class CoroutineBenchmark {
    private static final Runnable EMPTY = () -> { };
    private static final Runnable YIELD_ONCE = Coroutine::yield;

    private Coroutine looping;
    private AioContext ctx;
    private Coroutine scheduled;
    private boolean stop;

    @Setup(Level.Trial)
    public void setUp() throws ErrnoException {
        looping = Coroutine.create(() -> {
            while (!stop) {
                Coroutine.yield();
            }
        });
        Coroutine.enter(looping);
        ctx = AioContext.builder().name("co-bench").fdMonitor(FdMonitorKind.POLL).build();
        ctx.makeCurrent();
        scheduled = Coroutine.create(() -> {
            while (!stop) {
                Coroutine.yield();
            }
        });
        Coroutine.enter(scheduled);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        stop = true;
        Coroutine.enter(looping);
        Coroutine.enter(scheduled);
        ctx.close();
    }

    /** One resume of a live coroutine and its yield back (QEMU perf_yield). */
    @Benchmark
    public void enterYield() {
        Coroutine.enter(looping);
    }

    /** Create a coroutine and run it to its end without yielding (QEMU perf_lifecycle). */
    @Benchmark
    public Coroutine createRunToEnd() {
        Coroutine co = Coroutine.create(EMPTY);
        Coroutine.enter(co);
        return co;
    }

    /** Create, enter until the first yield, enter again to the end (QEMU perf_cost). */
    @Benchmark
    public Coroutine createYieldFinish() {
        Coroutine co = Coroutine.create(YIELD_ONCE);
        Coroutine.enter(co);
        Coroutine.enter(co);
        return co;
    }

    /** Coroutine.scheduleIn of a yielded coroutine and the poll(false) that enters it. */
    @Benchmark
    public boolean coScheduleAndPoll() {
        scheduled.scheduleIn(ctx);
        return ctx.poll(false);
    }
}
