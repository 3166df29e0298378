// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ErrnoException;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
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
 * Loop-local task scheduling, ns per task: a bottom half scheduled and run on the context's home
 * thread, against Netty's {@code execute()} called from inside its own loop, and a plain
 * {@link ArrayDeque} as the floor.
 *
 * <ul>
 * <li><b>burst</b> (jvm-costs.md {@code exec_inloop_burst}): schedule {@value #BURST} tasks,
 *     then run them all. jaio: {@value #BURST} distinct reusable bottom halves (scheduling the
 *     same one twice would merge), each {@code schedule()}d, then one {@code poll(false)}. Netty:
 *     a loop task {@code execute()}s {@value #BURST} tasks and then a task that starts the next
 *     burst; {@value #NETTY_BURSTS} bursts per invocation, so the one cross-thread hand-off that
 *     starts them costs under a few percent.</li>
 * <li><b>chain</b> ({@code exec_inloop_chain}): queue depth 1, each task schedules the next.
 *     jaio: one bottom half whose callback re-schedules itself, so each {@code poll(false)} runs
 *     it once. Netty: a task that {@code execute()}s itself until {@value #CHAIN} have run.</li>
 * </ul>
 * Every task's body is {@code counter++}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class BhLocalBenchmark {
    static final int BURST = 1024;
    static final int NETTY_BURSTS = 64;
    static final int CHAIN = BURST * NETTY_BURSTS;

    /** A context whose home thread is the benchmark thread (built in a Trial setup on it). */
    @State(Scope.Thread)
    public static class Jaio {
        AioContext ctx;
        BottomHalf[] burst;
        BottomHalf chain;
        long counter;

        @Setup(Level.Trial)
        public void setUp() throws ErrnoException {
            ctx = AioContext.builder().name("bh-local").build();
            Runnable inc = () -> counter++;
            burst = new BottomHalf[BURST];
            for (int i = 0; i < BURST; i++) {
                burst[i] = ctx.newBottomHalf("burst-" + i, inc);
            }
            chain = ctx.newBottomHalf("chain", this::onChain);
            chain.schedule();
        }

        private void onChain() {
            counter++;
            chain.schedule(); // runs again in the next poll()
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (BottomHalf bh : burst) {
                bh.delete();
            }
            chain.delete();
            ctx.poll(false); // drop the deleted ones
            ctx.close();
        }
    }

    /** One Netty loop; the benchmark thread only starts work on it and waits. */
    @State(Scope.Thread)
    public static class Netty {
        @Param({"nio", "epoll"})
        String transport;
        MultiThreadIoEventLoopGroup group;
        EventLoop loop;
        final Waiter waiter = new Waiter();
        long counter;
        int bursts;
        int chained;
        final Runnable inc = () -> counter++;
        final Runnable burst = this::onBurst;
        final Runnable chain = this::onChain;
        final Runnable signal = waiter::signal;

        @Setup(Level.Trial)
        public void setUp() {
            group = NettyLoops.newGroup(transport);
            loop = group.next();
        }

        private void onBurst() {
            for (int i = 0; i < BURST; i++) {
                loop.execute(inc);
            }
            if (++bursts < NETTY_BURSTS) {
                loop.execute(burst); // queued after this burst's tasks: runs when they have run
            } else {
                loop.execute(signal);
            }
        }

        private void onChain() {
            counter++;
            if (++chained < CHAIN) {
                loop.execute(chain);
            } else {
                waiter.signal();
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            NettyLoops.shutdown(group);
        }
    }

    /** A plain single-threaded queue: the floor for "offer N, then drain and run". */
    @State(Scope.Thread)
    public static class Jdk {
        final ArrayDeque<Runnable> queue = new ArrayDeque<>(BURST);
        long counter;
        final Runnable inc = () -> counter++;
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public long jaio_burst(Jaio s) {
        BottomHalf[] bhs = s.burst;
        for (BottomHalf bh : bhs) {
            bh.schedule();
        }
        s.ctx.poll(false);
        return s.counter;
    }

    @Benchmark
    @OperationsPerInvocation(CHAIN)
    public long jaio_chain(Jaio s) {
        AioContext ctx = s.ctx;
        for (int i = 0; i < CHAIN; i++) {
            ctx.poll(false);
        }
        return s.counter;
    }

    @Benchmark
    @OperationsPerInvocation(CHAIN)
    public long netty_burst(Netty s) {
        s.bursts = 0;
        s.waiter.arm();
        s.loop.execute(s.burst);
        s.waiter.await();
        return s.counter;
    }

    @Benchmark
    @OperationsPerInvocation(CHAIN)
    public long netty_chain(Netty s) {
        s.chained = 0;
        s.waiter.arm();
        s.loop.execute(s.chain);
        s.waiter.await();
        return s.counter;
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public long jdk_arraydeque_burst(Jdk s) {
        ArrayDeque<Runnable> q = s.queue;
        for (int i = 0; i < BURST; i++) {
            q.offer(s.inc);
        }
        Runnable r;
        while ((r = q.poll()) != null) {
            r.run();
        }
        return s.counter;
    }
}
