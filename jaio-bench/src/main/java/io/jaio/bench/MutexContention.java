// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import io.jaio.AioContext;
import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.Coroutine;
import io.jaio.IOThread;

/**
 * A contended mutex across threads, side by side in one process run (issue: "contended
 * coroutine mutex across IOThreads vs ReentrantLock between platform threads"): QEMU's
 * test-aio-multithread mutex loop (lock, counter++, unlock) for a fixed time.
 * <ul>
 * <li>jaio: one coroutine per IOThread loops on a shared {@link CoMutex}; a waiter yields to
 *     its loop and is woken (in its own context) by the unlocker.</li>
 * <li>JDK: one platform thread per "IOThread" loops on a shared {@link ReentrantLock}.</li>
 * </ul>
 * Reports lock+unlock pairs per second (all threads together), median over the rounds, and
 * checks counter == number of increments (mutual exclusion).
 *
 * <p>Run: {@code ./jaio java --enable-native-access=ALL-UNNAMED --add-exports
 * java.base/jdk.internal.vm=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED -cp jaio-bench/target/benchmarks.jar
 * io.jaio.bench.MutexContention [threads=2] [seconds=2] [rounds=5]}
 */
public final class MutexContention {
    private MutexContention() {
    }

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 2;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        long durationNs = (long) (seconds * 1e9);
        double[] jaio = new double[rounds];
        double[] jdk = new double[rounds];
        coMutexRound(threads, durationNs / 4); // warm-up
        reentrantRound(threads, durationNs / 4);
        for (int r = 0; r < rounds; r++) {
            jaio[r] = coMutexRound(threads, durationNs);
            jdk[r] = reentrantRound(threads, durationNs);
            System.out.printf("round %d  CoMutex %,.0f ops/s   ReentrantLock %,.0f ops/s%n", r, jaio[r], jdk[r]);
        }
        double a = median(jaio);
        double b = median(jdk);
        System.out.printf("MEDIAN threads=%d  CoMutex %,.0f ops/s  ReentrantLock %,.0f ops/s  ratio %.2f%n", threads, a, b, a / b);
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static double coMutexRound(int threads, long durationNs) throws Exception {
        CoMutex mutex = new CoMutex();
        long[] counter = {0};
        AtomicLong ops = new AtomicLong();
        IOThread[] io = new IOThread[threads];
        for (int i = 0; i < threads; i++) {
            io[i] = IOThread.start("mutex-" + i, AioContext.builder().name("mutex-" + i).pollParams(0, 0, 0));
        }
        CountDownLatch done = new CountDownLatch(threads);
        long end = System.nanoTime() + durationNs;
        for (IOThread t : io) {
            t.context().scheduleOneShot("start", () -> Coroutine.enter(Coroutine.create(() -> {
                long n = 0;
                while (true) {
                    if ((n & 63) == 0 && System.nanoTime() >= end) {
                        break;
                    }
                    mutex.lock();
                    counter[0]++;
                    mutex.unlock();
                    n++;
                }
                ops.addAndGet(n);
                done.countDown();
            })));
        }
        done.await();
        for (IOThread t : io) {
            t.stop();
        }
        long total = ops.get();
        if (counter[0] != total) {
            throw new AssertionError("CoMutex: counter " + counter[0] + " != increments " + total);
        }
        return total / (durationNs / 1e9);
    }

    private static double reentrantRound(int threads, long durationNs) throws Exception {
        ReentrantLock lock = new ReentrantLock();
        long[] counter = {0};
        AtomicLong ops = new AtomicLong();
        Thread[] ts = new Thread[threads];
        long end = System.nanoTime() + durationNs;
        for (int i = 0; i < threads; i++) {
            ts[i] = Thread.ofPlatform().start(() -> {
                long n = 0;
                while ((n & 63) != 0 || System.nanoTime() < end) {
                    lock.lock();
                    try {
                        counter[0]++;
                    } finally {
                        lock.unlock();
                    }
                    n++;
                }
                ops.addAndGet(n);
            });
        }
        for (Thread t : ts) {
            t.join();
        }
        long total = ops.get();
        if (counter[0] != total) {
            throw new AssertionError("ReentrantLock: counter " + counter[0] + " != increments " + total);
        }
        return total / (durationNs / 1e9);
    }
}
