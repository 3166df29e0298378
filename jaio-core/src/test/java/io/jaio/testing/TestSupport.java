// SPDX-License-Identifier: Apache-2.0
package io.jaio.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.Timer;
import io.jaio.TimerScale;


/**
 * Helpers shared by the tests: bounded loop draining, bounded cross-thread waits that dump every
 * thread when they give up, and the open-fd count of this process. Nothing here sleeps: waits
 * spin on a condition with a deadline that only matters when the code under test hangs.
 */
public final class TestSupport {
    /** How long a cross-thread wait may take before the test calls it a hang. */
    public static final long HANG_NS = TimeUnit.SECONDS.toNanos(20);
    /** Upper bound on the iterations of a drain loop (a context that never settles is a bug). */
    private static final int DRAIN_LIMIT = 100_000;
    /** Upper bound on the blocking polls of {@link #pollUntil}. */
    private static final long MAX_POLLS = 10_000_000;

    private TestSupport() {
    }

    /** QEMU's {@code while (aio_poll(ctx, false));}, bounded. Returns how many polls made progress. */
    public static int drain(AioContext ctx) {
        int n = 0;
        while (ctx.poll(false)) {
            if (++n == DRAIN_LIMIT) {
                fail("poll(false) still made progress after " + DRAIN_LIMIT + " calls");
            }
        }
        return n;
    }

    /**
     * Blocking polls until {@code done} holds. A watchdog timer on the context wakes the last
     * poll at the deadline, so a hang fails with a thread dump instead of blocking forever; the
     * number of polls is bounded too.
     */
    public static void pollUntil(AioContext ctx, String what, BooleanSupplier done) {
        long deadline = System.nanoTime() + HANG_NS;
        Timer watchdog = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
        watchdog.modNs(ctx.clockNs(ClockType.REALTIME) + HANG_NS);
        try {
            for (long i = 0; !done.getAsBoolean(); i++) {
                if (System.nanoTime() - deadline > 0 || i == MAX_POLLS) {
                    fail("gave up waiting for " + what + " after " + i + " poll() calls\n" + threadDump());
                }
                ctx.poll(true);
            }
        } finally {
            watchdog.delete(); // an armed timer would be reported as a leak by close()
        }
    }

    /** Spins (then yields) until {@code condition} holds; after {@link #HANG_NS} dumps all threads and fails. */
    public static void awaitCondition(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + HANG_NS;
        int spins = 0;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                fail("gave up waiting for " + what + "\n" + threadDump());
            }
            if (++spins < 1000) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
    }

    /**
     * Waits until {@code home} is inside an fd monitor's {@code wait}, i.e. a blocking
     * {@code poll(true)} has announced itself and is in (or entering) the wait system call.
     */
    public static void awaitBlockedInWait(Thread home) {
        awaitCondition("thread '" + home.getName() + "' to block in an fd monitor's wait()", () -> isInMonitorWait(home));
    }

    private static boolean isInMonitorWait(Thread t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getClassName().startsWith("io.jaio.internal.") && e.getClassName().endsWith("FdMonitor")
                    && e.getMethodName().equals("wait")) {
                return true;
            }
        }
        return false;
    }

    /** Joins {@code t}; after {@link #HANG_NS} dumps all threads and fails. */
    public static void joinOrDump(Thread t) throws InterruptedException {
        t.join(TimeUnit.NANOSECONDS.toMillis(HANG_NS));
        if (t.isAlive()) {
            fail("thread '" + t.getName() + "' did not finish\n" + threadDump());
        }
    }

    /** Every live thread's stack, for hang reports. */
    public static String threadDump() {
        return DumpThreadsOnTimeout.threadDump();
    }

    /** The number of open file descriptors of this process. */
    public static long openFdCount() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads everything currently in a non-blocking pipe; returns the byte count. */
    public static int drainPipe(int fd) {
        int total = 0;
        try {
            byte[] b;
            while ((b = Fds.read(fd, 4096)) != null) {
                total += b.length;
            }
        } catch (ErrnoException e) {
            throw new UncheckedIOException(e);
        }
        return total;
    }

    /** Writes one byte to {@code fd} and checks it went in. */
    public static void writeByte(int fd) {
        long r = Fds.write(fd, new byte[] {1});
        if (r != 1) {
            fail("write(fd=" + fd + ") returned " + r);
        }
    }

    /** {@code n} pseudo-random bytes from {@code seed}: data that reveals misplaced or lost bytes. */
    public static byte[] pattern(int n, long seed) {
        byte[] b = new byte[n];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }
}
