package io.jaio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A callback that any thread can schedule to run once on a context's home thread (QEMU's
 * {@code QEMUBH}). Made by {@link AioContext#newBottomHalf}; reusable until {@link #delete()}.
 *
 * <p>Scheduling an already scheduled bottom half merges with the pending run. A bottom half
 * scheduled while the loop runs bottom halves (even by its own callback) runs in the next
 * {@code poll()}, so a self-rescheduling bottom half runs once per poll. An idle bottom half
 * ({@link #scheduleIdle()}) does not count as progress and wakes a sleeping loop within 10 ms.
 *
 * <p>Threading: every method may be called from any thread. {@link #schedule()} costs one atomic
 * or on the flags, one exchange on the context's list when the bottom half was not queued, and
 * no system call unless the home thread is blocked. {@link #cancel()} races with a run that has
 * already begun (the run then still happens), as in QEMU.
 */
public final class BottomHalf {
    // Flag bits (QEMU BH_*), kept in one int updated atomically by any thread.
    /** Queued on the context's list, waiting for the loop. */
    static final int PENDING = 1;
    /** Run the callback when dequeued. */
    static final int SCHEDULED = 1 << 1;
    /** Drop without running when dequeued. */
    static final int DELETED = 1 << 2;
    /** Drop after running. */
    static final int ONESHOT = 1 << 3;
    /** Scheduled "when idle". */
    static final int IDLE = 1 << 4;

    static final VarHandle FLAGS;
    static final VarHandle NEXT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FLAGS = l.findVarHandle(BottomHalf.class, "flags", int.class);
            NEXT = l.findVarHandle(BottomHalf.class, "next", BottomHalf.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final AioContext ctx;
    /** The queue it is scheduled on: the context's own (a jcstress test drains a private one). */
    final BhQueue queue;
    final String name;
    final Runnable callback;
    final ReentrancyGuard guard;
    /** PENDING | SCHEDULED | DELETED | ONESHOT | IDLE; accessed only through FLAGS. */
    @SuppressWarnings("unused")
    private int flags;
    /** Link in the context's queue; see BhQueue for the protocol. Accessed through NEXT. */
    @SuppressWarnings("unused")
    private BottomHalf next;
    // Leak registry links, guarded by the context's BhQueue registry lock.
    BottomHalf regPrev;
    BottomHalf regNext;
    boolean registered;

    BottomHalf(AioContext ctx, BhQueue queue, String name, Runnable callback, ReentrancyGuard guard, int initialFlags) {
        this.ctx = ctx;
        this.queue = queue;
        this.name = name;
        this.callback = callback;
        this.guard = guard;
        FLAGS.set(this, initialFlags); // published by the exchange that first enqueues it
    }

    /** The name given at creation, used in leak reports and error messages. */
    public String name() {
        return name;
    }

    /** The context this bottom half runs in. */
    public AioContext context() {
        return ctx;
    }

    /** Runs the callback in a coming {@code poll()} of the context. Any thread. */
    public void schedule() {
        queue.enqueue(this, SCHEDULED);
    }

    /**
     * Like {@link #schedule()}, but the run does not count as progress, and while only idle
     * bottom halves are pending a blocking {@code poll()} sleeps at most 10 ms before running
     * them, even when nothing wakes it. Any thread.
     */
    public void scheduleIdle() {
        queue.enqueue(this, SCHEDULED | IDLE);
    }

    /**
     * Withdraws a pending schedule: the bottom half stays queued and is skipped. Wait-free, no
     * wake-up. Any thread.
     */
    public void cancel() {
        FLAGS.getAndBitwiseAnd(this, ~SCHEDULED); // volatile RMW; pairs with the getAndBitwiseAnd in BhQueue.dequeue
    }

    /**
     * Deletes the bottom half: a pending run is dropped and the callback never runs again. May be
     * called from any thread, including from its own callback. The object must not be scheduled
     * afterwards.
     */
    public void delete() {
        queue.delete(this);
    }

    /** Whether a run is pending (scheduled and not yet started, cancelled or deleted). Any thread. */
    public boolean isScheduled() {
        int f = (int) FLAGS.getAcquire(this); // pairs with the RMWs of enqueue/dequeue
        return (f & (SCHEDULED | DELETED)) == SCHEDULED;
    }

    @Override
    public String toString() {
        return "BottomHalf[" + name + "]";
    }
}
