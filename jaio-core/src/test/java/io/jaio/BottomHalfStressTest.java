// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static io.jaio.testing.TestSupport.awaitCondition;
import static io.jaio.testing.TestSupport.joinOrDump;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import io.jaio.testing.TestSupport;

/**
 * Four producer threads schedule bottom halves into one IOThread (about 1.3 million per fd
 * monitor) and every callback is accounted for:
 * <ul>
 * <li>one-shots: each runs exactly once;</li>
 * <li>reusable bottom halves under a hand-off (a producer schedules one only after seeing its
 *     previous run end): runs equal schedules exactly;</li>
 * <li>one reusable bottom half scheduled freely by everyone, so schedules merge: a run always
 *     follows the last schedule (the last run sees the final sequence number);</li>
 * <li>ping-pongs at the end, when the loop keeps going to sleep: each waits for its own run,
 *     so a lost wake-up hangs the producer and the bounded wait fails with a thread dump.</li>
 * </ul>
 * Failures are captured from every thread and every thread is joined.
 */
@ParameterizedClass
@EnumSource(FdMonitorKind.class)
class BottomHalfStressTest {
    private static final int PRODUCERS = 4;
    private static final int ONE_SHOTS_PER_PRODUCER = 150_000;
    private static final int HANDOFFS_PER_PRODUCER = 50_000;
    private static final int MERGED_PER_PRODUCER = 100_000;
    private static final int PING_PONGS_PER_PRODUCER = 2_000;
    private static final int HANDOFF_BHS_PER_PRODUCER = 8;

    @Parameter
    FdMonitorKind kind;

    private final Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    private volatile boolean abort;

    private final AtomicLong oneShotRuns = new AtomicLong();
    private final AtomicLong mergedSeq = new AtomicLong();
    /** The sequence number the merged bottom half saw when it last started. Written by the IOThread only. */
    private final AtomicLong mergedSeenSeq = new AtomicLong();
    private final AtomicLong mergedRuns = new AtomicLong();
    private volatile Thread ioThread;
    private volatile boolean wrongThread;

    /** A reusable bottom half handed off between one producer (schedules) and the IOThread (runs). */
    private final class HandOff {
        final AtomicInteger busy = new AtomicInteger();
        BottomHalf bh;
        long runs; // IOThread only; read after the thread ended
        long schedules; // producer only

        void onRun() {
            checkThread();
            runs++;
            busy.set(0); // volatile: the producer may schedule again once it sees 0
        }

        boolean trySchedule() {
            if (!busy.compareAndSet(0, 1)) {
                return false;
            }
            schedules++;
            bh.schedule();
            return true;
        }
    }

    private void checkThread() {
        if (Thread.currentThread() != ioThread) {
            wrongThread = true;
        }
    }

