// SPDX-License-Identifier: Apache-2.0
package io.jaio.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import io.jaio.AioContext;
import io.jaio.uring.CqeHandler;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;

/**
 * Helpers for the io_uring and file-engine tests: a bounded "poll until" whose deadline is a
 * watchdog timer on the context itself (no sleeps; the deadline only matters when the code under
 * test hangs), a socketpair made through FFM, and the open-fd count of this process.
 *
 * <p>Threading: the context helpers run on the context's home thread.
 */
@SuppressWarnings("restricted") // the socketpair downcall
public final class UringTestSupport {
    /** How long a wait may take before the test calls it a hang. */
    public static final long HANG_NS = TimeUnit.SECONDS.toNanos(20);
    /** Upper bound on poll() calls of one wait, so a loop that makes no progress cannot spin forever. */
    private static final int MAX_POLLS = 10_000_000;

    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKETPAIR = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("socketpair").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
            Linker.Option.captureCallState("errno"));
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;

    private UringTestSupport() {
    }

    /** An io_uring context, or the test is skipped with the reason printed. Home thread = caller. */
    public static AioContext uringContext(int entries) throws ErrnoException {
        AioContext ctx = AioContext.builder().name("uring-test").fdMonitor(FdMonitorKind.IO_URING)
                .ioUringEntries(entries).build();
        if (!ctx.hasIoUring()) {
            String why = ctx.ioUringUnavailableReason();
            ctx.close();
            System.out.println("SKIPPED: io_uring unavailable: " + why);
            Assumptions.assumeTrue(false, "io_uring unavailable: " + why);
        }
        return ctx;
    }

    public static AioContext uringContext() throws ErrnoException {
        return uringContext(256);
    }

    /**
     * Runs blocking {@code poll()} iterations until {@code done} holds. A REALTIME watchdog timer
     * on the context ends the wait after {@link #HANG_NS}, failing the test instead of hanging.
     */
    public static void pollUntil(AioContext ctx, String what, BooleanSupplier done) {
        TestSupport.pollUntil(ctx, what, done);
    }

    /** A connected AF_UNIX stream socketpair (blocking, close-on-exec): {@code {fd0, fd1}}. */
    public static int[] socketPair() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(JAVA_INT, 2);
            MemorySegment state = a.allocate(CAPTURE);
            int r = (int) SOCKETPAIR.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            if (r < 0) {
                throw new UncheckedIOException(new ErrnoException("socketpair(AF_UNIX, SOCK_STREAM)",
                        (int) ERRNO.get(state, 0L)));
            }
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The number of open fds of this process (entries of /proc/self/fd). */
    public static long openFdCount() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Closes {@code fd}, ignoring errors (cleanup). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            io.jaio.internal.sys.Syscalls.close(fd);
        }
    }

    /** A handler that records its results: count, last res and flags. Home thread. */
    public static class Recorder extends CqeHandler {
        public int calls;
        public int res = Integer.MIN_VALUE;
        public int flags;

        @Override
        protected void onCompletion(int res, int flags) {
            calls++;
            this.res = res;
            this.flags = flags;
        }
    }

    /** An O_DIRECT scratch file on a real file system (/tmp may be tmpfs, which refuses O_DIRECT). */
    public static final class ODirect {
        private static final java.util.Map<Integer, Path> FILES = new java.util.concurrent.ConcurrentHashMap<>();

        /** An 8 KiB O_DIRECT file of 0x11 bytes, or the test is skipped with the reason printed. */
        public static int openOrSkip(String tag) throws IOException {
            for (String base : new String[] {"/var/tmp", System.getProperty("user.dir")}) {
                Path d = Path.of(base);
                if (!Files.isDirectory(d) || !Files.isWritable(d)) {
                    continue;
                }
                Path f = Files.createTempFile(d, "jaio-odirect-" + tag, ".img");
                // Real data, not a hole: a direct read of a hole only zeroes the buffer, without the
                // alignment checks of the block-I/O path.
                byte[] data = new byte[8192];
                java.util.Arrays.fill(data, (byte) 0x11);
                Files.write(f, data);
                try {
                    int fd = Fds.open(f.toString(), Fds.O_RDWR | Fds.O_DIRECT, 0);
                    FILES.put(fd, f);
                    return fd;
                } catch (ErrnoException e) {
                    Files.deleteIfExists(f);
                    System.out.println("O_DIRECT not supported under " + base + ": " + e.getMessage());
                }
            }
            System.out.println("SKIPPED: no directory here supports O_DIRECT");
            Assumptions.assumeTrue(false, "no directory here supports O_DIRECT");
            return -1;
        }

        public static void closeAndDelete(int fd) throws IOException {
            Path f = FILES.remove(fd);
            closeQuietly(fd);
            if (f != null) {
                Files.deleteIfExists(f);
            }
        }
    }
}
