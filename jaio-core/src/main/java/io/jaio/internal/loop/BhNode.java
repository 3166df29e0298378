// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The queue's side of one bottom half: its flags, its link in the lock-free list and its place
 * in the leak registry, all owned by {@link BhQueue}. The public {@code io.jaio.BottomHalf} holds
 * one and forwards to it; a one-shot bottom half is a node without a public face.
 *
 * <p>Encoded state: {@code flags} holds the QEMU {@code BH_*} bits below, updated atomically by
 * any thread through {@link #FLAGS}. {@code next} is the list link; see BhQueue for the push
 * protocol and its {@code UNLINKED} marker.
 *
 * <p>Threading: {@link #schedule}, {@link #scheduleIdle}, {@link #cancel}, {@link #delete} and
 * {@link #isScheduled} from any thread; the rest belongs to the queue.
 */
public final class BhNode {
    /** Queued on the context's list, waiting for the loop. */
    public static final int PENDING = 1;
    /** Run the callback when dequeued. */
    public static final int SCHEDULED = 1 << 1;
    /** Drop without running when dequeued. */
    public static final int DELETED = 1 << 2;
    /** Drop after running. */
    public static final int ONESHOT = 1 << 3;
    /** Scheduled "when idle". */
    public static final int IDLE = 1 << 4;

    static final VarHandle FLAGS;
    static final VarHandle NEXT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FLAGS = l.findVarHandle(BhNode.class, "flags", int.class);
            NEXT = l.findVarHandle(BhNode.class, "next", BhNode.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The queue it is scheduled on: the context's own (a jcstress test drains a private one). */
    final BhQueue queue;
    final String name;
    final Runnable callback;
    final GuardState guard;
    /** PENDING | SCHEDULED | DELETED | ONESHOT | IDLE; accessed only through FLAGS. */
    @SuppressWarnings("unused")
    private int flags;
    /** Link in the queue; see BhQueue for the protocol. Accessed through NEXT. */
    @SuppressWarnings("unused")
    private BhNode next;
    // Leak registry links, guarded by the queue's registry lock.
    BhNode regPrev;
    BhNode regNext;
    boolean registered;

    BhNode(BhQueue queue, String name, Runnable callback, GuardState guard, int initialFlags) {
        this.queue = queue;
        this.name = name;
        this.callback = callback;
        this.guard = guard;
        FLAGS.set(this, initialFlags); // published by the exchange that first enqueues it
    }

    /** The name given at creation. */
    public String name() {
        return name;
    }

    /** See {@code BottomHalf.schedule()}. Any thread. */
    public void schedule() {
        queue.enqueue(this, SCHEDULED);
    }

    /** See {@code BottomHalf.scheduleIdle()}. Any thread. */
    public void scheduleIdle() {
        queue.enqueue(this, SCHEDULED | IDLE);
    }

    /** See {@code BottomHalf.cancel()}. Wait-free. Any thread. */
    public void cancel() {
        FLAGS.getAndBitwiseAnd(this, ~SCHEDULED); // volatile RMW; pairs with the getAndBitwiseAnd in BhQueue.poll
    }

    /** See {@code BottomHalf.delete()}. Any thread. */
    public void delete() {
        queue.delete(this);
    }

    /** Whether a run is pending (scheduled and not yet started, cancelled or deleted). Any thread. */
    public boolean isScheduled() {
        int f = (int) FLAGS.getAcquire(this); // pairs with the RMWs of enqueue/dequeue
        return (f & (SCHEDULED | DELETED)) == SCHEDULED;
    }

    /** The raw flag bits (a test probe). Any thread. */
    public int flags() {
        return (int) FLAGS.getAcquire(this); // pairs with the RMWs of enqueue/dequeue
    }

    @Override
    public String toString() {
        return "BhNode[" + name + "]";
    }
}