    @Test
    void everyScheduledBottomHalfRunsAndNoWakeUpIsLost() throws Exception {
        IOThread io = IOThread.start("bh-stress-" + kind, AioContext.builder().name("bh-stress").fdMonitor(kind)
                .pollParams(IOThread.DEFAULT_POLL_MAX_NS, 0, 0)
                .errorHandler((c, source, e) -> failures.add(new AssertionError(source + " threw", e))));
        AioContext ctx = io.context();
        ioThread = io.thread();
        HandOff[][] handOffs = new HandOff[PRODUCERS][HANDOFF_BHS_PER_PRODUCER];
        for (int p = 0; p < PRODUCERS; p++) {
            for (int k = 0; k < HANDOFF_BHS_PER_PRODUCER; k++) {
                HandOff h = new HandOff();
                h.bh = ctx.newBottomHalf("hand-off-" + p + "-" + k, h::onRun);
                handOffs[p][k] = h;
            }
        }
        BottomHalf merged = ctx.newBottomHalf("merged", () -> {
            checkThread();
            mergedSeenSeq.set(mergedSeq.get()); // read after the dequeue that started this run
            mergedRuns.incrementAndGet();
        });
        Runnable oneShot = () -> {
            checkThread();
            oneShotRuns.incrementAndGet();
        };

        List<Thread> producers = new ArrayList<>();
        try {
            for (int p = 0; p < PRODUCERS; p++) {
                HandOff[] mine = handOffs[p];
                producers.add(Thread.ofPlatform().name("bh-producer-" + p).start(() -> {
                    try {
                        produce(ctx, mine, merged, oneShot);
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (Thread t : producers) {
                joinOrDump(t);
            }
            assertNoFailures();
            awaitCondition("every one-shot to run", () -> oneShotRuns.get() == (long) PRODUCERS * ONE_SHOTS_PER_PRODUCER);
            awaitCondition("the merged bottom half to run after its last schedule", () -> mergedSeenSeq.get() == mergedSeq.get());
            for (HandOff[] row : handOffs) {
                for (HandOff h : row) {
                    awaitCondition("hand-off bottom half " + h.bh.name() + " to run", () -> h.busy.get() == 0);
                }
            }
        } finally {
            abort = true;
            for (Thread t : producers) {
                joinOrDump(t);
            }
            for (HandOff[] row : handOffs) {
                for (HandOff h : row) {
                    h.bh.delete();
                }
            }
            merged.delete();
            io.stop();
        }
        assertNoFailures();
        assertFalse(wrongThread, "a bottom half ran outside the IOThread");
        long handOffSchedules = 0;
        for (HandOff[] row : handOffs) {
            for (HandOff h : row) {
                assertEquals(h.schedules, h.runs, h.bh.name() + ": every hand-off schedule runs exactly once");
                handOffSchedules += h.schedules;
            }
        }
        assertEquals((long) PRODUCERS * HANDOFFS_PER_PRODUCER, handOffSchedules);
        assertEquals((long) PRODUCERS * MERGED_PER_PRODUCER, mergedSeq.get());
        assertTrue(mergedRuns.get() >= 1 && mergedRuns.get() <= mergedSeq.get(), "merged runs: " + mergedRuns.get());
    }

    private void produce(AioContext ctx, HandOff[] mine, BottomHalf merged, Runnable oneShot) {
        int oneShots = 0;
        int handOffs = 0;
        int mergedSchedules = 0;
        int cursor = 0;
        while (oneShots < ONE_SHOTS_PER_PRODUCER || handOffs < HANDOFFS_PER_PRODUCER || mergedSchedules < MERGED_PER_PRODUCER) {
            if (abort) {
                return;
            }
            if (oneShots < ONE_SHOTS_PER_PRODUCER) {
                ctx.scheduleOneShot("one-shot", oneShot);
                oneShots++;
            }
            if (handOffs < HANDOFFS_PER_PRODUCER) {
                for (int tries = 0; tries < mine.length; tries++) {
                    if (mine[cursor++ % mine.length].trySchedule()) {
                        handOffs++;
                        break;
                    }
                }
            }
            if (mergedSchedules < MERGED_PER_PRODUCER) {
                mergedSeq.incrementAndGet(); // before the schedule: the run that follows sees it
                merged.schedule();
                mergedSchedules++;
            }
            if (oneShots == ONE_SHOTS_PER_PRODUCER && handOffs < HANDOFFS_PER_PRODUCER) {
                Thread.onSpinWait(); // only hand-offs left: they wait for the IOThread
            }
        }
        AtomicInteger pong = new AtomicInteger();
        for (int i = 1; i <= PING_PONGS_PER_PRODUCER; i++) {
            int expected = i;
            ctx.scheduleOneShot("ping", () -> pong.set(expected));
            long deadline = System.nanoTime() + TestSupport.HANG_NS;
            while (pong.get() != expected) {
                if (abort) {
                    return;
                }
                if (System.nanoTime() - deadline > 0) {
                    fail("ping " + i + " never ran: lost wake-up?\n" + TestSupport.threadDump());
                }
                Thread.onSpinWait();
            }
        }
    }

    private void assertNoFailures() {
        if (!failures.isEmpty()) {
            AssertionError e = new AssertionError(failures.size() + " failure(s) in producer or callback threads");
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }
}
