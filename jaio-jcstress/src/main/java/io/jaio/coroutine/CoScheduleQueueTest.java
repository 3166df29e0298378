// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

import io.jaio.internal.loop.JcsSupport;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIII_Result;
import io.jaio.internal.loop.BhQueue;

/**
 * The coroutine schedule stack (QEMU aio_co_schedule / co_schedule_bh_cb) on the real
 * CoScheduleQueue: a thread schedules a coroutine (claim CAS, push with the UNLINKED marker,
 * then the bottom half) while another is already queued, against the home thread's takeFifo()
 * (exchange, wait out the marker, reverse); the arbiter takes again. Each coroutine is taken exactly once, and the
 * bottom half is left scheduled (no lost wake-up). The coroutines are list markers, never
 * entered: entering needs the Continuation flags and is covered by the JUnit tests.
 */
@JCStressTest
@Description("a scheduler pushes on the real CoScheduleQueue (one already queued) vs the home thread's takeFifo(): each taken once, in order, BH scheduled")
@Outcome(id = {"1, 2, 0, 0, 1", "1, 0, 0, 1, 1"},
        expect = Expect.ACCEPTABLE, desc = "the queued one first (r1 = 1) and the new one second (r2 = 2) or in the next take; BH scheduled")
@Outcome(expect = Expect.FORBIDDEN, desc = "a coroutine lost or taken twice, or the co-schedule bottom half not scheduled")
@State
public class CoScheduleQueueTest {
    private static final MethodHandle TAKE_FIFO;

    static {
        try {
            MethodHandles.Lookup co = MethodHandles.privateLookupIn(CoScheduleQueue.class, MethodHandles.lookup());
            TAKE_FIFO = co.findVirtual(CoScheduleQueue.class, "takeFifo", MethodType.methodType(Coroutine.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** CoScheduleQueue.takeFifo: the consumer's exchange of the stack, oldest first. */
    static Coroutine takeFifo(CoScheduleQueue q) {
        try {
            return (Coroutine) TAKE_FIFO.invokeExact(q);
        } catch (Throwable t) {
            throw JcsSupport.rethrow(t);
        }
    }

    static Coroutine schedNext(Coroutine co) {
        return (Coroutine) Coroutine.SCHED_NEXT.get(co);
    }

    final BhQueue bhs = JcsSupport.newQueue();
    final CoScheduleQueue queue = new CoScheduleQueue(JcsSupport.CTX, bhs);
    final Coroutine c1 = Coroutine.newMarker();
    final Coroutine c2 = Coroutine.newMarker();
    int home1;
    int home2;

    public CoScheduleQueueTest() {
        queue.schedule(c1);
    }

    @Actor
    public void scheduler() {
        queue.schedule(c2);
    }

    @Actor
    public void home() {
        int pos = 0;
        for (Coroutine co = takeFifo(queue); co != null; co = schedNext(co)) {
            pos++;
            if (co == c1) {
                home1 += pos; // 1 when taken once, first
            } else if (co == c2) {
                home2 += pos;
            }
        }
    }

    @Arbiter
    public void arbiter(IIIII_Result r) {
        int arb1 = 0;
        int arb2 = 0;
        for (Coroutine co = takeFifo(queue); co != null; co = schedNext(co)) {
            if (co == c1) {
                arb1++;
            } else if (co == c2) {
                arb2++;
            }
        }
        r.r1 = home1;
        r.r2 = home2;
        r.r3 = arb1;
        r.r4 = arb2;
        r.r5 = bhs.timeoutNs() == 0 ? 1 : 0;
    }
}
