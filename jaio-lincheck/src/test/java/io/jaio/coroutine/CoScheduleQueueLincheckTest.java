// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.LincheckSupport;

/**
 * The coroutine schedule stack (QEMU aio_co_schedule / co_schedule_bh_cb) on the real
 * {@link CoScheduleQueue} with several producers: three threads schedule fresh coroutines (claim,
 * push with the UNLINKED marker, schedule the bottom half) while the home thread takes the stack
 * ({@code takeFifo()}: exchange, wait out the marker, reverse). The coroutines are list markers,
 * never entered.
 *
 * <p>Specification ({@link Spec}): a counter; a take returns how many coroutines were scheduled
 * and not yet taken. After every interleaving {@link #invariants()} takes the rest and checks that
 * every coroutine was taken exactly once, that each producer's coroutines came out in the order it
 * scheduled them (FIFO per producer), and that the co-schedule bottom half was left scheduled
 * whenever a coroutine was pushed after the last take (no lost wake-up).
 */
public class CoScheduleQueueLincheckTest {
    private static final MethodHandle TAKE_FIFO;

    static {
        try {
            MethodHandles.Lookup co = MethodHandles.privateLookupIn(CoScheduleQueue.class, MethodHandles.lookup());
            TAKE_FIFO = co.findVirtual(CoScheduleQueue.class, "takeFifo", MethodType.methodType(Coroutine.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final BhQueue bhs = LincheckSupport.newQueue();
    final CoScheduleQueue queue = new CoScheduleQueue(LincheckSupport.CTX, bhs);
    /** Per producer thread, its coroutines in the order it scheduled them (test bookkeeping). */
    final Map<Thread, List<Coroutine>> scheduledBy = new ConcurrentHashMap<>();
    final List<Coroutine> taken = new ArrayList<>();

    /** Any thread: Coroutine.scheduleIn a fresh coroutine. */
    @Operation
    public void schedule() {
        Coroutine co = Coroutine.newMarker();
        scheduledBy.computeIfAbsent(Thread.currentThread(), t -> new ArrayList<>()).add(co);
        queue.schedule(co);
    }

    /** Home thread: the co-schedule bottom half's take; returns how many it took. */
    @Operation(nonParallelGroup = "home")
    public int take() {
        int n = 0;
        Coroutine co;
        try {
            co = (Coroutine) TAKE_FIFO.invokeExact(queue);
        } catch (Throwable t) {
            throw LincheckSupport.rethrow(t);
        }
        for (; co != null; co = (Coroutine) Coroutine.SCHED_NEXT.get(co)) {
            taken.add(co);
            n++;
        }
        return n;
    }

    @Validate
    public void invariants() {
        LincheckSupport.interleavings("CoScheduleQueueLincheckTest").incrementAndGet();
        int before = taken.size();
        boolean bhPending = bhs.timeoutNs() == 0;
        take();
        if (taken.size() > before && !bhPending) {
            throw new IllegalStateException("LOST WAKE-UP: " + (taken.size() - before)
                    + " coroutine(s) queued and the co-schedule bottom half not scheduled");
        }
        int total = 0;
        for (List<Coroutine> mine : scheduledBy.values()) {
            total += mine.size();
            int last = -1;
            for (Coroutine co : mine) {
                int at = taken.indexOf(co);
                if (at < 0 || taken.lastIndexOf(co) != at) {
                    throw new IllegalStateException("a coroutine was taken " + (at < 0 ? "never" : "twice"));
                }
                if (at < last) {
                    throw new IllegalStateException("a producer's coroutines came out of order");
                }
                last = at;
            }
        }
        if (total != taken.size()) {
            throw new IllegalStateException(taken.size() + " taken for " + total + " scheduled");
        }
    }

    /** The sequential specification: how many are waiting. */
    public static final class Spec {
        private int waiting;

        public void schedule() {
            waiting++;
        }

        public int take() {
            int n = waiting;
            waiting = 0;
            return n;
        }
    }

    @Test
    void threeProducersAgainstTheHomeThreadsTake() {
        LincheckSupport.checkAndReport(LincheckSupport.options(4, 2).sequentialSpecification(Spec.class),
                CoScheduleQueueLincheckTest.class);
    }
}
