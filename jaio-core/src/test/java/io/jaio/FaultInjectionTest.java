// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Faults;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;

/**
 * Faults injected into the system-call layer ({@link Faults}) on every fd monitor: the loop
 * retries what must be retried (EINTR, EAGAIN), reports what must be reported (ENOMEM, EBADF)
 * to the error handler, and never loses a bottom half, a timer, an fd event or a completion.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class FaultInjectionTest {
    @Parameter
    FdMonitorKind kind;

    @TempDir
    Path dir;

    @AfterEach
    void clearFaults() {
        Faults.clear();
    }

    private AioContext context(List<Throwable> errors) throws ErrnoException {
        return AioContext.builder().name("faults-" + kind).fdMonitor(kind)
                .errorHandler((c, source, e) -> errors.add(e)).build();
    }

    /** Fails every wait call {@code n} times with {@code errno}, then lets them through. */
    private static Faults.Rule failWaits(int n, int errno) {
        AtomicInteger left = new AtomicInteger(n);
        return (call, len) -> (call == Faults.Call.PPOLL || call == Faults.Call.EPOLL_WAIT
                || call == Faults.Call.URING_ENTER) && left.getAndDecrement() > 0 ? -errno : 0;
    }

    @Test
    void interruptedAndFailingWaitsLoseNoWork() throws Exception {
        for (int errno : new int[] {Errno.EINTR, Errno.EAGAIN, Errno.ENOMEM}) {
            List<Throwable> errors = new ArrayList<>();
            try (AioContext ctx = context(errors); EventNotifier n = EventNotifier.create(false)) {
                int[] bh = {0};
                int[] timer = {0};
                int[] fd = {0};
                BottomHalf b = ctx.newBottomHalf("survivor", () -> bh[0]++);
                Timer t = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> timer[0]++);
                ctx.setEventNotifier(n, () -> {
                    n.testAndClear();
                    fd[0]++;
                }, null, null);
                ctx.poll(false); // io_uring: arm the POLL_ADD before faults start
                Faults.install(failWaits(50, errno));
                b.schedule();
                t.modNs(ctx.clockNs(ClockType.REALTIME) + 1_000_000);
                n.set();
                for (int i = 0; i < 10_000 && (bh[0] == 0 || timer[0] == 0 || fd[0] == 0); i++) {
                    ctx.poll(true);
                }
                Faults.clear();
                assertEquals(1, bh[0], "bottom half ran once, errno " + errno);
                assertEquals(1, timer[0], "timer fired once, errno " + errno);
                assertEquals(1, fd[0], "fd event dispatched once, errno " + errno);
                if (errno == Errno.ENOMEM) {
                    assertFalse(errors.isEmpty(), "ENOMEM from the wait is reported");
                    assertTrue(errors.stream().allMatch(e -> e instanceof ErrnoException x && x.errno() == Errno.ENOMEM),
                            errors.toString());
                } else {
                    assertTrue(errors.isEmpty(), "EINTR/EAGAIN are retried silently: " + errors);
                }
                ctx.removeEventNotifier(n);
                b.delete();
            }
        }
    }

    @Test
    void shortAndInterruptedFileIoStillCompletesWhole() throws Exception {
        Path f = dir.resolve("image");
        byte[] data = new byte[256 * 1024];
        new java.util.Random(42).nextBytes(data);
        Files.write(f, data);
        List<Throwable> errors = new ArrayList<>();
        int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
        try (AioContext ctx = context(errors); Arena a = Arena.ofShared()) {
            FileIoEngine e = FileIoEngines.threadPool(ctx); // pread/pwrite go through the seam
            AtomicInteger calls = new AtomicInteger();
            Faults.install((call, len) -> {
                if (call != Faults.Call.PREAD && call != Faults.Call.PWRITE) {
                    return 0;
                }
                int c = calls.incrementAndGet();
                return c % 3 == 0 ? -Errno.EINTR : Math.max(1, len / 3); // interrupted, or a third of it
            });
            MemorySegment buf = a.allocate(data.length, 4096);
            long[] res = {Long.MIN_VALUE};
            e.read(fd, 0, buf, r -> res[0] = r);
            for (int i = 0; i < 10_000 && res[0] == Long.MIN_VALUE; i++) {
                ctx.poll(true);
            }
            assertEquals(data.length, res[0]);
            assertEquals(-1, buf.mismatch(MemorySegment.ofArray(data)), "the whole buffer was read");
            MemorySegment out = a.allocate(64 * 1024, 4096);
            out.fill((byte) 0x7e);
            res[0] = Long.MIN_VALUE;
            e.write(fd, 8192, out, false, r -> res[0] = r);
            for (int i = 0; i < 10_000 && res[0] == Long.MIN_VALUE; i++) {
                ctx.poll(true);
            }
            Faults.clear();
            assertEquals(out.byteSize(), res[0]);
            byte[] back = Files.readAllBytes(f);
            for (int i = 8192; i < 8192 + 65536; i++) {
                assertEquals((byte) 0x7e, back[i], "byte " + i);
            }
            assertTrue(calls.get() > 6, "the seam was exercised: " + calls.get());
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void failingFileIoReportsTheErrnoOnce() throws Exception {
        Path f = dir.resolve("image");
        Files.write(f, new byte[8192]);
        List<Throwable> errors = new ArrayList<>();
        int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
        try (AioContext ctx = context(errors); Arena a = Arena.ofShared()) {
            FileIoEngine e = FileIoEngines.threadPool(ctx);
            Faults.install((call, len) -> call == Faults.Call.FDATASYNC ? -Errno.EIO
                    : call == Faults.Call.PREAD ? -Errno.EBADF : 0);
            int[] n = {0};
            long[] res = {0, 0};
            e.flush(fd, r -> {
                res[0] = r;
                n[0]++;
            });
            e.read(fd, 0, a.allocate(4096), r -> {
                res[1] = r;
                n[0]++;
            });
            for (int i = 0; i < 10_000 && n[0] < 2; i++) {
                ctx.poll(true);
            }
            for (int i = 0; i < 3; i++) {
                ctx.poll(false);
            }
            Faults.clear();
            assertEquals(2, n[0], "each operation completed exactly once");
            assertEquals(-Errno.EIO, res[0]);
            assertEquals(-Errno.EBADF, res[1]);
        } finally {
            Fds.close(fd);
        }
    }
}
