// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/** Helpers shared by the outer-loop tests. */
final class OuterLoopTesting {
    /** Bound on "iterate until nothing is left" loops; far above what any test needs. */
    static final int DRAIN_BOUND = 1000;

    private OuterLoopTesting() {
    }

    /** A context on {@code kind}; skips the test, saying why, where the kernel refuses io_uring. */
    static AioContext newContext(FdMonitorKind kind, String name) throws ErrnoException {
        AioContext ctx = AioContext.builder().name(name + "-" + kind).fdMonitor(kind).build();
        if (kind == FdMonitorKind.IO_URING && !ctx.hasIoUring()) {
            String why = ctx.ioUringUnavailableReason();
            ctx.close();
            System.out.println("skipped on IO_URING: " + why);
            assumeTrue(false, "io_uring unavailable: " + why);
        }
        return ctx;
    }

    /** Whether {@code fd} polls readable right now (ppoll with a zero timeout). */
    static boolean readable(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pfd = a.allocate(Structs.POLLFD_SIZE, 8);
            Structs.setPollfd(pfd, 0, fd, Structs.POLLIN);
            MemorySegment ts = a.allocate(Structs.TIMESPEC_SIZE, 8);
            Structs.setTimespec(ts, 0);
            int r = Syscalls.ppoll(Syscalls.newErrnoSegment(), pfd, 1, ts);
            if (r < 0) {
                throw new AssertionError("ppoll(fd=" + fd + ") failed: errno " + -r);
            }
            return r == 1 && (Structs.pollfdRevents(pfd, 0) & Structs.POLLIN) != 0;
        }
    }

    /** while (iteration(false)); with a bound. Returns how many iterations found work. */
    static int drain(AioSource src) {
        return drain(() -> src.iterate(false));
    }

    static int drain(BooleanSupplier iteration) {
        for (int i = 0; i < DRAIN_BOUND; i++) {
            if (!iteration.getAsBoolean()) {
                return i;
            }
        }
        return fail("still finding work after " + DRAIN_BOUND + " iterations");
    }

    /** QEMU test-aio.c BHTestData with bh_test_cb and bh_delete_cb. */
    static final class BhData {
        int n;
        int max = 1;
        BottomHalf bh;

        /** bh_test_cb: count, reschedule while below max. */
        void testCb() {
            if (++n < max) {
                bh.schedule();
            }
        }

        /** bh_delete_cb: like testCb, but deletes the bottom half at max. */
        void deleteCb() {
            if (++n < max) {
                bh.schedule();
            } else {
                bh.delete();
                bh = null;
            }
        }
    }

    /** QEMU test-aio.c EventNotifierTestData with event_ready_cb. */
    static final class EventData implements AutoCloseable {
        final EventNotifier e;
        int n;
        int active;
        boolean autoSet;

        EventData(int active, boolean autoSet) throws ErrnoException {
            this.e = EventNotifier.create(false);
            this.active = active;
            this.autoSet = autoSet;
        }

        void readyCb() {
            if (!e.testAndClear()) {
                throw new AssertionError("event_ready_cb without a set notifier");
            }
            n++;
            if (active > 0) {
                active--;
            }
            if (autoSet && active > 0) {
                e.set();
            }
        }

        void register(AioContext ctx) throws ErrnoException {
            ctx.setEventNotifier(e, this::readyCb, null, null);
        }

        @Override
        public void close() {
            e.close();
        }
    }
}
