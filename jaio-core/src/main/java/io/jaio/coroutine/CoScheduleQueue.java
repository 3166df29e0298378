// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

import io.jaio.AioContext;
import io.jaio.internal.loop.BhNode;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.CallbackRunner;
import io.jaio.internal.loop.ContextCore;

/**
 * The coroutines scheduled into one context (QEMU {@code util/async.c}: aio_co_schedule,
 * co_schedule_bh_cb, the {@code scheduled_coroutines} list).
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Claim.</b> {@link #schedule} first claims the coroutine with a CAS on its
 *     {@code scheduled} field ({@link Coroutine#markScheduled}); a second scheduler fails with
 *     the name of the first (QEMU 6133b39f3c). So a coroutine is on at most one list, and the
 *     link {@code scheduledNext} has one writer at a time.</li>
 * <li><b>Push.</b> A LIFO stack pushed by any thread with one exchange of the head, as
 *     {@link BhQueue} does: {@code scheduledNext} is set to {@link #UNLINKED}, the exchange
 *     publishes the node, then the link is stored with release; the consumer waits out a node
 *     still marked UNLINKED (its producer is between two instructions). Then the context's
 *     co_schedule bottom half is scheduled, which wakes the home thread if needed.</li>
 * <li><b>Run.</b> The bottom half takes the whole stack with one exchange, reverses it so the
 *     coroutines run in the order they were scheduled, and for each clears the claim and enters
 *     it with <em>this</em> context explicitly, not the current one (QEMU 6808ae0417). The drain
 *     is bounded by the stack taken.</li>
 * <li><b>Errors.</b> An Error from a coroutine leaves {@link #run} with the rest of the taken
 *     list still claimed: it is kept in {@link #deferred} (home thread, oldest first), the bottom
 *     half is scheduled again, and the next run enters those coroutines before the newly
 *     scheduled ones; {@link #closeWithContext} names them if no poll comes.</li>
 * <li><b>Close race.</b> QEMU holds a context reference across the push and the bottom-half
 *     schedule (f0f8100287): the coroutine may run and its owner close the context in between.
 *     Memory is the GC's business here; what remains is that scheduling a bottom half of a
 *     closed context throws, which {@link #schedule} ignores once the push is done and the
 *     context is closed (the coroutine ran, or {@code close()} reports it).</li>
 * </ul>
 * Threading: {@link #schedule} from any thread; the rest on the home thread.
 */
final class CoScheduleQueue implements ContextCore.Extension {
    private static final VarHandle HEAD;
    /** Marker in {@code scheduledNext}: pushed, not linked yet. */
    private static final Coroutine UNLINKED = Coroutine.newMarker();
    private static final int LINK_SPINS = 128;
    private static final String WHO = "Coroutine.scheduleIn";

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(CoScheduleQueue.class, "head", Coroutine.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    private final BhNode bh;
    /** The context's CallbackRunner: what escapes an entry goes to its error handler. */
    private final CallbackRunner callbacks;
    /** Top of the stack of scheduled coroutines; accessed through HEAD. */
    @SuppressWarnings("unused")
    private Coroutine head;
    /** Home thread: what an Error left of the last run, oldest first (linked through SCHED_NEXT), or null. */
    private Coroutine deferred;

    CoScheduleQueue(AioContext ctx) {
        this(ctx, ContextCore.of(ctx).bottomHalves());
    }

    /**
     * The queue of {@code ctx}, made on first use in its {@link ContextCore.Slot#CO_SCHEDULE}
     * slot (the context's close() closes it). Any thread.
     */
    static CoScheduleQueue of(AioContext ctx) {
        return (CoScheduleQueue) ContextCore.of(ctx).extension(ContextCore.Slot.CO_SCHEDULE, CoScheduleQueue::new);
    }

    /** A queue whose bottom half goes on {@code bhs}: the context's queue, or a jcstress test's own. */
    CoScheduleQueue(AioContext ctx, BhQueue bhs) {
        ContextCore.checkOpen(ctx);
        this.ctx = ctx;
        this.callbacks = ContextCore.of(ctx).callbacks();
        this.bh = bhs.create("co-schedule", this::run, null, false);
    }

    /** QEMU aio_co_schedule. Any thread. */
    void schedule(Coroutine co) {
        ContextCore.checkOpen(ctx);
        co.markScheduled(WHO, ctx);
        Coroutine.SCHED_NEXT.set(co, UNLINKED); // plain: the exchange below publishes it
        Coroutine prev = (Coroutine) HEAD.getAndSet(this, co); // pairs with the exchange in run()
        Coroutine.SCHED_NEXT.setRelease(co, prev); // pairs with getAcquire in next()
        try {
            bh.schedule();
        } catch (IllegalStateException e) {
            if (!ctx.isClosed()) {
                throw e;
            }
        }
    }

    private static Coroutine next(Coroutine co) {
        Coroutine n;
        int spins = 0;
        while ((n = (Coroutine) Coroutine.SCHED_NEXT.getAcquire(co)) == UNLINKED) { // pairs with setRelease in schedule()
            if (++spins < LINK_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        return n;
    }

    /** Takes the stack, oldest first. */
    private Coroutine takeFifo() {
        Coroutine co = (Coroutine) HEAD.getAndSet(this, (Coroutine) null); // pairs with the exchange in schedule()
        Coroutine reversed = null;
        while (co != null) { // bounded by the coroutines pushed so far
            Coroutine n = next(co);
            Coroutine.SCHED_NEXT.set(co, reversed);
            reversed = co;
            co = n;
        }
        return reversed;
    }

    /** The coroutines to enter, oldest first: what an Error left last time, then the stack. */
    private Coroutine take() {
        Coroutine first = deferred;
        if (first == null) {
            return takeFifo();
        }
        deferred = null;
        Coroutine last = first;
        for (Coroutine n; (n = (Coroutine) Coroutine.SCHED_NEXT.get(last)) != null; ) { // bounded by the list left
            last = n;
        }
        Coroutine.SCHED_NEXT.set(last, takeFifo());
        return first;
    }

    /** QEMU co_schedule_bh_cb. Home thread. */
    private void run() {
        Coroutine co = take();
        while (co != null) { // bounded by the list taken
            Coroutine n = (Coroutine) Coroutine.SCHED_NEXT.get(co);
            Coroutine.SCHED_NEXT.set(co, null);
            co.clearScheduled(WHO);
            try {
                Coroutine.enterIn(ctx, co);
            } catch (RuntimeException e) {
                callbacks.report("scheduled " + co, e);
            } catch (Throwable t) { // an Error: keep the rest for the next poll, then let it go on
                if (n != null) {
                    deferred = n;
                    bh.schedule();
                }
                throw t;
            }
            co = n;
        }
    }

    /** From close(), before the context is marked closed: names coroutines never entered. */
    @Override
    public void closeWithContext(List<String> leaks) {
        for (Coroutine co = take(); co != null; co = (Coroutine) Coroutine.SCHED_NEXT.get(co)) {
            leaks.add(co + " was scheduled (coSchedule) but never entered");
        }
        bh.delete();
    }
}
