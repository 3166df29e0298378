// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The queue's side of one bottom half: its flags, its links in the two lists and its place in
 * the leak registry, all owned by {@link BhQueue}. The public {@code io.jaio.BottomHalf} holds
 * one and forwards to it; a one-shot bottom half that did not fit the one-shot ring is a node
 * without a public face.
 *
 * <p>Encoded state, two words (BhQueue's implementation notes give the protocol):
 * <ul>
 * <li>{@code flags}, shared, updated atomically by any thread through {@link #FLAGS}: bits 0..4
 *     are the QEMU {@code BH_*} bits below, about the cross-thread list (PENDING, SCHEDULED and
 *     IDLE say what a schedule from another thread asked for) and the node's life (DELETED,
 *     ONESHOT); bits 8..63 count the cancel() calls made on other threads ({@link #CANCEL_ONE}
 *     each), so the home thread can tell whether a cancel came after one of its own schedules.
 *     56 bits cannot wrap in practice (2^56 cancels at one per nanosecond take over two years).</li>
 * <li>{@code home}, written only by the home thread (release, so {@link #isScheduled} can read
 *     it from anywhere): {@link #H_QUEUED} (on the home list or in a slice being drained),
 *     {@link #SCHEDULED} and {@link #IDLE} (a run the home thread accepted, from its own schedule
 *     or merged from the cross-thread list), and in bits 8..63 the cancel count that run was
 *     accepted at. The run is valid while the cancel count in {@code flags} still equals it.</li>
 * </ul>
 * {@code next} is the cross-thread list link (see BhQueue for the push protocol and its
 * {@code UNLINKED} marker), {@code homeNext} the home list link (home thread only).
 *
 * <p>Threading: {@link #schedule}, {@link #scheduleIdle}, {@link #cancel}, {@link #delete} and
 * {@link #isScheduled} from any thread; the rest belongs to the queue.
 */
public final class BhNode {
    /** Queued on the context's cross-thread list, waiting for the loop. */
    public static final int PENDING = 1;
    /** Run the callback (a schedule from another thread; in {@code home}: an accepted run). */
    public static final int SCHEDULED = 1 << 1;
    /** Drop without running when dequeued. */
    public static final int DELETED = 1 << 2;
    /** Drop after running. */
    public static final int ONESHOT = 1 << 3;
    /** Scheduled "when idle". */
    public static final int IDLE = 1 << 4;
    /** In {@code home}: on the home list or in a slice of poll() (bit 0, as PENDING is in flags). */
    static final long H_QUEUED = 1;
    /** One foreign cancel() in the count of {@code flags}; also the low end of the count. */
    static final long CANCEL_ONE = 1L << 8;
    /** The cancel count of {@code flags}, and the count a run in {@code home} was accepted at. */
    static final long CANCELS = -CANCEL_ONE;

    static final VarHandle FLAGS;
    static final VarHandle HOME;
    static final VarHandle NEXT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FLAGS = l.findVarHandle(BhNode.class, "flags", long.class);
            HOME = l.findVarHandle(BhNode.class, "home", long.class);
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
    /** PENDING | SCHEDULED | DELETED | ONESHOT | IDLE and the cancel count; accessed only through FLAGS. */
    @SuppressWarnings("unused")
    private long flags;
    /** H_QUEUED | SCHEDULED | IDLE and a cancel count; home thread writes (HOME, release), see above. */
    long home;
    /** Link in the cross-thread list; see BhQueue for the protocol. Accessed through NEXT. */
    @SuppressWarnings("unused")
    private BhNode next;
    /** Link in the home list or a slice (home thread only). */
    BhNode homeNext;
    // Leak registry links, guarded by the queue's registry lock.
    BhNode regPrev;
    BhNode regNext;
    boolean registered;

    BhNode(BhQueue queue, String name, Runnable callback, GuardState guard, int initialFlags) {
        this.queue = queue;
        this.name = name;
        this.callback = callback;
        this.guard = guard;
        FLAGS.set(this, (long) initialFlags); // published by whatever hands the node to another thread
    }

    /** The name given at creation. */
    public String name() {
        return name;
    }

    /** See {@code BottomHalf.schedule()}. Any thread. */
    public void schedule() {
        queue.schedule(this, SCHEDULED);
    }

    /** See {@code BottomHalf.scheduleIdle()}. Any thread. */
    public void scheduleIdle() {
        queue.schedule(this, SCHEDULED | IDLE);
    }

    /** See {@code BottomHalf.cancel()}. Wait-free. Any thread. */
    public void cancel() {
        queue.cancel(this);
    }

    /** See {@code BottomHalf.delete()}. Any thread. */
    public void delete() {
        queue.delete(this);
    }

    /** Whether a run is pending (scheduled and not yet started, cancelled or deleted). Any thread. */
    public boolean isScheduled() {
        long f = (long) FLAGS.getAcquire(this); // pairs with the RMWs of enqueue, cancel and the dequeue
        if ((f & DELETED) != 0) {
            return false;
        }
        if ((f & SCHEDULED) != 0) {
            return true;
        }
        long h = (long) HOME.getAcquire(this); // pairs with the home thread's setRelease in BhQueue
        return (h & SCHEDULED) != 0 && (h & CANCELS) == (f & CANCELS);
    }

    /** The raw flag bits 0..4 of the shared word (a test probe). Any thread. */
    public int flags() {
        return (int) ((long) FLAGS.getAcquire(this) & ~CANCELS); // pairs with the RMWs of enqueue/dequeue
    }

    /** Whether the node is on the home list or in a slice (a test probe). Any thread. */
    public boolean homeQueued() {
        return ((long) HOME.getAcquire(this) & H_QUEUED) != 0; // pairs with the home thread's setRelease
    }

    /** Home thread: sets {@code home}, with release for {@link #isScheduled} on other threads. */
    void setHome(long h) {
        HOME.setRelease(this, h); // pairs with getAcquire in isScheduled() and homeQueued()
    }

    @Override
    public String toString() {
        return "BhNode[" + name + "]";
    }
}
