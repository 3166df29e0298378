// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ErrnoException;
import io.jaio.IOThread;
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
 * Cross-thread wake-up round trip, ns per round trip: thread A hands a token to thread B, B hands
 * it back to A; {@value #ROUND_TRIPS} round trips per invocation. The benchmark thread starts the
 * chain on A and parks until A has seen the last round trip, so it does not compete for the two
 * cores; its own start and finish hand-offs are spread over the {@value #ROUND_TRIPS} trips.
 *
 * <ul>
 * <li><b>jaio</b>: two {@link IOThread}s; A's reusable bottom half schedules B's, whose callback
 *     schedules A's. Adaptive polling off ({@code pollMaxNs=0}: every hop blocks in ppoll and is
 *     woken through the eventfd) or on ({@code 32768}: QEMU's IOThread default).</li>
 * <li><b>netty</b>: two one-thread groups; a task on loop A {@code execute()}s one on loop B,
 *     which {@code execute()}s the first on loop A.</li>
 * <li><b>jdk_parkUnpark</b>: two platform threads, a volatile flag each, {@code LockSupport.park}
 *     until it is set and {@code unpark} of the other side.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class WakeupPingPongBenchmark {
    static final int ROUND_TRIPS = 1000;

    @State(Scope.Thread)
    public static class Jaio {
        @Param({"0", "32768"})
        long pollMaxNs;
        IOThread a;
        IOThread b;
        BottomHalf bhA;
        BottomHalf bhB;
        final Waiter waiter = new Waiter();
        /** Round trips left; A's thread only, set by the benchmark thread before the chain starts. */
        int remaining;

        private void onA() {
            if (remaining == 0) {
                waiter.signal();
            } else {
                remaining--;
                bhB.schedule();
            }
        }

        private void onB() {
            bhA.schedule();
        }

        @Setup(Level.Trial)
        public void setUp() throws ErrnoException {
            a = IOThread.start("ping", AioContext.builder().name("ping").pollParams(pollMaxNs, 0, 0));
            b = IOThread.start("pong", AioContext.builder().name("pong").pollParams(pollMaxNs, 0, 0));
            bhA = a.context().newBottomHalf("ping", this::onA);
            bhB = b.context().newBottomHalf("pong", this::onB);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            bhA.delete();
            bhB.delete();
            a.stop();
            b.stop();
        }
    }

    @State(Scope.Thread)
    public static class Netty {
        @Param({"nio", "epoll"})
        String transport;
        MultiThreadIoEventLoopGroup groupA;
        MultiThreadIoEventLoopGroup groupB;
        EventLoop loopA;
        EventLoop loopB;
        final Waiter waiter = new Waiter();
        int remaining;
        final Runnable onA = this::onA;
        final Runnable onB = this::onB;

        private void onA() {
            if (remaining == 0) {
                waiter.signal();
            } else {
                remaining--;
                loopB.execute(onB);
            }
        }

        private void onB() {
            loopA.execute(onA);
        }

        @Setup(Level.Trial)
        public void setUp() {
            groupA = NettyLoops.newGroup(transport);
            groupB = NettyLoops.newGroup(transport);
            loopA = groupA.next();
            loopB = groupB.next();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            NettyLoops.shutdown(groupA);
            NettyLoops.shutdown(groupB);
        }
    }

    /** Two platform threads passing a token with park/unpark. */
    @State(Scope.Thread)
    public static class Jdk {
        final Waiter waiter = new Waiter();
        volatile boolean flagA;
        volatile boolean flagB;
        volatile boolean stop;
        int remaining;
        Thread a;
        Thread b;

        @Setup(Level.Trial)
        public void setUp() {
            a = Thread.ofPlatform().name("park-A").start(this::runA);
            b = Thread.ofPlatform().name("park-B").start(this::runB);
        }

        private void runA() {
            while (true) {
                while (!flagA) { // volatile load; pairs with the store in runB()/the benchmark
                    if (stop) {
                        return;
                    }
                    LockSupport.park(this);
                }
                flagA = false;
                if (remaining == 0) {
                    waiter.signal();
                } else {
                    remaining--;
                    flagB = true;
                    LockSupport.unpark(b);
                }
            }
        }

        private void runB() {
            while (true) {
                while (!flagB) {
                    if (stop) {
                        return;
                    }
                    LockSupport.park(this);
                }
                flagB = false;
                flagA = true;
                LockSupport.unpark(a);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            stop = true;
            LockSupport.unpark(a);
            LockSupport.unpark(b);
            a.join();
            b.join();
        }
    }

    @Benchmark
    @OperationsPerInvocation(ROUND_TRIPS)
    public void jaio(Jaio s) {
        s.remaining = ROUND_TRIPS;
        s.waiter.arm();
        s.bhA.schedule();
        s.waiter.await();
    }

    @Benchmark
    @OperationsPerInvocation(ROUND_TRIPS)
    public void netty(Netty s) {
        s.remaining = ROUND_TRIPS;
        s.waiter.arm();
        s.loopA.execute(s.onA);
        s.waiter.await();
    }

    @Benchmark
    @OperationsPerInvocation(ROUND_TRIPS)
    public void jdk_parkUnpark(Jdk s) {
        s.remaining = ROUND_TRIPS;
        s.waiter.arm();
        s.flagA = true;
        LockSupport.unpark(s.a);
        s.waiter.await();
    }
}
