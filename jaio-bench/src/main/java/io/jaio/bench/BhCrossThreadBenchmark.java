// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ErrnoException;
import io.jaio.IOThread;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One producer (the benchmark thread), one loop thread: ns per task, from the producer's first
 * submission of a batch of {@value #BATCH} tasks until the last of them has run on the loop
 * (jvm-costs.md {@code exec_external}). The producer submits the whole batch back to back, then
 * parks until the loop's {@value #BATCH}th task unparks it; the loop drains concurrently, so the
 * figure includes every wake-up the loop needed (it may go to sleep and be woken several times
 * per batch). Every task's body is {@code if (++count == BATCH) signal}, so the order the tasks
 * run in (jaio runs a batch LIFO, as QEMU does) does not matter.
 *
 * <ul>
 * <li><b>jaio_oneshot</b>: {@code ctx.scheduleOneShot(name, task)} per task: a slot of the
 *     context's one-shot ring (before: one bottom half allocated per call, as QEMU's
 *     aio_bh_schedule_oneshot does).</li>
 * <li><b>jaio_reusable</b>: {@value #BATCH} reusable bottom halves made once; each is
 *     {@code schedule()}d once per batch. No allocation.</li>
 * <li><b>netty_execute</b>: {@code loop.execute(task)} per task with one shared Runnable.</li>
 * </ul>
 * jaio runs on an {@link IOThread} with adaptive polling off (0) or at QEMU's IOThread default
 * (32768 ns); Netty on a one-thread NIO or epoll group.
 *
 * <p>The jaio cases also count the context's eventfd writes ({@link AioContext#notifierWriteCount()})
 * as JMH auxiliary counters: {@code eventfdWrites} and {@code tasks} per iteration, so
 * writes per task is their ratio (a write is needed only when the loop really went to sleep).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class BhCrossThreadBenchmark {
    static final int BATCH = 4096;

    @State(Scope.Thread)
    public static class Jaio {
        @Param({"0", "32768"})
        long pollMaxNs;
        IOThread io;
        AioContext ctx;
        BottomHalf[] bhs;
        final Waiter waiter = new Waiter();
        /** Written by the loop thread only; reset by the producer between batches (ordered by the schedule RMWs). */
        int count;
        final Runnable task = this::onTask;

        private void onTask() {
            if (++count == BATCH) {
                waiter.signal();
            }
        }

        @Setup(Level.Trial)
        public void setUp() throws ErrnoException {
            io = IOThread.start("xthread", AioContext.builder().name("xthread").pollParams(pollMaxNs, 0, 0));
            ctx = io.context();
            bhs = new BottomHalf[BATCH];
            for (int i = 0; i < BATCH; i++) {
                bhs[i] = ctx.newBottomHalf("task-" + i, task);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (BottomHalf bh : bhs) {
                bh.delete();
            }
            io.stop();
        }
    }

    /** Eventfd writes and tasks of the jaio cases, summed per iteration (JMH prints both). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Writes {
        public long eventfdWrites;
        public long tasks;

        @Setup(Level.Iteration)
        public void reset() {
            eventfdWrites = 0;
            tasks = 0;
        }

        void add(AioContext ctx, long before) {
            eventfdWrites += ctx.notifierWriteCount() - before;
            tasks += BATCH;
        }
    }

    @State(Scope.Thread)
    public static class Netty {
        @Param({"nio", "epoll"})
        String transport;
        MultiThreadIoEventLoopGroup group;
        EventLoop loop;
        final Waiter waiter = new Waiter();
        int count;
        final Runnable task = this::onTask;

        private void onTask() {
            if (++count == BATCH) {
                waiter.signal();
            }
        }

        @Setup(Level.Trial)
        public void setUp() {
            group = NettyLoops.newGroup(transport);
            loop = group.next();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            NettyLoops.shutdown(group);
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void jaio_oneshot(Jaio s, Writes w) {
        AioContext ctx = s.ctx;
        long writes = ctx.notifierWriteCount();
        s.count = 0;
        s.waiter.arm();
        Runnable task = s.task;
        for (int i = 0; i < BATCH; i++) {
            ctx.scheduleOneShot("task", task);
        }
        s.waiter.await();
        w.add(ctx, writes);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void jaio_reusable(Jaio s, Writes w) {
        long writes = s.ctx.notifierWriteCount();
        s.count = 0;
        s.waiter.arm();
        for (BottomHalf bh : s.bhs) {
            bh.schedule();
        }
        s.waiter.await();
        w.add(s.ctx, writes);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void netty_execute(Netty s) {
        s.count = 0;
        s.waiter.arm();
        EventLoop loop = s.loop;
        Runnable task = s.task;
        for (int i = 0; i < BATCH; i++) {
            loop.execute(task);
        }
        s.waiter.await();
    }
}
