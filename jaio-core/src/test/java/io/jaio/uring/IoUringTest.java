// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import static io.jaio.testing.TestSupport.pattern;
import static io.jaio.testing.UringTestSupport.Recorder;
import static io.jaio.testing.UringTestSupport.closeQuietly;
import static io.jaio.testing.UringTestSupport.openFdCount;
import static io.jaio.testing.UringTestSupport.pollUntil;
import static io.jaio.testing.UringTestSupport.socketPair;
import static io.jaio.testing.UringTestSupport.uringContext;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.uring.Uring;
import io.jaio.AioContext;
import io.jaio.EventNotifier;
import io.jaio.Fds;

/**
 * The submission API ({@link AioContext#addSqe}, {@link IoUring}, {@link CqeHandler}) on real
 * files, pipes, a socketpair and eventfds: every operation's data checked through another path,
 * completion delivery (never synchronous, FIFO, nested polls, resubmission from a handler),
 * close with requests in flight (misuse and failures: IoUringFaultTest). Skipped, with the reason
 * printed, without io_uring.
 */
class IoUringTest {
    private static final int POLLIN = 1;
    private static final int AT_FDCWD = -100;
    private static final int O_CLOEXEC = 0x80000;
    private static final int STATX_SIZE_MASK = 0x200;
    /** struct statx: __u64 stx_size at byte 40 (include/uapi/linux/stat.h). */
    private static final long STX_SIZE = 40;
    private static final int ETIME = 62;

    @TempDir
    Path dir;

    private static void setTimespec(MemorySegment ts, long ns) {
        ts.set(JAVA_LONG, 0, ns / 1_000_000_000L);
        ts.set(JAVA_LONG, 8, ns % 1_000_000_000L);
    }

    @Test
    void aBatchOfNopsIsOneEnterAndOnePoll() throws Exception {
        // UringNopBenchmark's loop, as the C loop does it: per batch one io_uring_enter that
        // submits the batch and waits, one blocking poll() that reaps and dispatches it all.
        java.util.concurrent.atomic.AtomicLong enters = new java.util.concurrent.atomic.AtomicLong();
        try (AioContext ctx = uringContext()) {
            IoUring ring = IoUring.of(ctx);
            int[] done = {0};
            CqeHandler[] hs = new CqeHandler[32];
            for (int i = 0; i < hs.length; i++) {
                hs[i] = CqeHandler.of((res, flags) -> done[0]++);
            }
            for (int batch : new int[] {1, 8, 32}) {
                for (int round = 0; round < 3; round++) { // round 0 arms the context's own notifier poll
                    done[0] = 0;
                    io.jaio.internal.sys.Faults.install((call, len) -> {
                        if (call == io.jaio.internal.sys.Faults.Call.URING_ENTER) {
                            enters.incrementAndGet();
                        }
                        return 0;
                    });
                    enters.set(0);
                    int polls = 0;
                    try {
                        for (int i = 0; i < batch; i++) {
                            ring.nop(hs[i]);
                        }
                        while (done[0] < batch && polls < batch + 16) {
                            assertTrue(ctx.poll(true));
                            polls++;
                        }
                    } finally {
                        io.jaio.internal.sys.Faults.clear();
                    }
                    assertEquals(batch, done[0], "NOPs completed in batch " + batch);
                    if (round > 0) {
                        assertEquals(1, enters.get(), "io_uring_enter calls for a batch of " + batch);
                        assertEquals(1, polls, "poll() calls for a batch of " + batch);
                    }
                }
            }
        }
    }

    @Test
    void nopCompletesInALaterPollNeverInsideSubmit() throws Exception {
        try (AioContext ctx = uringContext()) {
            Recorder h = new Recorder();
            assertFalse(h.isInFlight());
            IoUring.of(ctx).nop(h);
            assertEquals(0, h.calls, "handler ran inside submit");
            assertTrue(h.isInFlight());
            pollUntil(ctx, "NOP completion", () -> h.calls > 0);
            assertEquals(1, h.calls);
            assertEquals(0, h.res);
            assertFalse(h.isInFlight());
            assertFalse(ctx.poll(false), "a second completion arrived");
            assertEquals(1, h.calls);
        }
    }

