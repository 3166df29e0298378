// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.uring.CqeHandler;
import io.jaio.ErrnoException;
import io.jaio.EventNotifier;
import io.jaio.FdMonitorKind;
import io.jaio.uring.IoUring;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a multishot POLL_ADD would save over the io_uring fd monitor's one-shot POLL_ADD re-armed
 * after every event, measured on the submission API with a handler that drains its fd fully
 * (the only case where multishot, edge-triggered, is correct). One operation: an eventfd write,
 * then blocking polls until the poll CQE's handler has drained the eventfd with an
 * IORING_OP_READ through the same ring. {@code oneShot} also re-arms the poll (a POLL_ADD SQE
 * after the READ, in the same io_uring_enter), as UringFdMonitor does; {@code multishot} keeps
 * one IORING_POLL_ADD_MULTI request armed. Both make the same system calls (one eventfd write,
 * two io_uring_enter), so the difference is the re-arm: one SQE and the kernel arming a poll on
 * the eventfd's wait queue. Single-threaded; run with {@code -prof gc} (~0 B/op expected).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class UringPollRearmBenchmark {
    private static final int POLLIN = 1;
    /** Blocking polls allowed per operation before it is called a hang. */
    private static final int MAX_POLLS = 1000;

    @Param({"oneShot", "multishot"})
    String mode;

    private AioContext ctx;
    private IoUring ring;
    private EventNotifier notifier;
    private Arena arena;
    private MemorySegment counter;
    private boolean rearm;
    private Poll poll;
    private Drain drain;
    /** Drains completed so far; home thread. */
    long drained;

    /** The poll request's handler: drains the eventfd through the ring, and re-arms when one-shot. */
    static final class Poll extends CqeHandler {
        final UringPollRearmBenchmark b;

        Poll(UringPollRearmBenchmark b) {
            this.b = b;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            if (res < 0) {
                throw new IllegalStateException("POLL_ADD failed: res=" + res);
            }
            b.ring.read(b.notifier.fd(), b.counter, 0, b.drain);
            if (b.rearm) {
                b.ring.pollAdd(b.notifier.fd(), POLLIN, this);
            }
        }
    }

    /** The drain read's handler. */
    static final class Drain extends CqeHandler {
        final UringPollRearmBenchmark b;

        Drain(UringPollRearmBenchmark b) {
            this.b = b;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            if (res != 8) {
                throw new IllegalStateException("eventfd read: res=" + res + " (expected 8)");
            }
            b.drained++;
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws ErrnoException {
        rearm = switch (mode) {
            case "oneShot" -> true;
            case "multishot" -> false;
            default -> throw new IllegalArgumentException("mode=" + mode + " (expected oneShot or multishot)");
        };
        ctx = AioContext.builder().name("uring-poll-rearm").fdMonitor(FdMonitorKind.IO_URING).build();
        if (!ctx.hasIoUring()) {
            String why = ctx.ioUringUnavailableReason();
            ctx.close();
            throw new IllegalStateException("io_uring unavailable: " + why);
        }
        ring = IoUring.of(ctx);
        notifier = EventNotifier.create(false);
        arena = Arena.ofConfined();
        counter = arena.allocate(8, 8);
        poll = new Poll(this);
        drain = new Drain(this);
        if (rearm) {
            ring.pollAdd(notifier.fd(), POLLIN, poll);
        } else {
            ring.pollAddMultishot(notifier.fd(), POLLIN, poll);
        }
        ctx.poll(false);
    }

    @Benchmark
    public long roundTrip() {
        long target = drained + 1;
        notifier.set();
        for (int polls = 0; drained < target; polls++) { // bounded: a poll CQE, then the drain's CQE
            if (polls > MAX_POLLS) {
                throw new IllegalStateException(mode + ": the eventfd was not drained after " + polls + " polls");
            }
            ctx.poll(true);
        }
        return drained;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close(); // cancels the armed poll without calling its handler
        notifier.close();
        arena.close();
    }
}