    @Test
    void writeThroughTheRingReadsBackThroughFileChannel() throws Exception {
        Path f = dir.resolve("w");
        byte[] data = pattern(10_000, 1);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            int fd = Fds.open(f.toString(), Fds.O_RDWR | Fds.O_CREAT, 0644);
            try {
                MemorySegment buf = a.allocate(data.length);
                MemorySegment.copy(data, 0, buf, JAVA_BYTE, 0, data.length);
                Recorder h = new Recorder();
                IoUring.of(ctx).write(fd, buf, 4096, h);
                pollUntil(ctx, "write", () -> h.calls > 0);
                assertEquals(data.length, h.res);
            } finally {
                Fds.close(fd);
            }
        }
        byte[] all = Files.readAllBytes(f);
        assertEquals(4096 + data.length, all.length);
        assertArrayEquals(data, java.util.Arrays.copyOfRange(all, 4096, all.length));
    }

    @Test
    void fileChannelWriteReadsBackThroughTheRing() throws Exception {
        Path f = dir.resolve("r");
        byte[] data = pattern(12_345, 2);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), 100);
        }
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            int fd = Fds.open(f.toString(), Fds.O_RDONLY, 0);
            try {
                MemorySegment buf = a.allocate(data.length);
                Recorder h = new Recorder();
                IoUring.of(ctx).read(fd, buf, 100, h);
                pollUntil(ctx, "read", () -> h.calls > 0);
                assertEquals(data.length, h.res);
                assertArrayEquals(data, buf.toArray(JAVA_BYTE));
            } finally {
                Fds.close(fd);
            }
        }
    }

    private static MemorySegment iovecs(Arena a, MemorySegment... bufs) {
        MemorySegment iov = a.allocate(IoUring.IOVEC_SIZE * bufs.length, 8);
        for (int i = 0; i < bufs.length; i++) {
            iov.set(JAVA_LONG, IoUring.IOVEC_SIZE * i, bufs[i].address());
            iov.set(JAVA_LONG, IoUring.IOVEC_SIZE * i + 8, bufs[i].byteSize());
        }
        return iov;
    }

    @Test
    void writevThenReadvWithDifferentSplits() throws Exception {
        Path f = dir.resolve("v");
        byte[] data = pattern(4096, 3);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            int fd = Fds.open(f.toString(), Fds.O_RDWR | Fds.O_CREAT, 0644);
            try {
                MemorySegment src = a.allocate(data.length);
                MemorySegment.copy(data, 0, src, JAVA_BYTE, 0, data.length);
                MemorySegment wiov = iovecs(a, src.asSlice(0, 1000), src.asSlice(1000, 3000), src.asSlice(4000, 96));
                Recorder w = new Recorder();
                IoUring.of(ctx).writev(fd, wiov, 3, 512, w);
                pollUntil(ctx, "writev", () -> w.calls > 0);
                assertEquals(data.length, w.res);

                MemorySegment dst = a.allocate(data.length);
                MemorySegment riov = iovecs(a, dst.asSlice(0, 7), dst.asSlice(7, 4089));
                Recorder r = new Recorder();
                IoUring.of(ctx).readv(fd, riov, 2, 512, r);
                pollUntil(ctx, "readv", () -> r.calls > 0);
                assertEquals(data.length, r.res);
                assertArrayEquals(data, dst.toArray(JAVA_BYTE));
            } finally {
                Fds.close(fd);
            }
        }
        byte[] onDisk = Files.readAllBytes(f);
        assertArrayEquals(data, java.util.Arrays.copyOfRange(onDisk, 512, onDisk.length));
    }

    @Test
    void openatStatxAndCloseThroughTheRing() throws Exception {
        Path f = dir.resolve("o");
        Files.write(f, pattern(777, 4));
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment path = a.allocateFrom(f.toString());
            Recorder open = new Recorder();
            IoUring.of(ctx).openat(AT_FDCWD, path, Fds.O_RDONLY | O_CLOEXEC, 0, open);
            pollUntil(ctx, "openat", () -> open.calls > 0);
            int fd = open.res;
            assertTrue(fd >= 0, "openat: " + fd);
            assertTrue(Fds.isOpen(fd));
            try {
                MemorySegment stx = a.allocate(IoUring.STATX_SIZE, 8);
                Recorder st = new Recorder();
                IoUring.of(ctx).statx(AT_FDCWD, path, 0, STATX_SIZE_MASK, stx, st);
                pollUntil(ctx, "statx", () -> st.calls > 0);
                assertEquals(0, st.res);
                assertEquals(777L, stx.get(JAVA_LONG, STX_SIZE));
                assertEquals(777L, Fds.size(fd));
            } finally {
                Recorder cl = new Recorder();
                IoUring.of(ctx).close(fd, cl);
                pollUntil(ctx, "close", () -> cl.calls > 0);
                assertEquals(0, cl.res);
            }
            assertFalse(Fds.isOpen(fd), "fd " + fd + " still open after IORING_OP_CLOSE");
        }
    }

    @Test
    void punchedHoleReadsAsZeroesAndKeepsTheSize() throws Exception {
        Path f = dir.resolve("hole");
        byte[] data = new byte[65536];
        java.util.Arrays.fill(data, (byte) 0xAB);
        Files.write(f, data);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            int fd = Fds.open(f.toString(), Fds.O_RDWR, 0);
            try {
                Recorder p = new Recorder();
                IoUring.of(ctx).fallocate(fd, 3 /* PUNCH_HOLE | KEEP_SIZE */, 4096, 8192, p);
                pollUntil(ctx, "fallocate", () -> p.calls > 0);
                assertEquals(0, p.res, () -> "fallocate: " + Errno.describe(-p.res));
                MemorySegment buf = a.allocate(data.length);
                Recorder r = new Recorder();
                IoUring.of(ctx).read(fd, buf, 0, r);
                pollUntil(ctx, "read", () -> r.calls > 0);
                assertEquals(data.length, r.res);
                for (int i = 0; i < data.length; i++) {
                    byte want = i >= 4096 && i < 4096 + 8192 ? 0 : (byte) 0xAB;
                    assertEquals(want, buf.get(JAVA_BYTE, i), "byte " + i);
                }
                assertEquals(data.length, Fds.size(fd));
            } finally {
                Fds.close(fd);
            }
        }
    }

    @Test
    void recvWaitsForSendOnASocketpair() throws Exception {
        int[] sp = socketPair();
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            byte[] msg = "hello over io_uring".getBytes(StandardCharsets.US_ASCII);
            MemorySegment in = a.allocate(64);
            Recorder recv = new Recorder();
            IoUring.of(ctx).recv(sp[1], in, 0, recv);
            for (int i = 0; i < 3; i++) {
                ctx.poll(false);
            }
            assertEquals(0, recv.calls, "recv completed with nothing sent: " + recv.res);
            assertTrue(recv.isInFlight());

            MemorySegment out = a.allocate(msg.length);
            MemorySegment.copy(msg, 0, out, JAVA_BYTE, 0, msg.length);
            Recorder send = new Recorder();
            IoUring.of(ctx).send(sp[0], out, 0, send);
            pollUntil(ctx, "send and recv", () -> send.calls > 0 && recv.calls > 0);
            assertEquals(msg.length, send.res);
            assertEquals(msg.length, recv.res);
            assertArrayEquals(msg, in.asSlice(0, msg.length).toArray(JAVA_BYTE));
        } finally {
            closeQuietly(sp[0]);
            closeQuietly(sp[1]);
        }
    }

    @Test
    void pollAddSeesAnEventfdAndPollRemoveCancelsIt() throws Exception {
        try (AioContext ctx = uringContext(); EventNotifier n = EventNotifier.create(false)) {
            Recorder p = new Recorder();
            IoUring.of(ctx).pollAdd(n.fd(), POLLIN, p);
            ctx.poll(false);
            assertEquals(0, p.calls, "poll completed on an eventfd that is not set");
            n.set();
            pollUntil(ctx, "POLL_ADD", () -> p.calls > 0);
            assertTrue((p.res & POLLIN) != 0, "res=" + p.res);
            assertTrue(n.testAndClear());

            Recorder p2 = new Recorder();
            Recorder rm = new Recorder();
            IoUring.of(ctx).pollAdd(n.fd(), POLLIN, p2);
            ctx.poll(false);
            IoUring.of(ctx).pollRemove(p2, rm);
            pollUntil(ctx, "POLL_REMOVE", () -> p2.calls > 0 && rm.calls > 0);
            assertEquals(-Errno.ECANCELED, p2.res);
            assertEquals(0, rm.res);
        }
    }

    @Test
    void timeoutExpiresWithEtimeAndCancelHitsItsTarget() throws Exception {
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment shortTs = a.allocate(IoUring.TIMESPEC_SIZE, 8);
            setTimespec(shortTs, 1_000_000L);
            Recorder t = new Recorder();
            IoUring.of(ctx).timeout(shortTs, 0, 0, t);
            pollUntil(ctx, "timeout", () -> t.calls > 0);
            assertEquals(-ETIME, t.res);

            MemorySegment longTs = a.allocate(IoUring.TIMESPEC_SIZE, 8);
            setTimespec(longTs, 3_600_000_000_000L);
            Recorder target = new Recorder();
            Recorder cancel = new Recorder();
            IoUring.of(ctx).timeout(longTs, 0, 0, target);
            ctx.poll(false);
            IoUring.of(ctx).cancel(target, cancel);
            pollUntil(ctx, "cancel", () -> target.calls > 0 && cancel.calls > 0);
            assertEquals(-Errno.ECANCELED, target.res);
            assertEquals(0, cancel.res);
        }
    }

    @Test
    void linkTimeoutCancelsAReadThatNeverCompletes() throws Exception {
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(64);
            MemorySegment ts = a.allocate(IoUring.TIMESPEC_SIZE, 8);
            setTimespec(ts, 1_000_000L);
            Recorder read = new Recorder();
            Recorder lt = new Recorder();
            IoUring.of(ctx).linkNext(sqe -> sqe.opcode(Uring.OP_READ).fd(p[0]).addr(buf).len(64), read);
            IoUring.of(ctx).linkTimeout(ts, 0, lt);
            pollUntil(ctx, "linked read and its timeout", () -> read.calls > 0 && lt.calls > 0);
            assertEquals(-Errno.ECANCELED, read.res);
            assertEquals(-ETIME, lt.res);
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void linkNextAndLinkTimeoutStayTogetherWhenTheSqHasOneFreeSlot() throws Exception {
        // With one free slot, the linked read would take it and the timeout would force a flush
        // that submits the read with IOSQE_IO_LINK and nothing after it: the read would then
        // wait forever, and the lone LINK_TIMEOUT fail. linkNext must flush first instead.
        int[] p = Fds.pipe();
        try (AioContext ctx = uringContext(16); Arena a = Arena.ofConfined()) {
            ctx.poll(false); // submits the context's own POLL_ADD: the SQ is now empty
            IoUring ring = IoUring.of(ctx);
            assertEquals(16, ring.sqSpaceLeft());
            Recorder[] nops = new Recorder[15];
            for (int i = 0; i < nops.length; i++) {
                nops[i] = new Recorder();
                ring.nop(nops[i]);
            }
            assertEquals(1, ring.sqSpaceLeft(), "exactly one free SQ slot before the linked pair");
            MemorySegment buf = a.allocate(64);
            MemorySegment ts = a.allocate(IoUring.TIMESPEC_SIZE, 8);
            setTimespec(ts, 1_000_000L);
            Recorder read = new Recorder();
            Recorder lt = new Recorder();
            ring.linkNext(sqe -> sqe.opcode(Uring.OP_READ).fd(p[0]).addr(buf).len(64), read);
            ring.linkTimeout(ts, 0, lt);
            pollUntil(ctx, "linked read and its timeout", () -> read.calls > 0 && lt.calls > 0);
            assertEquals(-Errno.ECANCELED, read.res, "the read was not bounded by its linked timeout");
            assertEquals(-ETIME, lt.res);
            for (Recorder n : nops) {
                assertEquals(1, n.calls);
            }
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void completionsArriveInSubmissionOrderEvenThroughSqAndCqOverflow() throws Exception {
        int n = 200;
        try (AioContext ctx = uringContext(16)) { // SQ 16, CQ 32: the batch flushes and overflows
            int[] order = new int[n];
            int[] count = {0};
            CqeHandler[] hs = new CqeHandler[n];
            for (int i = 0; i < n; i++) {
                int id = i;
                hs[i] = CqeHandler.of((res, flags) -> order[count[0]++] = id);
                IoUring.of(ctx).nop(hs[i]);
            }
            pollUntil(ctx, n + " NOPs", () -> count[0] == n);
            for (int i = 0; i < n; i++) {
                assertEquals(i, order[i], "completion " + i);
                assertFalse(hs[i].isInFlight());
            }
        }
    }

    @Test
    void completionsKeepFlowingInsideANestedPollFromAHandler() throws Exception {
        try (AioContext ctx = uringContext()) {
            Recorder b = new Recorder();
            Recorder c = new Recorder();
            boolean[] seenInside = {false, false};
            Recorder a = new Recorder() {
                @Override
                protected void onCompletion(int res, int flags) {
                    super.onCompletion(res, flags);
                    IoUring.of(ctx).nop(c); // submitted and completed entirely inside this handler
                    for (int i = 0; i < 1000 && (b.calls == 0 || c.calls == 0); i++) {
                        ctx.poll(true);
                    }
                    seenInside[0] = b.calls == 1;
                    seenInside[1] = c.calls == 1;
                }
            };
            IoUring.of(ctx).nop(a);
            IoUring.of(ctx).nop(b); // reaped by the outer poll with a, dispatched by the nested one
            pollUntil(ctx, "handler a", () -> a.calls > 0);
            assertTrue(seenInside[0], "b's completion did not run inside the nested poll");
            assertTrue(seenInside[1], "c's completion did not run inside the nested poll");
            assertEquals(1, b.calls);
            assertEquals(1, c.calls);
        }
    }

    @Test
    void handlerResubmitsItselfFromOnCompletion() throws Exception {
        try (AioContext ctx = uringContext()) {
            int[] runs = {0};
            boolean[] inFlightInside = {true};
            CqeHandler h = new CqeHandler() {
                @Override
                protected void onCompletion(int res, int flags) {
                    inFlightInside[0] &= !isInFlight();
                    if (++runs[0] < 10) {
                        IoUring.of(ctx).nop(this);
                    }
                }
            };
            IoUring.of(ctx).nop(h);
            pollUntil(ctx, "10 resubmissions", () -> runs[0] == 10);
            assertTrue(inFlightInside[0], "isInFlight() was true inside onCompletion");
            assertFalse(h.isInFlight());
            assertFalse(ctx.poll(false));
            assertEquals(10, runs[0]);
        }
    }

    @Test
    void closeDropsRequestsInFlightWithoutCallingThemOrLeakingFds() throws Exception {
        closeWithReadInFlight(); // warm-up: classes and lazily opened files of the JVM
        long before = openFdCount();
        for (int round = 0; round < 8; round++) {
            closeWithReadInFlight();
        }
        assertEquals(before, openFdCount(), "open fds after 8 contexts closed with a read in flight");
    }

    private static void closeWithReadInFlight() throws Exception {
        int[] p = Fds.pipe();
        try (Arena a = Arena.ofConfined()) { // outlives the context: the kernel may write until close()
            AioContext ctx = uringContext();
            Recorder r = new Recorder();
            IoUring.of(ctx).read(p[0], a.allocate(64), 0, r);
            ctx.poll(false);
            ctx.poll(false);
            assertEquals(0, r.calls, "read of an empty pipe completed: " + r.res);
            assertTrue(r.isInFlight());
            ctx.close();
            assertEquals(0, r.calls, "handler called by close()");
            assertFalse(r.isInFlight());
        } finally {
            Fds.close(p[0]);
            Fds.close(p[1]);
        }
    }

    @Test
    void statxBufferIsFilledOnlyUpToItsSize() throws Exception {
        // statx needs at least 256 bytes; a larger segment works and the rest is left alone.
        Path f = dir.resolve("s");
        Files.write(f, new byte[3]);
        try (AioContext ctx = uringContext(); Arena a = Arena.ofConfined()) {
            MemorySegment stx = a.allocate(IoUring.STATX_SIZE + 16, 8);
            stx.asSlice(IoUring.STATX_SIZE).fill((byte) 0x5A);
            Recorder st = new Recorder();
            IoUring.of(ctx).statx(AT_FDCWD, a.allocateFrom(f.toString()), 0, STATX_SIZE_MASK, stx, st);
            pollUntil(ctx, "statx", () -> st.calls > 0);
            assertEquals(0, st.res);
            assertEquals(3L, stx.get(JAVA_LONG, STX_SIZE));
            assertTrue((stx.get(JAVA_INT, 0) & STATX_SIZE_MASK) != 0, "stx_mask lacks STATX_SIZE");
            assertEquals(0x5A5A5A5A5A5A5A5AL, stx.get(JAVA_LONG, IoUring.STATX_SIZE));
        }
    }
}
